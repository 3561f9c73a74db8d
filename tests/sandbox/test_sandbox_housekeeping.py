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
        (pod,) = [p for p in sb.pods() if p["name"].startswith("bad-")]
        assert pod["status"] == "ErrImagePull"
        assert pod["message"].startswith('Failed to pull image "quay.io/foo/bar:1"')
        assert "httpbin" in pod["message"] and "tcp-echo" in pod["message"]


def test_work_dir_of_a_dead_process_is_removed_by_the_next_sandbox() -> None:
    # pid 999999 is beyond the default pid_max, so no live process has it.
    stale = pathlib.Path(tempfile.gettempdir()) / "gatewaykit-sandbox-999999-stale"
    stale.mkdir(exist_ok=True)
    (stale / "key.pem").write_text("x")
    with Sandbox.local() as sb:
        assert not stale.exists()
        assert sb.work_dir.exists()
    assert not sb.work_dir.exists()  # a temporary work dir goes with close()
