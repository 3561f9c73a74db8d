"""Which stand-in an image gets, and :func:`start_workload`, the one entry point the sandbox calls.

Image names are matched the way a learner writes them in a Deployment: any registry prefix
(``docker.io/``, ``registry.istio.io/release/``), any tag or digest.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gatewaykit.workloads.base import LogBuffer, RunningWorkload, WorkloadSpec, WorkloadStatus

__all__ = ["SUPPORTED_IMAGES", "classify_image", "pull_failure", "start_workload"]

#: What the local sandbox can run, as shown in the ErrImagePull message.
SUPPORTED_IMAGES: tuple[str, ...] = (
    "docker.io/kong/httpbin",
    "docker.io/kennethreitz/httpbin",
    "docker.io/mccutchen/go-httpbin",
    "any other image named *httpbin* (served by the Python httpbin)",
    "istio/examples-helloworld-v1",
    "istio/examples-helloworld-v2",
    "istio/tcp-echo-server",
    "nginx",
    "curlimages/curl",
    "governmentpaas/curl-ssl",
    "sleep (Istio's sleep sample)",
    "docker.io/istio/pilot (istiod: a stand-in that stays Running)",
)


# The Docker reference grammar the kubelet parses an image with (github.com/distribution/reference
# regexp.go), and how it names a short name (ParseNormalizedNamed: docker.io/library/...).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)

# Repositories no registry has: `auto` is the placeholder image Istio's injector replaces in an
# `istio-proxy` container, kept when the pod was not injected (istio/istio#37482, #46307).
_MISSING_REPOSITORIES = frozenset({"docker.io/library/auto"})


def _missing_image_error(reference: str) -> str:
    """containerd's answer (kind's runtime) for a repository that does not exist, as the kubelet
    reports it: pkg/kubelet/images/image_manager.go puts the CRI error in the container's waiting
    message (its event adds 'Failed to pull image "<image>": '); the text as in istio/istio#46307."""
    return (
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{reference}": failed to resolve '
        f'reference "{reference}": pull access denied, repository does not exist or may require '
        "authorization: server message: insufficient_scope: authorization failed"
    )


def _split_docker_domain(name: str) -> tuple[str, str]:
    """distribution/reference splitDockerDomain: ``auto`` is ``docker.io``, ``library/auto``."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = "docker.io", name
    else:
        domain, remainder = first, rest
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    return domain, remainder


def pull_failure(image: str) -> tuple[WorkloadStatus, str] | None:
    """The waiting reason and message the kubelet gives a container whose image cannot be
    pulled anywhere, or None.

    ``InvalidImageName`` when the reference does not parse (applyDefaultImageTag /
    ParseNormalizedNamed, e.g. upper case); ``ErrImagePull`` for a repository no registry has
    (``auto``).
    """
    domain, remainder = _split_docker_domain(image)
    remote, _, tag = remainder.split("@", 1)[0].partition(":")
    problem = ""
    if remote.lower() != remote:
        problem = f"invalid reference format: repository name ({remote}) must be lowercase"
    elif not _REFERENCE.fullmatch(image):
        problem = "invalid reference format"
    if problem:
        return "InvalidImageName", (
            f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": {problem}'
        )
    if f"{domain}/{remote}" in _MISSING_REPOSITORIES:
        return "ErrImagePull", _missing_image_error(f"{domain}/{remote}:{tag or 'latest'}")
    return None


def _repository(image: str) -> str:
    """The repository path of ``image`` without tag or digest, lower-cased."""
    name = image.strip().lower().split("@", 1)[0]
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:  # a tag (a colon before the last slash is a registry port)
        name = name[:colon]
    return name


def classify_image(image: str) -> str | None:
    """Tell which stand-in serves ``image``.

    Args:
        image: the container image as written in the Deployment.

    Returns:
        ``"go-httpbin"`` (Istio 1.24+'s sample, ``mccutchen/go-httpbin``), ``"httpbin"`` (the Python
        httpbin: ``kong/httpbin``, ``kennethreitz/httpbin``, any other ``*httpbin*``),
        ``"helloworld"``, ``"tcp-echo"``, ``"nginx"``, ``"client"``, ``"pilot"`` (istiod), or ``None``
        when the image is not supported (the pod then reports ErrImagePull).
    """
    repo = _repository(image)
    last = repo.rsplit("/", 1)[-1]
    if repo == "mccutchen/go-httpbin" or repo.endswith("/mccutchen/go-httpbin"):
        return "go-httpbin"
    if "httpbin" in repo:
        return "httpbin"
    if last.startswith("examples-helloworld"):
        return "helloworld"
    if last == "tcp-echo-server":
        return "tcp-echo"
    if last == "nginx":
        return "nginx"
    if last == "pilot" and (repo == "istio/pilot" or repo.endswith("/istio/pilot")):
        return "pilot"
    if (
        repo.endswith("curlimages/curl")
        or repo.endswith("governmentpaas/curl-ssl")
        or last
        in (
            "curl",
            "sleep",
        )
    ):
        return "client"
    return None


def start_pilot(spec: WorkloadSpec) -> RunningWorkload:
    """istiod's ``discovery`` container, as a stand-in: Running, serving nothing on its ports.

    The sandbox's control plane is gatewaykit's own translation (``gatewaykit.translate``), which
    reads the same ``istio`` ConfigMap istiod watches; this stand-in only makes the istiod pod of
    ``istioctl install`` exist and run, so that ``kubectl get pods -n istio-system`` and
    ``istioctl version`` see a control plane. Its declared ports (15010, 15012, 15017...) refuse
    connections: nothing in the sandbox dials xDS.
    """
    return RunningWorkload(spec, kind="pilot", log=LogBuffer())


def _starters() -> dict[str, Callable[[WorkloadSpec], RunningWorkload]]:
    from gatewaykit.workloads.apps import start_client, start_helloworld, start_httpbin, start_tcp_echo
    from gatewaykit.workloads.gohttpbin import start_gohttpbin
    from gatewaykit.workloads.nginx import start_nginx

    return {
        "go-httpbin": start_gohttpbin,
        "httpbin": start_httpbin,
        "helloworld": start_helloworld,
        "tcp-echo": start_tcp_echo,
        "nginx": start_nginx,
        "client": start_client,
        "pilot": start_pilot,
    }


def start_workload(spec: WorkloadSpec) -> RunningWorkload:
    """Start the stand-in for ``spec.image`` on 127.0.0.1.

    Never raises for a bad image or config: like a pod, the workload then has a non-Running
    ``status`` and a ``message`` (``ErrImagePull`` for an unsupported image, ``CrashLoopBackOff`` for
    a container that exits, such as nginx with a configuration it rejects).

    Args:
        spec: the container to run.

    Returns:
        The running (or failed) workload; call ``close()`` when the pod goes away.
    """
    failure = pull_failure(spec.image)
    if failure is not None:
        return RunningWorkload(spec, kind=None, status=failure[0], message=failure[1], log=LogBuffer())
    kind = classify_image(spec.image)
    if kind is None:
        # kubelet's event text is 'Failed to pull image "<image>": ...'; we say why and what works.
        message = (
            f'Failed to pull image "{spec.image}": the local sandbox has no stand-in for this image. '
            f"Supported images: {', '.join(SUPPORTED_IMAGES)}."
        )
        log = LogBuffer()
        return RunningWorkload(spec, kind=None, status="ErrImagePull", message=message, log=log)
    return _starters()[kind](spec)
