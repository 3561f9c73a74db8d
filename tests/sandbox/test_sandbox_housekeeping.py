"""What a learner reads about broken pods, and clean-up after a killed kernel."""

from __future__ import annotations

import pathlib
import tempfile

from gatewaykit import Sandbox

BAD_IMAGE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers: [{name: x, image: quay.io/foo/bar:1}]
"""


def test_unsupported_image_reports_err_image_pull_with_the_supported_list() -> None:
    with Sandbox.local() as sb:
        sb.apply(BAD_IMAGE)
        (pod,) = [p for p in sb.pods() if p.name.startswith("bad-")]
        assert pod.status == "ErrImagePull"
        assert pod.message.startswith('Failed to pull image "quay.io/foo/bar:1"')
        assert "httpbin" in pod.message and "tcp-echo" in pod.message


def test_work_dir_of_a_dead_process_is_removed_by_the_next_sandbox() -> None:
    # pid 999999 is beyond the default pid_max, so no live process has it.
    stale = pathlib.Path(tempfile.gettempdir()) / "gatewaykit-sandbox-999999-stale"
    stale.mkdir(exist_ok=True)
    (stale / "key.pem").write_text("x")
    with Sandbox.local() as sb:
        assert not stale.exists()
        assert sb.work_dir.exists()
    assert not sb.work_dir.exists()  # a temporary work dir goes with close()


def test_private_keys_stay_in_the_work_dir_with_mode_0600(tmp_path: pathlib.Path) -> None:
    from gatewaykit.certs import istio_docs_certs

    before = set(pathlib.Path(tempfile.gettempdir()).glob("gatewaykit-tls-*"))
    certs = istio_docs_certs()
    crt = certs["example_certs1/httpbin.example.com"].cert_pem.decode()
    key = certs["example_certs1/httpbin.example.com"].key_pem.decode()
    ind = lambda text: "\n".join("    " + line for line in text.strip().splitlines())  # noqa: E731
    (tmp_path / "sb").mkdir(mode=0o755)
    mode_before = (tmp_path / "sb").stat().st_mode & 0o777
    with Sandbox.local(tmp_path / "sb") as sb:
        sb.apply(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: cred, namespace: istio-system}\n"
            "type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" + ind(crt) + "\n  tls.key: |\n" + ind(key) + "\n"
            "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n"
            "  selector: {istio: ingressgateway}\n  servers:\n"
            "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [httpbin.example.com]\n"
            "    tls: {mode: SIMPLE, credentialName: cred}\n"
        )
        r = sb.curl(
            'curl -sk -o /dev/null -w "%{ssl_verify_result}" --resolve '
            '"httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
            '"https://httpbin.example.com:$SECURE_INGRESS_PORT/"'
        )
        assert r.exit_code == 0  # the handshake used the secret's key (then 404: no VirtualService)
        # Private state lives in the sandbox's own folder; the caller's directory keeps its mode.
        assert (sb.work_dir / ".sandbox").stat().st_mode & 0o777 == 0o700
        assert (sb.work_dir / ".sandbox" / "keys").stat().st_mode & 0o777 == 0o700
        assert sb.work_dir.stat().st_mode & 0o777 == mode_before
        for path in sb.work_dir.rglob("*"):
            if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
                assert path.stat().st_mode & 0o777 == 0o600, path
        assert key not in r.stdout + r.stderr and key.splitlines()[1] not in sb.logs(
            "istio-system/istio-ingressgateway"
        )
    assert set(pathlib.Path(tempfile.gettempdir()).glob("gatewaykit-tls-*")) == before
