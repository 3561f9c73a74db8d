"""The pure half of talking to a real Kubernetes API server: what is read and written, no I/O.

Reading manifests into :class:`Document` objects, kubectl's apply-line names and its rendering of
API rejections and warnings, the exec status channel's exit code, and istiod's ``configz``/``syncz``
and mesh-config debug output. Unit-tested with recorded API responses; :mod:`._kube` is the I/O
around them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from gatewaykit.backends.base import ManifestSource
from gatewaykit.resources.codecs import load

__all__ = [
    "ISTIO_VERSIONS",
    "PREFERRED_GROUP",
    "PULL_FAILURES",
    "Document",
    "configz_versions",
    "exit_code_from_status",
    "group_of",
    "kubectl_name",
    "load_documents",
    "mesh_config_has",
    "parse_warning_header",
    "proxies_synced",
    "render_api_rejection",
]


# Waiting reasons of a container whose image the kubelet cannot get (pkg/kubelet/images/types.go).
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


@dataclass(frozen=True, slots=True)
class Document:
    """One object of a manifest, with the file name kubectl would print in errors.

    Args:
        obj: the object as written.
        source: the file name as given (``"httpbin-gateway.yaml"``) or ``"STDIN"`` for inline text,
            as ``kubectl apply -f -`` names it.
        index: document number in the stream (0-based).
    """

    obj: Mapping[str, Any]
    source: str = "STDIN"
    index: int = 0

    @property
    def kind(self) -> str:
        """The object's ``kind``."""
        return str(self.obj.get("kind", ""))

    @property
    def api_version(self) -> str:
        """The object's ``apiVersion``."""
        return str(self.obj.get("apiVersion", ""))

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        """``metadata.namespace`` as written (None when absent)."""
        ns = (self.obj.get("metadata") or {}).get("namespace")
        return str(ns) if ns else None


def load_documents(source: ManifestSource) -> list[Document]:
    """Read a manifest source with the one manifest reader (:func:`gatewaykit.resources.codecs.load`,
    any kind accepted: the cluster decides what it serves) into :class:`Document` objects.

    Raises:
        ManifestError: the source cannot be read or parsed (kubectl's text).
    """
    return [Document(m.raw, m.source.file, m.source.index) for m in load(source, any_kind=True)]


def kubectl_name(kind: str, group: str, name: str) -> str:
    """The prefix kubectl prints in apply lines: ``gateway.networking.istio.io/x``, ``service/x``.

    kubectl prints ``<kind lower-cased>.<group>/<name>`` (core group: no ``.group``).
    """
    lower = kind.lower()
    return f"{lower}.{group}/{name}" if group else f"{lower}/{name}"


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def render_api_rejection(
    status: int,
    body: str | bytes | Mapping[str, Any] | None,
    *,
    source: str,
    verb: str = "creating",
) -> str:
    """Render an API server rejection exactly as ``kubectl apply`` prints it.

    kubectl (``cmdutil.AddSourceToErr`` then ``CheckErr``, k8s.io/kubectl/pkg/cmd/util/helpers.go):

    * a 422 ``Invalid`` status with details prints ``The <Kind> "<name>" is invalid: <field>: <msg>``
      (several causes: one ``* field: msg`` line each);
    * any other status prints ``Error from server[ (<Reason>)]: error when <verb> "<file>": <message>``.
      Istio's validating webhook denial has no reason, so it reads (docs/behaviour.md §14.0)
      ``Error from server: error when creating "<file>": admission webhook "validation.istio.io"
      denied the request: configuration is invalid: <msg>``.
    """
    data: Mapping[str, Any]
    if isinstance(body, (str, bytes)):
        try:
            data = json.loads(body)
        except ValueError:
            data = {"message": body.decode() if isinstance(body, bytes) else body}
    else:
        data = body or {}
    # Not stripped: Istio's multierror message ends with go-multierror's blank line, which kubectl
    # prints as is (the embedded sandbox renders it the same way).
    message = str(data.get("message", ""))
    reason = str(data.get("reason", "") or "")
    details = data.get("details") or {}
    if reason == "Invalid" and status == 422 and details:
        head = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
        causes = [c for c in details.get("causes") or [] if isinstance(c, Mapping)]
        items = [
            f"{c['field']}: {c.get('message', '')}" if c.get("field") else str(c.get("message", ""))
            for c in causes
        ]
        if not items:
            return head
        if len(items) == 1:
            return f"{head}: {items[0]}"
        return f"{head}: \n" + "\n".join(f"* {i}" for i in items)
    prefix = f"Error from server ({reason})" if reason else "Error from server"
    return f'{prefix}: error when {verb} "{source}": {message}'


def parse_warning_header(values: Iterable[str]) -> list[str]:
    """Texts of HTTP ``Warning: 299 - "text"`` headers (admission warnings, RFC 7234 format)."""
    out = []
    for value in values:
        m = re.match(r'\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"', value)
        out.append(m.group(1).replace('\\"', '"') if m else value.strip())
    return out


def exit_code_from_status(status_text: str | bytes | None) -> int:
    """The command's exit code from the exec status channel (channel 3) of the API server.

    The API server ends every exec with a ``metav1.Status`` on channel 3: ``Success`` (exit 0), or
    ``Failure`` with reason ``NonZeroExitCode`` and the code in ``details.causes[reason=ExitCode]``.
    Any other failure (the executable does not exist, the container is gone) maps to 126/127 as a
    shell would report it, or 1.
    """
    if not status_text:
        return 1  # the stream ended without a status: the connection was cut
    try:
        status = json.loads(status_text)
    except ValueError:
        status = yaml.safe_load(status_text)
    if not isinstance(status, Mapping):
        return 1
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", 1))
            except ValueError:
                return 1
    message = str(status.get("message", ""))
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message:
        return 126
    return 1


def configz_versions(configz: Any) -> dict[tuple[str, str, str], str]:
    """``(kind, namespace, name) -> resourceVersion`` of every config istiod holds.

    ``configz`` is istiod's ``/debug/configz`` JSON: a list of configs, each either Kubernetes-shaped
    (``kind``, ``metadata``) or Istio's ``config.Config`` shape (``meta``/``Meta`` with ``type``).
    """
    out: dict[tuple[str, str, str], str] = {}
    if isinstance(configz, Mapping):
        configz = configz.get("items") or configz.get("configs") or []
    for item in configz or []:
        if not isinstance(item, Mapping):
            continue
        meta = item.get("metadata") or item.get("meta") or item.get("Meta") or {}
        kind = item.get("kind") or meta.get("type") or meta.get("Type") or meta.get("kind") or ""
        ns = meta.get("namespace") or meta.get("Namespace") or ""
        name = meta.get("name") or meta.get("Name") or ""
        rv = meta.get("resourceVersion") or meta.get("ResourceVersion") or ""
        out[(str(kind), str(ns), str(name))] = str(rv)
    return out


_XDS_TYPES = ("cluster", "listener", "route", "endpoint")


# A bare kind that more than one API group serves: the one `kubectl get` would pick here.
PREFERRED_GROUP = {"Gateway": "networking.istio.io"}


ISTIO_VERSIONS = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")


def proxies_synced(syncz: Any, namespaces: Sequence[str] = ("istio-system",)) -> bool | None:
    """Whether every proxy in ``namespaces`` has ACKed the last config istiod sent it.

    ``syncz`` is istiod's ``/debug/syncz`` JSON (what ``istioctl proxy-status`` reads): per proxy
    ``<type>_sent``/``<type>_acked`` nonces; SYNCED means acked == sent for every type. Returns None
    when no proxy of those namespaces is connected yet (not ready either).
    """
    if isinstance(syncz, Mapping):
        syncz = syncz.get("items") or []
    seen = False
    for entry in syncz or []:
        if not isinstance(entry, Mapping):
            continue
        proxy = str(entry.get("proxy", ""))
        if namespaces and not any(proxy.endswith("." + ns) for ns in namespaces):
            continue
        seen = True
        for t in _XDS_TYPES:
            sent = entry.get(f"{t}_sent", "")
            if sent and sent != entry.get(f"{t}_acked", ""):
                return False
    return True if seen else None


def mesh_config_has(mesh: Any, want: Mapping[str, Any]) -> bool:
    """Whether istiod's mesh config JSON contains every key/value of ``want`` (nested).

    istiod prints the mesh config with ``jsonpb``, which leaves out zero values: an
    ``outboundTrafficPolicy`` without ``mode`` is ``REGISTRY_ONLY`` (enum value 0 in
    mesh/v1alpha1/config.proto); no ``outboundTrafficPolicy`` at all is treated as ``ALLOW_ANY``
    (``DefaultMeshConfig``).
    """
    if not isinstance(mesh, Mapping):
        return False
    for key, value in want.items():
        have = mesh.get(key)
        if key == "outboundTrafficPolicy" and isinstance(value, Mapping) and "mode" in value:
            mode = (have or {}).get("mode") or ("REGISTRY_ONLY" if have is not None else "ALLOW_ANY")
            if mode != value["mode"]:
                return False
            rest = {k: v for k, v in value.items() if k != "mode"}
            if rest and not mesh_config_has(have or {}, rest):
                return False
        elif isinstance(value, Mapping):
            if not mesh_config_has(have or {}, value):
                return False
        elif have != value:
            return False
    return True
