"""TLS for the data plane: byte streams, server/client SSL contexts, and the mesh CA.

Envoy terminates TLS after its TLS inspector has *peeked* at the ClientHello; we get the
same effect by reading the ClientHello into a buffer and then replaying it into an
:class:`ssl.SSLObject` driven over memory BIOs (:class:`TlsStream`). Driving the handshake
ourselves matters for fidelity: when OpenSSL rejects a TLS 1.3 client without a
certificate it writes the ``certificate required`` alert into the outgoing BIO, and we
flush it before closing -- so curl prints ``tlsv13 alert certificate required`` and exits
56 (docs/behaviour.md §1.6), as it does against Envoy.

SSL contexts are cached by the *content* of the secret material, so a rotated Kubernetes
Secret (new PEM bytes under the same SDS name) is used by the next connection (docs/behaviour.md §8.1).
Private keys are written only to a private temporary directory (mode 0700, files 0600),
for the instant ``load_cert_chain`` needs a path, and never logged.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import os
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from gatewaykit import envoy
from gatewaykit.errors import SandboxError

__all__ = ["ContextCache", "MeshCA", "PlainStream", "TlsStream"]


def san_matches(peer: dict[str, Any] | None, wanted: tuple[str, ...]) -> bool:
    """Check a verified peer certificate against Envoy ``match_subject_alt_names`` (exact).

    Args:
        peer: ``SSLObject.getpeercert()`` of a verified peer, or None when none was presented.
        wanted: the allowed SANs (Gateway / DestinationRule ``subjectAltNames``); empty = any.

    Returns:
        True when ``wanted`` is empty or one of the certificate's DNS/URI SANs is in it.
    """
    if not wanted:
        return True
    if not peer:
        return False
    names = {value for kind, value in peer.get("subjectAltName", ()) if kind in ("DNS", "URI")}
    return bool(names & set(wanted))


class PlainStream:
    """A TCP connection with bytes already read (the peeked ClientHello) put back in front."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: bytes = b""):
        self.reader = reader
        self.writer = writer
        self._pending = pending
        self.bytes_read = 0
        self.bytes_written = 0

    async def read(self, n: int = 65536) -> bytes:
        """Return up to ``n`` bytes; ``b""`` at end of stream."""
        if self._pending:
            data, self._pending = self._pending, b""
        else:
            data = await self.reader.read(n)
        self.bytes_read += len(data)
        return data

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front of the stream (it will be read again)."""
        self._pending = data + self._pending
        self.bytes_read -= len(data)

    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending."""
        self.bytes_written += len(data)
        self.writer.write(data)

    async def drain(self) -> None:
        """Wait until the transport's buffer is flushed enough."""
        await self.writer.drain()

    def write_eof(self) -> None:
        """Half-close the sending side (TCP proxy: forward the client's FIN)."""
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except (OSError, RuntimeError):
            pass

    def close(self) -> None:
        """Close the connection (FIN)."""
        self.writer.close()

    def abort(self) -> None:
        """Reset the connection (RST), as Envoy does when it gives up on a connection."""
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


class TlsStream:
    """A TLS server session over a :class:`PlainStream`, driven through memory BIOs."""

    def __init__(
        self,
        raw: PlainStream,
        context: ssl.SSLContext,
        *,
        server_side: bool = True,
        server_hostname: str | None = None,
    ) -> None:
        self.raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname
        )
        self.bytes_read = 0
        self.bytes_written = 0
        self._pending = b""

    def unread(self, data: bytes) -> None:
        """Put decrypted ``data`` back in front of the stream (it will be read again)."""
        self._pending = data + self._pending
        self.bytes_read -= len(data)

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.raw.write(data)

    async def handshake(self) -> None:
        """Complete the handshake; on failure send OpenSSL's alert, then raise ``ssl.SSLError``."""
        while True:
            try:
                self.ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = await self.raw.read()
                if data:
                    self._in.write(data)
                else:
                    self._in.write_eof()
            except ssl.SSLError:
                # The alert (e.g. certificate_required, 116) is in the outgoing BIO: send it.
                self._flush()
                try:
                    await self.raw.drain()
                except OSError:
                    pass
                raise
        self._flush()
        await self.raw.drain()

    @property
    def alpn(self) -> str | None:
        """The ALPN protocol agreed in the handshake (``h2``/``http/1.1``) or None."""
        return self.ssl.selected_alpn_protocol()

    @property
    def peer_certificate_present(self) -> bool:
        """Whether the client presented a (verified) certificate."""
        try:
            return self.ssl.getpeercert(binary_form=True) is not None
        except ValueError:
            return False

    async def read(self, n: int = 65536) -> bytes:
        """Return up to ``n`` decrypted bytes; ``b""`` at end of stream."""
        if self._pending:
            data, self._pending = self._pending, b""
            self.bytes_read += len(data)
            return data
        while True:
            try:
                data = self.ssl.read(n)
                self.bytes_read += len(data)
                return data
            except ssl.SSLWantReadError:
                self._flush()
                raw = await self.raw.read()
                if not raw:
                    return b""
                self._in.write(raw)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError:
                return b""

    def write(self, data: bytes) -> None:
        """Encrypt and queue ``data``."""
        self.bytes_written += len(data)
        view = memoryview(data)
        while view:
            n = self.ssl.write(view)
            view = view[n:]
        self._flush()

    async def drain(self) -> None:
        """Wait for the underlying transport."""
        await self.raw.drain()

    def write_eof(self) -> None:
        """Send close_notify (TLS has no half-close; Envoy closes the TLS session)."""
        try:
            self.ssl.unwrap()
        except ssl.SSLError:
            pass
        self._flush()

    def close(self) -> None:
        """Close the session and the connection."""
        self.write_eof()
        self.raw.close()

    def abort(self) -> None:
        """Reset the connection."""
        self.raw.abort()


# ------------------------------------------------------------------------ mesh CA


@dataclass(slots=True)
class MeshCA:
    """The mesh's own CA (istiod's ``istio-ca-root-cert``): mints workload certificates.

    ISTIO_MUTUAL servers and clients present SPIFFE certificates signed by this CA and trust
    only it (Gateway ``ISTIO_MUTUAL``, DestinationRule ``ISTIO_MUTUAL``, docs/behaviour.md §7, §12).

    Attributes:
        cert_pem: the root certificate, PEM.
        key_pem: its private key, PEM (never printed).
    """

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    _issued: dict[str, tuple[bytes, bytes]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def generate(cls, trust_domain: str = "cluster.local") -> MeshCA:
        """Create a fresh self-signed root like istiod's (``O=<trust domain>``).

        Args:
            trust_domain: the SPIFFE trust domain; also the organisation in the subject.

        Returns:
            A new :class:`MeshCA`.
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        from gatewaykit.certs import build_ca

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = build_ca(
            name,
            key,
            "mesh-root",
            not_before=now - datetime.timedelta(hours=1),
            not_after=now + datetime.timedelta(days=3650),
        )
        return cls(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )

    def workload_certificate(self, spiffe_id: str) -> tuple[bytes, bytes]:
        """Return (certificate chain PEM, private key PEM) for ``spiffe_id``, cached.

        Args:
            spiffe_id: e.g. ``spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account``.
        """
        with self._lock:
            if spiffe_id in self._issued:
                return self._issued[spiffe_id]
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            ca_cert = x509.load_pem_x509_certificate(self.cert_pem)
            ca_key = serialization.load_pem_private_key(self.key_pem, None)
            key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                # Istio workload certs carry only a URI SAN (the SPIFFE identity), critical
                # because the subject is empty.
                .add_extension(
                    x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=True
                )
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
            )
            pair = (
                cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            self._issued[spiffe_id] = pair
            return pair


# ---------------------------------------------------------------------- contexts

_TLS_VERSIONS = {
    "TLSv1_0": ssl.TLSVersion.TLSv1,
    "TLSV1_0": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSV1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
    "TLSV1_2": ssl.TLSVersion.TLSv1_2,
    "TLSv1_3": ssl.TLSVersion.TLSv1_3,
    "TLSV1_3": ssl.TLSVersion.TLSv1_3,
}


class ContextCache:
    """Builds ``ssl.SSLContext`` objects from Envoy TLS contexts, cached by secret content.

    Args:
        workdir: a private directory (created with mode 0700) for the instant a key file
            must exist; None creates one under the system temp dir.
        mesh_ca: the mesh CA for ISTIO_MUTUAL; None makes ISTIO_MUTUAL handshakes fail.
        trust_store: PEM CA bundle for upstream SIMPLE origination without a validation
            secret (stands for the proxy's system trust store).
    """

    def __init__(
        self,
        *,
        mesh_ca: MeshCA | None = None,
        trust_store: bytes | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        if workdir is not None:
            # Keys live in the sandbox's own work dir (mode 0700 dir, 0600 files), never elsewhere.
            os.makedirs(workdir, mode=0o700, exist_ok=True)
            self._dir = tempfile.mkdtemp(prefix="tls-", dir=workdir)
        else:
            self._dir = tempfile.mkdtemp(prefix="gatewaykit-tls-")
        os.chmod(self._dir, 0o700)
        self._cache: dict[Hashable, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self.mesh_ca = mesh_ca
        self.trust_store = trust_store

    def close(self) -> None:
        """Remove the private directory."""
        try:
            for name in os.listdir(self._dir):
                os.unlink(os.path.join(self._dir, name))
            os.rmdir(self._dir)
        except OSError:
            pass

    def _cached(self, parts: tuple[object, ...], build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        # The parts (PEM bytes, strings, tuples) are the key: hashing them is cheap (bytes cache
        # their hash), where a digest of their repr cost ~10 us on every upstream request.
        with self._lock:
            ctx = self._cache.get(parts)
            if ctx is None:
                if len(self._cache) > 256:  # bound memory across many rotations
                    self._cache.clear()
                ctx = build()
                self._cache[parts] = ctx
            return ctx

    def _load_chain(self, ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
        fd, path = tempfile.mkstemp(dir=self._dir, suffix=".pem")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(cert.rstrip(b"\n") + b"\n" + key)
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)

    def server_context(
        self, proxy: envoy.ProxyConfig, tls: envoy.DownstreamTlsContext, identity: str
    ) -> ssl.SSLContext | None:
        """Return the server context for a terminating filter chain, or None if it cannot serve.

        None means Envoy has no usable certificate (missing/broken secret, docs/behaviour.md §8.1) or no CA to
        validate clients for MUTUAL: the handshake then fails (connection closed, exit 35).

        Args:
            proxy: the proxy whose ``secrets`` hold the SDS material.
            tls: the filter chain's DownstreamTlsContext.
            identity: the proxy's SPIFFE id, for ISTIO_MUTUAL.
        """
        ca: bytes | None = None
        if tls.mode == "ISTIO_MUTUAL":
            if self.mesh_ca is None:
                return None
            cert, key = self.mesh_ca.workload_certificate(identity)
            ca = self.mesh_ca.cert_pem
        else:
            secret = proxy.secrets.get(tls.certificate_sds or "")
            if secret is None or secret.error or not secret.certificate_chain or not secret.private_key:
                return None
            if secret.rejected:
                return None  # Envoy rejected the secret: the chain has no certificate
            cert, key = secret.certificate_chain, secret.private_key
            if tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
                vs = proxy.secrets.get(tls.validation_sds or "")
                if vs is not None and not vs.error and not vs.rejected:
                    ca = vs.trusted_ca
                if not ca and tls.mode == "MUTUAL":
                    return None
        require = tls.require_client_certificate or tls.mode in ("MUTUAL", "ISTIO_MUTUAL")
        parts = (
            "server",
            cert,
            key,
            ca,
            tls.mode,
            require,
            tls.alpn_protocols,
            tls.min_protocol_version,
            tls.max_protocol_version,
            tls.cipher_suites,
        )

        def build() -> ssl.SSLContext:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                self._load_chain(ctx, cert, key)
                if ca:
                    ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError, OSError) as exc:
                raise SandboxError(f"TLS material for {tls.certificate_sds} is unusable: {exc}") from exc
            # MUTUAL: "at least one valid certificate is required"; OPTIONAL_MUTUAL: validate
            # it if presented (docs/behaviour.md §7).
            if ca:
                ctx.verify_mode = ssl.CERT_REQUIRED if require else ssl.CERT_OPTIONAL
            if tls.alpn_protocols:
                ctx.set_alpn_protocols(list(tls.alpn_protocols))
            if tls.min_protocol_version in _TLS_VERSIONS:
                ctx.minimum_version = _TLS_VERSIONS[tls.min_protocol_version]
            if tls.max_protocol_version in _TLS_VERSIONS:
                ctx.maximum_version = _TLS_VERSIONS[tls.max_protocol_version]
            if tls.cipher_suites:
                try:
                    ctx.set_ciphers(":".join(tls.cipher_suites))
                except ssl.SSLError:
                    pass
            return ctx

        try:
            return self._cached(parts, build)
        except SandboxError:
            return None

    def local_uris(
        self, proxy: envoy.ProxyConfig, tls: envoy.DownstreamTlsContext, identity: str
    ) -> tuple[str, ...]:
        """Return the URI SANs of the certificate a terminating chain serves (XFCC ``By=``)."""
        if tls.mode == "ISTIO_MUTUAL":
            return (identity,)
        secret = proxy.secrets.get(tls.certificate_sds or "")
        if secret is None or not secret.certificate_chain:
            return ()
        return _uri_sans(secret.certificate_chain)

    def client_context(
        self, proxy: envoy.ProxyConfig, tls: envoy.UpstreamTlsContext, identity: str
    ) -> ssl.SSLContext | None:
        """Return the client context for TLS origination towards a cluster (DestinationRule tls,
        docs/behaviour.md §13).

        Args:
            proxy: the proxy whose ``secrets`` hold the SDS material.
            tls: the cluster's UpstreamTlsContext.
            identity: the proxy's SPIFFE id, for ISTIO_MUTUAL.

        Returns:
            The context, or None when the configured material is missing (connect failure).
        """
        cert = key = ca = None
        if tls.mode == "ISTIO_MUTUAL":
            if self.mesh_ca is None:
                return None
            cert, key = self.mesh_ca.workload_certificate(identity)
            ca = self.mesh_ca.cert_pem
        else:
            if tls.mode == "MUTUAL":
                secret = proxy.secrets.get(tls.certificate_sds or "")
                if secret is None or secret.error or secret.rejected or not secret.certificate_chain:
                    return None
                cert, key = secret.certificate_chain, secret.private_key
            if tls.validation_sds == "file-root:system":
                # DestinationRule SIMPLE/MUTUAL without caCertificates: the proxy's system CA
                # bundle (clusters.upstream_tls), i.e. the public CAs -- here the fake internet's.
                ca = self.trust_store
            elif tls.validation_sds:
                vs = proxy.secrets.get(tls.validation_sds)
                if vs is None or vs.error or vs.rejected:
                    return None
                ca = vs.trusted_ca or vs.certificate_chain
            else:
                ca = self.trust_store
        parts = ("client", cert, key, ca, tls.mode, tls.alpn_protocols, tls.insecure_skip_verify)

        def build() -> ssl.SSLContext:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            # Envoy verifies the chain against the CA and SANs (subject_alt_names), not the
            # host name, so hostname checking stays off; ISTIO_MUTUAL certs have no DNS SAN.
            ctx.check_hostname = False
            if tls.insecure_skip_verify:
                ctx.verify_mode = ssl.CERT_NONE
            elif ca:
                ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
            else:
                ctx.load_default_certs()
            if cert and key:
                self._load_chain(ctx, cert, key)
            if tls.alpn_protocols:
                ctx.set_alpn_protocols(list(tls.alpn_protocols))
            return ctx

        try:
            return self._cached(parts, build)
        except (ssl.SSLError, ValueError, OSError):
            return None


@functools.lru_cache(maxsize=64)
def _uri_sans(chain_pem: bytes) -> tuple[str, ...]:
    from cryptography import x509

    try:
        with warnings.catch_warnings():
            # The Istio docs' certificates use serial 0 (openssl -set_serial 0); cryptography
            # warns about that on every parse, which says nothing to a learner.
            from cryptography.utils import CryptographyDeprecationWarning

            warnings.simplefilter("ignore", category=CryptographyDeprecationWarning)
            cert = x509.load_pem_x509_certificate(chain_pem)
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound):
        return ()
    return tuple(ext.value.get_values_for_type(x509.UniformResourceIdentifier))
