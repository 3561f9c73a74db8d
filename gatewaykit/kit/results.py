"""What the kit's actions return: result objects with a readable printed form.

A notebook cell prints them; the widgets show the same texts. Values are the real ones (ports,
dates, request ids): nbval masks volatile parts of the outputs it compares with
``notebooks/sanitize.cfg``, and the stored notebooks show those masks, never stale numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gatewaykit.backends.base import CurlResult, ShellResult
from gatewaykit.kit import verify
from gatewaykit.kit.labs import Exercise, Lab, Probe, SecretSpec, Step

__all__ = [
    "ApplyOutcome",
    "CheckResult",
    "CurlOutcome",
    "Explanation",
    "Hint",
    "Mermaid",
    "ShellOutcome",
    "ProbeResult",
    "Solution",
    "StepResult",
    "VerifyReport",
    "secret_command",
]


class _Printable:
    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


@dataclass(frozen=True, slots=True, repr=False)
class ApplyOutcome(_Printable):
    """What applying (or deleting) something printed: kubectl lines, or Istio's rejection.

    Attributes:
        lines: kubectl's per-object lines; warnings: admission warnings;
        error: the rejection text (``Error from server ...``) when it was refused, else None.
        reset: lines of what was undone first to reach the step's or exercise's starting state.
        source: the YAML text that was applied (for locating an error's line), or "".
    """

    lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    reset: tuple[str, ...] = ()
    source: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return self.error is None

    def __str__(self) -> str:
        out = [f"# undone first (back to the starting state): {line}" for line in self.reset]
        out += [f"Warning: {w}" for w in self.warnings] + list(self.lines)
        if self.error:
            out.append(self.error)
        return "\n".join(out) if out else "(nothing to apply)"

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class CurlOutcome(_Printable):
    """A curl run as the learner wrote it, with its reading.

    Attributes:
        command: the command as written (``$VARS`` unexpanded).
        source: the mesh workload it ran in, or None.
        result: the backend's :class:`CurlResult` (exact stdout/stderr/exit code).
        started: when it started (seconds since the epoch), to find its access-log line.
    """

    command: str
    source: str | None
    result: CurlResult
    started: float = field(default_factory=time.time)

    @property
    def reading(self) -> str:
        """One sentence in plain words."""
        return verify.plain_words(self.result, self.source)

    @property
    def tls(self) -> dict[str, str]:
        """TLS facts from ``-v`` output (protocol, ALPN, subject, issuer)."""
        return verify.tls_details(self.result)

    def __str__(self) -> str:
        where = f"[in {self.source}] " if self.source else ""
        return where + verify.summarize(self.result, command=self.command, source=self.source)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class ShellOutcome(_Printable):
    """A shell probe's script and what it printed (as a terminal shows it)."""

    script: str
    result: ShellResult

    def __str__(self) -> str:
        shown = "\n".join(f"$ {line}" if i == 0 else f"  {line}" for i, line in
                          enumerate(self.script.strip().splitlines()))
        out = self.result.output.rstrip("\n")
        tail = f"exit code {self.result.exit_code}"
        return "\n".join(p for p in (shown, out, tail) if p)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class ProbeResult(_Printable):
    """A probe's run judged against its expectation."""

    probe: Probe
    outcome: CurlOutcome | ShellOutcome
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
class Hint(_Printable):
    """One hint of an exercise, numbered: ``Hint 2 of 3: ...``."""

    text: str
    number: int
    total: int

    def __str__(self) -> str:
        return f"Hint {self.number} of {self.total}: {self.text}"

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class CheckResult(_Printable):
    """Check-my-work: ✓/✗ per condition and probe, and the next hint when something fails."""

    exercise: Exercise
    items: tuple[verify.Outcome, ...]
    probes: tuple[ProbeResult, ...]
    hint: Hint | None

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
            lines.append(str(self.hint))
        return "\n".join(lines)

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class Explanation(_Printable):
    """Why a request went where it went: the simulated path beside the proxy's access-log line.

    ``log_line`` is empty when the proxy wrote no line for this request (a connection that ended
    in the TLS handshake is not logged); it is never an earlier request's line.
    """

    path: str
    log_line: str
    workload: str

    def __str__(self) -> str:
        log = self.log_line or "(no line for this request: the proxy logged nothing for it)"
        return f"path: {self.path}\n{self.workload} access log: {log}"

    __repr__ = __str__


@dataclass(frozen=True, slots=True, repr=False)
class Solution(_Printable):
    """A reference solution: its YAML (or bash script, and secrets), applied or not."""

    exercise: Exercise
    yaml: str
    applied: ApplyOutcome | None = None

    def __str__(self) -> str:
        ex = self.exercise
        where = "bash cell (%%gatewaykit)" if ex.place == "bash" else "YAML editor"
        lines = [f"# Reference solution: {ex.title} (type it into the {where})"]
        for s in ex.solution.delete:
            lines.append(f"# delete: {s.origin}")
        for sec in ex.solution.secrets:
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
    seconds: float = 0.0

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


class Mermaid(str):
    """Mermaid source that JupyterLab (>= 4.1) renders as a diagram."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/vnd.mermaid": str(self), "text/plain": str(self)}

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's text/plain: the text, not a repr
        p.text(str(self))


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
