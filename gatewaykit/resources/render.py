"""What ``kubectl apply`` prints when an object is rejected, given a validation :class:`Report`.

kubectl formats API errors in ``cmdutil.StandardErrorMessage`` and prefixes the source with
``cmdutil.AddSourceToErr`` (``error when creating "<file>": ...``). Four shapes matter here
(docs/behaviour.md §14.0):

* webhook denial (no reason in the Status, hence no ``(Reason)``)::

    Error from server: error when creating "gw.yaml": admission webhook "validation.istio.io" denied
    the request: configuration is invalid: <message>

* schema (``Invalid``) errors, which kubectl renders from the Status details, without the file::

    The Gateway "x" is invalid: spec.servers[0].port: Required value

  and with several causes (``MultilineError``)::

    The Gateway "x" is invalid: \\n* spec.servers[0].port: Required value\\n* ...

* strict decoding (``BadRequest``)::

    Error from server (BadRequest): error when creating "gw.yaml": Gateway in version "v1" cannot be
    handled as a Gateway: strict decoding error: unknown field "spec.foo"

* an update of an existing object goes through ``kubectl apply``'s patch path::

    Error from server: error when applying patch:\\n<patch>\\nto:\\nResource: ...\\nName: "x",
    Namespace: "default"\\nfor: "gw.yaml": error when patching "gw.yaml": <message>
"""

from __future__ import annotations

import json
from typing import Any

from gatewaykit.resources.codecs import resource_string
from gatewaykit.resources.meta import Manifest, kind_info
from gatewaykit.resources.validation import Report

__all__ = ["WEBHOOK", "render_rejection", "render_warnings"]


def _asdict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty dict."""
    return value if isinstance(value, dict) else {}


def _asstr(value: Any) -> str:
    """``value`` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


#: Istio's validating webhook name ([I-WH] controller.go).
WEBHOOK = "validation.istio.io"


def render_warnings(report: Report) -> tuple[str, ...]:
    """The ``Warning: <text>`` lines kubectl prints for admission warnings."""
    return tuple(f"Warning: {w}" for w in report.warnings)


def _server_message(manifest: Manifest, report: Report) -> tuple[str, str]:
    """(reason, message) of the API server's Status for a rejected object."""
    kind, version = manifest.kind, str(manifest.raw.get("apiVersion", "")).rsplit("/", 1)[-1]
    if report.unknown_fields:
        fields = ", ".join(f'unknown field "{f}"' for f in report.unknown_fields)
        return "BadRequest", (
            f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}'
        )
    if report.decode_error:
        return (
            "BadRequest",
            f'{kind} in version "{version}" cannot be handled as a {kind}: {report.decode_error}',
        )
    return "", (
        f'admission webhook "{WEBHOOK}" denied the request: configuration is invalid: '
        f"{report.webhook_message}"
    )


def render_rejection(
    manifest: Manifest,
    report: Report,
    *,
    verb: str = "creating",
    patch: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> str:
    """Render kubectl's error text for a rejected object.

    Args:
        manifest: the rejected manifest (its ``source.file`` is what kubectl names).
        report: its validation report (must not be ``ok``).
        verb: ``"creating"`` for a new object; ``"patching"`` for an existing one, which
            kubectl apply reports through its patch path.
        patch: the JSON merge patch kubectl would have sent (only for ``"patching"``).
        namespace: the object's effective namespace (default: from the manifest, else "default").

    Returns:
        The text kubectl prints on stderr (a multierror message keeps go-multierror's trailing blank line).
    """
    name = manifest.name
    if report.schema_errors and not report.unknown_fields and not report.decode_error:
        # kubectl uses the Status details for Invalid errors: no file, no "Error from server".
        head = f'The {manifest.kind} "{name}" is invalid: '
        if len(report.schema_errors) == 1:
            return head + str(report.schema_errors[0])
        return head + "\n" + "\n".join(f"* {e}" for e in report.schema_errors)
    reason, message = _server_message(manifest, report)
    prefix = f"Error from server ({reason}): " if reason else "Error from server: "
    file = manifest.source.file
    if verb == "patching":
        api_version = str(manifest.raw.get("apiVersion", ""))
        info = kind_info(api_version, manifest.kind)
        meta = _asdict(manifest.raw.get("metadata"))
        ns = (
            namespace
            if namespace is not None
            else (meta.get("namespace") or ("default" if info and info.namespaced else ""))
        )
        resource = resource_string(info, api_version.rsplit("/", 1)[-1]) if info else manifest.kind
        patch_text = json.dumps(patch if patch is not None else {}, separators=(",", ":"), sort_keys=True)
        return (
            f"{prefix}error when applying patch:\n{patch_text}\nto:\n{resource}\n"
            f'Name: "{name}", Namespace: "{ns}"\n'
            f'for: "{file}": error when patching "{file}": {message}'
        )
    return f'{prefix}error when {verb} "{file}": {message}'
