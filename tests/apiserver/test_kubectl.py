"""The real kubectl (the pinned PyPI wheel) against the embedded sandbox's API server.

Every assertion is on what a learner's terminal shows: kubectl's stdout/stderr text and exit
code, run through ``sb.shell`` exactly as a notebook ``%%gatewaykit`` cell or a JupyterLab
terminal after ``eval "$(gatewaykit env)"`` runs it. Command blocks follow Istio 1.27's task
pages (https://istio.io/latest/docs/tasks/traffic-management/ingress/ingress-control/ and the
egress tasks).
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from gatewaykit import Sandbox
from gatewaykit.errors import ValidationError
from gatewaykit.samples import path as samples_path

SAMPLES = samples_path()

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway # use Istio default gateway implementation
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
"""

VIRTUAL_SERVICE = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    box = Sandbox.local()
    try:
        box.shell(f"kubectl apply -f {SAMPLES}/httpbin/httpbin.yaml -f {SAMPLES}/curl/curl.yaml")
        yield box
    finally:
        box.close()


def sh(sb: object, script: str, cwd: pathlib.Path | None = None, timeout: float = 60.0) -> tuple[int, str]:
    r = sb.shell(script, cwd=cwd, timeout=timeout)  # type: ignore[attr-defined]
    return r.exit_code, r.output


def heredoc(text: str, verb: str = "apply") -> str:
    return f"kubectl {verb} -f - <<EOF\n{text}EOF"


# ------------------------------------------------------------------ discovery and auth


def test_version_reports_the_pinned_kubernetes_with_kubectls_skew_warning(sb: object) -> None:
    code, out = sh(sb, "kubectl version")
    assert code == 0
    assert "Client Version: v1.37.1" in out
    assert "Server Version: v1.33.1" in out
    assert (
        "Warning: version difference between client (1.37) and server (1.33) exceeds the supported minor "
        "version skew of +/-1"
    ) in out


def test_api_resources_lists_istio_and_gateway_api_kinds(sb: object) -> None:
    code, out = sh(sb, "kubectl api-resources")
    assert code == 0
    rows = {tuple(line.split()[:3]) for line in out.splitlines()[1:]}
    assert ("gateways", "gw", "networking.istio.io/v1") in rows
    assert ("virtualservices", "vs", "networking.istio.io/v1") in rows
    assert ("gateways", "gtw", "gateway.networking.k8s.io/v1") in rows
    assert ("pods", "po", "v1") in rows
    # No in-cluster operator since Istio 1.24: its CRD is not served.
    assert not any(r[0] == "istiooperators" for r in rows)


def test_request_without_the_token_is_401_and_kubectl_says_log_in(sb: object) -> None:
    code, out = sh(sb, "kubectl --token=wrong get pods")
    assert (code, out) == (1, "error: You must be logged in to the server (Unauthorized)\n")
    server = sb.shell("kubectl config view -o jsonpath='{.clusters[0].cluster.server}'").output  # type: ignore[attr-defined]
    status = json.loads(
        subprocess.run(
            ["curl", "-sk", f"{server}/api/v1/namespaces"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_kubeconfig_and_token_are_private_and_home_is_untouched(sb: object, tmp_path: pathlib.Path) -> None:
    env = sb.shell_env  # type: ignore[attr-defined]
    kubeconfig = pathlib.Path(env["KUBECONFIG"])
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert kubeconfig.parent.stat().st_mode & 0o777 == 0o700
    assert not str(kubeconfig).startswith(str(pathlib.Path.home() / ".kube"))
    assert "token:" in kubeconfig.read_text()
    code, out = sh(sb, "echo $KUBECONFIG; kubectl config current-context")
    assert out.splitlines() == [str(kubeconfig), "gatewaykit"]


# ------------------------------------------------------------------ apply and get


def test_apply_from_a_heredoc_then_unchanged_then_configured(sb: object) -> None:
    code, out = sh(sb, heredoc(GATEWAY + "---\n" + VIRTUAL_SERVICE))
    assert (code, out) == (
        0,
        "gateway.networking.istio.io/httpbin-gateway created\n"
        "virtualservice.networking.istio.io/httpbin created\n",
    )
    assert sh(sb, heredoc(GATEWAY)) == (0, "gateway.networking.istio.io/httpbin-gateway unchanged\n")
    changed = GATEWAY.replace('"httpbin.example.com"', '"*.example.com"')
    assert sh(sb, heredoc(changed)) == (0, "gateway.networking.istio.io/httpbin-gateway configured\n")
    assert sh(sb, heredoc(GATEWAY)) == (0, "gateway.networking.istio.io/httpbin-gateway configured\n")


def test_get_prints_the_api_servers_tables(sb: object) -> None:
    sh(sb, heredoc(GATEWAY + "---\n" + VIRTUAL_SERVICE))
    code, out = sh(sb, "kubectl get gw,vs")
    lines = [re.sub(r"\s+", " ", line).strip() for line in out.splitlines()]
    assert lines[0] == "NAME AGE"
    assert re.fullmatch(r"gateway\.networking\.istio\.io/httpbin-gateway \d+[sm]", lines[1])
    assert lines[3] == "NAME GATEWAYS HOSTS AGE"
    assert re.fullmatch(
        r'virtualservice\.networking\.istio\.io/httpbin \["httpbin-gateway"\] '
        r'\["httpbin\.example\.com"\] \d+[sm]',
        lines[4],
    )
    # With both CRDs installed, the bare "gateway" is the Gateway API's: CRD groups share one
    # discovery priority and sort by name (gateway.networking.k8s.io before networking.istio.io).
    assert sh(sb, "kubectl get gateway") == (0, "No resources found in default namespace.\n")
    code, out = sh(sb, "kubectl get pods")
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    httpbin = next(line.split() for line in out.splitlines() if line.startswith("httpbin-"))
    assert re.fullmatch(r"httpbin-[a-z0-9]{10}-[a-z0-9]{5}", httpbin[0])
    assert httpbin[1:4] == ["2/2", "Running", "0"]  # injected: the app and istio-proxy


def test_ingress_gateway_service_is_a_pending_load_balancer_with_node_ports(sb: object) -> None:
    code, out = sh(sb, "kubectl get svc istio-ingressgateway -n istio-system")
    head, row = out.splitlines()
    assert head.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    name, kind, ip, external, ports, _ = row.split()
    assert (name, kind, external) == ("istio-ingressgateway", "LoadBalancer", "<pending>")
    assert re.fullmatch(r"10\.96\.\d+\.\d+", ip)
    env = sb.env  # type: ignore[attr-defined]
    assert ports == (
        f"15021:{_node_port(sb, 'status-port')}/TCP,80:{env['INGRESS_PORT']}/TCP,"
        f"443:{env['SECURE_INGRESS_PORT']}/TCP,31400:{env['TCP_INGRESS_PORT']}/TCP"
    )
    assert all(30000 <= int(p) <= 32767 for p in re.findall(r":(\d+)/TCP", ports))


def _node_port(sb: object, name: str) -> str:
    return sh(
        sb,
        "kubectl -n istio-system get service istio-ingressgateway "
        f"-o jsonpath='{{.spec.ports[?(@.name==\"{name}\")].nodePort}}'",
    )[1]


def test_the_docs_node_port_recipe_reaches_the_gateway(sb: object) -> None:
    sh(sb, heredoc(GATEWAY + "---\n" + VIRTUAL_SERVICE))
    code, out = sh(
        sb,
        """
export INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="http2")].nodePort}')
export SECURE_INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="https")].nodePort}')
export TCP_INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="tcp")].nodePort}')
export INGRESS_HOST=$(kubectl get po -l istio=ingressgateway -n istio-system -o jsonpath='{.items[0].status.hostIP}')
echo "$INGRESS_HOST $INGRESS_PORT $SECURE_INGRESS_PORT $TCP_INGRESS_PORT"
curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
""",
    )
    env = sb.env  # type: ignore[attr-defined]
    lines = out.splitlines()
    assert lines[0] == " ".join(
        [env["INGRESS_HOST"], env["INGRESS_PORT"], env["SECURE_INGRESS_PORT"], env["TCP_INGRESS_PORT"]]
    )
    assert lines[1] == "HTTP/1.1 200 OK"
    assert "server: istio-envoy" in lines


def test_node_ports_are_held_so_no_other_process_can_take_them(sb: object) -> None:
    import socket

    port = int(sb.env["INGRESS_PORT"])  # type: ignore[attr-defined]
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", port))


# ------------------------------------------------------------------ refusals, worded as kubectl prints them


def test_webhook_rejection_is_istios_text_and_changes_nothing(sb: object, tmp_path: pathlib.Path) -> None:
    bad = GATEWAY.replace('"httpbin.example.com"', "httpbin").replace("httpbin-gateway", "bad-gateway")
    (tmp_path / "bad.yaml").write_text(bad)
    code, out = sh(sb, "kubectl apply -f bad.yaml; echo rc=$?; kubectl get gw bad-gateway", cwd=tmp_path)
    assert out.splitlines() == [
        'Error from server: error when creating "bad.yaml": admission webhook "validation.istio.io" denied the '
        "request: configuration is invalid: short names (non FQDN) are not allowed",
        "rc=1",
        'Error from server (NotFound): gateways.networking.istio.io "bad-gateway" not found',
    ]


def test_python_api_and_kubectl_print_the_same_rejection(sb: object, tmp_path: pathlib.Path) -> None:
    bad = GATEWAY.replace('"httpbin.example.com"', "httpbin").replace("httpbin-gateway", "same-gateway")
    (tmp_path / "same.yaml").write_text(bad)
    with pytest.raises(ValidationError) as err:
        sb.apply(tmp_path / "same.yaml", name="same.yaml")  # type: ignore[attr-defined]
    _, out = sh(sb, "kubectl apply -f same.yaml", cwd=tmp_path)
    assert out == str(err.value) + "\n"


def test_strict_field_validation_and_schema_errors(sb: object, tmp_path: pathlib.Path) -> None:
    strict = GATEWAY.replace("    hosts:", "    foo: 1\n    hosts:").replace("httpbin-gateway", "strict-gw")
    (tmp_path / "gw.yaml").write_text(strict)
    assert sh(sb, "kubectl apply -f gw.yaml", cwd=tmp_path) == (
        1,
        (
            'Error from server (BadRequest): error when creating "gw.yaml": Gateway in version "v1" cannot be handled '
            'as a Gateway: strict decoding error: unknown field "spec.servers[0].foo"\n'
        ),
    )
    no_port = "\n".join(line for line in GATEWAY.splitlines() if "number: 80" not in line) + "\n"
    code, out = sh(sb, heredoc(no_port.replace("httpbin-gateway", "no-port")))
    assert code == 1 and out.startswith('The Gateway "no-port" is invalid: ')


def test_unknown_kind_is_kubectls_no_matches_error(sb: object) -> None:
    operator = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: x\nspec: {}\n"
    assert sh(sb, heredoc(operator)) == (
        1,
        (
            'error: resource mapping not found for name: "x" namespace: "" from "STDIN": no matches for kind '
            '"IstioOperator" in version "install.istio.io/v1alpha1"\nensure CRDs are installed first\n'
        ),
    )


def test_get_and_delete_of_a_missing_object_are_not_found(sb: object) -> None:
    assert sh(sb, "kubectl get vs nothing") == (
        1,
        'Error from server (NotFound): virtualservices.networking.istio.io "nothing" not found\n',
    )
    assert sh(sb, "kubectl delete gw nothing") == (
        1,
        'Error from server (NotFound): gateways.networking.istio.io "nothing" not found\n',
    )


# ------------------------------------------------------------------ labels, patches, deletes


def test_label_annotate_and_selectors(sb: object) -> None:
    sh(sb, heredoc("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: lbl\n"))
    assert sh(sb, "kubectl label namespace lbl istio-injection=enabled") == (0, "namespace/lbl labeled\n")
    assert sh(sb, "kubectl annotate namespace lbl team=blue") == (0, "namespace/lbl annotated\n")
    code, out = sh(sb, "kubectl get ns -l istio-injection=enabled -o name")
    assert "namespace/lbl" in out.split()
    assert sh(sb, "kubectl get ns lbl -o jsonpath='{.metadata.annotations.team}'") == (0, "blue")
    assert sh(sb, "kubectl delete ns lbl") == (0, 'namespace "lbl" deleted\n')


def test_delete_f_and_delete_by_label(sb: object, tmp_path: pathlib.Path) -> None:
    (tmp_path / "vs.yaml").write_text(
        VIRTUAL_SERVICE.replace("name: httpbin\n", "name: del-me\n  labels:\n    app: del\n", 1)
    )
    assert sh(sb, "kubectl apply -f vs.yaml", cwd=tmp_path) == (
        0,
        "virtualservice.networking.istio.io/del-me created\n",
    )
    assert sh(sb, "kubectl delete vs -l app=del") == (
        0,
        'virtualservice.networking.istio.io "del-me" deleted from default namespace\n',
    )
    sh(sb, "kubectl apply -f vs.yaml", cwd=tmp_path)
    assert sh(sb, "kubectl delete -f vs.yaml", cwd=tmp_path) == (
        0,
        'virtualservice.networking.istio.io "del-me" deleted from default namespace\n',
    )


def test_server_side_apply_removes_what_the_manager_no_longer_applies(sb: object) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n  b: '2'\n"
    assert sh(sb, heredoc(cm, "apply --server-side")) == (0, "configmap/ssa serverside-applied\n")
    sh(sb, heredoc(cm.replace("  b: '2'\n", ""), "apply --server-side"))
    assert sh(sb, "kubectl get cm ssa -o jsonpath='{.data}'") == (0, '{"a":"1"}')


def test_python_apply_and_kubectl_see_the_same_object(sb: object) -> None:
    sb.apply(VIRTUAL_SERVICE.replace("name: httpbin\n", "name: both-views\n", 1))  # type: ignore[attr-defined]
    _, out = sh(sb, "kubectl get vs both-views -o json")
    assert json.loads(out) == sb.get("VirtualService", "default", "both-views")  # type: ignore[attr-defined]
    annotation = json.loads(out)["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert json.loads(annotation)["metadata"]["name"] == "both-views"
    # A later `kubectl apply` of the same manifest computes an empty three-way patch.
    assert sh(sb, heredoc(VIRTUAL_SERVICE.replace("name: httpbin\n", "name: both-views\n", 1))) == (
        0,
        "virtualservice.networking.istio.io/both-views unchanged\n",
    )


# ------------------------------------------------------------------ exec, logs, wait


def test_exec_curl_in_the_curl_pod_goes_through_its_sidecar(sb: object) -> None:
    code, out = sh(
        sb,
        "export SOURCE_POD=$(kubectl get pod -l app=curl -o jsonpath={.items..metadata.name})\n"
        'kubectl exec "$SOURCE_POD" -c curl -- curl -sS http://httpbin:8000/status/418',
    )
    assert (code, out) == (0, "I'm a teapot!")
    code, out = sh(sb, 'kubectl exec "$SOURCE_POD" -c curl -- curl -sSI https://www.google.com | head -1')
    assert out == "HTTP/2 200 \r\n"  # curl -I prints the head as received, CRLF


def test_exec_non_zero_exit_is_kubectls_command_terminated_line(sb: object) -> None:
    code, out = sh(sb, "kubectl exec deploy/curl -- curl -sS https://httpbin.org:80/")
    assert code == 35
    assert out.splitlines() == [
        "curl: (35) OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number"
        if "OpenSSL/3.0.19" in out
        else out.splitlines()[0],
        "command terminated with exit code 35",
    ]
    assert out.startswith("curl: (35) ")


def test_exec_runs_sh_c_scripts_and_refuses_what_a_pod_cannot_run(sb: object) -> None:
    code, out = sh(
        sb,
        'kubectl exec deploy/curl -- sh -c "for i in 1 2 3; do curl -s -o /dev/null '
        "-w '%{http_code}\\n' http://httpbin:8000/status/418; done\"",
    )
    assert (code, out) == (0, "418\n418\n418\n")
    code, out = sh(sb, "kubectl exec deploy/curl -- cat /etc/passwd")
    assert code == 126
    first, last = out.splitlines()
    assert first.startswith('gatewaykit: "cat" cannot run in the sandbox\'s pod curl-')
    assert "pods here run curl" in first
    assert last == "command terminated with exit code 126"


def test_exec_resolves_names_like_the_pods_dns(sb: object) -> None:
    code, out = sh(sb, "kubectl exec deploy/curl -- curl -sS http://no-such-service.default")
    assert code == 6
    assert out == (
        "curl: (6) Could not resolve host: no-such-service.default\ncommand terminated with exit code 6\n"
    )


def test_logs_of_the_gateway_show_its_access_log(sb: object) -> None:
    sh(sb, heredoc(GATEWAY + "---\n" + VIRTUAL_SERVICE))
    sh(sb, 'curl -s -o /dev/null -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/201"')
    code, out = sh(sb, "kubectl logs -l istio=ingressgateway -n istio-system --tail=1")
    assert code == 0
    assert '"GET /status/201 HTTP/1.1" 201' in out
    assert "outbound|8000||httpbin.default.svc.cluster.local" in out


def test_wait_and_rollout_status_return_when_ready(sb: object) -> None:
    code, out = sh(
        sb,
        "kubectl wait --for=condition=available deployment/httpbin --timeout=20s\n"
        "kubectl rollout status deployment/httpbin --timeout=20s\n"
        "kubectl wait --for=condition=Ready pod -l app=curl --timeout=20s",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "deployment.apps/httpbin condition met"
    assert lines[1] == 'deployment "httpbin" successfully rolled out'
    assert re.fullmatch(r"pod/curl-[a-z0-9]{10}-[a-z0-9]{5} condition met", lines[2])


def test_get_watch_sees_a_new_object(sb: object) -> None:
    result: dict[str, str] = {}

    def watch() -> None:
        result["out"] = sh(sb, "kubectl get gw -w --request-timeout=5s 2>/dev/null || true", timeout=20)[1]

    t = threading.Thread(target=watch)
    t.start()
    time.sleep(1.0)
    sh(sb, heredoc(GATEWAY.replace("httpbin-gateway", "watched-gw")))
    t.join(30)
    assert "watched-gw" in result["out"]


# ------------------------------------------------------------------ bad input


def _api(
    sb: object, method: str, path: str, body: bytes, ctype: str = "application/json"
) -> dict[str, object]:
    env = sb.shell_env  # type: ignore[attr-defined]
    import yaml

    cfg = yaml.safe_load(pathlib.Path(env["KUBECONFIG"]).read_text())
    server, token = cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"]
    out = subprocess.run(
        [
            "curl",
            "-sk",
            "-X",
            method,
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            f"Content-Type: {ctype}",
            "--data-binary",
            "@-",
            f"{server}{path}",
        ],
        input=body,
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_malformed_and_oversized_bodies_get_a_status_and_change_nothing(sb: object) -> None:
    before = sb.store.resource_version  # type: ignore[attr-defined]
    status = _api(sb, "POST", "/apis/networking.istio.io/v1/namespaces/default/gateways", b"{not json")
    assert (status["code"], status["reason"]) == (400, "BadRequest")
    status = _api(sb, "POST", "/api/v1/namespaces/default/configmaps", b"x" * (3 * 1024 * 1024 + 10))
    assert (status["code"], status["reason"]) == (413, "RequestEntityTooLarge")
    assert sb.store.resource_version == before  # type: ignore[attr-defined]


def test_creating_a_pod_directly_is_refused_with_the_reason(sb: object) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bare\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
    code, out = sh(sb, heredoc(pod))
    assert code == 1
    assert out.startswith(
        'Error from server (Forbidden): error when creating "STDIN": pods "bare" is forbidden: '
    )
    assert "Deployment" in out


def test_an_open_watch_does_not_keep_a_closed_sandbox_alive(tmp_path: pathlib.Path) -> None:
    box = Sandbox.local()
    proc = subprocess.Popen(
        ["bash", "-c", "kubectl get pods -w"],
        env={**__import__("os").environ, **box.shell_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    time.sleep(1.0)
    before = threading.active_count()
    start = time.monotonic()
    box.close()
    assert time.monotonic() - start < 5
    proc.wait(timeout=10)  # the server ended the watch; kubectl exits
    assert threading.active_count() <= before
    assert not pathlib.Path(box.shell_env["KUBECONFIG"]).exists()


def test_deleting_a_pod_restarts_it_under_a_new_name(sb: object) -> None:
    code, before = sh(sb, "kubectl get pods -l app=httpbin -o name")
    assert sh(sb, f"kubectl delete {before.strip()}")[1].startswith(f'pod "{before.strip()[4:]}" deleted')
    code, after = sh(sb, "kubectl get pods -l app=httpbin -o name")
    assert after.strip() != before.strip()
    assert after.strip().startswith(before.strip().rsplit("-", 1)[0] + "-")  # same ReplicaSet
    assert sh(sb, "kubectl exec deploy/curl -- curl -s http://httpbin:8000/status/418") == (0, "I'm a teapot!")
