"""Labs as data: the lab file format and its loader.

A lab is a directory ``labs/NN-topic/`` holding ``lab.yaml`` and the manifest files it names.
``lab.yaml`` says, in the curriculum's order of ideas (``../shared/seed/``), what the learner
applies, which doc-style ``curl`` commands they run, and what real Istio answers (the lab files
cite istio.io pages; docs/behaviour.md is the project's reference behind them)::

    id: 01-virtual-hosts
    title: The gateway and its virtual hosts
    summary: ...
    concepts: [...]                      # the seed's ideas this lab teaches
    env:                                 # extra $VARS: a Service port published on the host
      USER_GATEWAY_PORT: {service: istio-system/my-user-gateway, port: 80}
    setup:
      certificates: [example_certs1]     # docs certificates written to the lab's work dir
      extra_certificates: [...]          # lab-specific ones (cn, org, ca, sans)
      secrets: [...]                     # Kubernetes Secrets made from those files
      manifests: [{sample: httpbin/httpbin.yaml}]   # Istio 1.27's samples (gatewaykit.samples)
    steps:
      - id: gateway
        title: ...
        explain: |  Markdown
        manifests: [{file: gateway.yaml}, {inline: "..."}]
        delete: [...]                    # manifests deleted before applying (optional)
        secrets: [...]                   # secrets (re-)created by this step (optional)
        mesh_config:                     # the mesh-wide outbound policy (optional)
          outboundTrafficPolicy: {mode: REGISTRY_ONLY}
        expect_apply: {warnings: [...]}  # or {rejected: "text"}
        probes:
          - curl: curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
            source: default/curl         # run inside a mesh workload (optional)
            expect: {status: 200, http_version: "1.1", headers: {server: istio-envoy}}
          - shell: kubectl get gateway -o name   # a bash script in the lab's working folder
            expect: {stdout: gateway.networking.istio.io/mygateway}
          - kubectl: kubectl get pods -n some-ns   # what Kubernetes says (stdout_* and exit_code)
            expect: {stdout_contains: [ErrImagePull]}
    exercises:
      - id: ...
        title: ...
        task: |  Markdown
        hints: [...]
        setup: {manifests: [...], delete: [...], secrets: [...]}  # the exercise's starting point
        check: {probes: [...], conditions: [...]}
        solution: {manifests: [...]}     # done in the YAML editor
        # or: solution: {script: "kubectl ..."}   # done in a %%gatewaykit (bash) cell

Expectations follow Istio's doc-test verifiers (``tests/util/verify.sh``): exact (``stdout``,
``body``), substring (``*_contains``), elided (``*_elided``: ``...`` lines are wildcards) and
``failure`` (non-zero exit), and for shell probes also ``stdout_like``/``stdout_lines``/
``stdout_regex``/``stdout_first_line``. Every exercise can be done by typing its solution into the
place it offers: the YAML editor applies manifests, so a solution that deletes objects or makes
Secrets from files is a ``script:`` the learner types into a bash cell. :func:`load_lab` validates
everything and raises
:class:`gatewaykit.errors.LabError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from gatewaykit.errors import ApiError, LabError, ManifestSyntaxError
from gatewaykit.kit._labmodel import (
    Action,
    Condition,
    Exercise,
    Expect,
    ExtraCert,
    Lab,
    ManifestRef,
    PortVar,
    Probe,
    SecretSpec,
    Setup,
    Step,
    join_yaml,
)
from gatewaykit.kube.selectors import parse_label_selector
from gatewaykit.resources.codecs import read_documents
from gatewaykit.resources.meta import kind_info
from gatewaykit.samples import path as samples_path

__all__ = [
    "Action",
    "Condition",
    "Exercise",
    "Expect",
    "ExtraCert",
    "Lab",
    "ManifestRef",
    "PortVar",
    "Probe",
    "SecretSpec",
    "Setup",
    "Step",
    "labs_dir",
    "list_labs",
    "load_lab",
]

#: The docs' certificate sets ``gatewaykit.certs.istio_docs_certs`` makes (their directory names;
#: ``egress`` stands for the files the egress TLS-origination docs put in the current directory).
CERT_SETS = ("example_certs1", "example_certs2", "example_certs", "egress")

_LAB_DIR_RE = re.compile(r"^\d\d-[a-z0-9-]+$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


# --------------------------------------------------------------------------------------------
# Finding labs


def labs_dir() -> pathlib.Path:
    """The directory holding the labs: ``$GATEWAYKIT_LABS`` or the repository's ``labs/``."""
    env = os.environ.get("GATEWAYKIT_LABS")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parent.parent.parent / "labs"


def list_labs(directory: str | os.PathLike[str] | None = None) -> list[str]:
    """The ids (directory names) of every lab, in order."""
    base = pathlib.Path(directory) if directory else labs_dir()
    return sorted(p.name for p in base.iterdir() if _LAB_DIR_RE.match(p.name) and (p / "lab.yaml").is_file())


def _resolve(path_or_id: str | os.PathLike[str]) -> pathlib.Path:
    p = pathlib.Path(path_or_id)
    if p.is_file():
        return p
    if p.is_dir() and (p / "lab.yaml").is_file():
        return p / "lab.yaml"
    base = labs_dir()
    name = str(path_or_id)
    if (base / name / "lab.yaml").is_file():
        return base / name / "lab.yaml"
    # "01" or "virtual-hosts" or "1" are accepted as short forms.
    matches = (
        [n for n in list_labs(base) if n.split("-", 1)[0] == name.zfill(2) or n.split("-", 1)[1] == name]
        if base.is_dir()
        else []
    )
    if len(matches) == 1:
        return base / matches[0] / "lab.yaml"
    known = ", ".join(list_labs(base)) if base.is_dir() else f"(no labs directory at {base})"
    raise LabError(f"no lab {name!r}; known labs: {known}")


# --------------------------------------------------------------------------------------------
# YAML with line numbers


#: One constructor for scalar nodes (the composed nodes already carry their resolved tags).
_SCALARS = yaml.SafeLoader("")


class _Doc:
    """A YAML document converted to Python values, remembering each value's line (1-based)."""

    def __init__(self, file: pathlib.Path, text: str) -> None:
        self.file = file
        self.lines: dict[tuple[Any, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 0
            problem = getattr(exc, "problem", None) or str(exc)
            raise LabError(f"{file}:{line}: YAML syntax error: {problem}") from None
        if node is None:
            raise LabError(f"{file}:1: the lab file is empty")
        self.root = self._convert(node, ())

    def _convert(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in node.value:
                key = str(k.value) if isinstance(k, yaml.ScalarNode) else str(self._convert(k, path))
                if key in out:
                    raise LabError(f"{self.file}:{k.start_mark.line + 1}: duplicate key {key!r}")
                out[key] = self._convert(v, path + (key,))
                self.lines.setdefault(path + (key, "@key"), k.start_mark.line + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(v, path + (i,)) for i, v in enumerate(node.value)]
        return _SCALARS.construct_object(node, deep=True)

    def line(self, path: tuple[Any, ...]) -> int:
        """The line of ``path`` or of its nearest ancestor."""
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def error(self, path: tuple[Any, ...], message: str) -> LabError:
        """A LabError naming the file, the line of ``path`` and the field path."""
        shown = [p for p in path if p != "@key"]
        where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in shown).replace(".[", "[")
        field_text = f" {where}:" if where else ""
        return LabError(f"{self.file}:{self.line(path)}:{field_text} {message}")


# --------------------------------------------------------------------------------------------
# The loader


def load_lab(path_or_id: str | os.PathLike[str]) -> Lab:
    """Load and validate a lab.

    Args:
        path_or_id: a lab id (``"01-virtual-hosts"``, ``"01"``, ``"virtual-hosts"``), a lab directory
            or a ``lab.yaml`` path.

    Returns:
        The validated :class:`Lab`.

    Raises:
        LabError: the lab is missing or malformed; the message is ``<file>:<line>: <field>: <problem>``.
    """
    file = _resolve(path_or_id)
    doc = _Doc(file, file.read_text(encoding="utf-8"))
    return _Parser(doc).lab()


_EXPECT_KEYS = {
    "exit_code",
    "failure",
    "status",
    "http_version",
    "reason",
    "headers",
    "headers_contain",
    "headers_present",
    "headers_absent",
    "body",
    "body_contains",
    "body_elided",
    "stdout",
    "stdout_contains",
    "stdout_not_contains",
    "stdout_elided",
    "stderr_contains",
    "log",
    "stdout_like",
    "stdout_lines",
    "stdout_regex",
    "stdout_first_line",
}


class _Parser:
    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.dir = doc.file.parent

    # -- helpers ------------------------------------------------------------------------------

    def mapping(
        self,
        value: Any,
        path: tuple[Any, ...],
        allowed: set[str],
        required: frozenset[str] | set[str] = frozenset(),
    ) -> dict:
        if not isinstance(value, dict):
            raise self.doc.error(path, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in allowed:
                raise self.doc.error(
                    path + (key, "@key"), f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}"
                )
        for key in sorted(required):
            if key not in value or value[key] in (None, ""):
                raise self.doc.error(path, f"missing required field {key!r}")
        return value

    def string(self, value: Any, path: tuple[Any, ...], *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise self.doc.error(path, f"expected a non-empty string, got {value!r}")
        return value

    def strings(self, value: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            raise self.doc.error(path, "expected a string or a list of strings")
        return tuple(self.string(v, path + (i,)) for i, v in enumerate(value))

    def ident(self, value: Any, path: tuple[Any, ...]) -> str:
        s = self.string(value, path)
        if not _ID_RE.match(s):
            raise self.doc.error(path, f"{s!r} is not a valid id (lower-case letters, digits and '-')")
        return s

    def listof(self, value: Any, path: tuple[Any, ...]) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.doc.error(path, f"expected a list, got {type(value).__name__}")
        return value

    # -- sections -----------------------------------------------------------------------------

    def lab(self) -> Lab:
        root = self.mapping(
            self.doc.root,
            (),
            {"id", "title", "summary", "concepts", "env", "setup", "steps", "exercises"},
            {"id", "title", "summary", "steps", "exercises"},
        )
        lab_id = self.ident(root["id"], ("id",))
        if self.doc.file.name == "lab.yaml" and lab_id != self.dir.name and _LAB_DIR_RE.match(self.dir.name):
            raise self.doc.error(
                ("id",), f"id {lab_id!r} must equal the lab's directory name {self.dir.name!r}"
            )
        env = self.env(root.get("env"), ("env",))
        setup = self.setup(root.get("setup"), ("setup",))
        steps = tuple(
            self.step(s, ("steps", i)) for i, s in enumerate(self.listof(root["steps"], ("steps",)))
        )
        if not steps:
            raise self.doc.error(("steps",), "a lab needs at least one step")
        exercises = tuple(
            self.exercise(e, ("exercises", i))
            for i, e in enumerate(self.listof(root["exercises"], ("exercises",)))
        )
        if not exercises:
            raise self.doc.error(("exercises",), "a lab needs at least one exercise")
        ids = (("steps", [s.id for s in steps]), ("exercises", [e.id for e in exercises]))
        for group, names in ids:
            seen: set[str] = set()
            for i, ident in enumerate(names):
                if ident in seen:
                    raise self.doc.error((group, i, "id"), f"duplicate id {ident!r}")
                seen.add(ident)
        self.check_vars(env, steps, exercises)
        return Lab(
            id=lab_id,
            title=self.string(root["title"], ("title",)),
            summary=self.string(root["summary"], ("summary",)),
            concepts=self.strings(root.get("concepts"), ("concepts",)),
            path=self.dir,
            setup=setup,
            steps=steps,
            exercises=exercises,
            env=env,
        )

    def env(self, value: Any, path: tuple[Any, ...]) -> tuple[PortVar, ...]:
        if value is None:
            return ()
        m = self.mapping(value, path, set(value) if isinstance(value, dict) else set())
        out = []
        for name, spec in m.items():
            p = path + (name,)
            if not _ENV_RE.match(name):
                raise self.doc.error(p, f"{name!r} is not a shell variable name (A-Z, 0-9, _)")
            spec = self.mapping(spec, p, {"service", "port"}, {"service", "port"})
            svc = self.string(spec["service"], p + ("service",))
            if svc.count("/") != 1:
                raise self.doc.error(p + ("service",), f"service must be <namespace>/<name>, got {svc!r}")
            if not isinstance(spec["port"], int):
                raise self.doc.error(p + ("port",), "port must be a number")
            ns, name_ = svc.split("/")
            out.append(PortVar(name, ns, name_, spec["port"]))
        return tuple(out)

    def setup(self, value: Any, path: tuple[Any, ...]) -> Setup:
        if value is None:
            return Setup()
        m = self.mapping(value, path, {"certificates", "extra_certificates", "secrets", "manifests"})
        sets = self.strings(m.get("certificates"), path + ("certificates",))
        for i, s in enumerate(sets):
            if s not in CERT_SETS:
                raise self.doc.error(
                    path + ("certificates", i),
                    f"unknown certificate set {s!r}; known: {', '.join(CERT_SETS)}",
                )
        extras = []
        for i, e in enumerate(self.listof(m.get("extra_certificates"), path + ("extra_certificates",))):
            p = path + ("extra_certificates", i)
            e = self.mapping(e, p, {"name", "cn", "org", "ca", "sans"}, {"name", "cn", "org", "ca"})
            extras.append(
                ExtraCert(
                    name=self.string(e["name"], p + ("name",)),
                    cn=self.string(e["cn"], p + ("cn",)),
                    org=self.string(e["org"], p + ("org",)),
                    ca=self.string(e["ca"], p + ("ca",)),
                    sans=self.strings(e.get("sans"), p + ("sans",)),
                )
            )
        if (m.get("secrets") or extras) and not sets:
            raise self.doc.error(
                path, "secrets and extra_certificates need `certificates:` (the docs' CA sets)"
            )
        action = Action(
            manifests=self.manifests(m.get("manifests"), path + ("manifests",)),
            secrets=self.secrets(m.get("secrets"), path + ("secrets",)),
        )
        return Setup(certificates=sets, extra_certificates=tuple(extras), action=action)

    def action(self, value: Any, path: tuple[Any, ...], *, script: bool = False) -> Action:
        if value is None:
            return Action()
        allowed = {"manifests", "delete", "secrets", "mesh_config"} | ({"script"} if script else set())
        m = self.mapping(value, path, allowed)
        if m.get("script") is not None:
            if set(m) != {"script"}:
                raise self.doc.error(
                    path, "a `script:` solution is the whole solution: put every command into it"
                )
            return Action(script=self.string(m["script"], path + ("script",)))
        return Action(
            manifests=self.manifests(m.get("manifests"), path + ("manifests",)),
            delete=self.manifests(m.get("delete"), path + ("delete",)),
            secrets=self.secrets(m.get("secrets"), path + ("secrets",)),
            outbound_traffic_policy=self.mesh_config(m.get("mesh_config"), path + ("mesh_config",)),
        )

    def mesh_config(self, value: Any, path: tuple[Any, ...]) -> str | None:
        """``mesh_config: {outboundTrafficPolicy: {mode: ALLOW_ANY|REGISTRY_ONLY}}`` (the one setting
        the kit switches)."""
        if value is None:
            return None
        m = self.mapping(value, path, {"outboundTrafficPolicy"}, {"outboundTrafficPolicy"})
        p = path + ("outboundTrafficPolicy",)
        policy = self.mapping(m["outboundTrafficPolicy"], p, {"mode"}, {"mode"})
        mode = self.string(policy["mode"], p + ("mode",))
        if mode not in ("ALLOW_ANY", "REGISTRY_ONLY"):
            raise self.doc.error(p + ("mode",), f"mode must be ALLOW_ANY or REGISTRY_ONLY, got {mode!r}")
        return mode

    def manifests(self, value: Any, path: tuple[Any, ...]) -> tuple[ManifestRef, ...]:
        out = []
        for i, item in enumerate(self.listof(value, path)):
            p = path + (i,)
            if isinstance(item, str):
                item = {"file": item}
            item = self.mapping(item, p, {"file", "sample", "inline", "selector", "namespace"})
            given = [k for k in ("file", "sample", "inline") if k in item]
            if len(given) != 1:
                raise self.doc.error(
                    p, "a manifest entry needs exactly one of `file:`, `sample:` or `inline:`"
                )
            if given[0] == "inline":
                text = self.string(item["inline"], p + ("inline",))
                base_line = self.doc.line(p + ("inline",))
                origin = f"{self.doc.file.name}:{base_line}"
                where = self.doc.file
            else:
                rel = self.string(item[given[0]], p + (given[0],))
                # `sample:` names a file of Istio 1.27's samples as the docs do (samples/<app>/...).
                base = samples_path() if given[0] == "sample" else self.dir
                f = (base / rel).resolve()
                if not f.is_file():
                    raise self.doc.error(p + (given[0],), f"manifest file {rel!r} not found (looked at {f})")
                text = f.read_text(encoding="utf-8")
                origin = f"samples/{rel}" if given[0] == "sample" else rel
                base_line, where = 0, f
            docs = self.parse_manifest(text, where, base_line, p)
            if "selector" in item or "namespace" in item:
                text, docs, origin = self.narrow(docs, item, p, origin)
            out.append(ManifestRef(text=text, origin=origin, documents=docs))
        return tuple(out)

    def narrow(
        self, docs: tuple, item: Mapping[str, Any], path: tuple[Any, ...], origin: str
    ) -> tuple[str, tuple, str]:
        """``kubectl apply -n NS -l SELECTOR -f FILE``: the selected documents, in ``NS``."""
        selector = self.string(item["selector"], path + ("selector",)) if "selector" in item else None
        namespace = self.string(item["namespace"], path + ("namespace",)) if "namespace" in item else None
        if selector is not None:
            try:
                wanted = parse_label_selector(selector)
            except ApiError as exc:  # the API server's 400 for `kubectl -l` with a bad selector
                raise self.doc.error(path + ("selector",), str(exc)) from None
            docs = tuple(d for d in docs if wanted.matches((d.get("metadata") or {}).get("labels") or {}))
            if not docs:
                raise self.doc.error(
                    path + ("selector",), f"no document of {origin} has the labels {selector}"
                )
        if namespace is not None:
            docs = tuple(self.in_namespace(d, namespace, path) for d in docs)
        flags = (f" -n {namespace}" if namespace else "") + (f" -l {selector}" if selector else "")
        text = join_yaml(yaml.safe_dump(d, sort_keys=False) for d in docs)
        return text, docs, f"{origin}{flags}"

    def in_namespace(
        self, doc: Mapping[str, Any], namespace: str, path: tuple[Any, ...]
    ) -> Mapping[str, Any]:
        """The document as ``kubectl -n`` sends it (a different namespace in the file is an error)."""
        info = kind_info(str(doc.get("apiVersion")), str(doc.get("kind")))
        if info is not None and not info.namespaced:
            return doc
        meta = dict(doc.get("metadata") or {})
        if meta.get("namespace") not in (None, namespace):
            # kubectl's words (cli-runtime resource/visitor.go).
            raise self.doc.error(
                path + ("namespace",),
                f'the namespace from the provided object "{meta["namespace"]}" does not match the '
                f'namespace "{namespace}". You must pass \'--namespace={meta["namespace"]}\' to perform '
                "this operation.",
            )
        meta["namespace"] = namespace
        return {**doc, "metadata": meta}

    def parse_manifest(self, text: str, where: pathlib.Path, base_line: int, path: tuple[Any, ...]) -> tuple:
        try:
            # The one manifest reader (resources.codecs), without kubectl's checks: the lab's
            # own checks below name the lab file and line.
            docs = [d for d, _ in read_documents(text, name=str(where))]
        except ManifestSyntaxError as exc:
            line = exc.line + base_line
            raise LabError(f"{where}:{line}: YAML syntax error in manifest: {exc.problem}") from None
        if not docs:
            raise self.doc.error(path, "the manifest is empty")
        for d in docs:
            if not isinstance(d, dict):
                raise LabError(f"{where}:{base_line or 1}: a manifest document must be a mapping")
            missing = [k for k in ("apiVersion", "kind") if not d.get(k)]
            name = (d.get("metadata") or {}).get("name") if isinstance(d.get("metadata"), dict) else None
            if missing or not name:
                what = ", ".join(missing + ([] if name else ["metadata.name"]))
                raise LabError(f"{where}:{base_line or 1}: a manifest document lacks {what}")
        return tuple(docs)

    def secrets(self, value: Any, path: tuple[Any, ...]) -> tuple[SecretSpec, ...]:
        out = []
        for i, s in enumerate(self.listof(value, path)):
            p = path + (i,)
            s = self.mapping(s, p, {"name", "namespace", "type", "cert", "files"}, {"name", "type"})
            typ = self.string(s["type"], p + ("type",))
            if typ not in ("tls", "generic"):
                raise self.doc.error(p + ("type",), f"secret type must be `tls` or `generic`, got {typ!r}")
            files: dict[str, str] = {}
            if "cert" in s:
                base = self.string(s["cert"], p + ("cert",))
                files = {"tls.crt": f"{base}.crt", "tls.key": f"{base}.key"}
            if "files" in s:
                fm = self.mapping(
                    s["files"], p + ("files",), set(s["files"]) if isinstance(s["files"], dict) else set()
                )
                for k, v in fm.items():
                    files[str(k)] = self.string(v, p + ("files", k))
            if not files:
                raise self.doc.error(
                    p, "a secret needs `cert:` (tls.crt/tls.key from <cert>.crt/.key) or `files:`"
                )
            if typ == "tls" and not {"tls.crt", "tls.key"} <= set(files):
                raise self.doc.error(p, "a `tls` secret needs tls.crt and tls.key (use `cert:`)")
            for k in files:
                if not re.match(r"^[-._a-zA-Z0-9]+$", k):
                    raise self.doc.error(p + ("files", k), f"{k!r} is not a valid Secret data key")
            out.append(
                SecretSpec(
                    name=self.string(s["name"], p + ("name",)),
                    namespace=str(s.get("namespace") or "default"),
                    type=typ,
                    files=tuple(files.items()),
                )
            )
        return tuple(out)

    def step(self, value: Any, path: tuple[Any, ...]) -> Step:
        m = self.mapping(
            value,
            path,
            {"id", "title", "explain", "manifests", "delete", "secrets", "mesh_config", "probes"}
            | {"expect_apply"},
            {"id", "title", "explain"},
        )
        action = Action(
            manifests=self.manifests(m.get("manifests"), path + ("manifests",)),
            delete=self.manifests(m.get("delete"), path + ("delete",)),
            secrets=self.secrets(m.get("secrets"), path + ("secrets",)),
            outbound_traffic_policy=self.mesh_config(m.get("mesh_config"), path + ("mesh_config",)),
        )
        warnings: tuple[str, ...] = ()
        rejected = None
        if m.get("expect_apply") is not None:
            ea = self.mapping(m["expect_apply"], path + ("expect_apply",), {"warnings", "rejected"})
            warnings = self.strings(ea.get("warnings"), path + ("expect_apply", "warnings"))
            if ea.get("rejected") is not None:
                rejected = self.string(ea["rejected"], path + ("expect_apply", "rejected"))
        if (warnings or rejected) and not action.manifests:
            raise self.doc.error(path + ("expect_apply",), "expect_apply needs manifests to apply")
        return Step(
            id=self.ident(m["id"], path + ("id",)),
            title=self.string(m["title"], path + ("title",)),
            explain=self.string(m["explain"], path + ("explain",)),
            action=action,
            probes=self.probes(m.get("probes"), path + ("probes",)),
            expect_warnings=warnings,
            expect_rejected=rejected,
        )

    def probes(self, value: Any, path: tuple[Any, ...]) -> tuple[Probe, ...]:
        out = []
        for i, pr in enumerate(self.listof(value, path)):
            p = path + (i,)
            pr = self.mapping(pr, p, {"curl", "shell", "kubectl", "source", "expect", "says"}, {"expect"})
            given = [k for k in ("curl", "shell", "kubectl") if k in pr]
            if len(given) != 1:
                raise self.doc.error(p, "a probe needs exactly one of `curl:`, `shell:` or `kubectl:`")
            kind = "curl" if given[0] == "curl" else "shell"
            cmd = self.string(pr[given[0]], p + (given[0],)).strip()
            if given[0] == "kubectl":
                self.kubectl_command(cmd, pr, p)
            if kind == "curl" and not re.search(r"(^|[|;&]\s*)curl\s", cmd):
                raise self.doc.error(
                    p + ("curl",), "the command must run `curl` (as written in Istio's docs)"
                )
            source = pr.get("source")
            if source is not None and kind == "shell":
                raise self.doc.error(
                    p + ("source",), "a shell probe runs in the lab's working folder: no `source:`"
                )
            if source is not None and (not isinstance(source, str) or source.count("/") != 1):
                raise self.doc.error(
                    p + ("source",), f"source must be <namespace>/<workload>, got {source!r}"
                )
            out.append(
                Probe(
                    command=cmd,
                    source=source,
                    expect=self.expect(pr["expect"], p + ("expect",)),
                    says=str(pr.get("says") or ""),
                    line=self.doc.line(p),
                    kind=kind,
                )
            )
        return tuple(out)

    def kubectl_command(self, cmd: str, pr: Mapping[str, Any], path: tuple[Any, ...]) -> None:
        """``kubectl: kubectl ...``: one kubectl command, judged on what it prints."""
        if not cmd.startswith("kubectl "):
            raise self.doc.error(path + ("kubectl",), "the command must start with `kubectl `")
        if pr.get("source") is not None:
            raise self.doc.error(path + ("source",), "a kubectl probe runs in the lab's working folder")
        given = pr.get("expect")
        expect: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        http = ("status", "http_version", "reason", "headers", "body", "log")
        if any(k in expect for k in http):
            raise self.doc.error(
                path + ("expect",), "a kubectl probe is judged on its output: use exit_code and stdout_*"
            )

    def expect(self, value: Any, path: tuple[Any, ...]) -> Expect:
        m = self.mapping(value, path, _EXPECT_KEYS)
        if not m:
            raise self.doc.error(path, "an expectation needs at least one field")

        def opt_int(k: str) -> int | None:
            v = m.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise self.doc.error(path + (k,), f"{k} must be a number, got {v!r}")
            return v

        def pairs(k: str) -> tuple[tuple[str, str], ...]:
            v = m.get(k)
            if v is None:
                return ()
            if not isinstance(v, dict):
                raise self.doc.error(path + (k,), f"{k} must be a mapping of header name to value")
            return tuple((str(a).lower(), str(b)) for a, b in v.items())

        hv = m.get("http_version")
        if hv is not None:
            hv = str(hv)
            if hv not in ("1.0", "1.1", "2", "3"):
                raise self.doc.error(
                    path + ("http_version",), f"http_version must be 1.0, 1.1, 2 or 3, got {hv!r}"
                )
        failure = m.get("failure")
        if failure is not None and not isinstance(failure, bool):
            raise self.doc.error(path + ("failure",), "failure must be true or false")
        exit_code = opt_int("exit_code")
        if failure and exit_code == 0:
            raise self.doc.error(path, "failure: true contradicts exit_code: 0")
        logs = []
        for i, entry in enumerate(self.listof(m.get("log"), path + ("log",))):
            lp = path + ("log", i)
            entry = self.mapping(entry, lp, {"workload", "contains"}, {"workload", "contains"})
            logs.append(
                (
                    self.string(entry["workload"], lp + ("workload",)),
                    self.string(entry["contains"], lp + ("contains",)),
                )
            )
        verifiers = ("stdout_like", "stdout_lines", "stdout_regex", "stdout_first_line")
        for k in ("body", "stdout", "body_elided", "stdout_elided", "reason", *verifiers):
            if m.get(k) is not None and not isinstance(m[k], str):
                raise self.doc.error(path + (k,), f"{k} must be a string")
        return Expect(
            exit_code=exit_code,
            failure=failure,
            status=opt_int("status"),
            http_version=hv,
            reason=m.get("reason"),
            headers=pairs("headers"),
            headers_contain=pairs("headers_contain"),
            headers_present=tuple(
                h.lower() for h in self.strings(m.get("headers_present"), path + ("headers_present",))
            ),
            headers_absent=tuple(
                h.lower() for h in self.strings(m.get("headers_absent"), path + ("headers_absent",))
            ),
            body=m.get("body"),
            body_contains=self.strings(m.get("body_contains"), path + ("body_contains",)),
            body_elided=m.get("body_elided"),
            stdout=m.get("stdout"),
            stdout_contains=self.strings(m.get("stdout_contains"), path + ("stdout_contains",)),
            stdout_not_contains=self.strings(m.get("stdout_not_contains"), path + ("stdout_not_contains",)),
            stdout_elided=m.get("stdout_elided"),
            stderr_contains=self.strings(m.get("stderr_contains"), path + ("stderr_contains",)),
            log=tuple(logs),
            stdout_like=m.get("stdout_like"),
            stdout_lines=m.get("stdout_lines"),
            stdout_regex=m.get("stdout_regex"),
            stdout_first_line=m.get("stdout_first_line"),
        )

    def exercise(self, value: Any, path: tuple[Any, ...]) -> Exercise:
        m = self.mapping(
            value,
            path,
            {"id", "title", "task", "hints", "setup", "check", "solution", "starter"},
            {"id", "title", "task", "hints", "check", "solution"},
        )
        hints = self.strings(m["hints"], path + ("hints",))
        if not hints:
            raise self.doc.error(path + ("hints",), "an exercise needs at least one hint")
        check = self.mapping(m["check"], path + ("check",), {"probes", "conditions"})
        probes = self.probes(check.get("probes"), path + ("check", "probes"))
        conditions = tuple(
            self.condition(c, path + ("check", "conditions", i))
            for i, c in enumerate(self.listof(check.get("conditions"), path + ("check", "conditions")))
        )
        if not probes and not conditions:
            raise self.doc.error(path + ("check",), "a check needs probes and/or conditions")
        solution = self.action(m["solution"], path + ("solution",), script=True)
        if solution.empty:
            raise self.doc.error(path + ("solution",), "a reference solution must apply or delete something")
        if solution.delete or solution.secrets:
            # The editor can only apply what is typed into it (issue: an exercise whose solution
            # cannot be typed into the place it offers).
            raise self.doc.error(
                path + ("solution",),
                "the YAML editor can only apply manifests: write a solution that deletes objects or "
                "makes Secrets as `script:` (the kubectl commands the learner types into a bash cell)",
            )
        starter = m.get("starter") or ""
        if starter and solution.script:
            self.string(starter, path + ("starter",))
        elif starter:
            self.parse_manifest(
                self.string(starter, path + ("starter",)),
                self.doc.file,
                self.doc.line(path + ("starter",)),
                path + ("starter",),
            )
        return Exercise(
            id=self.ident(m["id"], path + ("id",)),
            title=self.string(m["title"], path + ("title",)),
            task=self.string(m["task"], path + ("task",)),
            hints=hints,
            setup=self.action(m.get("setup"), path + ("setup",)),
            probes=probes,
            conditions=conditions,
            solution=solution,
            starter=starter,
        )

    def condition(self, value: Any, path: tuple[Any, ...]) -> Condition:
        m = self.mapping(
            value,
            path,
            {"description", "kind", "namespace", "name", "has", "absent"},
            {"description", "kind"},
        )
        absent = m.get("absent", False)
        if not isinstance(absent, bool):
            raise self.doc.error(path + ("absent",), "absent must be true or false")
        return Condition(
            description=self.string(m["description"], path + ("description",)),
            kind=self.string(m["kind"], path + ("kind",)),
            namespace=m.get("namespace"),
            name=m.get("name"),
            has=m.get("has"),
            absent=absent,
        )

    def check_vars(
        self, env: tuple[PortVar, ...], steps: tuple[Step, ...], exercises: tuple[Exercise, ...]
    ) -> None:
        """Every ``$VAR`` a probe uses must be a backend variable or one the lab declares."""
        known = {"INGRESS_HOST", "INGRESS_PORT", "SECURE_INGRESS_PORT", "TCP_INGRESS_PORT"} | {
            v.name for v in env
        }
        probes: list[tuple[tuple[Any, ...], Probe]] = [
            (("steps", i, "probes", j), p) for i, s in enumerate(steps) for j, p in enumerate(s.probes)
        ]
        probes += [
            (("exercises", i, "check", "probes", j), p)
            for i, e in enumerate(exercises)
            for j, p in enumerate(e.probes)
        ]
        for path, p in probes:
            if p.kind == "shell":
                continue  # a script may set its own variables, as in a terminal
            for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", p.command):
                if name not in known:
                    raise self.doc.error(
                        path + ("curl",),
                        f"${name} is not defined: use {', '.join(sorted(known))} or declare it under env:",
                    )
