"""The one interface every backend implements: the embedded sandbox, kind, and a connected cluster.

Lab checks and notebooks are written against :class:`Backend` only, so the same lab runs
unchanged on every backend (the httpx transport / testcontainers ``WaitStrategyTarget`` idea).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gatewaykit.resources.codecs import ManifestSource

if TYPE_CHECKING:  # the pure core's types, for annotations only
    from gatewaykit._simulate import Request, Result
    from gatewaykit.envoy import ProxyConfig

__all__ = [
    "ApplyReport",
    "Backend",
    "CurlResult",
    "Hop",
    "Inspector",
    "MeshSwitch",
    "ManifestSource",
    "PodInfo",
    "ShellResult",
    "parse_curl_output",
]

# What ``apply``/``delete`` accept is what the one manifest reader reads: YAML/JSON text, a path
# (``Path`` or a one-line str ending in .yaml/.yml/.json), a dict or a list of dicts.


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What ``kubectl apply`` / ``kubectl delete`` printed for one manifest.

    ``lines`` are the per-object lines (``gateway.networking.istio.io/x created``);
    ``warnings`` are the bare warning texts; ``str()`` renders both as kubectl does
    (``Warning: <text>`` lines first, as kubectl prints admission warnings before the object line).
    """

    lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "\n".join([f"Warning: {w}" for w in self.warnings] + list(self.lines))

    def _repr_pretty_(self, p, cycle) -> None:  # type: ignore[no-untyped-def]
        p.text(str(self))


#: One proxy a request crossed: ``("<namespace>/<pod>", what simulate() says happened there)``.
Hop = tuple[str, "Result"]


@dataclass(frozen=True, slots=True)
class CurlResult:
    """The outcome of running the real ``curl`` binary.

    ``exit_code``, ``stdout`` and ``stderr`` are exactly what curl produced. The parsed
    convenience fields come from the *last* HTTP response head found in stdout (``-i``/``-I``/
    ``-D -``) or from ``-v`` lines in stderr; they are None when curl failed before a response.
    """

    command: str
    exit_code: int
    stdout: str
    stderr: str
    status: int | None = None
    http_version: str | None = None
    reason: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    #: The proxies the request crossed, in order (sidecar, then gateway), each with the path
    #: simulate() found there. Only a backend that runs its own data plane (the embedded
    #: sandbox) knows it; elsewhere it is empty.
    explanation: tuple[Hop, ...] = ()

    @property
    def ok(self) -> bool:
        """True when curl exited 0."""
        return self.exit_code == 0

    @property
    def status_line(self) -> str | None:
        """``HTTP/1.1 200 OK`` / ``HTTP/2 418`` as curl printed it, or None."""
        if self.status is None:
            return None
        line = f"HTTP/{self.http_version} {self.status}"
        return f"{line} {self.reason}" if self.reason else line

    def __str__(self) -> str:
        parts = []
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.stderr:
            parts.append(self.stderr.rstrip("\n"))
        parts.append(f"(exit code {self.exit_code})")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class ShellResult:
    """What a bash script printed in a backend's shell, as a terminal shows it.

    ``output`` is stdout and stderr merged in the order they were written (``kubectl``'s
    ``Error from server ...`` appears where it was printed); ``exit_code`` is bash's.
    """

    script: str
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        """True when the script exited 0."""
        return self.exit_code == 0

    def __str__(self) -> str:
        return self.output

    def _repr_pretty_(self, p, cycle) -> None:  # type: ignore[no-untyped-def]
        p.text(self.output if self.ok else f"{self.output}(exit code {self.exit_code})")


@dataclass(frozen=True, slots=True)
class PodInfo:
    """One pod as ``kubectl get pods -A`` shows it, with the reason when it is not Running.

    ``status`` is the STATUS column (``Running``, ``ErrImagePull``, ``CrashLoopBackOff``,
    ``Pending``); ``message`` is what ``kubectl describe pod`` would give as the reason, or "".
    """

    namespace: str
    name: str
    status: str
    ip: str = ""
    ready: str = ""
    message: str = ""


# curl's progress meter (curl lib/progress.c, progress_meter): without -s it is redrawn after a
# "\r" whenever the wall clock's second changes mid-transfer, and what -v prints next follows on
# the same terminal line: "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:--
# --:--:--     0< HTTP/2 418 ". Sizes are max5data() (``135``, ``1234k``, ``12.3M``), times
# time2str() (``--:--:--``, ``0:00:01``, ``12d 03h``, ``1234d``).
_SIZE = r"[0-9.]+[kMGTPE]?"
_TIME = r"(?:--:--:--|[0-9]+:[0-9]{2}:[0-9]{2}|[0-9]+d(?: [0-9]{2}h)?)"
_PROGRESS_METER = re.compile(
    rf"^ *[0-9]+ +{_SIZE} +[0-9]+ +{_SIZE} +[0-9]+ +{_SIZE} +{_SIZE} +{_SIZE}"
    rf" +{_TIME} +{_TIME} +{_TIME} +{_SIZE}"
)


def _verbose_lines(stderr: str) -> list[str]:
    """curl's stderr as terminal lines, with progress-meter text in front of a line removed."""
    return [_PROGRESS_METER.sub("", line, count=1) for line in re.split(r"\r\n|\n|\r", stderr)]


def parse_curl_output(command: str, exit_code: int, stdout: str, stderr: str) -> CurlResult:
    """Build a :class:`CurlResult`, parsing the last response head curl printed.

    Heads are found in stdout (``-i``, ``-I``, ``-D -``) or in ``-v`` stderr (``< HTTP/2 418``).
    Header names are lower-cased in :attr:`CurlResult.headers` (the last value wins).
    """
    status = version = reason = None
    headers: dict[str, str] = {}
    body: str | None = None

    def parse_head(lines: list[str]) -> None:
        nonlocal status, version, reason, headers
        first = lines[0].split(" ", 2)
        version = first[0][len("HTTP/"):]
        try:
            status = int(first[1])
        except (IndexError, ValueError):
            status = None
        reason = first[2].strip() if len(first) > 2 and first[2].strip() else None
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()

    # stdout heads: blocks starting with "HTTP/" and ending with an empty line.
    text = stdout.replace("\r\n", "\n")
    pos = 0
    last_head_end = None
    while True:
        idx = text.find("HTTP/", pos)
        if idx == -1 or (idx > 0 and text[idx - 1] != "\n"):
            if idx == -1:
                break
            pos = idx + 5
            continue
        end = text.find("\n\n", idx)
        head = text[idx:] if end == -1 else text[idx:end]
        lines = head.split("\n")
        if len(lines[0].split(" ")) >= 2 and lines[0].split(" ")[1].isdigit():
            parse_head(lines)
            last_head_end = len(text) if end == -1 else end + 2
            pos = last_head_end
        else:
            pos = idx + 5
        if end == -1:
            break
    if last_head_end is not None:
        body = text[last_head_end:]
    elif exit_code == 0:
        body = stdout
    if status is None:
        # -v: "< HTTP/1.1 200 OK" then "< header: value" lines
        head_lines: list[str] = []
        for line in _verbose_lines(stderr):
            if line.startswith("< HTTP/"):
                head_lines = [line[2:]]
            elif line.startswith("< ") and head_lines:
                head_lines.append(line[2:])
        if head_lines:
            parse_head(head_lines)
            body = stdout
    return CurlResult(
        command=command,
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        status=status,
        http_version=version,
        reason=reason,
        headers=headers,
        body=body,
    )


@runtime_checkable
class Backend(Protocol):
    """What every backend offers: ``LocalSandbox``, ``KindSandbox``, ``ConnectedSandbox``.

    The kit (labs, widgets, checks) uses only this protocol, so a lab runs unchanged on every
    backend. ``tests/backends/test_conformance.py`` runs the same checks over all three.

    Context-manager contract (testcontainers' ``__enter__`` idea): a backend is started by its
    constructor (a half-started backend cleans up and re-raises); ``with`` returns it and
    ``close()`` on exit; ``close()`` is idempotent and afterwards every method raises
    :class:`~gatewaykit.errors.BackendError` (``closed`` tells).
    """

    @property
    def env(self) -> dict[str, str]:
        """The learner's variables: ``INGRESS_HOST``, ``INGRESS_PORT``, ``SECURE_INGRESS_PORT``,
        ``TCP_INGRESS_PORT`` -- what the docs' ``export`` lines would set."""
        ...

    @property
    def shell_env(self) -> dict[str, str]:
        """What a terminal needs to talk to this backend: ``KUBECONFIG`` (the backend's own
        file, never ``~/.kube/config``), ``KUBECACHEDIR``, ``PATH`` with the pinned ``kubectl``
        (and ``istioctl``) first, plus :attr:`env`. ``gatewaykit env`` prints it as ``export``
        lines."""
        ...

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        ...

    def apply(self, source: ManifestSource) -> ApplyReport:
        """Apply a (multi-document) manifest; return when the config serves traffic.

        Raises:
            ValidationError: Istio/Kubernetes would reject it; nothing changed.
        """
        ...

    def delete(self, source: ManifestSource) -> ApplyReport:
        """Delete every object the manifest names (``kubectl delete -f``)."""
        ...

    def curl(
        self,
        command: str,
        source: str | None = None,
        timeout: float = 30.0,
        cwd: str | pathlib.Path | None = None,
    ) -> CurlResult:
        """Run real curl with the command as written in Istio's docs.

        ``source`` (``"default/curl"``) runs it inside that workload, through its sidecar;
        ``cwd`` (default: the caller's current directory) is where relative paths such as
        ``--cacert example_certs1/example.com.crt`` are found.
        """
        ...

    def shell(
        self, script: str, timeout: float = 60.0, cwd: str | pathlib.Path | None = None
    ) -> ShellResult:
        """Run a bash script with :attr:`shell_env` (``kubectl``, ``istioctl`` against this
        backend); variables it exports are kept for the next call, as in one terminal."""
        ...

    def logs(self, workload: str) -> str:
        """The access log of a proxy (``"istio-system/istio-ingressgateway"``, ``"default/curl"``)."""
        ...

    def service_address(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """Where the host reaches port ``port`` of Service ``namespace/name`` (a gateway's
        Service): its nodePort on 127.0.0.1, or a port-forward the backend holds."""
        ...

    def pods(self) -> list[PodInfo]:
        """Every pod, as ``kubectl get pods -A`` lists them."""
        ...

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the API server returns it (``kubectl get -o json``), or None.

        ``kind`` is the Kind (``Gateway``, ``Service``); the Gateway API's Gateway is
        ``Gateway.gateway.networking.k8s.io`` (the bare ``Gateway`` is Istio's).
        """
        ...

    def close(self) -> None:
        """Stop everything this backend started; idempotent."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Inspector(Protocol):
    """What only a backend that computes Envoy's configuration itself can show (the embedded
    sandbox): a dry run through the very path ``apply`` takes, ``istioctl analyze``'s findings,
    every proxy's configuration and a request's simulated path. The kit checks
    ``isinstance(backend, Inspector)`` and says plainly what it cannot show on other backends.
    """

    def dry_run(self, source: ManifestSource) -> ApplyReport:
        """``kubectl apply --dry-run=server``: the lines ``apply`` would print; nothing changes.

        Raises:
            ValidationError: ``apply`` would reject it, with the same text.
        """
        ...

    def analyze(self, source: ManifestSource | None = None) -> tuple[str, ...]:
        """``istioctl analyze``'s messages for the cluster as it would be after applying ``source``."""
        ...

    def proxy_config(self, workload: str) -> ProxyConfig:
        """The Envoy configuration of a workload's proxy (``istioctl proxy-config all``)."""
        ...

    def simulate(self, request: Request, workload: str) -> Result:
        """The path a request would take through a workload's proxy (no traffic sent)."""
        ...


@runtime_checkable
class MeshSwitch(Protocol):
    """A backend that can switch the mesh-wide outbound policy (the embedded sandbox and kind:
    ``meshConfig.outboundTrafficPolicy.mode`` in the ``istio`` ConfigMap, which istiod watches).
    The kit checks ``isinstance(backend, MeshSwitch)`` and says so when a lab needs it elsewhere."""

    def set_mesh_config(self, *, outbound_traffic_policy: str = "ALLOW_ANY") -> None:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` (``ALLOW_ANY`` or ``REGISTRY_ONLY``)."""
        ...
