"""Istio's metadata-exchange headers: ``x-envoy-peer-metadata`` and ``x-envoy-peer-metadata-id``.

Rule: no I/O here. Istio puts its ``peer_metadata`` HTTP filter first on every sidecar and gateway
HTTP listener (``pilot/pkg/networking/core/listener_builder.go`` ``appendMxFilter``; the config is
``pilot/pkg/xds/filters/filters.go``). On outbound and gateway listeners it *propagates*
``istio_headers`` upstream: every request gets the proxy's node id and its workload metadata --
also towards MESH_EXTERNAL hosts, unless ``proxyHeaders.metadataExchangeHeaders.mode: IN_MESH``
(``skip_external_clusters``) -- so httpbin.org shows them after ``X-Envoy-Decorator-Operation``.
On a sidecar's inbound listener it *discovers* the peer from them and removes them
(``FilterConfig::discover`` → ``MXMethod::remove``), so an app behind a sidecar never sees them.

The value is ``Base64(Struct)`` of the workload metadata, serialized deterministically
(``MXPropagationMethod::computeValue``, ``convertWorkloadMetadataToStruct`` in istio/proxy
``extensions/common/metadata_object.cc``): ``NAME``, ``NAMESPACE``, ``WORKLOAD_NAME``,
``CLUSTER_ID``, ``LABELS`` (canonical service name/revision, ``app``, ``version``), ``OWNER``.
"""

from __future__ import annotations

import base64
import functools

from gatewaykit import envoy

__all__ = ["PEER_METADATA", "PEER_METADATA_ID", "node_id", "peer_metadata"]

PEER_METADATA = "x-envoy-peer-metadata"
PEER_METADATA_ID = "x-envoy-peer-metadata-id"
_CLUSTER_ID = "Kubernetes"  # values.global.multiCluster.clusterName default
# pkg/kube/labels/labels.go CanonicalService: the first label present, else the workload name /
# "latest".
_NAME_LABELS = ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
_REVISION_LABELS = ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")


def node_id(proxy: envoy.ProxyConfig, pod_ip: str) -> str:
    """The Envoy node id: ``<sidecar|router>~<pod IP>~<pod>.<namespace>~<namespace>.svc.cluster.local``."""
    return f"{proxy.type}~{pod_ip}~{proxy.id}~{proxy.namespace}.svc.cluster.local"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    # wire type 2 (length-delimited): strings, embedded messages
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _struct(fields: dict[str, str | dict[str, str]]) -> bytes:
    """google.protobuf.Struct bytes; map entries sorted by key (deterministic serialization)."""
    out = b""
    for key in sorted(fields):
        value = fields[key]
        # Value.string_value is field 3, Value.struct_value field 5.
        encoded = _field(3, value.encode()) if isinstance(value, str) else _field(5, _struct(dict(value)))
        out += _field(1, _field(1, key.encode()) + _field(2, encoded))
    return out


def _first(labels: dict[str, str], names: tuple[str, ...], default: str) -> str:
    return next((labels[n] for n in names if labels.get(n)), default)


@functools.lru_cache(maxsize=256)
def peer_metadata(proxy_id: str, namespace: str, workload: str, labels: tuple[tuple[str, str], ...]) -> str:
    """The ``x-envoy-peer-metadata`` value a proxy sends (base64 of its workload metadata).

    Args:
        proxy_id: ``<pod>.<namespace>`` (the pod name is ``NAME``).
        namespace: the pod's namespace.
        workload: the Deployment name (``WORKLOAD_NAME``, ``OWNER``).
        labels: the pod's labels.
    """
    pod_labels = dict(labels)
    kept = {
        "service.istio.io/canonical-name": _first(pod_labels, _NAME_LABELS, workload),
        "service.istio.io/canonical-revision": _first(pod_labels, _REVISION_LABELS, "latest"),
        "app": pod_labels.get("app", ""),
        "version": pod_labels.get("version", ""),
    }
    fields: dict[str, str | dict[str, str]] = {
        "NAME": proxy_id.rsplit(".", 1)[0] if proxy_id.endswith("." + namespace) else proxy_id,
        "NAMESPACE": namespace,
        "WORKLOAD_NAME": workload,
        "CLUSTER_ID": _CLUSTER_ID,
        "LABELS": {k: v for k, v in kept.items() if v},
        "OWNER": f"kubernetes://apis/apps/v1/namespaces/{namespace}/deployments/{workload}",
    }
    return base64.b64encode(_struct(fields)).decode()
