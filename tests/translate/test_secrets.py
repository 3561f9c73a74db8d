"""Credentials for gateway TLS (§8): SDS names, every Secret key layout, file mounts, istiod errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from _tx import proxy

from gatewaykit.envoy import SecretMaterial


def gateway(tls: str, ns: str = "default") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: {ns}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: ["httpbin.example.com"]
    tls: {tls}
"""


def secret(name: str, data: str, ns: str = "istio-system", type_: str = "Opaque") -> str:
    return f"""---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: {ns}}}
type: {type_}
stringData: {data}
"""


def layout(material: SecretMaterial) -> SecretMaterial:
    """Which bytes SDS serves; the placeholder PEM here (``CERT``) is broken on purpose, and what
    istiod and Envoy say about broken material is tested in test_secret_verdicts.py."""
    return dataclasses.replace(material, invalid=None, rejected=None)


@dataclass
class Case:
    name: str
    config: str
    sds: tuple[str | None, str | None]  # (certificate_sds, validation_sds) on the chain
    secrets: dict[str, SecretMaterial]
    require_client_cert: bool = False


CRED = "kubernetes://httpbin-credential"
CA = "kubernetes://httpbin-credential-cacert"

CASES = [
    Case(
        "kubernetes.io/tls secret (tls.crt, tls.key)",
        gateway("{mode: SIMPLE, credentialName: httpbin-credential}")
        + secret("httpbin-credential", "{tls.crt: CERT, tls.key: KEY}", type_="kubernetes.io/tls"),
        (CRED, None),
        {CRED: SecretMaterial(CRED, certificate_chain=b"CERT", private_key=b"KEY")},
    ),
    Case(
        "MUTUAL with ca.crt in the same secret",
        gateway("{mode: MUTUAL, credentialName: httpbin-credential}")
        + secret("httpbin-credential", "{tls.crt: CERT, tls.key: KEY, ca.crt: CA}"),
        (CRED, CA),
        {
            CRED: SecretMaterial(CRED, certificate_chain=b"CERT", private_key=b"KEY"),
            CA: SecretMaterial(CA, trusted_ca=b"CA"),
        },
        require_client_cert=True,
    ),
    Case(
        "generic cert/key/cacert layout; cert+key win over tls.crt/tls.key, cacert over ca.crt",
        gateway("{mode: OPTIONAL_MUTUAL, credentialName: httpbin-credential}")
        + secret(
            "httpbin-credential", "{cert: C1, key: K1, tls.crt: C2, tls.key: K2, cacert: A1, ca.crt: A2}"
        ),
        (CRED, CA),
        {
            CRED: SecretMaterial(CRED, certificate_chain=b"C1", private_key=b"K1"),
            CA: SecretMaterial(CA, trusted_ca=b"A1"),
        },
    ),
    Case(
        "CA in a separate <name>-cacert secret",
        gateway("{mode: MUTUAL, credentialName: httpbin-credential}")
        + secret("httpbin-credential", "{cert: C, key: K}")
        + secret("httpbin-credential-cacert", "{cacert: CA2}"),
        (CRED, CA),
        {
            CRED: SecretMaterial(CRED, certificate_chain=b"C", private_key=b"K"),
            CA: SecretMaterial(CA, trusted_ca=b"CA2"),
        },
        require_client_cert=True,
    ),
    Case(
        "secret missing in the gateway pod's namespace (it is in the Gateway's namespace)",
        gateway("{mode: SIMPLE, credentialName: httpbin-credential}")
        + secret("httpbin-credential", "{tls.crt: C, tls.key: K}", ns="default"),
        (CRED, None),
        {
            CRED: SecretMaterial(
                CRED,
                error="failed to fetch key and certificate for kubernetes://httpbin-credential: "
                "secret istio-system/httpbin-credential not found",
            )
        },
    ),
    Case(
        "secret without the expected keys",
        gateway("{mode: SIMPLE, credentialName: httpbin-credential}")
        + secret("httpbin-credential", '{a: "1", b: "2", c: "3", d: "4"}'),
        (CRED, None),
        {
            CRED: SecretMaterial(
                CRED,
                error="failed to fetch key and certificate for kubernetes://httpbin-credential: "
                "found secret, but didn't have expected keys (cert and key) or "
                "(tls.crt and tls.key); found: a, b, c, and 1 more...",
            )
        },
    ),
    Case(
        "empty tls.crt/tls.key",
        gateway("{mode: SIMPLE, credentialName: httpbin-credential}")
        + secret("httpbin-credential", '{tls.crt: "", tls.key: ""}'),
        (CRED, None),
        {
            CRED: SecretMaterial(
                CRED,
                error="failed to fetch key and certificate for kubernetes://httpbin-credential: "
                'found keys "tls.crt" and "tls.key", but they were empty',
            )
        },
    ),
    Case(
        "MUTUAL without any CA",
        gateway("{mode: MUTUAL, credentialName: httpbin-credential}")
        + secret("httpbin-credential", "{cert: C, key: K}"),
        (CRED, CA),
        {
            CRED: SecretMaterial(CRED, certificate_chain=b"C", private_key=b"K"),
            CA: SecretMaterial(
                CA,
                error="failed to fetch ca certificate for kubernetes://httpbin-credential-cacert: "
                "found secret, but didn't have expected keys cacert or ca.crt; found: cert, key",
            ),
        },
        require_client_cert=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_credential_name(case: Case) -> None:
    p = proxy(case.config)
    (lst,) = p.listeners
    (chain,) = lst.filter_chains
    tls = chain.transport_socket
    assert tls is not None
    assert (tls.certificate_sds, tls.validation_sds) == case.sds
    assert tls.require_client_certificate is case.require_client_cert
    assert {k: layout(m) for k, m in p.secrets.items()} == case.secrets
    for m in case.secrets.values():
        if m.error:
            assert m.error in p.log


MOUNTED = """---
apiVersion: v1
kind: Secret
metadata: {name: istio-ingressgateway-certs, namespace: istio-system}
type: kubernetes.io/tls
stringData: {tls.crt: FILECERT, tls.key: FILEKEY}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca-bundle, namespace: istio-system}
data: {chain.pem: FILECA}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  template:
    metadata: {labels: {app: istio-ingressgateway, istio: ingressgateway}}
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2:1.27.0
        ports: [{containerPort: 8080}, {containerPort: 8443}]
        volumeMounts:
        - {name: certs, mountPath: /etc/istio/ingressgateway-certs, readOnly: true}
        - {name: ca, mountPath: /etc/istio/ingressgateway-ca-certs}
      volumes:
      - name: certs
        secret: {secretName: istio-ingressgateway-certs}
      - name: ca
        configMap:
          name: ca-bundle
          items: [{key: chain.pem, path: ca-chain.cert.pem}]
"""


def test_file_mounted_certificates() -> None:
    tls = (
        "{mode: MUTUAL, serverCertificate: /etc/istio/ingressgateway-certs/tls.crt, "
        "privateKey: /etc/istio/ingressgateway-certs/tls.key, "
        "caCertificates: /etc/istio/ingressgateway-ca-certs/ca-chain.cert.pem}"
    )
    p = proxy(gateway(tls) + MOUNTED)
    t = p.listeners[0].filter_chains[0].transport_socket
    assert t is not None
    cert = "file-cert:/etc/istio/ingressgateway-certs/tls.crt~/etc/istio/ingressgateway-certs/tls.key"
    root = "file-root:/etc/istio/ingressgateway-ca-certs/ca-chain.cert.pem"
    assert (t.certificate_sds, t.validation_sds) == (cert, root)
    assert layout(p.secrets[cert]) == SecretMaterial(
        cert, certificate_chain=b"FILECERT", private_key=b"FILEKEY"
    )
    assert layout(p.secrets[root]) == SecretMaterial(root, trusted_ca=b"FILECA")


def test_file_not_mounted_gives_agent_error() -> None:
    tls = (
        "{mode: SIMPLE, serverCertificate: /etc/certs/servercert.pem, privateKey: /etc/certs/privatekey.pem}"
    )
    p = proxy(gateway(tls))
    name = "file-cert:/etc/certs/servercert.pem~/etc/certs/privatekey.pem"
    assert p.secrets[name].error == (
        f"resource:{name} failed to generate secret for proxy from file: "
        "open /etc/certs/servercert.pem: no such file or directory"
    )


def test_istio_mutual_uses_workload_identity() -> None:
    p = proxy(gateway("{mode: ISTIO_MUTUAL}"))
    t = p.listeners[0].filter_chains[0].transport_socket
    assert t is not None and (t.mode, t.certificate_sds, t.validation_sds, t.require_client_certificate) == (
        "ISTIO_MUTUAL",
        "default",
        "ROOTCA",
        True,
    )
