"""The lab session: reset, setup secrets from generated certificates, step actions, checks, solutions."""

from __future__ import annotations

import base64
import os
import pathlib

from conftest import RecordingBackend

from gatewaykit.kit import open_lab
from gatewaykit.kit.session import LabSession


def test_open_lab_writes_certificates_and_makes_secrets(
    backend: RecordingBackend, work_dir: pathlib.Path
) -> None:
    lab = open_lab("05-mutual-tls", backend=backend, work_dir=work_dir)
    assert isinstance(lab, LabSession)
    key = work_dir / "example_certs1" / "httpbin.example.com.key"
    assert key.exists() and (os.stat(key).st_mode & 0o777) == 0o600
    # Step 1 makes the docs' generic secret with tls.crt / tls.key / ca.crt (§8.1 layout 1).
    out = lab.steps[0].apply()
    assert out.ok and out.lines[0] == "secret/httpbin-credential created"
    secret = backend.objects[("Secret", "istio-system", "httpbin-credential")]
    assert secret["type"] == "Opaque"
    assert set(secret["data"]) == {"tls.key", "tls.crt", "ca.crt"}
    ca = (work_dir / "example_certs1" / "example.com.crt").read_bytes()
    assert base64.b64decode(secret["data"]["ca.crt"]) == ca


def test_tls_secret_and_rotation_step(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("04-tls-simple", backend=backend, work_dir=work_dir)
    lab.steps[0].apply()
    first = backend.objects[("Secret", "istio-system", "httpbin-credential")]
    assert first["type"] == "kubernetes.io/tls" and set(first["data"]) == {"tls.crt", "tls.key"}
    rotation = next(s for s in lab.steps if s.id == "rotation")
    rotation.apply()
    assert ("Secret", "istio-system", "httpbin-credential") in backend.deleted
    second = backend.objects[("Secret", "istio-system", "httpbin-credential")]
    cert2 = (work_dir / "example_certs2" / "httpbin.example.com.crt").read_bytes()
    assert base64.b64decode(second["data"]["tls.crt"]) == cert2


def test_reset_deletes_what_was_applied_and_reapplies_setup(
    backend: RecordingBackend, work_dir: pathlib.Path
) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    for step in lab.steps:
        step.apply()
    assert ("Gateway", "default", "httpbin-gateway") in backend.objects
    lab.reset()
    assert ("Gateway", "default", "httpbin-gateway") not in backend.objects
    assert ("Deployment", "default", "httpbin") in backend.objects
    # Opening another lab on the same backend cleans up the first one's objects too.
    lab.steps[0].apply()
    open_lab("08-tcp-mongo", backend=backend, work_dir=work_dir / "08")
    assert ("Gateway", "default", "httpbin-gateway") not in backend.objects
    assert ("Deployment", "default", "tcp-echo-v1") in backend.objects


def test_rejection_is_returned_not_raised(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01-virtual-hosts", backend=backend, work_dir=work_dir)
    bad = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: x\n"
        "  annotations: {test/reject: 'yes'}\n"
    )
    out = lab.apply(bad)
    assert not out.ok
    assert "denied the request: configuration is invalid: gateway must have at least one server" in str(out)
    assert ("Gateway", "default", "x") not in lab.ledger


def test_curl_runs_from_the_work_dir_with_lab_variables(
    backend: RecordingBackend, work_dir: pathlib.Path
) -> None:
    lab = open_lab("02-gateway-workloads", backend=backend, work_dir=work_dir)
    out = lab.curl(
        'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$USER_GATEWAY_PORT/status/200"'
    )
    sent = backend.commands[-1]
    assert sent.startswith(f"cd {work_dir} && curl")
    assert f"$INGRESS_HOST:{backend.port}/status/200" in sent
    assert out.result.status == 200
    assert (
        str(out).splitlines()[0]
        == '$ curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$USER_GATEWAY_PORT/status/200"'
    )
    assert lab.env["USER_GATEWAY_PORT"] == str(backend.port)


def test_check_conditions_follow_the_applied_state(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("03-https-redirect", backend=backend, work_dir=work_dir)
    ex = lab.exercises[0]
    lab.start(ex)
    before = lab.check(ex)
    assert not before.ok
    assert before.items[0].ok is False and before.items[0].what.startswith("the port-80 server")
    assert "Hint: The redirect is a property of the port-80 server" in str(before)
    lab.solution(ex, apply=True)
    after = lab.check(ex)
    assert after.items[0].ok  # the condition now holds on the applied Gateway
    assert str(after).startswith("Check: Turn on the redirect -- ")


def test_solution_prints_yaml_and_kubectl_for_secrets(
    backend: RecordingBackend, work_dir: pathlib.Path
) -> None:
    lab = open_lab("05-mutual-tls", backend=backend, work_dir=work_dir)
    text = str(lab.solution("separate-ca"))
    assert (
        "kubectl create -n istio-system secret generic httpbin-credential-cacert "
        "--from-file=cacert=example_certs1/example.com.crt" in text
    )
    lab1 = open_lab("01", backend=backend, work_dir=work_dir / "01")
    assert "name: httpbin-api" in str(lab1.solution(1))


def test_hints_cycle_in_order(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01", backend=backend, work_dir=work_dir)
    ex = lab.exercises[0]
    assert [lab.hint(ex) for _ in range(4)] == [*ex.hints, ex.hints[-1]]


def test_extra_certificates_for_lab_12(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    from cryptography import x509

    open_lab("12-my-gateway", backend=backend, work_dir=work_dir)
    cert = x509.load_pem_x509_certificate((work_dir / "bookinfo_certs" / "bookinfo.com.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert sans == ["uk.bookinfo.com", "eu.bookinfo.com", "*.bookinfo.com"]
    mounted = backend.objects[("Secret", "some-config-namespace", "my-gateway-certs")]
    assert set(mounted["data"]) == {"servercert.pem", "privatekey.pem"}


def test_explain_and_topology(backend: RecordingBackend, work_dir: pathlib.Path) -> None:
    lab = open_lab("01", backend=backend, work_dir=work_dir)
    lab.steps[0].apply()
    lab.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    exp = lab.explain()
    assert exp.workload == "istio-system/istio-ingressgateway"
    assert "<time>" in str(exp)
    topo = lab.topology()
    assert topo.startswith("flowchart LR")
    assert 'n_wl_istio_ingressgateway -->|"httpbin.example.com"| n_svc_httpbin_default' in topo
