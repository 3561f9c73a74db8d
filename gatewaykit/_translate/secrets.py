"""SDS secret material for a proxy: ``credentialName`` Secrets and file-mounted certificates (§8).

Rule: no I/O here. Mirrors istiod's ``credentials/kube/secrets.go`` (``ExtractCertInfo``,
``ExtractRoot``, ``GetCaCert``) and ``xds/sds.go`` for ``kubernetes://<name>`` resources, and
the istio-agent ``secretcache.go`` for ``file-cert:<cert>~<key>`` / ``file-root:<ca>``
resources read from the proxy pod's volumes. Error texts are istiod's / the agent's, verbatim.

PEM material that is served but broken is parsed (``cryptography``, certificates only) to say
what Istio says about it: istiod's ``ValidateCertificate`` warning, and why Envoy rejects the
secret (``TlsContext::loadCertificateChain``/``loadPrivateKey`` in
source/common/tls/context_impl.cc, ``Failed to load trusted CA certificates from`` in
cert_validator/default_validator.cc). Envoy names inline material ``<inline>``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import posixpath
import re
import warnings
from collections.abc import Mapping

from gatewaykit._gofmt import quote
from gatewaykit._translate.mesh import Pod
from gatewaykit.envoy import SecretMaterial
from gatewaykit.resources.models import ConfigMap, Secret

__all__ = ["resolve_secret", "secret_rejected_log"]

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
    """istiod ``ExtractCertInfo``: ``cert``/``key`` first, then ``tls.crt``/``tls.key`` (§8.1)."""
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
    """istiod ``ExtractRoot``: ``cacert`` first, then ``ca.crt`` (§8.1)."""
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
        return _checked(SecretMaterial(name=resource, trusted_ca=root), f"{ns}/{name}")
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
    material = SecretMaterial(name=resource, certificate_chain=info[0], private_key=info[1])
    return _checked(material, f"{ns}/{name}")


def _read_file(
    path: str,
    pod: Pod,
    secrets: Mapping[tuple[str, str], Secret],
    configmaps: Mapping[tuple[str, str], ConfigMap],
) -> bytes | str:
    """Read ``path`` inside ``pod`` from its mounted Secret/ConfigMap volumes (§8.2).

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
        return _checked(SecretMaterial(name=resource, certificate_chain=cert, private_key=key))
    ca_path = resource[len("file-root:") :]
    ca = _read_file(ca_path, pod, secrets, configmaps)
    if isinstance(ca, str):
        return SecretMaterial(name=resource, error=prefix + ca)
    return _checked(SecretMaterial(name=resource, trusted_ca=ca))


def resolve_secret(
    resource: str,
    pod: Pod,
    secrets: Mapping[tuple[str, str], Secret],
    configmaps: Mapping[tuple[str, str], ConfigMap],
) -> SecretMaterial | None:
    """What SDS serves ``pod`` for ``resource``, or None for names not modelled here.

    ``kubernetes://`` Secrets are looked up in the **proxy pod's namespace** (§8.1: "we require
    the secret to be in the same namespace as the proxy"); file names are read from the pod's
    mounted volumes (§8.2). ``kubernetes-gateway://<ns>/<name>`` (Gateway API ``certificateRefs``)
    names its namespace. Istio's mesh identity (``default``, ``ROOTCA``) is not modelled.
    """
    if resource.startswith(("kubernetes://", KUBERNETES_GATEWAY)):
        return _kubernetes(resource, pod.namespace, secrets)
    if resource.startswith("file-cert:") or resource.startswith("file-root:"):
        return _file(resource, pod, secrets, configmaps)
    return None


# ------------------------------------------------------------------------------ broken material

_PEM = re.compile(rb"-----BEGIN ([^\r\n-]*)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_INLINE = "<inline>"
# BoringSSL's error strings, as Envoy's Utility::getLastCryptoError prints them.
_NO_START_LINE = "error:0900006e:PEM routines:OPENSSL_internal:NO_START_LINE"
_BAD_BASE64 = "error:09000064:PEM routines:OPENSSL_internal:BAD_BASE64_DECODE"
_KEY_MISMATCH = "error:0b000074:X.509 certificate routines:OPENSSL_internal:KEY_VALUES_MISMATCH"
# A key whose DER does not parse: BoringSSL queues the ASN.1 decoder's error first; its exact
# code depends on where the DER breaks, this is the usual one.
_BAD_KEY_DER = "error:0c0000be:ASN.1 encoding routines:OPENSSL_internal:WRONG_TAG"


def _pem_blocks(data: bytes) -> list[tuple[str, bytes | None]]:
    """``(label, DER or None when the base64 is broken)`` of every PEM block, in order."""
    out: list[tuple[str, bytes | None]] = []
    for found in _PEM.finditer(data):
        body = b"".join(line for line in found.group(2).splitlines() if b":" not in line)
        try:
            der: bytes | None = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            der = None
        out.append((found.group(1).decode("ascii", "replace"), der))
    return out


def _parse_certificate(der: bytes) -> object:
    """``x509.load_der_x509_certificate``, quiet about serial 0 (the docs' openssl commands make
    such certificates; cryptography warns that it will refuse them one day)."""
    from cryptography import x509  # noqa: PLC0415 - parsing only; imported when material is served
    from cryptography.utils import CryptographyDeprecationWarning  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _certificates(data: bytes) -> list[object] | None:
    """The certificates of a PEM chain, or None when one of them does not parse."""
    blocks = [der for label, der in _pem_blocks(data) if label in ("CERTIFICATE", "TRUSTED CERTIFICATE")]
    try:
        certs = [_parse_certificate(der) for der in blocks if der is not None]
    except ValueError:
        return None
    return certs if certs and len(certs) == len(blocks) else None


def _istiod_problem(data: bytes) -> str | None:
    """pilot/pkg/xds/sds.go ``ValidateCertificate``: the first PEM block must be certificates.

    (Its expiry check needs a clock, which translation has not.)
    """
    blocks = [der for _, der in _pem_blocks(data) if der is not None]
    if not blocks:
        return "pem decode failed"
    try:
        _parse_certificate(blocks[0])
    except ValueError:
        return "x509: malformed certificate"
    return None


def _key_problem(key: bytes, cert: object) -> str | None:
    """Why BoringSSL refuses the private key (``Failed to load private key``'s cause), or None."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    blocks = [(label, der) for label, der in _pem_blocks(key) if label.endswith("PRIVATE KEY")]
    if not blocks:
        return _NO_START_LINE
    der = blocks[0][1]
    if der is None:
        return _BAD_BASE64
    try:
        private = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        return _BAD_KEY_DER
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):  # type: ignore[attr-defined]
        return _KEY_MISMATCH
    return None


def _envoy_rejection(material: SecretMaterial) -> str | None:
    """Why Envoy's TLS context refuses ``material``, in its words, or None."""
    if material.trusted_ca is not None:
        if _certificates(material.trusted_ca) is None:
            return f"Failed to load trusted CA certificates from {_INLINE}"
        return None
    certs = _certificates(material.certificate_chain or b"")
    if certs is None:
        return f"Failed to load certificate chain from {_INLINE}"
    cause = _key_problem(material.private_key or b"", certs[0])
    return f"Failed to load private key from {_INLINE}, Cause: {cause}" if cause else None


def _checked(material: SecretMaterial, secret: str = "") -> SecretMaterial:
    """``material`` with istiod's warning (``kubernetes://`` secrets, named ``ns/name``) and
    Envoy's rejection when it is broken."""
    data = material.trusted_ca if material.trusted_ca is not None else material.certificate_chain
    invalid = None
    if secret:
        problem = _istiod_problem(data or b"")
        if problem:
            invalid = f"invalid certificates: {secret} {quote(material.name)}: {problem}"
    rejected = _envoy_rejection(material)
    if invalid is None and rejected is None:
        return material
    return SecretMaterial(
        name=material.name,
        certificate_chain=material.certificate_chain,
        private_key=material.private_key,
        trusted_ca=material.trusted_ca,
        invalid=invalid,
        rejected=rejected,
    )


#: Envoy's config-subscription warning, as the istio-proxy container logs it (istio/istio#53497).
_ENVOY_REJECTED = (
    "{when}\twarning\tenvoy config external/envoy/source/extensions/config_subscription/grpc/"
    "grpc_subscription_impl.cc:138\tgRPC config for type.googleapis.com/envoy.extensions."
    "transport_sockets.tls.v3.Secret rejected: {reason}\tthread=26"
)


def secret_rejected_log(material: SecretMaterial, when: datetime.datetime) -> str:
    """The istio-proxy log line of Envoy rejecting ``material`` (``material.rejected`` is set)."""
    stamp = when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _ENVOY_REJECTED.format(when=stamp, reason=material.rejected)
