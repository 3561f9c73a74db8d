"""The lab session on the real local sandbox: reset, setup secrets from generated certificates, step
actions, checks, solutions -- asserted as the learner sees them (kubectl lines, curl through the
gateway, Istio's rejection text) and as the sandbox's API server stores them."""

from __future__ import annotations

import base64
import os
import pathlib
import re
from collections.abc import Callable
from typing import Any

from gatewaykit.backends.local import LocalSandbox
from gatewaykit.kit import open_lab
from gatewaykit.kit.session import LabSession

Stored = Callable[[str, str, str], "dict[str, Any] | None"]

STATUS_200 = 'curl -sS -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'


def test_open_lab_writes_certificates_and_makes_secrets(
    sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path
) -> None:
    lab = open_lab("05-mutual-tls", backend=sandbox, work_dir=work_dir)
    assert isinstance(lab, LabSession)
    key = work_dir / "example_certs1" / "httpbin.example.com.key"
    assert key.exists() and (os.stat(key).st_mode & 0o777) == 0o600
    # Step 1 makes the docs' generic secret with tls.crt / tls.key / ca.crt (docs/behaviour.md §8.1 layout 1).
    step = lab.steps[0]
    out = step.apply()
    assert out.ok and out.lines[0] == "secret/httpbin-credential created"
    assert "gateway.networking.istio.io/mygateway created" in out.lines
    secret = stored("Secret", "istio-system", "httpbin-credential")
    assert secret is not None and secret["type"] == "Opaque"
    assert set(secret["data"]) == {"tls.key", "tls.crt", "ca.crt"}
    ca = (work_dir / "example_certs1" / "example.com.crt").read_bytes()
    assert base64.b64decode(secret["data"]["ca.crt"]) == ca
    # The CA from the Secret really verifies clients: no certificate -> alert, the client's -> 418.
    results = lab.run_probes(step.probes)
    assert [r.outcome.result.exit_code for r in results] == [56, 0]
    assert all(r.ok for r in results), "\n".join(map(str, results))


def test_tls_secret_and_rotation_step(sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path) -> None:
    lab = open_lab("04-tls-simple", backend=sandbox, work_dir=work_dir)
    lab.steps[0].apply()
    first = stored("Secret", "istio-system", "httpbin-credential")
    assert first is not None
    assert first["type"] == "kubernetes.io/tls" and set(first["data"]) == {"tls.crt", "tls.key"}
    old_ca = (
        "curl -sS -HHost:httpbin.example.com "
        '--resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
        '--cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"'
    )
    before = lab.curl(old_ca)
    assert before.result.exit_code == 0 and "I'm a teapot!" in before.result.stdout
    rotation = next(s for s in lab.steps if s.id == "rotation")
    out = rotation.apply()
    # kubectl delete secret, then kubectl create secret tls (the docs' rotation, docs/behaviour.md §8.1).
    assert out.ok and out.lines == (
        'secret "httpbin-credential" deleted',
        "secret/httpbin-credential created",
    )
    second = stored("Secret", "istio-system", "httpbin-credential")
    assert second is not None
    cert2 = (work_dir / "example_certs2" / "httpbin.example.com.crt").read_bytes()
    assert base64.b64decode(second["data"]["tls.crt"]) == cert2
    # The gateway serves the new certificate live: the old CA fails the handshake, the new one works.
    after = lab.curl(old_ca)
    assert after.result.exit_code == 35 and after.result.stdout == ""
    results = lab.run_probes(rotation.probes)
    assert all(r.ok for r in results), "\n".join(map(str, results))


def test_reset_deletes_what_was_applied_and_reapplies_setup(
    sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    for step in lab.steps:
        step.apply()
    assert stored("Gateway", "default", "httpbin-gateway") is not None
    assert lab.curl(STATUS_200).result.status == 200
    out = lab.reset()
    assert out.ok and "deployment.apps/httpbin created" in out.lines
    assert stored("Gateway", "default", "httpbin-gateway") is None
    assert stored("VirtualService", "default", "httpbin-any") is None
    assert stored("Deployment", "default", "httpbin") is not None
    # With no Gateway server left, nothing listens on the ingress port (docs/behaviour.md §1.6).
    assert lab.curl(STATUS_200).result.exit_code == 7
    # Opening another lab on the same backend cleans up the first one's objects too.
    lab.steps[0].apply()
    assert lab.curl(STATUS_200).result.status == 200
    open_lab("08-tcp-mongo", backend=sandbox, work_dir=work_dir / "08")
    assert stored("Gateway", "default", "httpbin-gateway") is None
    assert stored("Deployment", "default", "httpbin") is None
    assert stored("Deployment", "default", "tcp-echo-v1") is not None
    assert lab.curl(STATUS_200).result.exit_code == 7
    assert any(p.name.startswith("tcp-echo-v1-") and p.status == "Running" for p in sandbox.pods())


def test_rejection_is_returned_not_raised(
    sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=sandbox, work_dir=work_dir)
    bad = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: x\n"
        "spec:\n  selector: {istio: ingressgateway}\n"
    )
    out = lab.apply(bad)
    assert not out.ok and not out.lines
    assert str(out) == (
        'Error from server: error when creating "manifest.yaml": admission webhook "validation.istio.io" '
        "denied the request: configuration is invalid: gateway must have at least one server"
    )
    assert ("Gateway", "default", "x") not in lab.ledger
    assert stored("Gateway", "default", "x") is None


def test_curl_runs_from_the_work_dir_with_lab_variables(
    sandbox: LocalSandbox, work_dir: pathlib.Path
) -> None:
    lab = open_lab("02-gateway-workloads", backend=sandbox, work_dir=work_dir)
    for step in lab.steps[:3]:  # default gateway, a selector matching nothing, your own gateway
        assert step.apply().ok
    command = 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$USER_GATEWAY_PORT/status/200"'
    out = lab.curl(command)
    # $USER_GATEWAY_PORT is the lab's published Service port: the request reached my-user-gateway,
    # while the default gateway's port is refused at this point of the lab.
    assert out.result.status == 200 and out.result.headers["server"] == "istio-envoy"
    assert str(out).splitlines()[0] == f"$ {command}"
    assert lab.curl(STATUS_200).result.exit_code == 7
    _, port = sandbox.service_address("default", "my-user-gateway", 80)
    assert lab.env["USER_GATEWAY_PORT"] == str(port)
    assert lab.env["INGRESS_PORT"] == sandbox.env["INGRESS_PORT"]
    # Relative file names are the learner's directory: curl writes the dumped head into the work dir.
    dumped = lab.curl(
        "curl -s -o /dev/null -D head.txt -HHost:httpbin.example.com "
        '"http://$INGRESS_HOST:$USER_GATEWAY_PORT/status/418"'
    )
    assert dumped.result.exit_code == 0
    # Envoy has no reason phrase for 418: HTTP/1.1 prints "418 Unknown" (docs/behaviour.md §1.5).
    assert (work_dir / "head.txt").read_bytes().startswith(b"HTTP/1.1 418 Unknown\r\nserver: istio-envoy\r\n")


def test_check_conditions_follow_the_applied_state(sandbox: LocalSandbox, work_dir: pathlib.Path) -> None:
    lab = open_lab("03-https-redirect", backend=sandbox, work_dir=work_dir)
    ex = lab.exercises[0]
    lab.start(ex)
    before = lab.check(ex)
    assert not before.ok
    assert before.items[0].ok is False and before.items[0].what.startswith("the port-80 server")
    assert "Hint 1 of 2: The redirect is a property of the port-80 server" in str(before)
    lab.solution(ex, apply=True)
    after = lab.check(ex)
    assert after.items[0].ok  # the condition now holds on the applied Gateway
    assert after.ok, str(after)  # ... and the real gateway now redirects
    assert str(after).startswith("Check: Turn on the redirect -- ")
    assert str(after).endswith("Well done: every check passed.")


def test_solution_prints_yaml_and_kubectl_for_secrets(
    sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path
) -> None:
    lab = open_lab("05-mutual-tls", backend=sandbox, work_dir=work_dir)
    text = str(lab.solution("separate-ca"))
    # Done in a bash cell: the solution is the kubectl commands the learner would type.
    assert text.splitlines()[0] == (
        "# Reference solution: The CA in its own Secret (type it into the bash cell (%%gatewaykit))"
    )
    assert (
        "kubectl create -n istio-system secret generic httpbin-credential-cacert \\\n"
        "  --from-file=cacert=example_certs1/example.com.crt" in text
    )
    assert stored("Secret", "istio-system", "httpbin-credential-cacert") is None  # shown, not applied
    lab1 = open_lab("01", backend=sandbox, work_dir=work_dir / "01")
    assert "name: httpbin-api" in str(lab1.solution(1))
    assert stored("VirtualService", "default", "httpbin-api") is None


def test_hints_are_numbered_and_start_over(sandbox: LocalSandbox, work_dir: pathlib.Path) -> None:
    lab = open_lab("01", backend=sandbox, work_dir=work_dir)
    ex = lab.exercises[0]
    shown = [str(lab.hint(ex)) for _ in range(4)]
    assert shown == [f"Hint {i + 1} of 3: {h}" for i, h in enumerate(ex.hints)] + [f"Hint 1 of 3: {ex.hints[0]}"]
    lab.hint(ex)
    lab.reset()  # a reset starts the hints over
    assert lab.hint(ex).number == 1


def test_extra_certificates_for_lab_12(sandbox: LocalSandbox, stored: Stored, work_dir: pathlib.Path) -> None:
    from cryptography import x509

    open_lab("12-my-gateway", backend=sandbox, work_dir=work_dir)
    crt = (work_dir / "bookinfo_certs" / "bookinfo.com.crt").read_bytes()
    cert = x509.load_pem_x509_certificate(crt)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert sans == ["uk.bookinfo.com", "eu.bookinfo.com", "*.bookinfo.com"]
    mounted = stored("Secret", "some-config-namespace", "my-gateway-certs")
    assert mounted is not None and set(mounted["data"]) == {"servercert.pem", "privatekey.pem"}
    assert base64.b64decode(mounted["data"]["servercert.pem"]) == crt


def test_explain_and_topology(sandbox: LocalSandbox, work_dir: pathlib.Path) -> None:
    lab = open_lab("01", backend=sandbox, work_dir=work_dir)
    lab.steps[0].apply()
    lab.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    exp = lab.explain()
    assert exp.workload.startswith("istio-system/istio-ingressgateway")
    text = str(exp)
    assert (
        "listener 0.0.0.0_8080 → filter chain http.8080 → route config http.8080 → "
        "virtual host httpbin.example.com:80" in text
    )
    assert "cluster outbound|8000||httpbin.default.svc.cluster.local" in text
    # The real access-log line of that request, with its real timestamp.
    assert re.search(r'access log: \[\d{4}-\d\d-\d\dT[\d:.]+Z\] "HEAD /status/200 HTTP/1.1" 200 - via_upstream', text)
    topo = lab.topology()
    assert topo.startswith("flowchart LR")
    assert 'n_wl_istio_ingressgateway -->|"httpbin.example.com"| n_svc_httpbin_default' in topo
