"""The API server's own CA and serving certificate (what kubeadm makes for a real control plane).

kubectl checks the server's certificate against ``certificate-authority-data`` in the kubeconfig
and its IP SAN (``127.0.0.1``): the sandbox makes a fresh CA ``kubernetes`` and a serving
certificate for ``kubernetes``, ``kubernetes.default.svc``, ``localhost``, ``127.0.0.1`` and
``10.96.0.1`` each time it starts (EC P-256: generating it costs milliseconds, not RSA's tenths of
a second). The CA's key never leaves memory; the serving key is written 0600 for the TLS context.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gatewaykit.certs import build_ca

__all__ = ["ServingCert", "make_serving_cert"]


@dataclass(frozen=True, slots=True)
class ServingCert:
    """The CA certificate (for the kubeconfig) and the server's TLS context."""

    ca_pem: bytes
    context: ssl.SSLContext


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_serving_cert(directory: pathlib.Path) -> ServingCert:
    """Make the CA and the serving certificate; write the serving key 0600 into ``directory``."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build_ca(
        _name("kubernetes"),
        ca_key,
        "kubeadm-ca",
        not_before=now - datetime.timedelta(minutes=5),
        not_after=now + datetime.timedelta(days=3650),
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName(n)
        for n in (
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        )
    ]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.96.0.1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("kube-apiserver"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = directory / "apiserver.crt", directory / "apiserver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return ServingCert(ca_pem=ca.public_bytes(serialization.Encoding.PEM), context=context)
