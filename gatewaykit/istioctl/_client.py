"""A tiny Kubernetes API client: the kubeconfig's server, CA and bearer token; ``http.client`` + ``ssl``.

The sandbox's istioctl reaches the sandbox only through its API server, as the real istioctl does
(client-go with ``KUBECONFIG``). This client is deliberately small -- no Kubernetes library -- so that
``istioctl version`` starts fast. Errors read like client-go's (``Get "https://...": dial tcp ...:
connect: connection refused``); a non-2xx answer raises :class:`ApiStatus` with the server's Status.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import pathlib
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiStatus", "Client", "ClientError", "Response"]

#: client-go's content type for server-side apply (``types.ApplyPatchType``).
APPLY_PATCH = "application/apply-patch+yaml"


class ClientError(Exception):
    """The API server could not be reached (or the kubeconfig could not be read)."""


class ApiStatus(Exception):
    """The API server answered with a failure Status.

    Attributes:
        code: the HTTP status; reason: the Status reason (``NotFound``...); message: its message.
    """

    def __init__(self, code: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.body = body or {}


@dataclass(frozen=True, slots=True)
class Response:
    """A raw answer (used for the pod proxy, whose bodies are not Kubernetes objects)."""

    status: int
    content_type: str
    body: bytes


def _kubeconfig_path() -> pathlib.Path:
    first = (os.environ.get("KUBECONFIG") or "").split(os.pathsep)[0]
    return pathlib.Path(first) if first else pathlib.Path.home() / ".kube" / "config"


class Client:
    """Requests to the API server named by ``$KUBECONFIG`` (its current context).

    Args:
        kubeconfig: the kubeconfig file; default ``$KUBECONFIG`` (first entry) or ``~/.kube/config``.
    """

    def __init__(self, kubeconfig: pathlib.Path | None = None) -> None:
        path = kubeconfig or _kubeconfig_path()
        try:
            import yaml  # noqa: PLC0415 - only when a command needs the cluster

            config = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ClientError(
                "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER "
                "environment variable"
            ) from exc
        context = _named(config.get("contexts"), config.get("current-context", ""))
        cluster = _named(config.get("clusters"), context.get("cluster", ""))
        user = _named(config.get("users"), context.get("user", ""))
        self.namespace = context.get("namespace") or "default"
        self.server = str(cluster.get("server", ""))
        parsed = urllib.parse.urlsplit(self.server)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 443
        self._token = str(user.get("token", ""))
        ca = cluster.get("certificate-authority-data")
        self._ssl = ssl.create_default_context(cadata=base64.b64decode(ca).decode() if ca else None)
        self._conn: http.client.HTTPSConnection | None = None

    # -- transport

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(self.host, self.port, context=self._ssl, timeout=60)
        return self._conn

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> Response:
        """One request (a fresh connection once if the kept-alive one was closed)."""
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return Response(resp.status, resp.getheader("Content-Type", ""), data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise ClientError(f'{method.title()} "{self.server}{path}": EOF') from None
            except (OSError, ssl.SSLError) as exc:
                self.close()
                raise ClientError(self._dial_error(method, path, exc)) from None
        raise AssertionError("unreachable")

    def _dial_error(self, method: str, path: str, exc: Exception) -> str:
        why = "connect: connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        if isinstance(exc, socket.timeout):
            why = "i/o timeout"
        return f'{method.title()} "{self.server}{path}": dial tcp {self.host}:{self.port}: {why}'

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- JSON helpers

    def call(self, method: str, path: str, obj: Any = None, content_type: str = "application/json") -> Any:
        """A JSON request; a failure Status raises :class:`ApiStatus`."""
        body = None if obj is None else (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
        resp = self.request(method, path, body, content_type)
        try:
            data = json.loads(resp.body) if resp.body else {}
        except ValueError:
            data = {"message": resp.body.decode("utf-8", "replace")}
        if resp.status >= 300:
            raise ApiStatus(resp.status, str(data.get("reason", "")), str(data.get("message", "")), data)
        return data

    def get(self, path: str) -> Any:
        """``GET`` a JSON document."""
        return self.call("GET", path)

    def get_or_none(self, path: str) -> Any:
        """``GET``, or None for 404."""
        try:
            return self.get(path)
        except ApiStatus as exc:
            if exc.code == 404:
                return None
            raise

    def items(self, path: str) -> list[dict[str, Any]]:
        """The ``items`` of a list."""
        return list(self.get(path).get("items") or [])

    def apply(self, path: str, obj: dict[str, Any], manager: str) -> Any:
        """Server-side apply (``PATCH`` with ``application/apply-patch+yaml``, force)."""
        query = urllib.parse.urlencode({"fieldManager": manager, "force": "true"})
        return self.call("PATCH", f"{path}?{query}", json.dumps(obj).encode(), APPLY_PATCH)

    def delete(self, path: str) -> Any:
        """``DELETE`` (foreground propagation, as istioctl's pruning asks)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
        return self.call("DELETE", path, body)


def _named(entries: Any, name: str) -> dict[str, Any]:
    """The ``cluster``/``user``/``context`` block of the kubeconfig entry called ``name``."""
    for e in entries or []:
        if isinstance(e, dict) and e.get("name") == name:
            inner = e.get("cluster") or e.get("user") or e.get("context") or {}
            return inner if isinstance(inner, dict) else {}
    return {}


#: Resource paths of the kinds istioctl touches: kind -> (group/version path, plural, namespaced).
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "Pod": ("/api/v1", "pods", True),
    "Endpoints": ("/api/v1", "endpoints", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
    "Gateway": ("/apis/networking.istio.io/v1", "gateways", True),
    "VirtualService": ("/apis/networking.istio.io/v1", "virtualservices", True),
    "DestinationRule": ("/apis/networking.istio.io/v1", "destinationrules", True),
    "ServiceEntry": ("/apis/networking.istio.io/v1", "serviceentries", True),
}


def resource_path(kind: str, namespace: str = "", name: str = "") -> str:
    """``/api/v1/namespaces/<ns>/services/<name>`` and friends (all namespaces when ``namespace`` is "")."""
    prefix, plural, namespaced = RESOURCES[kind]
    ns = f"/namespaces/{namespace}" if namespaced and namespace else ""
    return f"{prefix}{ns}/{plural}" + (f"/{name}" if name else "")
