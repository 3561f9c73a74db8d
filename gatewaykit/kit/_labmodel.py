"""The lab model: what a ``lab.yaml`` says, as frozen dataclasses (read by :mod:`.labs`).

Split from the reader so each reads at once; :mod:`gatewaykit.kit.labs` re-exports every name.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gatewaykit.errors import LabError

# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, slots=True)
class ManifestRef:
    """One manifest of a step: its YAML text and where it came from.

    Attributes:
        text: the YAML (possibly multi-document).
        origin: the file path (relative to the lab directory) or ``"lab.yaml:<line>"`` for inline YAML.
        documents: the parsed documents (dicts), in order.
    """

    text: str
    origin: str
    documents: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """A Kubernetes Secret made from certificate files in the lab's work dir.

    ``type: tls`` makes ``kubernetes.io/tls`` with ``tls.crt``/``tls.key`` (``kubectl create secret tls
    --cert --key``); ``type: generic`` makes an ``Opaque`` secret with the chosen key layout
    (``kubectl create secret generic --from-file=<key>=<file>``), e.g. ``cert``/``key``/``cacert``
    (docs/behaviour.md §8.1 layouts 1-3).

    Attributes:
        name: the Secret's name.
        namespace: its namespace (the gateway workload's, docs/behaviour.md §8.1).
        type: ``"tls"`` or ``"generic"``.
        files: secret key -> file path relative to the work dir.
    """

    name: str
    namespace: str
    type: str
    files: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ExtraCert:
    """A lab-specific certificate signed by one of the docs' CAs (written as ``<name>.crt/.key``).

    Attributes:
        name: path without extension under the work dir (``bookinfo_certs/bookinfo.com``).
        cn: common name; org: organization (subject ``/CN=<cn>/O=<org>`` like the docs).
        ca: the signing CA's docs path (``example_certs1/example.com``).
        sans: DNS subjectAltNames.
    """

    name: str
    cn: str
    org: str
    ca: str
    sans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PortVar:
    """A ``$VAR`` naming the host port on which a Service port is published (like a NodePort).

    Attributes:
        name: the variable (``USER_GATEWAY_PORT``).
        namespace, service, port: the Service and its port number.
    """

    name: str
    namespace: str
    service: str
    port: int


@dataclass(frozen=True, slots=True)
class Expect:
    """What a probe must show, in the spirit of Istio's doc-test verifiers.

    Every field is optional; ``None`` / empty means "not checked".
    """

    exit_code: int | None = None
    failure: bool | None = None
    status: int | None = None
    http_version: str | None = None
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    headers_contain: tuple[tuple[str, str], ...] = ()
    headers_present: tuple[str, ...] = ()
    headers_absent: tuple[str, ...] = ()
    body: str | None = None
    body_contains: tuple[str, ...] = ()
    body_elided: str | None = None
    stdout: str | None = None
    stdout_contains: tuple[str, ...] = ()
    stdout_not_contains: tuple[str, ...] = ()
    stdout_elided: str | None = None
    stderr_contains: tuple[str, ...] = ()
    log: tuple[tuple[str, str], ...] = ()  # (workload, substring) pairs of access-log lines
    stdout_like: str | None = None  # istio.io's _verify_like
    stdout_lines: str | None = None  # _verify_lines: "+ x" must appear, "- x" must not
    stdout_regex: str | None = None  # _verify_regex
    stdout_first_line: str | None = None  # _verify_first_line


@dataclass(frozen=True, slots=True)
class Probe:
    """A doc-style command and its expected outcome.

    Attributes:
        command: a curl command as written in Istio's docs (``$INGRESS_HOST`` etc. are expanded by
            the backend), or, for ``kind == "shell"``, a bash script (``kubectl``, ``openssl``...).
        source: ``"default/curl"`` to run a curl inside that mesh workload, else None (the
            learner's machine, in the lab's working folder).
        expect: the expected outcome.
        says: one sentence on what the probe shows (printed with its result).
        line: line in lab.yaml (for messages).
        kind: ``"curl"`` or ``"shell"`` (run through the backend's shell, like a ``%%gatewaykit`` cell).
            ``kubectl: kubectl ...`` in lab.yaml is a shell probe of one kubectl command (what
            Kubernetes says about pods and Services, e.g. ``ErrImagePull``).
    """

    command: str
    source: str | None
    expect: Expect
    says: str = ""
    line: int = 0
    kind: str = "curl"

    @property
    def kubectl(self) -> bool:
        """A shell probe of one ``kubectl`` command (``kubectl:`` in lab.yaml)."""
        return self.kind == "shell" and self.command.startswith("kubectl ") and "\n" not in self.command


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition on the applied state: an object of ``kind`` (in ``namespace``, named ``name``)
    whose manifest contains the ``has`` pattern (mappings: subset; lists: each pattern item matches
    some item), or -- with ``absent`` -- no such object."""

    description: str
    kind: str
    namespace: str | None = None
    name: str | None = None
    has: Any = None
    absent: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    """Things to do to the cluster: switch the mesh config, delete, create secrets, apply manifests
    -- or, for an exercise's solution, a bash ``script`` (kubectl commands) run in the lab's working
    folder.

    ``outbound_traffic_policy`` (``mesh_config: {outboundTrafficPolicy: {mode: ...}}`` in lab.yaml)
    is the mesh-wide setting Istio's docs change with ``istioctl install --set
    meshConfig.outboundTrafficPolicy.mode=...``; the kit sets it through the backend's optional
    :class:`~gatewaykit.backends.base.MeshSwitch` (the ``istio`` ConfigMap, which istiod watches),
    keeping the rest of the install as it is.
    """

    manifests: tuple[ManifestRef, ...] = ()
    delete: tuple[ManifestRef, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    script: str = ""
    outbound_traffic_policy: str | None = None

    @property
    def empty(self) -> bool:
        """True when the action does nothing."""
        return not (
            self.manifests or self.delete or self.secrets or self.script or self.outbound_traffic_policy
        )


@dataclass(frozen=True, slots=True)
class Setup:
    """What a lab needs before its first step.

    Attributes:
        certificates: docs certificate sets to write into the work dir (see :data:`CERT_SETS`).
        extra_certificates: lab-specific certificates.
        action: secrets and manifests to create.
    """

    certificates: tuple[str, ...] = ()
    extra_certificates: tuple[ExtraCert, ...] = ()
    action: Action = Action()


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a lab: read, apply, probe.

    Attributes:
        id, title: identity; explain: Markdown shown before the manifests.
        action: what applying the step does.
        expect_warnings: admission warnings ``kubectl apply`` prints (substrings).
        expect_rejected: when set, Istio rejects the manifest and this is a substring of the error.
        probes: curl commands and expected outcomes.
    """

    id: str
    title: str
    explain: str
    action: Action
    probes: tuple[Probe, ...] = ()
    expect_warnings: tuple[str, ...] = ()
    expect_rejected: str | None = None

    @property
    def yaml(self) -> str:
        """The step's manifests as one multi-document YAML text (what the editor shows)."""
        return join_yaml(m.text for m in self.action.manifests)


@dataclass(frozen=True, slots=True)
class Exercise:
    """A task with hints, a check and a reference solution."""

    id: str
    title: str
    task: str
    hints: tuple[str, ...]
    setup: Action
    probes: tuple[Probe, ...]
    conditions: tuple[Condition, ...]
    solution: Action
    starter: str = ""

    @property
    def place(self) -> str:
        """Where the learner does it: ``"yaml"`` (the manifest editor) or ``"bash"`` (a
        ``%%gatewaykit`` cell), decided by the kind of the reference solution."""
        return "bash" if self.solution.script else "yaml"

    @property
    def solution_yaml(self) -> str:
        """The reference solution's manifests as one YAML text (a bash solution: its script)."""
        if self.solution.script:
            return self.solution.script
        return join_yaml(m.text for m in self.solution.manifests)


@dataclass(frozen=True, slots=True)
class Lab:
    """A loaded, validated lab."""

    id: str
    title: str
    summary: str
    concepts: tuple[str, ...]
    path: pathlib.Path
    setup: Setup
    steps: tuple[Step, ...]
    exercises: tuple[Exercise, ...]
    env: tuple[PortVar, ...] = ()

    def step(self, step_id: str) -> Step:
        """The step with this id (or 1-based number as a string/int).

        Raises:
            LabError: no such step.
        """
        return _pick(self.steps, step_id, f"lab {self.id} has no step")

    def exercise(self, exercise_id: str | int) -> Exercise:
        """The exercise with this id (or 1-based number).

        Raises:
            LabError: no such exercise.
        """
        return _pick(self.exercises, exercise_id, f"lab {self.id} has no exercise")


def _pick(items: tuple[Any, ...], key: str | int, what: str) -> Any:
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        i = int(key)
        if 1 <= i <= len(items):
            return items[i - 1]
    for it in items:
        if it.id == key:
            return it
    raise LabError(f"{what} {key!r}; known: {', '.join(it.id for it in items)}")


def join_yaml(texts: Any) -> str:
    """Join YAML texts into one multi-document text with ``---`` separators."""
    parts = [t.strip("\n") for t in texts if t and t.strip()]
    parts = [p[4:] if p.startswith("---\n") else p for p in parts]
    return ("\n---\n".join(parts) + "\n") if parts else ""
