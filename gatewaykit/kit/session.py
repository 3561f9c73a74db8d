"""A running lab: a :class:`~gatewaykit.kit.labs.Lab` attached to a backend.

``open_lab("01-virtual-hosts")`` starts (or reuses) the backend named by ``GATEWAYKIT_BACKEND``,
removes whatever an earlier lab or run applied, makes the lab's certificates in its working folder
(:mod:`gatewaykit.kit.workdir`), applies the lab's setup and returns a :class:`LabSession`. Every
action is a plain method returning a result object (:mod:`gatewaykit.kit.results`) that a cell
prints and the widgets show.

The session talks to the backend only through the :class:`~gatewaykit.backends.base.Backend`
protocol; what only the embedded sandbox can show (a dry run through apply's own path, ``istioctl
analyze``, the simulated path of a request) comes from the optional
:class:`~gatewaykit.backends.base.Inspector` protocol, and the kit says so where it is missing.

Every step and exercise starts from a defined state: the setup, every earlier step, and the
exercise's own setup (:mod:`gatewaykit.kit.state`). Starting an exercise goes back to that state,
so a reference solution applied earlier can never pass a check for the learner; applying a step
does the same once a solution was applied.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime
import json
import os
import pathlib
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gatewaykit.backends.base import Backend, CurlResult, Inspector, MeshSwitch, ShellResult
from gatewaykit.errors import GatewayKitError, LabError, ManifestError, ValidationError
from gatewaykit.kit import state, verify, workdir
from gatewaykit.kit.labs import Action, Exercise, Lab, ManifestRef, Probe, SecretSpec, Step, load_lab
from gatewaykit.kit.results import (
    ApplyOutcome,
    CheckResult,
    CurlOutcome,
    Explanation,
    Hint,
    Mermaid,
    ProbeResult,
    ShellOutcome,
    Solution,
    StepResult,
    VerifyReport,
    secret_command,
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
    "secret_command",
]

#: The workload whose access log explains a request sent from the learner's machine.
DEFAULT_GATEWAY = "istio-system/istio-ingressgateway"

#: Kinds the API server does not serve (Istio 1.27 has no in-cluster operator, docs/apiserver.md):
#: what the kit applied is all there is to check.
_NOT_SERVED = frozenset({"IstioOperator"})

_BACKENDS: dict[str, Backend] = {}
_LOCK = threading.Lock()
# What each backend has applied through the kit, across labs: (backend id) -> ordered ledger.
_LEDGERS: dict[int, dict[state.Key, dict[str, Any]]] = {}


def _default_backend() -> Backend:
    """The process-wide backend named by ``GATEWAYKIT_BACKEND`` (``local`` by default)."""
    name = os.environ.get("GATEWAYKIT_BACKEND", "local").strip().lower() or "local"
    with _LOCK:
        be = _BACKENDS.get(name)
        # The learner may have stopped the sandbox (the Stop button); opening a lab again starts
        # a fresh one instead of failing on a closed sandbox.
        if be is None or be.closed:
            from gatewaykit.sandbox import backend_from_env

            be = _BACKENDS[name] = backend_from_env()
            # Closing belongs to the kernel's shutdown: no listener or temp dir is left behind.
            atexit.register(_close_quietly, be)
        return be


def _close_quietly(backend: Backend) -> None:
    with contextlib.suppress(Exception):
        backend.close()


default_work_dir = workdir.default_work_dir


def open_lab(
    name: str | os.PathLike[str] | Lab,
    backend: Backend | None = None,
    *,
    work_dir: str | os.PathLike[str] | None = None,
    reset: bool = True,
) -> LabSession:
    """Open a lab: attach to a backend, reset the lab's state and apply its setup.

    In a notebook the kernel then works in the lab's working folder (as ``%cd`` would), so the
    learner's ``!openssl`` and ``%%gatewaykit`` cells see the same files as the curl panel.

    Args:
        name: a lab id (``"01-virtual-hosts"``, ``"01"``), a lab directory, or a loaded :class:`Lab`.
        backend: a backend to use; default: the one ``GATEWAYKIT_BACKEND`` names (``local`` →
            ``Sandbox.local()``, ``kind`` → ``Sandbox.kind()``), shared by every lab of the process.
        work_dir: the lab's working folder; default :func:`gatewaykit.kit.workdir.default_work_dir`.
        reset: delete what earlier labs/steps applied and re-apply the setup (default True).

    Returns:
        The :class:`LabSession`.
    """
    lab = name if isinstance(name, Lab) else load_lab(name)
    be = backend if backend is not None else _default_backend()
    wd = pathlib.Path(work_dir) if work_dir else workdir.default_work_dir(lab.id)
    session = LabSession(lab, be, wd.resolve())
    if reset:
        session.reset()
    if _in_kernel(session):
        os.chdir(session.work_dir)
    return session


def _in_kernel(session: LabSession) -> bool:
    """In a notebook: register ``%%gatewaykit`` and point ``!kubectl`` at the lab's sandbox."""
    from gatewaykit.kit.magic import load_ipython_extension, use_backend  # noqa: PLC0415

    use_backend(session.backend, session.notify)
    try:
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return False
    load_ipython_extension(ip)
    return True


# --------------------------------------------------------------------------------------------


class StepHandle:
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
        """Delete/create/apply what the step says; a rejection is returned, not raised.

        After a reference solution was applied, the lab first goes back to the state this step
        starts from (what the solution added is undone; the lines say so).
        """
        undone: tuple[str, ...] = ()
        if self.session.solved:
            undone = self.session.restore(self.session.state_before(self.number - 1))
        out = self.session.run_action(self.step.action)
        self.session.current_step = self.number - 1
        self.session.progress.record("steps", self.id, applied=out.ok)
        self.session.notify("apply")
        return ApplyOutcome(out.lines, out.warnings, out.error, undone, out.source)

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
        lab: the loaded :class:`Lab`; backend: the :class:`Backend`; work_dir: the lab's working
        folder; steps: :class:`StepHandle` per step; exercises: the lab's exercises; progress: the
        lab's :class:`~gatewaykit.kit.workdir.Progress`; solved: a reference solution was applied
        since the lab or an exercise last started.
    """

    def __init__(self, lab: Lab, backend: Backend, work_dir: pathlib.Path) -> None:
        self.lab = lab
        self.backend = backend
        self.work_dir = work_dir
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.steps = tuple(StepHandle(self, s, i + 1) for i, s in enumerate(lab.steps))
        self.exercises = lab.exercises
        self.last: CurlOutcome | None = None
        self.solved = False
        self.current_step = -1  # the step applied last (0-based), for progress
        self.progress = workdir.Progress(work_dir)
        self._hint_index: dict[str, int] = {}
        self._listeners: list[weakref.WeakMethod[Any] | Callable[[str], None]] = []
        self.ledger = _LEDGERS.setdefault(id(backend), {})

    # -- listeners: widgets that show the session's state refresh when it changes ---------------

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(event)`` after every change (``apply``, ``curl``, ``reset``, ``close``);
        a bound method is held weakly (a widget that is gone stops listening)."""
        ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else callback
        self._listeners.append(ref)  # type: ignore[arg-type]

    def notify(self, event: str) -> None:
        """Tell every listener that ``event`` happened."""
        alive = []
        for ref in self._listeners:
            fn = ref() if isinstance(ref, weakref.WeakMethod) else ref
            if fn is None:
                continue
            alive.append(ref)
            with contextlib.suppress(Exception):  # a broken widget must not break the lab
                fn(event)
        self._listeners = alive

    # -- environment ---------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The backend's variables plus the lab's published Service ports (``env:`` in lab.yaml)."""
        env = dict(self.backend.env)
        env.update(self._port_vars(required=False))
        return env

    def exports(self) -> str:
        """The variables as the docs' ``export`` lines (what a terminal would set)."""
        return "\n".join(f"export {k}={v}" for k, v in self.env.items())

    def _port_vars(self, required: bool = True) -> dict[str, str]:
        out: dict[str, str] = {}
        for var in self.lab.env:
            try:
                _host, port = self.backend.service_address(var.namespace, var.service, var.port)
            except GatewayKitError:
                if required:
                    raise
                continue
            out[var.name] = str(port)
        return out

    def _command(self, command: str) -> str:
        """The command to hand the backend: the lab's own ``$VARS`` filled in."""
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
        return command

    # -- commands ------------------------------------------------------------------------------

    def curl(
        self, command: str, source: str | None = None, timeout: float = 30.0, *, record: bool = True
    ) -> CurlOutcome:
        """Run a doc-style curl command from the lab's working folder (or inside ``source``).

        A command that is one of the steps' probes counts for the lab's progress (``record``)."""
        started = time.time()
        result = self.backend.curl(self._command(command), source=source, timeout=timeout, cwd=self.work_dir)
        self.last = CurlOutcome(command=command, source=source, result=result, started=started)
        if record:
            self._record_probe(self.last)
        self.notify("curl")
        return self.last

    def shell(self, script: str, timeout: float = 60.0) -> ShellResult:
        """Run bash in the lab's working folder with ``kubectl`` pointed at the backend."""
        result = self.backend.shell(script, timeout=timeout, cwd=self.work_dir)
        self.notify("shell")
        return result

    def kubectl(self, command: str, timeout: float = 60.0) -> ShellOutcome:
        """Run a ``kubectl`` command line in the lab's working folder (the backend's cluster)."""
        return ShellOutcome(command, self.shell(self._command(command), timeout=timeout))

    def probe(self, probe: Probe, *, record: bool = True) -> ProbeResult:
        """Run one probe and judge it (a probe that cannot run is a failed probe, not an exception)."""
        if probe.kind == "shell":
            return self._shell_probe(probe)
        try:
            outcome = self.curl(probe.command, source=probe.source, record=record)
        except GatewayKitError as exc:
            failed = CurlResult(command=probe.command, exit_code=-1, stdout="", stderr=str(exc))
            outcome = CurlOutcome(probe.command, probe.source, failed)
            return ProbeResult(probe, outcome, (verify.Outcome(False, "the probe can run", str(exc)),))
        return ProbeResult(probe, outcome, verify.judge(probe.expect, outcome.result, self._logs))

    def _shell_probe(self, probe: Probe) -> ProbeResult:
        from gatewaykit.backends.base import parse_curl_output  # noqa: PLC0415

        ran = self.shell(probe.command)
        # Judged like a terminal's output: stdout and stderr as one text, HTTP heads parsed.
        seen = parse_curl_output(probe.command, ran.exit_code, ran.output, "")
        checks = verify.judge(probe.expect, seen, self._logs)
        return ProbeResult(probe, ShellOutcome(probe.command, ran), checks)

    def run_probes(self, probes: Iterable[Probe], *, record: bool = True) -> tuple[ProbeResult, ...]:
        """Run probes in order (``record``: a step's probes count for the lab's progress)."""
        return tuple(self.probe(p, record=record) for p in probes)

    def _record_probe(self, outcome: CurlOutcome) -> None:
        """A curl that is one of the steps' probes counts as that probe run (progress). The same
        command may be a probe of several steps: the one of the step applied last wins."""
        matches = [
            (i, j, p)
            for i, step in enumerate(self.lab.steps)
            for j, p in enumerate(step.probes)
            if p.kind == "curl" and p.command == outcome.command and p.source == outcome.source
        ]
        if not matches:
            return
        before = [m for m in matches if m[0] <= self.current_step]
        i, j, probe = before[-1] if before else matches[0]
        step = self.lab.steps[i]
        ok = all(c.ok for c in verify.judge(probe.expect, outcome.result, self._logs))
        probes = dict(self.progress.step(step.id).get("probes", {}))
        probes[str(j)] = ok
        self.progress.record("steps", step.id, probes=probes)

    def _logs(self, workload: str) -> str:
        try:
            return self.backend.logs(workload)
        except GatewayKitError as exc:
            return f"(no log: {exc})"

    # -- applying ------------------------------------------------------------------------------

    def apply(self, source: str | Mapping[str, Any] | list[Any]) -> ApplyOutcome:
        """Apply YAML text (or dicts); a rejection is returned as ``error``, not raised."""
        docs = _documents(source)
        text = source if isinstance(source, str) else ""
        try:
            report = self.backend.apply(source)
        except ValidationError as exc:
            return ApplyOutcome(error=str(exc), warnings=tuple(exc.warnings), source=text)
        for d in docs:
            self.ledger.pop(state.doc_key(d), None)
            self.ledger[state.doc_key(d)] = d
        self._save_ledger()
        return ApplyOutcome(lines=tuple(report.lines), warnings=tuple(report.warnings), source=text)

    def delete(self, source: str | Mapping[str, Any] | list[Any], *, missing_ok: bool = True) -> ApplyOutcome:
        """Delete every object the manifest names, one by one (missing ones are skipped)."""
        lines: list[str] = []
        for d in reversed(_documents(source)):
            if state.doc_key(d) == state.MESH_KEY:  # not an object: switch the mesh back
                lines += self.set_mesh_config("ALLOW_ANY").lines
                continue
            try:
                lines += self.backend.delete(state.stub(d)).lines
            except GatewayKitError as exc:
                if not missing_ok:
                    return ApplyOutcome(lines=tuple(lines), error=str(exc))
            self.ledger.pop(state.doc_key(d), None)
        self._save_ledger()
        return ApplyOutcome(lines=tuple(lines))

    def set_mesh_config(self, mode: str) -> ApplyOutcome:
        """Switch ``meshConfig.outboundTrafficPolicy.mode`` (what the docs do with ``istioctl install
        --set meshConfig.outboundTrafficPolicy.mode=...``); :meth:`reset` puts ``ALLOW_ANY`` back."""
        if not isinstance(self.backend, MeshSwitch):
            return ApplyOutcome(
                error=f"this backend cannot change the mesh config (outboundTrafficPolicy {mode})"
            )
        try:
            self.backend.set_mesh_config(outbound_traffic_policy=mode)
        except GatewayKitError as exc:
            return ApplyOutcome(error=str(exc))
        self.ledger.pop(state.MESH_KEY, None)
        if mode != "ALLOW_ANY":  # Istio's default is no change to undo
            self.ledger[state.MESH_KEY] = state.mesh_doc(mode)
        self._save_ledger()
        return ApplyOutcome(lines=("configmap/istio configured",))

    def run_action(self, action: Action) -> ApplyOutcome:
        """Run a step/exercise/solution action: delete, then secrets, then manifests (namespaces
        first) -- or a solution's bash script, in the working folder."""
        if action.script:
            ran = self.shell(action.script)
            printed = tuple(ran.output.rstrip("\n").splitlines())
            return ApplyOutcome(printed, error=None if ran.ok else f"(exit code {ran.exit_code})")
        lines: list[str] = []
        warnings: list[str] = []
        if action.outbound_traffic_policy:
            out = self.set_mesh_config(action.outbound_traffic_policy)
            lines += out.lines
            if out.error:
                return out
        for ref in action.delete:
            lines += self.delete(list(ref.documents)).lines
        namespaces = [r for r in action.manifests if all(d.get("kind") == "Namespace" for d in r.documents)]
        batches: list[Any] = [r.text for r in namespaces]
        if action.secrets:
            batches.append(self.secret_manifests(action.secrets))
        batches += [r.text for r in action.manifests if r not in namespaces]
        for batch in batches:
            out = self.apply(batch)
            lines += out.lines
            warnings += out.warnings
            if out.error:
                return ApplyOutcome(tuple(lines), tuple(warnings), out.error, source=out.source)
        return ApplyOutcome(tuple(lines), tuple(warnings))

    def secret_manifests(self, secrets: Iterable[SecretSpec]) -> list[dict[str, Any]]:
        """Kubernetes Secrets built from certificate files in the working folder.

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

    def certificates(self) -> list[workdir.Cert]:
        """The certificates this lab needs: its docs sets and its extra ones."""
        setup = self.lab.setup
        certs = [c for name in setup.certificates for c in workdir.CERTIFICATE_SETS[name]]
        certs += [workdir.Cert(e.name, e.cn, e.org, e.ca, 1, e.sans) for e in setup.extra_certificates]
        return certs

    def ensure_certificates(self) -> None:
        """Make the missing certificates with the docs' ``openssl`` commands, in the working folder.

        The commands are written to ``certificates.sh`` there (the learner can read and re-run
        them) and run through the backend's shell. Without ``openssl`` on the machine, the same
        certificates come from :mod:`gatewaykit.certs` and ``certificates.sh`` says so.
        """
        todo = workdir.missing_certificates(self.work_dir, self.certificates())
        if not todo:
            return
        script = workdir.certificate_script(todo)
        (self.work_dir / "certificates.sh").write_text(script)
        ran = self.backend.shell("command -v openssl >/dev/null || exit 127\n" + script, timeout=120,
                                 cwd=self.work_dir)
        if ran.exit_code == 127 and not (self.work_dir / f"{todo[0].path}.crt").exists():
            self._python_certificates(todo)
        elif not ran.ok:
            raise LabError(f"making the lab's certificates failed (certificates.sh):\n{ran.output}")

    def _python_certificates(self, todo: list[workdir.Cert]) -> None:
        from gatewaykit import certs  # noqa: PLC0415

        made: dict[str, certs.CertKey] = {}
        for c in todo:
            if c.ca is None:
                made[c.path] = certs.make_ca(c.cn, c.org)
            else:
                ca = made.get(c.ca) or certs.CertKey(
                    cert_pem=(self.work_dir / f"{c.ca}.crt").read_bytes(),
                    key_pem=(self.work_dir / f"{c.ca}.key").read_bytes(),
                )
                made[c.path] = certs.make_cert(c.cn, c.org, ca, c.serial, sans=c.sans)
        certs.write_all(made, self.work_dir)
        with open(self.work_dir / "certificates.sh", "a") as f:
            f.write("# openssl was not found: gatewaykit made these files with gatewaykit.certs instead.\n")

    # -- defined states ------------------------------------------------------------------------

    def state_before(
        self, step_index: int, exercise: Exercise | None = None
    ) -> dict[state.Key, dict[str, Any]]:
        """The objects applied when step ``step_index`` (0-based; ``len(steps)``: after the last)
        starts, or when ``exercise`` starts (after every step, then its own setup)."""
        actions = [(self.lab.setup.action, False)]
        actions += [(s.action, bool(s.expect_rejected)) for s in self.lab.steps[:step_index]]
        if exercise is not None:
            actions.append((exercise.setup, False))
        return state.fold(actions, self.secret_manifests)

    def restore(self, target: Mapping[state.Key, Mapping[str, Any]]) -> tuple[str, ...]:
        """Make the applied state ``target``: delete what it lacks, apply what differs. Returns
        kubectl's lines; afterwards no reference solution is in effect."""
        deletes, applies = state.plan(target, self.ledger, self._get)
        lines: list[str] = []
        for key in deletes:
            lines += self.delete([self.ledger[key]]).lines
        lines += self._remove_checked(target)
        for doc in sorted(applies, key=lambda d: d.get("kind") != "Namespace"):
            if state.doc_key(doc) == state.MESH_KEY:
                out = self.set_mesh_config(str(doc["mode"]))
                lines += list(out.lines) + ([out.error] if out.error else [])
                continue
            out = self.apply([doc])
            lines += list(out.lines) + ([out.error] if out.error else [])
        self.solved = False
        return tuple(lines)

    def _remove_checked(self, keep: Mapping[state.Key, Any]) -> list[str]:
        """Delete what the exercises' checks look for (made by the learner, possibly with kubectl,
        unknown to the kit), unless the target state has it."""
        conditions = [c for ex in self.exercises for c in ex.conditions]
        stubs = [d for d in state.checked_objects(conditions) if state.doc_key(d) not in keep]
        present = [d for d in stubs if self._get(state.doc_key(d)) is not None]
        return list(self.delete(present).lines) if present else []

    def _get(self, key: state.Key) -> Mapping[str, Any] | None:
        if key == state.MESH_KEY:
            return self.ledger.get(key)  # the mesh switch is remembered, not an API object
        try:
            return self.backend.get(*key)
        except GatewayKitError:
            return None

    def reset(self) -> ApplyOutcome:
        """Delete what the kit applied earlier (this lab or another), then re-apply the setup."""
        for key in reversed(list(self.ledger)):
            doc = self.ledger.get(key)
            if doc is not None:
                self.delete([doc])
        for doc in reversed(self._load_ledger()):
            self.delete([doc])
        self._remove_checked(state.fold([(self.lab.setup.action, False)], self.secret_manifests))
        self._hint_index.clear()
        self.solved = False
        if self.lab.setup.certificates:
            self.ensure_certificates()
        out = self.run_action(self.lab.setup.action)
        self.notify("reset")
        return out

    def forget_edits(self) -> None:
        """Remove the learner's saved editor texts and the lab's progress (a fresh start)."""
        edits = self.work_dir / "edits"
        for f in edits.glob("*") if edits.is_dir() else ():
            f.unlink()
        self.progress.clear()

    def close(self) -> None:
        """Stop the backend this lab runs on (its listeners, workloads and temporary files).

        The next :func:`open_lab` in this process starts a fresh backend.
        """
        self.backend.close()
        self.notify("close")

    # -- exercises -----------------------------------------------------------------------------

    def exercise(self, exercise: str | int | Exercise) -> Exercise:
        """An exercise by id, number or itself."""
        return exercise if isinstance(exercise, Exercise) else self.lab.exercise(exercise)

    def start(self, exercise: str | int | Exercise) -> ApplyOutcome:
        """Put the lab in the exercise's starting state: every step applied, then the exercise's
        setup. Anything applied since -- a reference solution, earlier attempts -- is undone first."""
        ex = self.exercise(exercise)
        undone = self.restore(self.state_before(len(self.steps)))
        out = self.run_action(ex.setup)
        self._hint_index.pop(ex.id, None)
        self.notify("apply")
        return ApplyOutcome(out.lines, out.warnings, out.error, undone)

    def check(self, exercise: str | int | Exercise) -> CheckResult:
        """Check-my-work: the exercise's conditions on the cluster's objects, then its probes."""
        ex = self.exercise(exercise)
        items = [verify.Outcome(self._holds(c), c.description) for c in ex.conditions]
        probes = self.run_probes(ex.probes, record=False)  # an exercise's state is not a step's
        for pr in probes:
            failed = [c for c in pr.checks if not c.ok]
            seen = "; ".join(f"expected {c.what}, got {c.seen}" for c in failed)
            items.append(verify.Outcome(not failed, pr.probe.says or pr.probe.command, seen))
        ok = all(i.ok for i in items)
        result = CheckResult(ex, tuple(items), probes, None if ok else self.hint(ex))
        self.progress.record("exercises", ex.id, passed=ok, checks=f"{sum(i.ok for i in items)}/{len(items)}")
        self.notify("check")
        return result

    def _holds(self, cond: Any) -> bool:
        """A condition over the objects as the cluster has them (made by the kit or by kubectl)."""
        keys = [
            k for k in self.ledger
            if k[0] == cond.kind and cond.namespace in (None, k[1]) and cond.name in (None, k[2])
        ]
        if cond.name and not keys:
            keys = [(cond.kind, "" if cond.kind == "Namespace" else cond.namespace or "default", cond.name)]
        objects = []
        for key in keys:
            obj = self.ledger.get(key) if cond.kind in _NOT_SERVED else self._get(key)
            if obj is not None:
                objects.append(obj)
        return verify.condition_holds(cond, objects)

    def hint(self, exercise: str | int | Exercise) -> Hint:
        """The next hint of an exercise, numbered; after the last one it starts over."""
        ex = self.exercise(exercise)
        i = self._hint_index.get(ex.id, 0) % len(ex.hints)
        self._hint_index[ex.id] = i + 1
        return Hint(ex.hints[i], i + 1, len(ex.hints))

    def solution(self, exercise: str | int | Exercise, *, apply: bool = False) -> Solution:
        """The reference solution; with ``apply=True`` it is applied too (the check then passes
        until the exercise is started again)."""
        ex = self.exercise(exercise)
        applied = None
        if apply:
            applied = self.run_action(ex.solution)
            self.solved = True
            self.notify("apply")
        return Solution(ex, ex.solution_yaml, applied)

    def verify(self) -> VerifyReport:
        """Run the whole lab: reset, every step with its probes, then per exercise: start, apply the
        reference solution and check it. What ``gatewaykit course check`` runs for every lab."""
        began = time.monotonic()
        setup = self.reset()
        steps = tuple(s.run() for s in self.steps)
        if not setup.ok:
            failed = verify.Outcome(False, "the lab's setup applies", setup.error or "")
            first = steps[0]
            steps = (StepResult(first.step, first.applied, first.probes, (failed, *first.apply_checks)),
                     *steps[1:])
        checks = []
        for ex in self.exercises:
            self.start(ex)
            self.solution(ex, apply=True)
            checks.append(self.check(ex))
        return VerifyReport(self.lab, steps, tuple(checks), time.monotonic() - began)

    # -- explaining ----------------------------------------------------------------------------

    def explain(self, result: CurlOutcome | None = None, workload: str | None = None) -> Explanation:
        """The path the request took (listener → filter chain → virtual host → route → cluster →
        endpoint, or where it stopped) beside *its own* access-log line of the proxy."""
        outcome = result if result is not None else self.last
        if outcome is None:
            raise LabError("nothing to explain yet: run a curl command first")
        hops = outcome.result.explanation
        if hops:
            path = "\n".join(f"{proxy}: {hop.explain()}" for proxy, hop in hops)
        elif isinstance(self.backend, Inspector):
            path = (
                "(no proxy routed this request: the connection ended before a request was made -- "
                "refused, or in the TLS handshake)"
            )
        else:
            path = (
                "(this backend runs Envoy itself and does not report a request's path; "
                "`istioctl proxy-config` shows the configuration)"
            )
        wl = workload or (hops[-1][0] if hops else None) or outcome.source or DEFAULT_GATEWAY
        return Explanation(path=path, log_line=self._log_line_since(wl, outcome.started), workload=wl)

    def _log_line_since(self, workload: str, started: float) -> str:
        """The proxy's last access-log line for a request that started at or after ``started``."""
        for line in reversed(self._logs(workload).strip().splitlines()):
            when = _log_time(line)
            if when is not None and when >= started - 0.001:
                return line
            if when is not None:
                break
        return ""

    def topology(self) -> Mermaid:
        """A Mermaid flowchart of what is applied, with the last request's destination highlighted.

        Displayed in JupyterLab as a diagram (``text/vnd.mermaid``); printed, it is the Mermaid text.
        """
        from gatewaykit.kit.topology import mermaid  # noqa: PLC0415

        return Mermaid(mermaid(list(self.ledger.values()), self.last))

    # -- widgets (imported lazily: ipywidgets is an optional dependency) ------------------------

    def ui(self, step: StepHandle | str | int | None = None, *, command: str | None = None) -> Any:
        """The workbench widget for a step: status bar, manifest editor, curl panel."""
        from gatewaykit.kit.widgets import lab_ui  # noqa: PLC0415

        return lab_ui(self, step, command=command)

    def checker(self, exercise: str | int | Exercise) -> Any:
        """The check-my-work widget for an exercise (Check, Hint, Show/Apply solution)."""
        from gatewaykit.kit.widgets import CheckPanel  # noqa: PLC0415

        return CheckPanel(self, exercise)

    def editor(self, item: StepHandle | Exercise | str | int) -> Any:
        """The manifest editor for a step (handle, id or number) or an exercise (or its id)."""
        from gatewaykit.kit.widgets import ManifestEditor  # noqa: PLC0415

        if isinstance(item, (StepHandle, Exercise)):
            return ManifestEditor(self, item)
        ex = next((e for e in self.exercises if e.id == item), None)
        if ex is not None:
            return ManifestEditor(self, ex)
        if isinstance(item, int) or str(item).isdigit():
            return ManifestEditor(self, self.steps[int(item) - 1])
        return ManifestEditor(self, str(item))

    def workspace(self) -> Any:
        """This lab's progress, the link to the next lab, and the reset buttons."""
        from gatewaykit.kit.widgets import CoursePanel  # noqa: PLC0415

        return CoursePanel(self)

    # -- persistence of the ledger (so a kernel restart can still clean up a long-lived cluster) --

    def _ledger_file(self) -> pathlib.Path:
        return self.work_dir / "applied.json"

    def _save_ledger(self) -> None:
        try:
            self._ledger_file().write_text(json.dumps([state.stub(d) for d in self.ledger.values()]))
        except OSError:
            pass

    def _load_ledger(self) -> list[dict[str, Any]]:
        try:
            found = json.loads(self._ledger_file().read_text())
        except (OSError, ValueError):
            return []
        return [d for d in found if isinstance(d, dict) and state.doc_key(d) not in self.ledger]

    def __repr__(self) -> str:
        counts = f"{len(self.steps)} steps, {len(self.exercises)} exercises"
        return f"<lab {self.lab.id}: {self.lab.title} ({counts})>"


_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z\]")


def _log_time(line: str) -> float | None:
    """The ``%START_TIME%`` an Envoy access-log line begins with, as seconds since the epoch."""
    m = _LOG_TIME.match(line)
    if not m:
        return None
    when = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


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


__all__ += ["Solution", "StepResult", "VerifyReport", "default_work_dir"]
