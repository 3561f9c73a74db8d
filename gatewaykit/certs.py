"""The Istio docs' certificates, made without the ``openssl`` binary.

Istio's ingress/egress tasks create their certificates with three ``openssl`` commands
(https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/, docs/behaviour.md §16)::

    openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 \\
        -subj '/O=example Inc./CN=example.com' -keyout example_certs1/example.com.key \\
        -out example_certs1/example.com.crt
    openssl req -out example_certs1/httpbin.example.com.csr -newkey rsa:2048 -nodes \\
        -keyout example_certs1/httpbin.example.com.key -subj "/CN=httpbin.example.com/O=httpbin organization"
    openssl x509 -req -sha256 -days 365 -CA example_certs1/example.com.crt \\
        -CAkey example_certs1/example.com.key -set_serial 0 -in example_certs1/httpbin.example.com.csr \\
        -out example_certs1/httpbin.example.com.crt

This module produces the same objects with ``cryptography`` so a notebook needs no shell, mirroring
what OpenSSL 3.0 puts in them (checked against ``openssl x509 -text`` on OpenSSL 3.0.19):

* the CA (``req -x509``): X.509 v3, a random 159-bit serial, subject = issuer, extensions
  ``subjectKeyIdentifier=hash``, ``authorityKeyIdentifier=keyid`` and
  ``basicConstraints=critical,CA:TRUE`` (openssl.cnf ``[v3_ca]``);
* leaf certificates (``x509 -req``): the serial given by ``-set_serial``, **no extensions and no
  subjectAltName**, so clients match the host name against the subject CN (OpenSSL's
  ``X509_check_host`` falls back to the CN when there is no DNS SAN -- that is why
  ``curl --cacert example_certs1/example.com.crt https://httpbin.example.com`` works in the docs).
  OpenSSL writes such a certificate as version 1; ``cryptography`` always writes version 3 -- the
  only difference, and one no TLS client looks at. ``sans=`` adds a SAN extension for the docs'
  optional "add SubjectAltNames" variant.
* keys: RSA 2048, unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``, as OpenSSL 3 writes),
  files mode 0600. Keys are never printed: ``repr(CertKey)`` shows only the subject.
"""

from __future__ import annotations

import base64
import datetime
import os
import pathlib
import secrets
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

__all__ = ["CA_PROFILES", "CertKey", "build_ca", "istio_docs_certs", "make_ca", "make_cert", "write_all"]

_DAYS = 365  # -days 365 in every docs command


@dataclass(frozen=True, slots=True)
class CertKey:
    """A certificate with its private key (and, for leaf certificates, the CSR), all PEM bytes.

    Attributes:
        cert_pem: the certificate, PEM.
        key_pem: the private key, unencrypted PKCS#8 PEM. Never printed by ``repr``.
        csr_pem: the certificate signing request (``.csr`` file of the docs), or ``None`` for a CA.
        subject: the subject in OpenSSL's one-line form,
            e.g. ``CN=httpbin.example.com, O=httpbin organization``.
    """

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    csr_pem: bytes | None = field(default=None, repr=False)
    subject: str = ""

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate (``cryptography.x509.Certificate``)."""
        with warnings.catch_warnings():
            # The docs' serial 0 makes cryptography warn ("wasn't positive"); it is what openssl makes.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_pem_x509_certificate(self.cert_pem)

    def write(self, directory: str | os.PathLike[str], basename: str) -> dict[str, pathlib.Path]:
        """Write ``<basename>.crt``, ``<basename>.key`` (mode 0600) and ``<basename>.csr`` if any.

        Args:
            directory: where to write; created (with parents) if missing.
            basename: file name without extension, e.g. ``"httpbin.example.com"``.

        Returns:
            The written paths keyed by extension (``"crt"``, ``"key"``, ``"csr"``).
        """
        d = pathlib.Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        out: dict[str, pathlib.Path] = {}
        key_path = d / f"{basename}.key"
        # Create the key file 0600 from the start (no window where it is world-readable), the way
        # openssl -keyout does.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.key_pem)
        os.chmod(key_path, 0o600)  # O_CREAT's mode does not apply to an existing file
        out["key"] = key_path
        if self.csr_pem is not None:
            (d / f"{basename}.csr").write_bytes(self.csr_pem)
            out["csr"] = d / f"{basename}.csr"
        (d / f"{basename}.crt").write_bytes(self.cert_pem)
        out["crt"] = d / f"{basename}.crt"
        return out


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_elements(der: bytes) -> tuple[bytes, list[bytes]]:
    """Split a DER SEQUENCE into (its tag byte, its encoded child elements)."""

    def read(buf: bytes, i: int) -> tuple[int, int]:  # -> (content start, content end)
        n = buf[i + 1]
        if n < 0x80:
            return i + 2, i + 2 + n
        k = n & 0x7F
        length = int.from_bytes(buf[i + 2 : i + 2 + k], "big")
        return i + 2 + k, i + 2 + k + length

    start, end = read(der, 0)
    items: list[bytes] = []
    i = start
    while i < end:
        _, e = read(der, i)
        items.append(der[i:e])
        i = e
    return der[:1], items


def _der_seq(tag: bytes, items: list[bytes]) -> bytes:
    body = b"".join(items)
    return tag + _der_len(len(body)) + body


def _resign_with_serial(cert: x509.Certificate, serial: int, ca_key: rsa.RSAPrivateKey) -> bytes:
    """Return ``cert`` as PEM with serialNumber ``serial`` (0 or negative), re-signed by ``ca_key``.

    RFC 5280 Certificate = SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } and
    TBSCertificate = SEQUENCE { [0] version, serialNumber INTEGER, ... }.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    _, (_tbs, sig_alg, _sig) = _der_elements(cert.public_bytes(serialization.Encoding.DER))
    tag, tbs_items = _der_elements(cert.tbs_certificate_bytes)
    raw = serial.to_bytes(max(1, (serial.bit_length() + 8) // 8), "big", signed=True)
    tbs_items[1] = b"\x02" + _der_len(len(raw)) + raw
    tbs = _der_seq(tag, tbs_items)
    signature = ca_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    bit_string = b"\x03" + _der_len(len(signature) + 1) + b"\x00" + signature
    der = _der_seq(b"\x30", [tbs, sig_alg, bit_string])
    b64 = base64.encodebytes(der).replace(b"\n", b"")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _oneline(name: x509.Name) -> str:
    short = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O"}
    return ", ".join(f"{short.get(a.oid, a.oid.dotted_string)}={a.value!s}" for a in name)


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now, now + datetime.timedelta(days=_DAYS)


#: A CA's private key: RSA (the docs' ``openssl req -newkey rsa:2048``) or ECDSA P-256.
CAKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _ca_key_usage(
    *, digital_signature: bool, key_encipherment: bool = False, crl_sign: bool = True
) -> x509.KeyUsage:
    """keyCertSign, with cRLSign, digitalSignature and keyEncipherment as asked."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


#: The extensions of each CA gatewaykit makes, in the order they are written (``openssl x509
#: -text`` lists them in that order) with their criticality:
#:
#: * ``openssl-v3_ca``: the docs' ``openssl req -x509`` CA (openssl.cnf ``[v3_ca]``:
#:   ``subjectKeyIdentifier=hash``, ``authorityKeyIdentifier=keyid:always``,
#:   ``basicConstraints=critical,CA:true``);
#: * ``public-root``: the fake internet's public root (what a public CA root carries:
#:   CA:TRUE, keyCertSign + cRLSign, a key identifier);
#: * ``mesh-root``: the mesh CA (istiod's ``istio-ca-root-cert``): CA:TRUE, digitalSignature +
#:   keyCertSign + cRLSign;
#: * ``kubeadm-ca``: the cluster CA ``kubernetes`` kubeadm makes (client-go util/cert/cert.go
#:   ``NewSelfSignedCACert``: KeyEncipherment|DigitalSignature|CertSign, CA, Go's generated subject key
#:   id, ``DNSNames: [CommonName]``), in the order Go's ``x509.CreateCertificate`` writes them.
CA_PROFILES: dict[str, tuple[str, ...]] = {
    "openssl-v3_ca": ("subjectKeyIdentifier", "authorityKeyIdentifier", "basicConstraints"),
    "public-root": ("basicConstraints", "keyUsage:keyCertSign,cRLSign", "subjectKeyIdentifier"),
    "mesh-root": ("basicConstraints", "keyUsage:digitalSignature,keyCertSign,cRLSign"),
    "kubeadm-ca": (
        "keyUsage:digitalSignature,keyEncipherment,keyCertSign",
        "basicConstraints",
        "subjectKeyIdentifier",
        "subjectAltName:DNS=commonName",
    ),
}


def _ca_extension(name: str, key: CAKey, subject: x509.Name) -> tuple[x509.ExtensionType, bool]:
    """One CA extension of :data:`CA_PROFILES` for ``key`` and ``subject``: (extension, critical)."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    common_names = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    extensions: dict[str, tuple[x509.ExtensionType, bool]] = {
        "subjectKeyIdentifier": (ski, False),
        "authorityKeyIdentifier": (
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            False,
        ),
        "basicConstraints": (x509.BasicConstraints(ca=True, path_length=None), True),
        "keyUsage:keyCertSign,cRLSign": (_ca_key_usage(digital_signature=False), True),
        "keyUsage:digitalSignature,keyCertSign,cRLSign": (_ca_key_usage(digital_signature=True), True),
        "keyUsage:digitalSignature,keyEncipherment,keyCertSign": (
            _ca_key_usage(digital_signature=True, key_encipherment=True, crl_sign=False),
            True,
        ),
        "subjectAltName:DNS=commonName": (
            x509.SubjectAlternativeName([x509.DNSName(n) for n in common_names[:1]]),
            False,
        ),
    }
    return extensions[name]


def build_ca(
    subject: x509.Name,
    key: CAKey,
    profile: str,
    *,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    serial: int | None = None,
) -> x509.Certificate:
    """A self-signed CA certificate (SHA-256), the one builder behind every CA gatewaykit makes.

    Args:
        subject: the subject, also the issuer.
        key: the CA's private key.
        profile: a key of :data:`CA_PROFILES`: which extensions, in which order.
        not_before: start of validity.
        not_after: end of validity.
        serial: the serial number; None for a random one (``x509.random_serial_number``).

    Returns:
        The certificate.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number() if serial is None else serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for name in CA_PROFILES[profile]:
        extension, critical = _ca_extension(name, key, subject)
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256())


def make_ca(cn: str = "example.com", org: str = "example Inc.") -> CertKey:
    """Make a self-signed CA like ``openssl req -x509 ... -subj '/O=<org>/CN=<cn>'``.

    The subject order is the docs' (``O`` first, then ``CN``).

    Args:
        cn: the common name.
        org: the organization.

    Returns:
        The CA certificate and key (``csr_pem`` is ``None``).
    """
    key = _new_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    not_before, not_after = _validity()
    # OpenSSL 3 `req -x509` uses a random 159-bit positive serial.
    serial = secrets.randbits(159) | 1
    cert = build_ca(name, key, "openssl-v3_ca", not_before=not_before, not_after=not_after, serial=serial)
    return CertKey(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=_key_pem(key),
        subject=_oneline(name),
    )


def make_cert(
    cn: str,
    org: str,
    ca: CertKey,
    serial: int = 0,
    sans: Iterable[str] = (),
) -> CertKey:
    """Make a CSR and sign it with ``ca``, like ``openssl req -newkey`` + ``openssl x509 -req``.

    Args:
        cn: the common name (the host name clients check when there is no SAN).
        org: the organization; the subject is ``/CN=<cn>/O=<org>`` in that order, as in the docs.
        ca: the signing CA (from :func:`make_ca`).
        serial: ``-set_serial`` (0 for the docs' server certificates, 1 for client/helloworld).
        sans: DNS names for a subjectAltName extension; empty (the docs' default) adds none.

    Returns:
        The certificate, key and CSR.
    """
    key = _new_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    ca_cert = ca.certificate
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    not_before, not_after = _validity()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        # cryptography refuses serial 0 (RFC 5280 wants positive serials) but the docs use
        # `-set_serial 0`; sign with a placeholder and swap the serial in below.
        .serial_number(serial if serial > 0 else 1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    san_list = list(sans)
    if san_list:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in san_list]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    if serial <= 0:
        cert_pem = _resign_with_serial(cert, serial, ca_key)
    return CertKey(
        cert_pem=cert_pem,
        key_pem=_key_pem(key),
        csr_pem=csr.public_bytes(serialization.Encoding.PEM),
        subject=_oneline(name),
    )


def istio_docs_certs(directory: str | os.PathLike[str] | None = None) -> dict[str, CertKey]:
    """Make every certificate Istio's gateway tasks create, keyed by their docs path (no extension).

    Keys (and files, when ``directory`` is given, as ``<key>.crt/.key/.csr``):

    * secure-ingress: ``example_certs1/example.com`` (CA), ``example_certs1/httpbin.example.com``
      (serial 0), ``example_certs1/helloworld.example.com`` and ``example_certs1/client.example.com``
      (serial 1); ``example_certs2/example.com`` (a new CA, same subject) and
      ``example_certs2/httpbin.example.com``;
    * ingress-sni-passthrough: ``example_certs/example.com`` (CA) and ``example_certs/nginx.example.com``
      (``/CN=nginx.example.com/O=some organization``, serial 0);
    * egress TLS origination: ``example.com`` (CA, in the current directory as in those docs),
      ``my-nginx.mesh-external.svc.cluster.local`` (serial 0) and ``client.example.com`` (serial 1).

    Args:
        directory: if given, the files are written under it (keys mode 0600).

    Returns:
        The certificates by docs path.
    """
    certs: dict[str, CertKey] = {}
    ca1 = certs["example_certs1/example.com"] = make_ca()
    certs["example_certs1/httpbin.example.com"] = make_cert(
        "httpbin.example.com", "httpbin organization", ca1, 0
    )
    certs["example_certs1/helloworld.example.com"] = make_cert(
        "helloworld.example.com", "helloworld organization", ca1, 1
    )
    certs["example_certs1/client.example.com"] = make_cert(
        "client.example.com", "client organization", ca1, 1
    )
    ca2 = certs["example_certs2/example.com"] = make_ca()
    certs["example_certs2/httpbin.example.com"] = make_cert(
        "httpbin.example.com", "httpbin organization", ca2, 0
    )
    ca_sni = certs["example_certs/example.com"] = make_ca()
    certs["example_certs/nginx.example.com"] = make_cert("nginx.example.com", "some organization", ca_sni, 0)
    ca_eg = certs["example.com"] = make_ca()
    certs["my-nginx.mesh-external.svc.cluster.local"] = make_cert(
        "my-nginx.mesh-external.svc.cluster.local", "some organization", ca_eg, 0
    )
    certs["client.example.com"] = make_cert("client.example.com", "client organization", ca_eg, 1)
    if directory is not None:
        write_all(certs, directory)
    return certs


def write_all(certs: Mapping[str, CertKey], directory: str | os.PathLike[str]) -> None:
    """Write each ``CertKey`` of ``certs`` as ``<directory>/<key>.crt/.key/.csr``.

    Args:
        certs: certificates keyed by relative path without extension (as :func:`istio_docs_certs` returns).
        directory: the base directory.
    """
    base = pathlib.Path(directory)
    for rel, ck in certs.items():
        path = base / rel
        ck.write(path.parent, path.name)
