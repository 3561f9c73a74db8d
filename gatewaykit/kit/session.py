"""A running lab: a :class:`~gatewaykit.kit.labs.Lab` attached to a backend.

``open_lab("01-virtual-hosts")`` starts (or reuses) the backend named by ``GATEWAYKIT_BACKEND``,
removes whatever an earlier lab or run applied, writes the lab's certificates into its work dir,
applies the lab's setup and returns a :class:`LabSession`. Every action is a plain method that
returns a result object with a stable printed form (ports, dates and ids normalized), so a
notebook cell can print it and nbval can compare it; the widgets call the same methods.

Certificate paths in curl commands (``--cacert example_certs1/example.com.crt``) are relative to
the lab's work dir, exactly as in Istio's docs where the learner runs ``openssl`` and ``curl`` in one
directory: commands run from the learner's machine are run with that directory as the current one.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import pathlib
import re
import shlex
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit.backends.base import ApplyReport, Backend, CurlResult
from gatewaykit.errors import GatewayKitError, LabError, ManifestError, ValidationError
from gatewaykit.kit import verify
from gatewaykit.kit.labs import (
    Action,
    Exercise,
    Lab,
    ManifestRef,
    Probe,
    SecretSpec,
    Step,
    join_yaml,
    load_lab,
)
from gatewaykit.resources.codecs import read_documents

__all__ = [
    "ApplyOutcome",
    "CheckResult",
    "CurlOutcome",
    "Explanation",
    "LabSession",
    "ProbeResult",
    "StepHandle",
    "open_lab",
]

#: The workload whose access log explains a request sent from the learner's machine.
DEFAULT_GATEWAY = "istio-system/istio-ingressgateway"

_BACKENDS: dict[str, Backend] = {}
_LOCK = threading.Lock()
# What each backend has applied through the kit, across labs: (backend id) -> ordered ledger.
_LEDGERS: dict[int, dict[tuple[str, str, str], dict[str, Any]]] = {}


def _default_backend() -> Backend:
    """The process-wide backend named by ``GATEWAYKIT_BACKEND`` (``local`` by default)."""
    name = os.environ.get("GATEWAYKIT_BACKEND", "local").strip().lower() or "local"
    with _LOCK:
        be = _BACKENDS.get(name)
        # A notebook may have closed the shared backend (its last cell); re-running cells in the
        # same kernel then starts a fresh one instead of failing on a closed sandbox.
        if be is None or getattr(be, "_closed", False):
            from gatewaykit.sandbox import backend_from_env

            be = _BACKENDS[name] = backend_from_env()
            # A kernel shut down normally (JupyterLab, nbclient) leaves no listener or temp dir.
            atexit.register(_close_quietly, be)
        return be


def _close_quietly(backend: Backend) -> None:
    with contextlib.suppress(Exception):
        backend.close()


def default_work_dir(lab_id: str) -> pathlib.Path:
    """``$GATEWAYKIT_WORK_DIR/<lab>`` or ``./.gatewaykit/<lab>`` (beside the notebook)."""
    base = os.environ.get("GATEWAYKIT_WORK_DIR")
    root = pathlib.Path(base) if base else pathlib.Path.cwd() / ".gatewaykit"
    return root / lab_id


def open_lab(
    name: str | os.PathLike[str] | Lab,
    backend: Backend | None = None,
    *,
    work_dir: str | os.PathLike[str] | None = None,
    reset: bool = True,
) -> LabSession:
    """Open a lab: attach to a backend, reset the lab's state and apply its setup.

    Args:
        name: a lab id (``"01-virtual-hosts"``, ``"01"``), a lab directory, or a loaded :class:`Lab`.
        backend: a backend to use; default: the one ``GATEWAYKIT_BACKEND`` names (``local`` →
            ``Sandbox.local()``, ``kind`` → ``Sandbox.kind()``), shared by every lab of the process.
        work_dir: where certificates and the learner's edits live; default :func:`default_work_dir`.
        reset: delete what earlier labs/steps applied and re-apply the setup (default True).

    Returns:
        The :class:`LabSession`.
    """
    lab = name if isinstance(name, Lab) else load_lab(name)
    be = backend if backend is not None else _default_backend()
    wd = pathlib.Path(work_dir) if work_dir else default_work_dir(lab.id)
    session = LabSession(lab, be, wd)
    if reset:
        session.reset()
    _enable_shell(be)
    return session


def _enable_shell(backend: Backend) -> None:
    """In a notebook: ``%%gatewaykit`` cells, and ``!kubectl`` pointed at the lab's sandbox."""
    from gatewaykit.kit.magic import load_ipython_extension, use_backend  # noqa: PLC0415

    use_backend(backend)
    try:
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None:
        load_ipython_extension(ip)


# --------------------------------------------------------------------------------------------
# Result objects: stable printed forms


class _Printable:
    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


@dataclass(frozen=True, slots=True, repr=False)
class ApplyOutcome(_Printable):
    """What applying (or deleting) something printed: kubectl lines, or Istio's rejection.

    Attributes:
        lines: kubectl's per-object lines; warnings: admission warnings;
        error: the rejection text (``Error from server ...``) when Istio refused it, else None.
    """

    lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return self.error is None

    def __str__(self) -> str:
        out = [f"Warning: {w}" for w in self.warnings] + list(self.lines)
        if self.error:
            out.append(self.error)
        return normalize_text("\n".join(out)) if out else "(nothing to apply)"

    __repr__ = __str__


def normalize_text(text: str) -> str:
    """Normalize volatile parts (ports, dates, ids) of any printed text."""
    return verify.normalize(text)


@dataclass(frozen=True, slots=True, repr=False)
class CurlOutcome(_Printable):
    """A curl run as the learner wrote it, with its reading.

    Attributes:
        command: the command as written (``$VARS`` unexpanded).
        source: the mesh workload it ran in, or None.
        result: the backend's :class:`CurlResult` (exact stdout/stderr/exit code).
    """

    command: str
    source: str | None
    result: CurlResult

    @property
    def reading(self) -> str:
        """One sentence in plain words."""
        return verify.plain_words(self.result)

    @property
    def tls(self) -> dict[str, str]:
        """TLS facts from ``-v`` output (protocol, ALPN, subject, issuer)."""
        return verify.tls_details(self.result)

    def __str__(self) -> str:
        where = f"[in {self.source}] " if self.source else ""
        return where + verify.summarize(self.result, command=self.command)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class ProbeResult(_Printable):
    """A probe's curl run judged against its expectation."""

    probe: Probe
    outcome: CurlOutcome
    checks: tuple[verify.Outcome, ...]

    @property
    def ok(self) -> bool:
        """True when every expectation held."""
        return all(c.ok for c in self.checks)

    def __str__(self) -> str:
        lines = [str(self.outcome)]
        if self.probe.says:
            lines.insert(0, f"# {self.probe.says}")
        lines += [str(c) for c in self.checks]
        return "\n".join(lines)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class StepResult(_Printable):
    """Applying a step and running its probes."""

    step: Step
    applied: ApplyOutcome
    probes: tuple[ProbeResult, ...]
    apply_checks: tuple[verify.Outcome, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the apply matched expectations and every probe held."""
        return all(c.ok for c in self.apply_checks) and all(p.ok for p in self.probes)

    def __str__(self) -> str:
        parts = [f"## {self.step.title}", str(self.applied)] + [str(c) for c in self.apply_checks]
        parts += ["", *(str(p) + "\n" for p in self.probes)]
        return "\n".join(parts).rstrip("\n")

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class CheckResult(_Printable):
    """Check-my-work: ✓/✗ per condition and probe, and the next hint when something fails."""

    exercise: Exercise
    items: tuple[verify.Outcome, ...]
    probes: tuple[ProbeResult, ...]
    hint: str | None

    @property
    def ok(self) -> bool:
        """True when every condition and probe passed."""
        return all(i.ok for i in self.items)

    def __str__(self) -> str:
        passed = sum(1 for i in self.items if i.ok)
        head = f"Check: {self.exercise.title} -- {passed}/{len(self.items)} passed"
        lines = [head] + [str(i) for i in self.items]
        if self.ok:
            lines.append("Well done: every check passed.")
        elif self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class Explanation(_Printable):
    """Why a request went where it went: the simulated path beside the proxy's access-log line."""

    path: str
    log_line: str
    workload: str

    def __str__(self) -> str:
        log = verify.normalize_log(self.log_line) if self.log_line else "(no line)"
        return normalize_text(f"path: {self.path}\n{self.workload} access log: {log}")

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class Solution(_Printable):
    """A reference solution: its YAML (and secrets), applied or not."""

    exercise: Exercise
    yaml: str
    applied: ApplyOutcome | None = None

    def __str__(self) -> str:
        lines = [f"# Reference solution: {self.exercise.title}"]
        for s in self.exercise.solution.delete:
            lines.append(f"# delete: {s.origin}")
        for sec in self.exercise.solution.secrets:
            lines.append(f"# {secret_command(sec)}")
        lines.append(self.yaml.rstrip("\n"))
        if self.applied is not None:
            lines += ["", str(self.applied)]
        return "\n".join(lines)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class VerifyReport(_Printable):
    """A whole-lab run: every step's probes, then every exercise's solution against its check."""

    lab: Lab
    steps: tuple[StepResult, ...]
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when every probe and every exercise check passed."""
        return all(s.ok for s in self.steps) and all(c.ok for c in self.checks)

    def failures(self) -> list[str]:
        """Readable descriptions of what failed."""
        out = []
        for s in self.steps:
            for c in s.apply_checks:
                if not c.ok:
                    out.append(f"step {s.step.id}: {c}")
            for p in s.probes:
                if not p.ok:
                    out.append(f"step {s.step.id}: {p.probe.command}\n{p}")
        for chk in self.checks:
            if not chk.ok:
                out.append(f"exercise {chk.exercise.id}:\n{chk}")
        return out

    def __str__(self) -> str:
        lines = [f"Lab {self.lab.id}: {'all passed' if self.ok else 'FAILED'}"]
        for s in self.steps:
            lines.append(f"{'✓' if s.ok else '✗'} step {s.step.id} ({len(s.probes)} probes)")
        for c in self.checks:
            lines.append(f"{'✓' if c.ok else '✗'} exercise {c.exercise.id}")
        return "\n".join(lines + self.failures())

    __repr__ = __str__


# --------------------------------------------------------------------------------------------
# The session


#: The ledger entry of a mesh config switch (not an object the kit applied).
_MESH_KEY = ("MeshConfig", "default", "outboundTrafficPolicy")


def _key(doc: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata") or {}
    kind = str(doc.get("kind"))
    ns = "" if kind == "Namespace" else str(meta.get("namespace") or "default")
    return (kind, ns, str(meta.get("name")))


def _stub(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A minimal manifest naming ``doc`` (what ``kubectl delete -f`` needs)."""
    meta: dict[str, Any] = {"name": doc["metadata"]["name"]}
    if doc.get("kind") != "Namespace":
        meta["namespace"] = (doc.get("metadata") or {}).get("namespace") or "default"
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "metadata": meta}


class Mermaid(str):
    """Mermaid source that JupyterLab (>= 4.1) renders as a diagram."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/vnd.mermaid": str(self), "text/plain": str(self)}


class StepHandle(_Printable):
    """A lab step bound to its session: ``step.apply()``, ``step.run()``, ``step.yaml``."""

    def __init__(self, session: LabSession, step: Step, number: int) -> None:
        self.session = session
        self.step = step
        self.number = number

    @property
    def id(self) -> str:
        """The step id."""
        return self.step.id

    @property
    def title(self) -> str:
        """The step title."""
        return self.step.title

    @property
    def explain(self) -> str:
        """The explanation (Markdown)."""
        return self.step.explain

    @property
    def yaml(self) -> str:
        """The step's manifests as YAML."""
        return self.step.yaml

    @property
    def probes(self) -> tuple[Probe, ...]:
        """The step's probes."""
        return self.step.probes

    def apply(self) -> ApplyOutcome:
        """Delete/create/apply what the step says; a rejection is returned, not raised."""
        return self.session.run_action(self.step.action)

    def run(self) -> StepResult:
        """Apply the step, check the apply expectations, run every probe."""
        applied = self.apply()
        return StepResult(
            self.step, applied, self.session.run_probes(self.step.probes), self.apply_checks(applied)
        )

    def apply_checks(self, applied: ApplyOutcome) -> tuple[verify.Outcome, ...]:
        """Judge the apply output against ``expect_apply``."""
        out = []
        if self.step.expect_rejected:
            out.append(
                verify.Outcome(
                    applied.error is not None and self.step.expect_rejected in applied.error,
                    f"Istio rejects it: {self.step.expect_rejected!r}",
                    applied.error or "accepted",
                )
            )
        elif applied.error:
            out.append(verify.Outcome(False, "the manifest is accepted", applied.error))
        for w in self.step.expect_warnings:
            out.append(
                verify.Outcome(any(w in x for x in applied.warnings), f"Warning: {w}", "no such warning")
            )
        return tuple(out)

    def _repr_markdown_(self) -> str:
        return f"### Step {self.number}: {self.step.title}\n\n{self.step.explain}"

    def __str__(self) -> str:
        return f"Step {self.number}: {self.step.title}"

    __repr__ = __str__


class LabSession:
    """A lab attached to a backend. Created by :func:`open_lab`.

    Attributes:
        lab: the loaded :class:`Lab`; backend: the :class:`Backend`; work_dir: the lab's work dir.
        steps: :class:`StepHandle` per step; exercises: the lab's exercises.
    """

    def __init__(self, lab: Lab, backend: Backend, work_dir: pathlib.Path) -> None:
        self.lab = lab
        self.backend = backend
        self.work_dir = work_dir
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.steps = tuple(StepHandle(self, s, i + 1) for i, s in enumerate(lab.steps))
        self.exercises = lab.exercises
        self.last: CurlOutcome | None = None
        self._hint_index: dict[str, int] = {}
        self.ledger = _LEDGERS.setdefault(id(backend), {})

    # -- environment ---------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The backend's variables plus the lab's published Service ports (``env:`` in lab.yaml)."""
        env = dict(self.backend.env)
        env.update(self._port_vars(required=False))
        return env

    def _port_vars(self, required: bool = True) -> dict[str, str]:
        out: dict[str, str] = {}
        if not self.lab.env:
            return out
        lookup = getattr(self.backend, "service_address", None)
        for var in self.lab.env:
            if lookup is None:
                if required:
                    raise LabError(
                        f"lab {self.lab.id} needs ${var.name} (Service {var.namespace}/{var.service} port "
                        f"{var.port} published on the host), but this backend has no service_address()"
                    )
                continue
            try:
                _host, port = lookup(var.namespace, var.service, var.port)
            except GatewayKitError:
                if required:
                    raise
                continue
            out[var.name] = str(port)
        return out

    def _command(self, command: str, source: str | None) -> str:
        """The command to hand the backend: lab variables filled in, and run from the work dir."""
        lab_vars = {v.name for v in self.lab.env}
        used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", command)) & lab_vars
        if used:
            values = self._port_vars()
            for name in used:
                if name not in values:
                    raise LabError(
                        f"${name} is not available yet: apply the step that creates its Service first"
                    )
                command = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", values[name], command)
        if source is None:
            # Doc commands name certificate files relative to where the learner made them.
            command = f"cd {shlex.quote(str(self.work_dir))} && {command}"
        return command

    # -- actions -------------------------------------------------------------------------------

    def curl(self, command: str, source: str | None = None, timeout: float = 30.0) -> CurlOutcome:
        """Run a doc-style curl command (from the learner's machine, or inside ``source``)."""
        result = self.backend.curl(self._command(command, source), source=source, timeout=timeout)
        self.last = CurlOutcome(command=command, source=source, result=result)
        return self.last

    def kubectl(self, command: str, timeout: float = 60.0) -> CurlOutcome:
        """Run a ``kubectl`` command line in the backend's shell (its cluster, its kubeconfig).

        The output (stdout and stderr as a terminal shows them) is the result's ``stdout``.
        """
        shell = self.backend.shell(self._command(command, None), timeout=timeout)
        result = CurlResult(command=command, exit_code=shell.exit_code, stdout=shell.output, stderr="")
        return CurlOutcome(command=command, source=None, result=result)

    def probe(self, probe: Probe) -> ProbeResult:
        """Run one probe and judge it (a probe that cannot run is a failed probe, not an exception)."""
        try:
            if probe.kubectl:
                outcome = self.kubectl(probe.command)
                return ProbeResult(probe, outcome, verify.judge(probe.expect, outcome.result))
            outcome = self.curl(probe.command, source=probe.source)
        except GatewayKitError as exc:
            failed = CurlResult(command=probe.command, exit_code=-1, stdout="", stderr=str(exc))
            outcome = CurlOutcome(probe.command, probe.source, failed)
            return ProbeResult(probe, outcome, (verify.Outcome(False, "the probe can run", str(exc)),))
        return ProbeResult(probe, outcome, verify.judge(probe.expect, outcome.result, self._logs))

    def run_probes(self, probes: Iterable[Probe]) -> tuple[ProbeResult, ...]:
        """Run probes in order."""
        return tuple(self.probe(p) for p in probes)

    def _logs(self, workload: str) -> str:
        try:
            return self.backend.logs(workload)
        except GatewayKitError as exc:
            return f"(no log: {exc})"

    def apply(self, source: str | Mapping[str, Any] | list[Any]) -> ApplyOutcome:
        """Apply YAML text (or dicts); a rejection is returned as ``error``, not raised."""
        docs = _documents(source)
        try:
            report: ApplyReport = self.backend.apply(source if not isinstance(source, str) else source)
        except ValidationError as exc:
            return ApplyOutcome(error=str(exc), warnings=tuple(getattr(exc, "warnings", ())))
        for d in docs:
            self.ledger.pop(_key(d), None)
            self.ledger[_key(d)] = d
        self._save_ledger()
        return ApplyOutcome(lines=tuple(report.lines), warnings=tuple(report.warnings))

    def delete(self, source: str | Mapping[str, Any] | list[Any], *, missing_ok: bool = True) -> ApplyOutcome:
        """Delete every object the manifest names, one by one (missing ones are skipped)."""
        lines: list[str] = []
        for d in reversed(_documents(source)):
            try:
                lines += self.backend.delete(_stub(d)).lines
            except GatewayKitError as exc:
                if not missing_ok:
                    return ApplyOutcome(lines=tuple(lines), error=str(exc))
            self.ledger.pop(_key(d), None)
        self._save_ledger()
        return ApplyOutcome(lines=tuple(lines))

    def set_mesh_config(self, mode: str) -> ApplyOutcome:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` (what the docs do with ``istioctl install
        --set meshConfig.outboundTrafficPolicy.mode=...``); :meth:`reset` puts ``ALLOW_ANY`` back."""
        switch = getattr(self.backend, "set_mesh_config", None)
        if switch is None:
            return ApplyOutcome(
                error=f"this backend cannot change the mesh config (outboundTrafficPolicy {mode})"
            )
        try:
            switch(outbound_traffic_policy=mode)
        except GatewayKitError as exc:
            return ApplyOutcome(error=str(exc))
        self.ledger[_MESH_KEY] = {"kind": _MESH_KEY[0], "metadata": {"name": _MESH_KEY[2]}, "mode": mode}
        self._save_ledger()
        return ApplyOutcome(lines=("configmap/istio configured",))

    def run_action(self, action: Action) -> ApplyOutcome:
        """Run a step/exercise/solution action: the mesh config, delete, secrets, then manifests."""
        lines: list[str] = []
        warnings: list[str] = []
        if action.outbound_traffic_policy:
            out = self.set_mesh_config(action.outbound_traffic_policy)
            lines += out.lines
            if out.error:
                return out
        for ref in action.delete:
            lines += self.delete(list(ref.documents)).lines
        # Namespaces first: the Secrets (and everything else) may live in them.
        namespaces = [r for r in action.manifests if all(d.get("kind") == "Namespace" for d in r.documents)]
        for ref in namespaces:
            out = self.apply(ref.text)
            lines += out.lines
            if out.error:
                return ApplyOutcome(tuple(lines), tuple(warnings), out.error)
        if action.secrets:
            out = self.apply(self.secret_manifests(action.secrets))
            lines += out.lines
            warnings += out.warnings
            if out.error:
                return ApplyOutcome(tuple(lines), tuple(warnings), out.error)
        for ref in action.manifests:
            if ref in namespaces:
                continue
            out = self.apply(ref.text)
            lines += out.lines
            warnings += out.warnings
            if out.error:
                return ApplyOutcome(tuple(lines), tuple(warnings), out.error)
        return ApplyOutcome(tuple(lines), tuple(warnings))

    def secret_manifests(self, secrets: Iterable[SecretSpec]) -> list[dict[str, Any]]:
        """Kubernetes Secrets built from certificate files in the work dir.

        ``tls`` → ``kubernetes.io/tls`` (``kubectl create secret tls``); ``generic`` → ``Opaque``
        (``kubectl create secret generic --from-file=<key>=<file>``), in any key layout of
        docs/behaviour.md §8.1.
        """
        self.ensure_certificates()
        out = []
        for s in secrets:
            data = {}
            for key, rel in s.files:
                f = self.work_dir / rel
                if not f.is_file():
                    raise LabError(
                        f"secret {s.namespace}/{s.name}: file {rel!r} not found in {self.work_dir}"
                    )
                data[key] = base64.b64encode(f.read_bytes()).decode()
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": s.name, "namespace": s.namespace},
                    "type": "kubernetes.io/tls" if s.type == "tls" else "Opaque",
                    "data": data,
                }
            )
        return out

    def ensure_certificates(self) -> None:
        """Write the docs' certificates (and the lab's extra ones) into the work dir, once."""
        setup = self.lab.setup
        marker = self.work_dir / ".certificates"
        if not marker.exists():
            from gatewaykit import certs

            certs.istio_docs_certs(self.work_dir)
            marker.write_text("written by gatewaykit.certs.istio_docs_certs\n")
        for extra in setup.extra_certificates:
            if (self.work_dir / f"{extra.name}.crt").exists():
                continue
            from gatewaykit import certs

            ca = certs.CertKey(
                cert_pem=(self.work_dir / f"{extra.ca}.crt").read_bytes(),
                key_pem=(self.work_dir / f"{extra.ca}.key").read_bytes(),
            )
            # Serial 1: cryptography will refuse to load serial-0 certificates in a future release.
            ck = certs.make_cert(extra.cn, extra.org, ca, 1, sans=extra.sans)
            path = self.work_dir / extra.name
            ck.write(path.parent, path.name)

    def close(self) -> None:
        """Close the backend this lab runs on (its listeners, workloads and temporary files).

        The next :func:`open_lab` in this process starts a fresh backend.
        """
        self.backend.close()

    def reset(self) -> ApplyOutcome:
        """Delete what the kit applied earlier (this lab or another), then re-apply the setup."""
        for key in reversed(list(self.ledger)):
            doc = self.ledger.get(key)
            if doc is not None and key == _MESH_KEY:
                self._reset_mesh()
            elif doc is not None:
                self.delete([doc])
        for doc in reversed(self._load_ledger()):
            if _key(doc) == _MESH_KEY:
                self._reset_mesh()
            else:
                self.delete([doc])
        self._hint_index.clear()
        if self.lab.setup.certificates:
            self.ensure_certificates()
        return self.run_action(self.lab.setup.action)

    # -- exercises -----------------------------------------------------------------------------

    def exercise(self, exercise: str | int | Exercise) -> Exercise:
        """An exercise by id, number or itself."""
        return exercise if isinstance(exercise, Exercise) else self.lab.exercise(exercise)

    def start(self, exercise: str | int | Exercise) -> ApplyOutcome:
        """Put the lab in the exercise's starting state (its ``setup``)."""
        return self.run_action(self.exercise(exercise).setup)

    def check(self, exercise: str | int | Exercise) -> CheckResult:
        """Check-my-work: evaluate the exercise's conditions on the applied state and run its probes."""
        ex = self.exercise(exercise)
        items: list[verify.Outcome] = []
        objects = list(self.ledger.values())
        for cond in ex.conditions:
            items.append(verify.Outcome(verify.condition_holds(cond, objects), cond.description))
        probes = self.run_probes(ex.probes)
        for pr in probes:
            failed = [c for c in pr.checks if not c.ok]
            what = f"{pr.probe.says or pr.probe.command}"
            seen = "; ".join(f"expected {c.what}, got {c.seen}" for c in failed)
            items.append(verify.Outcome(not failed, what, seen))
        ok = all(i.ok for i in items)
        hint = None if ok else self.hint(ex)
        return CheckResult(ex, tuple(items), probes, hint)

    def hint(self, exercise: str | int | Exercise) -> str:
        """The next hint of an exercise (cycling through them)."""
        ex = self.exercise(exercise)
        i = self._hint_index.get(ex.id, 0)
        self._hint_index[ex.id] = i + 1
        return ex.hints[min(i, len(ex.hints) - 1)]

    def solution(self, exercise: str | int | Exercise, *, apply: bool = False) -> Solution:
        """The reference solution; with ``apply=True`` it is applied too."""
        ex = self.exercise(exercise)
        applied = self.run_action(ex.solution) if apply else None
        return Solution(ex, ex.solution_yaml, applied)

    def verify(self) -> VerifyReport:
        """Run the whole lab: reset, every step with its probes, then per exercise: start, apply the
        reference solution and check it. Used by CI to prove the lab's claims on a backend."""
        setup = self.reset()
        steps = tuple(s.run() for s in self.steps)
        if not setup.ok:
            failed = verify.Outcome(False, "the lab's setup applies", setup.error or "")
            first = steps[0]
            steps = (
                StepResult(first.step, first.applied, first.probes, (failed, *first.apply_checks)),
                *steps[1:],
            )
        checks = []
        for ex in self.exercises:
            self.start(ex)
            self.solution(ex, apply=True)
            checks.append(self.check(ex))
        return VerifyReport(self.lab, steps, tuple(checks))

    # -- explaining ----------------------------------------------------------------------------

    def explain(
        self, result: CurlOutcome | CurlResult | None = None, workload: str | None = None
    ) -> Explanation:
        """The path the request took (listener → filter chain → virtual host → route → cluster →
        endpoint, or where it stopped) beside the last access-log line of the proxy."""
        outcome = result if result is not None else self.last
        if outcome is None:
            raise LabError("nothing to explain yet: run a curl command first")
        raw = outcome.result if isinstance(outcome, CurlOutcome) else outcome
        source = outcome.source if isinstance(outcome, CurlOutcome) else None
        steps = explanation_steps(raw.explanation)
        if steps:
            path = "\n".join(f"{proxy}: {text}" if proxy else text for proxy, text in steps)
        else:
            path = "(this backend does not report the simulated path)"
        # The proxy that handled the last hop names the log to read (a custom gateway in lab 12).
        last_proxy = next((p for p, _ in reversed(steps) if p), None)
        wl = workload or last_proxy or source or DEFAULT_GATEWAY
        log = self._logs(wl).strip().splitlines()
        return Explanation(path=path, log_line=log[-1] if log else "", workload=wl)

    def topology(self) -> Mermaid:
        """A Mermaid flowchart of what is applied, with the last request's destination highlighted.

        Displayed in JupyterLab as a diagram (``text/vnd.mermaid``); printed, it is the Mermaid text.
        """
        from gatewaykit.kit.topology import mermaid

        return Mermaid(mermaid(list(self.ledger.values()), self.last))

    # -- widgets (imported lazily: ipywidgets is an optional dependency) ------------------------

    def ui(self, step: StepHandle | str | int | None = None, *, command: str | None = None) -> Any:
        """The workbench widget for a step: status bar, manifest editor, curl panel."""
        from gatewaykit.kit.widgets import lab_ui

        return lab_ui(self, step, command=command)

    def checker(self, exercise: str | int | Exercise) -> Any:
        """The check-my-work widget for an exercise (Check, Hint, Show/Apply solution)."""
        from gatewaykit.kit.widgets import CheckPanel

        return CheckPanel(self, exercise)

    # -- persistence of the ledger (so a kernel restart can still clean up a long-lived cluster) --

    def _reset_mesh(self) -> None:
        """Istio's default outbound policy again (undo :meth:`set_mesh_config`)."""
        switch = getattr(self.backend, "set_mesh_config", None)
        if switch is not None:
            with contextlib.suppress(GatewayKitError):
                switch(outbound_traffic_policy="ALLOW_ANY")
        self.ledger.pop(_MESH_KEY, None)
        self._save_ledger()

    def _ledger_file(self) -> pathlib.Path:
        return self.work_dir / "applied.json"

    def _save_ledger(self) -> None:
        try:
            stubs = [d if _key(d) == _MESH_KEY else _stub(d) for d in self.ledger.values()]
            self._ledger_file().write_text(json.dumps(stubs))
        except OSError:
            pass

    def _load_ledger(self) -> list[dict[str, Any]]:
        f = self._ledger_file()
        if not f.exists():
            return []
        try:
            return [d for d in json.loads(f.read_text()) if _key(d) not in self.ledger]
        except ValueError:
            return []

    def __repr__(self) -> str:
        counts = f"{len(self.steps)} steps, {len(self.exercises)} exercises"
        return f"<lab {self.lab.id}: {self.lab.title} ({counts})>"


def explanation_steps(explanation: Any) -> list[tuple[str | None, str]]:
    """``(proxy, path)`` pairs from a CurlResult's explanation.

    The local backend reports a tuple of ``(proxy id, simulate.Result)`` -- one per proxy the request
    crossed (sidecar, then gateway); other backends may give a single result, a string, or nothing.
    """
    if explanation is None:
        return []
    items = explanation if isinstance(explanation, (tuple, list)) else [explanation]
    out: list[tuple[str | None, str]] = []
    for item in items:
        proxy = None
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            proxy, item = item
        text = item.explain() if hasattr(item, "explain") else str(item)
        out.append((proxy, str(text)))
    return out


def secret_command(sec: SecretSpec) -> str:
    """The ``kubectl create secret`` command that makes the same Secret (shown to learners)."""
    files = dict(sec.files)
    if sec.type == "tls":
        return (
            f"kubectl create -n {sec.namespace} secret tls {sec.name} "
            f"--key={files['tls.key']} --cert={files['tls.crt']}"
        )
    args = " ".join(f"--from-file={k}={v}" for k, v in sec.files)
    return f"kubectl create -n {sec.namespace} secret generic {sec.name} {args}"


def _documents(source: str | Mapping[str, Any] | list[Any] | ManifestRef) -> list[dict[str, Any]]:
    if isinstance(source, ManifestRef):
        return [dict(d) for d in source.documents]
    if isinstance(source, Mapping):
        return [dict(source)]
    if isinstance(source, list):
        return [dict(d) for d in source]
    try:
        return [d for d, _ in read_documents(source) if isinstance(d, dict) and d.get("kind")]
    except ManifestError:
        return []  # the backend's apply reports the problem


__all__ += ["Solution", "StepResult", "VerifyReport", "default_work_dir", "join_yaml"]
