"""KubeClient (apply/delete/exec/logs/readiness) against the fake API server with recorded responses.

The real ``kubernetes`` ApiClient, DynamicClient and websocket exec talk HTTP to
``fake_apiserver.FakeApiServer``; exec really runs the command (real curl) on this machine.
"""

from __future__ import annotations

import json
import shutil

import pytest
from fake_apiserver import fixture

from gatewaykit.backends._clusterbackend import curl_in_pod
from gatewaykit.backends._kube import (
    ExecResult,
    configz_versions,
    exit_code_from_status,
    load_documents,
    parse_warning_header,
    proxies_synced,
    render_api_rejection,
)
from gatewaykit.errors import ManifestError, NotReadyError, ValidationError

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
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
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
"""

EMPTY_GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: bad-gateway
spec:
  selector:
    istio: ingressgateway
"""


# ---------------------------------------------------------------- pure helpers, recorded bodies


def test_webhook_denial_renders_as_kubectl() -> None:
    text = render_api_rejection(400, fixture("status_webhook_denied.json"), source="invalid-gateway.yaml")
    assert text == (
        'Error from server: error when creating "invalid-gateway.yaml": admission webhook "validation.istio.io" '  # noqa: E501
        "denied the request: configuration is invalid: gateway must have at least one server"
    )


def test_webhook_multierror_keeps_istios_format() -> None:
    text = render_api_rejection(
        400, json.dumps(fixture("status_webhook_denied_multi.json")), source="gw.yaml"
    )
    assert text.endswith(
        "configuration is invalid: 2 errors occurred:\n\t* port number 0 must be in the range 1..65535\n"
        "\t* server must have TLS settings for HTTPS/TLS protocols\n\n"
    )


def test_schema_rejection_renders_the_invalid_form() -> None:
    assert render_api_rejection(422, fixture("status_invalid_service.json"), source="x.yaml") == (
        'The Service "httpbin" is invalid: spec.ports: Required value'
    )


def test_rejection_with_a_reason_names_it() -> None:
    body = {
        "kind": "Status",
        "status": "Failure",
        "message": 'namespaces "nope" not found',
        "reason": "NotFound",
        "code": 404,
    }
    assert render_api_rejection(404, body, source="STDIN") == (
        'Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found'
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [("exec_status_success.json", 0), ("exec_status_exit7.json", 7), ("exec_status_notfound.json", 127)],
)
def test_exit_code_from_the_status_channel(name: str, code: int) -> None:
    assert exit_code_from_status(json.dumps(fixture(name))) == code


def test_exit_code_without_status_is_failure() -> None:
    assert exit_code_from_status(None) == 1 and exit_code_from_status(b"") == 1


def test_warning_headers() -> None:
    assert parse_warning_header(['299 - "unknown field \\"spec.foo\\""', "garbage"]) == [
        'unknown field "spec.foo"',
        "garbage",
    ]


def test_syncz_synced_and_stale() -> None:
    assert proxies_synced(fixture("syncz_synced.json")) is True  # the stale sidecar is in default
    assert proxies_synced(fixture("syncz_synced.json"), ("default",)) is False
    assert proxies_synced(fixture("syncz_stale.json")) is False
    assert proxies_synced([], ("istio-system",)) is None


def test_configz_versions_both_shapes() -> None:
    k8s = [{"kind": "Gateway", "metadata": {"name": "g", "namespace": "default", "resourceVersion": "7"}}]
    istio = [
        {"meta": {"type": "VirtualService", "name": "v", "namespace": "default", "resourceVersion": "9"}}
    ]
    assert configz_versions(k8s + istio) == {
        ("Gateway", "default", "g"): "7",
        ("VirtualService", "default", "v"): "9",
    }


def test_load_documents_sources(tmp_path) -> None:
    path = tmp_path / "httpbin-gateway.yaml"
    path.write_text(GATEWAY + "---\n" + VIRTUAL_SERVICE + "---\n")
    docs = load_documents(path)
    assert [(d.kind, d.name, d.source, d.index) for d in docs] == [
        ("Gateway", "httpbin-gateway", str(path), 0),
        ("VirtualService", "httpbin", str(path), 1),
    ]
    assert load_documents(str(path))[0].source == str(path)
    assert load_documents(GATEWAY)[0].source == "STDIN"
    lst = {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}]}
    assert [d.name for d in load_documents(lst)] == ["a"]
    with pytest.raises(
        ManifestError, match=r"^error: error parsing STDIN: error converting YAML to JSON: yaml: line"
    ):
        load_documents("a: [1\nb: 2\n")


# ---------------------------------------------------------------- apply / delete through the API


def test_apply_reports_created_unchanged_configured(kube, fake_api) -> None:
    report, changed = kube.apply(GATEWAY + "---\n" + VIRTUAL_SERVICE)
    assert (
        str(report)
        == "gateway.networking.istio.io/httpbin-gateway created\nvirtualservice.networking.istio.io/httpbin created"  # noqa: E501
    )
    assert [c[0] for c in changed] == ["Gateway", "VirtualService"]
    stored = fake_api.cluster.objects[("gateways", "default", "httpbin-gateway")]
    assert stored["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "gatewaykit"}
    # The requests were server-side apply patches with our field manager, after a dry run.
    patches = [p for m, p in fake_api.cluster.requests if m == "PATCH"]
    assert any("dryRun=All" in p for p in patches) and all("fieldManager=gatewaykit" in p for p in patches)
    report, changed = kube.apply(GATEWAY + "---\n" + VIRTUAL_SERVICE)
    assert report.lines == (
        "gateway.networking.istio.io/httpbin-gateway unchanged",
        "virtualservice.networking.istio.io/httpbin unchanged",
    )
    assert changed == []
    report, _ = kube.apply(VIRTUAL_SERVICE.replace("prefix: /status", "prefix: /headers"))
    assert report.lines == ("virtualservice.networking.istio.io/httpbin configured",)


def test_core_and_apps_objects_use_kubectl_names(kube) -> None:
    manifest = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "httpbin"},
            "spec": {"ports": [{"port": 8000}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "httpbin"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "httpbin"}}, "template": {}},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "httpbin-credential", "namespace": "istio-system"},
            "type": "kubernetes.io/tls",
            "data": {},
        },
    ]
    report, _ = kube.apply(manifest)
    assert report.lines == (
        "service/httpbin created",
        "deployment.apps/httpbin created",
        "secret/httpbin-credential created",
    )


def test_webhook_rejection_is_the_local_backends_text_and_changes_nothing(kube, fake_api, tmp_path) -> None:
    path = tmp_path / "invalid-gateway.yaml"
    path.write_text(GATEWAY + "---\n" + EMPTY_GATEWAY)
    with pytest.raises(ValidationError) as info:
        kube.apply(path)
    assert str(info.value) == (
        f'Error from server: error when creating "{path}": admission webhook "validation.istio.io" denied the '  # noqa: E501
        "request: configuration is invalid: gateway must have at least one server"
    )
    # Atomic like the embedded sandbox: the valid Gateway of the same manifest was not created.
    assert ("gateways", "default", "httpbin-gateway") not in fake_api.cluster.objects


def test_rejection_of_an_existing_object_says_patching(fake_api, tmp_path) -> None:
    """Server path (prevalidate off): kubectl's verb for an object that exists is "patching"."""
    from gatewaykit.backends._kube import KubeClient

    kube = KubeClient(
        fake_api.api_client_factory(), prevalidate=False, discovery_cache=str(tmp_path / "d.json")
    )
    kube.apply(GATEWAY)
    emptied = EMPTY_GATEWAY.replace("name: bad-gateway", "name: httpbin-gateway")
    with pytest.raises(ValidationError) as info:
        kube.apply(emptied)
    assert str(info.value) == (
        'Error from server: error when patching "STDIN": admission webhook "validation.istio.io" denied the '
        "request: configuration is invalid: gateway must have at least one server"
    )
    kube.close()


def test_several_rejections_one_line_each(kube) -> None:
    bad_vs = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: v\nspec: {hosts: [a]}\n"
    )
    with pytest.raises(ValidationError) as info:
        kube.apply(EMPTY_GATEWAY + "---\n" + bad_vs)
    assert len(info.value.errors) == 2
    assert str(info.value).splitlines()[0].endswith("gateway must have at least one server")


def test_admission_warnings_are_reported(kube) -> None:
    vs = VIRTUAL_SERVICE.replace(
        "  name: httpbin\n", "  name: httpbin\n  annotations:\n    test.gatewaykit.io/warn: 'yes'\n"
    )
    report, _ = kube.apply(vs)
    assert str(report).startswith("Warning: VirtualService rule #0 match #0 of prefix /status is not used")
    assert report.lines == ("virtualservice.networking.istio.io/httpbin created",)


def test_unknown_kind_is_kubectls_mapping_error(kube) -> None:
    with pytest.raises(ManifestError) as info:
        kube.apply("apiVersion: networking.istio.io/v1\nkind: Gatewy\nmetadata:\n  name: g\n")
    assert str(info.value) == (
        'error: resource mapping not found for name: "g" namespace: "" from "STDIN": no matches for kind "Gatewy" '  # noqa: E501
        'in version "networking.istio.io/v1"\nensure CRDs are installed first'
    )


def test_crds_are_applied_first_and_waited_for(kube, fake_api) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gateways.networking.istio.io"},
        "spec": {
            "group": "networking.istio.io",
            "names": {"kind": "Gateway", "plural": "gateways"},
            "scope": "Namespaced",
        },
    }
    gw = load_documents(GATEWAY)[0].obj
    report, _ = kube.apply([dict(gw), crd])
    assert report.lines == (
        "gateway.networking.istio.io/httpbin-gateway created",
        "customresourcedefinition.apiextensions.k8s.io/gateways.networking.istio.io created",
    )
    real = [p for m, p in fake_api.cluster.requests if m == "PATCH" and "dryRun" not in p]
    assert "customresourcedefinitions" in real[0] and "gateways/httpbin-gateway" in real[1]


def test_delete_lines_and_not_found(kube) -> None:
    kube.apply(GATEWAY)
    report = kube.delete(GATEWAY + "---\n" + VIRTUAL_SERVICE)
    assert report.lines == (
        'gateway.networking.istio.io "httpbin-gateway" deleted',
        'Error from server (NotFound): error when deleting "STDIN": virtualservices.networking.istio.io "httpbin" not found',  # noqa: E501
    )


# ---------------------------------------------------------------- readiness


def test_wait_config_live_returns_when_istiod_has_it_and_proxies_acked(kube) -> None:
    _, changed = kube.apply(GATEWAY + "---\n" + VIRTUAL_SERVICE)
    kube.wait_config_live(changed, timeout=5)


def test_wait_config_live_times_out_on_stale_proxies_with_istiod_log(kube, fake_api) -> None:
    fake_api.cluster.syncz = "syncz_stale.json"
    _, changed = kube.apply(GATEWAY)
    with pytest.raises(NotReadyError) as info:
        kube.wait_config_live(changed, timeout=0.5)
    assert str(info.value).startswith("config propagation: gateway proxies did not ACK the new config")
    assert "--- last log lines ---" in str(info.value)


def test_wait_rollout_of_an_applied_deployment(kube) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "httpbin"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "httpbin"}}, "template": {}},
    }
    _, changed = kube.apply(dep)
    kube.wait_rollout("default", "httpbin", timeout=2)
    kube.wait_config_live(changed, timeout=5)


def _deployment_stuck_on(fake_api, image: str) -> None:
    """A Deployment whose one pod waits on its image pull (ErrImagePull), as the kubelet reports it."""
    from fake_apiserver import _pod

    fake_api.cluster.put(
        "deployments",
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "gw", "namespace": "default", "generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"ingress": "gw"}}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1},
        },
    )
    pod = _pod("gw-5b7f6c8d9-abcde", "default", {"ingress": "gw"}, ["istio-proxy"])
    pod["spec"]["containers"][0]["image"] = image
    pod["status"]["phase"] = "Pending"
    pod["status"]["containerStatuses"][0].update(
        ready=False, state={"waiting": {"reason": "ErrImagePull", "message": "rpc error: ..."}}
    )
    fake_api.cluster.put("pods", "default", pod)


def test_wait_rollout_returns_for_a_pod_that_kept_image_auto(kube, fake_api) -> None:
    # Not injected (IST0146): the pod can never start, and that is the outcome a lab shows.
    _deployment_stuck_on(fake_api, "auto")
    kube.wait_rollout("default", "gw", timeout=5)


def test_wait_rollout_still_fails_for_an_image_the_node_lacks(kube, fake_api) -> None:
    _deployment_stuck_on(fake_api, "docker.io/kong/httpbin")
    with pytest.raises(NotReadyError):
        kube.wait_rollout("default", "gw", timeout=0.5)


# ---------------------------------------------------------------- pods, exec, logs


def test_pod_for_finds_the_running_pod(kube) -> None:
    assert kube.pod_for("default/curl") == ("default", "curl-5b7f6c8d9-abcde")
    assert kube.pod_for("istio-system/istio-ingressgateway") == (
        "istio-system",
        "istio-ingressgateway-7c9d7b6c5d-4xk2p",
    )
    with pytest.raises(NotReadyError, match="no running pod for 'default/sleep'"):
        kube.pod_for("default/sleep")


def test_exec_stdout_stderr_and_exit_code(kube, fake_api) -> None:
    res = kube.exec(
        "default", "curl-5b7f6c8d9-abcde", ["sh", "-c", "echo out; echo err >&2; exit 3"], container="curl"
    )
    assert res == ExecResult(3, b"out\n", b"err\n")
    big = kube.exec("default", "curl-5b7f6c8d9-abcde", ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"])
    assert big.exit_code == 0 and big.stdout == b"x" * 200000
    missing = kube.exec("default", "curl-5b7f6c8d9-abcde", ["curlx", "-s"])
    assert missing.exit_code == 127
    assert fake_api.cluster.execs[0] == ["sh", "-c", "echo out; echo err >&2; exit 3"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the real curl binary")
def test_curl_in_pod_is_real_curl_with_the_learners_variables(kube, fake_api) -> None:
    # Nothing listens on port 1: real curl fails to connect, exit 7, as in a pod.
    res = curl_in_pod(
        kube,
        "default/curl",
        'curl -sS "http://$INGRESS_HOST:1/status/418"',
        env={"INGRESS_HOST": "127.0.0.1"},
        timeout=10,
    )
    assert res.exit_code == 7
    assert res.stderr.startswith("curl: (7) Failed to connect to 127.0.0.1 port 1")
    assert res.status is None
    assert fake_api.cluster.execs[-1][:2] == ["env", "INGRESS_HOST=127.0.0.1"]
    assert fake_api.cluster.execs[-1][-3:] == ["sh", "-c", 'curl -sS "http://$INGRESS_HOST:1/status/418"']


def test_logs_read_the_istio_proxy_container(kube, fake_api) -> None:
    text = kube.logs("istio-system", "istio-ingressgateway-7c9d7b6c5d-4xk2p")
    assert (
        '"GET /status/418 HTTP/1.1" 418' in text
        and "outbound|8000||httpbin.default.svc.cluster.local" in text
    )
    assert any(
        "pods/istio-ingressgateway-7c9d7b6c5d-4xk2p/log?container=istio-proxy" in p
        for _, p in fake_api.cluster.requests
    )


def test_mesh_config_has_outbound_policy() -> None:
    from gatewaykit.backends._kube import mesh_config_has

    # istiod prints the mesh config with jsonpb: REGISTRY_ONLY is the enum's zero value, left out.
    registry_only = {"accessLogFile": "/dev/stdout", "outboundTrafficPolicy": {}}
    allow_any = {"accessLogFile": "/dev/stdout", "outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}
    assert mesh_config_has(registry_only, {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})
    assert not mesh_config_has(registry_only, {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}})
    assert mesh_config_has(allow_any, {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}})
    assert not mesh_config_has(allow_any, {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})
    # No policy at all: Istio's default, ALLOW_ANY.
    assert mesh_config_has({"accessLogFile": "/dev/stdout"}, {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}})
    assert not mesh_config_has({}, {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})


MULTI_GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: multi
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 0, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["httpbin.example.com"]
"""


@pytest.mark.parametrize(
    "manifest",
    [
        EMPTY_GATEWAY,
        MULTI_GATEWAY,
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
        "  name: v\nspec: {hosts: [a]}\n",
    ],
    ids=["no-server", "multierror", "vs-no-routes"],
)
def test_server_rejection_and_local_validation_print_the_same(fake_api, tmp_path, manifest: str) -> None:
    """The text a learner sees is the same whether Istio's webhook (recorded) or gatewaykit's
    validation (the embedded sandbox's) rejects the manifest."""
    from gatewaykit.backends._kube import KubeClient

    texts = []
    for prevalidate in (False, True):
        kube = KubeClient(
            fake_api.api_client_factory(),
            prevalidate=prevalidate,
            discovery_cache=str(tmp_path / f"d{prevalidate}.json"),
        )
        before = len([r for r in fake_api.cluster.requests if r[0] == "PATCH"])
        with pytest.raises(ValidationError) as info:
            kube.apply(manifest)
        patches = len([r for r in fake_api.cluster.requests if r[0] == "PATCH"]) - before
        # Local validation rejects before anything reaches the server; the server path dry-runs.
        assert patches == (0 if prevalidate else 1)
        texts.append(str(info.value))
        kube.close()
    assert texts[0] == texts[1]
    assert texts[0].startswith('Error from server: error when creating "STDIN": admission webhook')


def test_kind_applies_istio_operators_as_an_install(kube, fake_api, tmp_path) -> None:
    """An IstioOperator (the egress docs' snippet) is installed like `istioctl install -f`, not sent to
    the API server."""
    from gatewaykit.backends.kind import KindSandbox, operator_mode

    sb = KindSandbox(start=False, state_dir=tmp_path)
    sb.kube = kube
    installs: list[str] = []
    sb.set_outbound_traffic_policy = lambda mode: (
        installs.append(mode),
        setattr(sb, "outbound_traffic_policy", mode),
    )  # type: ignore[method-assign]
    sb._save_marker = lambda: None  # type: ignore[method-assign]
    operator = tmp_path / "registry-only.yaml"
    operator.write_text(
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: installed-state\n"
        "  namespace: istio-system\nspec:\n  meshConfig:\n    outboundTrafficPolicy:\n"
        "      mode: REGISTRY_ONLY\n"
    )
    assert operator_mode(load_documents(operator)[0].obj) == "REGISTRY_ONLY"
    report = sb.apply(GATEWAY + "---\n" + operator.read_text())
    assert report.lines == (
        "gateway.networking.istio.io/httpbin-gateway created",
        "istiooperator.install.istio.io/installed-state created",
    )
    assert installs == ["REGISTRY_ONLY"]
    assert not [p for m, p in fake_api.cluster.requests if "istiooperator" in p]
    assert str(sb.apply(operator)) == "istiooperator.install.istio.io/installed-state unchanged"
    assert installs == ["REGISTRY_ONLY"]  # nothing to re-install
    assert str(sb.delete(operator)) == 'istiooperator.install.istio.io "installed-state" deleted'
    assert installs == ["REGISTRY_ONLY", "ALLOW_ANY"]  # back to Istio's default
    assert str(sb.delete(operator)) == (
        f'Error from server (NotFound): error when deleting "{operator}": '
        'istiooperators.install.istio.io "installed-state" not found'
    )


def test_missing_namespace_is_kubectls_not_found(kube, fake_api) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a", "namespace": "nope"},
        "spec": {"ports": [{"port": 80}]},
    }
    with pytest.raises(ValidationError) as info:
        kube.apply([svc])
    assert (
        str(info.value)
        == 'Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found'
    )
    # Created by the same manifest: applied in order, as kubectl does.
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nope"}}
    report, _ = kube.apply([ns, svc])
    assert report.lines == ("namespace/nope created", "service/a created")


# ---------------------------------------------------------------- istiod's debug endpoints


def test_istiod_debug_through_the_pod_proxy_is_refused_as_istiod_does(kube, fake_api) -> None:
    """The fake answers the pod proxy as istiod 1.27 does (401: the request is not from localhost);
    the old path through it is what made every apply fail."""
    import urllib.error
    import urllib.request

    url = f"{fake_api.url}/api/v1/namespaces/istio-system/pods/istiod-6d8f7c9b5-zzzzz:15014/proxy/debug/syncz"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=5)
    assert info.value.code == 401 and info.value.read() == b""


def test_istiod_debug_runs_pilot_discovery_request_in_the_discovery_container(kube, fake_api) -> None:
    mesh = {"accessLogFile": "/dev/stdout", "outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}
    assert kube.istiod_debug("mesh") == mesh
    assert fake_api.cluster.execs[-1] == ["pilot-discovery", "request", "GET", "/debug/mesh"]
    exec_paths = [p for m, p in fake_api.cluster.requests if "/exec?" in p]
    assert "pods/istiod-6d8f7c9b5-zzzzz/exec?" in exec_paths[-1] and "container=discovery" in exec_paths[-1]
    assert not [p for _, p in fake_api.cluster.requests if "/proxy/" in p]


def test_apply_and_delete_wait_through_istiod_without_the_pod_proxy(kube, fake_api) -> None:
    _, changed = kube.apply(GATEWAY + "---\n" + VIRTUAL_SERVICE)
    kube.wait_config_live(changed, timeout=5)
    report = kube.delete(GATEWAY)
    kube.wait_config_live(
        [("Gateway", "networking.istio.io", "default", "httpbin-gateway")], deleted=True, timeout=5
    )
    assert str(report) == 'gateway.networking.istio.io "httpbin-gateway" deleted'
    assert {tuple(c[3:]) for c in fake_api.cluster.execs if c[0] == "pilot-discovery"} == {
        ("/debug/configz",),
        ("/debug/syncz",),
    }


def test_istiod_debug_failure_is_a_not_ready_error_with_istiods_text(kube) -> None:
    with pytest.raises(NotReadyError) as info:
        kube.istiod_debug("nosuchz")
    assert str(info.value) == "istiod: /debug/nosuchz: 404 page not found (this istiod does not serve it)"


def test_mesh_config_wait_reads_istiods_active_mesh(kube, fake_api) -> None:
    fake_api.cluster.mesh = {"outboundTrafficPolicy": {}}  # jsonpb leaves REGISTRY_ONLY (0) out
    kube.wait_mesh_config({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}, timeout=5)
    with pytest.raises(
        NotReadyError, match=r'^mesh config: istiod does not run with \{"outboundTrafficPolicy"'
    ):
        kube.wait_mesh_config({"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}, timeout=0.3)
