"""SDS secret material for a proxy: ``credentialName`` Secrets and file-mounted certificates
(docs/behaviour.md §8).

Rule: no I/O here; PEM bytes stay opaque. Mirrors istiod's ``credentials/kube/secrets.go``
(``ExtractCertInfo``, ``ExtractRoot``, ``GetCaCert``) and ``xds/sds.go`` for
``kubernetes://<name>`` resources, and the istio-agent ``secretcache.go`` for
``file-cert:<cert>~<key>`` / ``file-root:<ca>`` resources read from the proxy pod's volumes.
Error texts are istiod's / the agent's, verbatim.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from gatewaykit._translate.mesh import Pod
from gatewaykit.envoy import SecretMaterial
from gatewaykit.resources.models import ConfigMap, Secret

__all__ = ["resolve_secret"]

SDS_CA_SUFFIX = "-cacert"
#: pilot/pkg/model/credentials ``KubernetesGatewaySecretType`` + "://".
KUBERNETES_GATEWAY = "kubernetes-gateway://"


def _keys_message(data: Mapping[str, bytes]) -> str:
    """istiod ``truncatedKeysMessage``."""
    keys = sorted(data)
    if len(keys) < 3:
        return ", ".join(keys)
    return f"{', '.join(keys[:3])}, and {len(keys) - 3} more..."


def _has_value(d: Mapping[str, bytes], *keys: str) -> bool:
    return all(len(d.get(k, b"")) > 0 for k in keys)


def _has_keys(d: Mapping[str, bytes], *keys: str) -> bool:
    return all(k in d for k in keys)


def extract_cert_info(data: Mapping[str, bytes]) -> tuple[bytes, bytes] | str:
    """istiod ``ExtractCertInfo``: ``cert``/``key`` first, then ``tls.crt``/``tls.key``
    (docs/behaviour.md §8.1)."""
    if _has_value(data, "cert", "key"):
        return data["cert"], data["key"]
    if _has_value(data, "tls.crt", "tls.key"):
        return data["tls.crt"], data["tls.key"]
    if _has_keys(data, "cert", "key"):
        return 'found keys "cert" and "key", but they were empty'
    if _has_keys(data, "tls.crt", "tls.key"):
        return 'found keys "tls.crt" and "tls.key", but they were empty'
    return (
        "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); "
        f"found: {_keys_message(data)}"
    )


def extract_root(data: Mapping[str, bytes]) -> bytes | str:
    """istiod ``ExtractRoot``: ``cacert`` first, then ``ca.crt`` (docs/behaviour.md §8.1)."""
    if _has_value(data, "cacert"):
        return data["cacert"]
    if _has_value(data, "ca.crt"):
        return data["ca.crt"]
    if _has_keys(data, "cacert"):
        return 'found key "cacert", but it was empty'
    if _has_keys(data, "ca.crt"):
        return 'found key "ca.crt", but it was empty'
    return f"found secret, but didn't have expected keys cacert or ca.crt; found: {_keys_message(data)}"


def _kubernetes(resource: str, ns: str, secrets: Mapping[tuple[str, str], Secret]) -> SecretMaterial:
    if resource.startswith(KUBERNETES_GATEWAY):
        # kubernetes-gateway://<namespace>/<name>: the Gateway API's certificateRefs, which name their
        # namespace (authorised by the conversion: same namespace or a ReferenceGrant).
        ns, _, name = resource[len(KUBERNETES_GATEWAY) :].partition("/")
    else:
        name = resource[len("kubernetes://") :]
    if name.endswith(SDS_CA_SUFFIX):
        # GetCaCert: the "<name>-cacert" secret, else fall back to "<name>" itself.
        sec = secrets.get((ns, name))
        if sec is None:
            stripped = name[: -len(SDS_CA_SUFFIX)]
            sec = secrets.get((ns, stripped))
            if sec is None:
                return SecretMaterial(
                    name=resource,
                    error=f"failed to fetch ca certificate for {resource}: secret {ns}/{stripped} not found",
                )
        root = extract_root(sec.data)
        if isinstance(root, str):
            return SecretMaterial(
                name=resource, error=f"failed to fetch ca certificate for {resource}: {root}"
            )
        return SecretMaterial(name=resource, trusted_ca=root)
    sec = secrets.get((ns, name))
    if sec is None:
        return SecretMaterial(
            name=resource,
            error=f"failed to fetch key and certificate for {resource}: secret {ns}/{name} not found",
        )
    info = extract_cert_info(sec.data)
    if isinstance(info, str):
        return SecretMaterial(
            name=resource, error=f"failed to fetch key and certificate for {resource}: {info}"
        )
    return SecretMaterial(name=resource, certificate_chain=info[0], private_key=info[1])


def _read_file(
    path: str,
    pod: Pod,
    secrets: Mapping[tuple[str, str], Secret],
    configmaps: Mapping[tuple[str, str], ConfigMap],
) -> bytes | str:
    """Read ``path`` inside ``pod`` from its mounted Secret/ConfigMap volumes (docs/behaviour.md §8.2).

    Returns the bytes, or the Go ``os.ReadFile`` error text.
    """
    norm = posixpath.normpath(path)
    best: tuple[int, str, str] | None = None
    for c in pod.containers:
        if (
            c.name != "istio-proxy"
            and pod.kind == "gateway"
            and any(x.name == "istio-proxy" for x in pod.containers)
        ):
            continue
        for vm in c.volumeMounts:
            mp = posixpath.normpath(vm.mountPath)
            if norm.startswith(mp.rstrip("/") + "/"):
                rel = norm[len(mp.rstrip("/")) + 1 :]
                if best is None or len(mp) > best[0]:
                    best = (len(mp), vm.name, rel)
    missing = f"open {path}: no such file or directory"
    if best is None:
        return missing
    _, vol_name, rel = best
    vol = next((v for v in pod.volumes if v.name == vol_name), None)
    if vol is None:
        return missing
    if vol.secret is not None:
        sec = secrets.get((pod.namespace, vol.secret.secretName))
        data: Mapping[str, bytes] = sec.data if sec is not None else {}
        items = vol.secret.items
    elif vol.configMap is not None:
        cm = configmaps.get((pod.namespace, vol.configMap.name))
        data = {}
        if cm is not None:
            data = {**{k: v.encode() for k, v in cm.data.items()}, **cm.binaryData}
        items = vol.configMap.items
    else:
        return missing
    if items:
        # With `items`, only the listed keys are projected, at the given paths.
        for it in items:
            if posixpath.normpath(it.path) == rel and it.key in data:
                return data[it.key]
        return missing
    if rel in data:
        return data[rel]
    return missing


def _file(
    resource: str,
    pod: Pod,
    secrets: Mapping[tuple[str, str], Secret],
    configmaps: Mapping[tuple[str, str], ConfigMap],
) -> SecretMaterial:
    prefix = f"resource:{resource} failed to generate secret for proxy from file: "
    if resource.startswith("file-cert:"):
        cert_path, _, key_path = resource[len("file-cert:") :].partition("~")
        cert = _read_file(cert_path, pod, secrets, configmaps)
        if isinstance(cert, str):
            return SecretMaterial(name=resource, error=prefix + cert)
        key = _read_file(key_path, pod, secrets, configmaps)
        if isinstance(key, str):
            return SecretMaterial(name=resource, error=prefix + key)
        return SecretMaterial(name=resource, certificate_chain=cert, private_key=key)
    ca_path = resource[len("file-root:") :]
    ca = _read_file(ca_path, pod, secrets, configmaps)
    if isinstance(ca, str):
        return SecretMaterial(name=resource, error=prefix + ca)
    return SecretMaterial(name=resource, trusted_ca=ca)


def resolve_secret(
    resource: str,
    pod: Pod,
    secrets: Mapping[tuple[str, str], Secret],
    configmaps: Mapping[tuple[str, str], ConfigMap],
) -> SecretMaterial | None:
    """What SDS serves ``pod`` for ``resource``, or None for names not modelled here.

    ``kubernetes://`` Secrets are looked up in the **proxy pod's namespace** (docs/behaviour.md §8.1;
    pilot/pkg/xds/sds.go: "we require the secret to be in the same namespace as the proxy"); file
    names are read from the pod's mounted volumes (docs/behaviour.md §8.2).
    ``kubernetes-gateway://<ns>/<name>`` (Gateway API ``certificateRefs``) names its namespace. Istio's
    mesh identity (``default``, ``ROOTCA``) is not modelled.
    """
    if resource.startswith(("kubernetes://", KUBERNETES_GATEWAY)):
        return _kubernetes(resource, pod.namespace, secrets)
    if resource.startswith("file-cert:") or resource.startswith("file-root:"):
        return _file(resource, pod, secrets, configmaps)
    return None
