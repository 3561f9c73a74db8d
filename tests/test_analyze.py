"""Tests for gatewaykit._analyze: real YAML applied through the config store, istioctl analyze's exact lines.

Every expected line below is written out in full in istioctl's format
``<Level> [<code>] (<Kind> <ns>/<name>[ <file>:<line>]) <text>`` with the message templates of
Istio's pkg/config/analysis/msg/messages.yaml.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gatewaykit._analyze import Message, analyze
from gatewaykit.resources.codecs import load
from gatewaykit.store import ConfigStore

BASE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: default
---
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  selector:
    matchLabels: {app: istio-ingressgateway, istio: ingressgateway}
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway}
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021, targetPort: 15021}
  - {name: http2, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
---
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  namespace: default
spec:
  selector: {app: httpbin}
  ports:
  - {name: http, port: 8000, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
  namespace: default
spec:
  selector:
    matchLabels: {app: httpbin}
  template:
    metadata:
      labels: {app: httpbin, version: v1}
    spec:
      containers:
      - name: httpbin
        image: docker.io/mccutchen/go-httpbin:v2.15.0
"""

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["httpbin.example.com"]
"""


def _store(*docs: tuple[str, str | None]) -> ConfigStore:
    store = ConfigStore()
    store.apply(load(BASE, name="base.yaml"))
    for text, name in docs:
        store.apply(load(text, name=name) if name else load(text))
    return store


def _lines(store: ConfigStore, **kw: object) -> list[str]:
    return [str(m) for m in analyze(store.snapshot(), **kw)]  # type: ignore[arg-type]


def test_clean_configuration_has_no_messages() -> None:
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: ["httpbin.example.com"]
  gateways: ["httpbin-gateway"]
  http:
  - match: [{uri: {prefix: /status}}]
    route:
    - destination: {host: httpbin, port: {number: 8000}}
"""
    assert _lines(_store((GATEWAY, "gw.yaml"), (vs, "vs.yaml"))) == []


def test_ist0132_doc_example_points_at_the_gateway_reference() -> None:
    # The istio.io IST0132 page prints testing.yaml:8, the line its VirtualService document starts
    # on -- output of an istioctl from before analyzers reported field lines. Today's istioctl
    # replaces it with the line of {.spec.gateways[0]} (virtualservice/gateways.go, util.VSGateway).
    text = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: testing-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [testing.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: testing-service
  namespace: default
spec:
  gateways:
  - istio-system/testing-gateway
  hosts:
  - wrong.com
  http:
  - route:
    - destination:
        host: httpbin
"""
    assert _lines(_store((text, "testing.yaml"))) == [
        "Warning [IST0132] (VirtualService default/testing-service testing.yaml:15) one or more host "
        "[wrong.com] defined in VirtualService default/testing-service not found in Gateway "
        "istio-system/testing-gateway."
    ]


def test_ist0132_wildcard_and_namespace_scoped_gateway_hosts() -> None:
    gw = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["prod/*.example.com", "./a.example.org"]
"""
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [b.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: httpbin}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs2}
spec:
  hosts: [a.example.org]
  gateways: [gw]
  http: [{route: [{destination: {host: httpbin}}]}]
"""
    # vs (default) cannot see the prod/-scoped host; vs2 matches "./a.example.org" → default/a.example.org.
    assert _lines(_store((gw, None), (vs, None))) == [
        "Warning [IST0132] (VirtualService default/vs) one or more host [b.example.com] defined in "
        "VirtualService default/vs not found in Gateway default/gw."
    ]


def test_ist0101_gateway_in_wrong_namespace() -> None:
    gw = GATEWAY.replace("  name: httpbin-gateway\n", "  name: httpbin-gateway\n  namespace: istio-system\n")
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: ["httpbin.example.com"]
  gateways: ["httpbin-gateway"]
  http:
  - route:
    - destination: {host: httpbin}
"""
    assert _lines(_store((gw, "gw.yaml"), (vs, "vs.yaml"))) == [
        # Both point at {.spec.gateways[0]}, the reference that is wrong.
        'Error [IST0101] (VirtualService default/httpbin vs.yaml:7) Referenced gateway not found: "httpbin-gateway"',  # noqa: E501
        "Warning [IST0132] (VirtualService default/httpbin vs.yaml:7) one or more host [httpbin.example.com] "
        "defined in VirtualService default/httpbin not found in Gateway default/httpbin-gateway.",
    ]


def test_mesh_gateway_is_not_a_reference() -> None:
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec:
  hosts: [httpbin]
  gateways: [mesh]
  http: [{route: [{destination: {host: httpbin}}]}]
"""
    assert _lines(_store((vs, None))) == []


def test_ist0101_selector_not_found_reported_once() -> None:
    gw = GATEWAY.replace("istio: ingressgateway", "istio: nosuchgateway")
    assert _lines(_store((gw, "gw.yaml"))) == [
        # {.spec.selector.istio}: the first label of the selector (util.GatewaySelector).
        "Error [IST0101] (Gateway default/httpbin-gateway gw.yaml:7) Referenced selector not found: "
        '"istio=nosuchgateway"'
    ]


def test_ist0101_selector_uses_xds_pods_when_given() -> None:
    @dataclass
    class Pod:
        namespace: str
        labels: dict[str, str]

    @dataclass
    class Xds:
        pods: tuple[Pod, ...]

    gw = GATEWAY.replace("istio: ingressgateway", "istio: egressgateway")
    store = _store((gw, None))
    assert _lines(store) == [
        'Error [IST0101] (Gateway default/httpbin-gateway) Referenced selector not found: "istio=egressgateway"'  # noqa: E501
    ]
    xds = Xds(pods=(Pod("istio-system", {"app": "istio-egressgateway", "istio": "egressgateway"}),))
    # The egress pod exists, but no Service in istio-system selects it: every port is IST0162.
    assert _lines(store, xds=xds) == [
        "Warning [IST0162] (Gateway default/httpbin-gateway) The gateway is listening on a target port "
        "(port 80) that is not defined in the Service associated with its workload instances (Pod selector "
        "istio=egressgateway). If you need to access the gateway port through the gateway Service, it will "
        "not be available."
    ]


def test_ist0162_port_not_on_service() -> None:
    gw = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["a.example.com"]
  - port: {number: 8443, name: https-target, protocol: HTTP}
    hosts: ["b.example.com"]
  - port: {number: 9090, name: http-other, protocol: HTTP}
    hosts: ["c.example.com"]
"""
    # 80 is a Service port (→ 8080), 8443 a targetPort: both fine. 9090 is nowhere.
    assert _lines(_store((gw, None))) == [
        "Warning [IST0162] (Gateway default/gw) The gateway is listening on a target port (port 9090) that "
        "is not defined in the Service associated with its workload instances (Pod selector "
        "istio=ingressgateway). If you need to access the gateway port through the gateway Service, it will "
        "not be available."
    ]


def test_ist0145_conflicting_gateways_same_selector_port_host() -> None:
    gws = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: demo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other-port}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: PASSTHROUGH}}]
"""
    assert _lines(_store((gws, None))) == [
        "Error [IST0145] (Gateway default/bookinfo-gateway) Conflict with gateways default/demo-gateway "
        "(workload selector istio=ingressgateway, port 80, hosts *).",
        "Error [IST0145] (Gateway default/demo-gateway) Conflict with gateways default/bookinfo-gateway "
        "(workload selector istio=ingressgateway, port 80, hosts *).",
    ]


def test_ist0145_not_reported_for_distinct_hosts() -> None:
    gws = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["a.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["b.example.com"]}]
"""
    assert _lines(_store((gws, None))) == []


def _cert_pem(*, expired: bool = False) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "httpbin.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (
        (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        if expired
        else (
            now - datetime.timedelta(days=1),
            now + datetime.timedelta(days=365),
        )
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _secret(name: str, data: dict[str, bytes], namespace: str = "istio-system") -> str:
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        f"metadata: {{name: {name}, namespace: {namespace}}}",
        "type: Opaque",
        "data:",
    ]
    lines += [f"  {k}: {base64.b64encode(v).decode()}" for k, v in data.items()]
    return "\n".join(lines) + "\n"


HTTPS_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: httpbin-credential}
    hosts: [httpbin.example.com]
"""


def test_ist0101_credential_missing() -> None:
    assert _lines(_store((HTTPS_GATEWAY, "gw.yaml"))) == [
        # {.spec.servers[0].tls.credentialName} (util.CredentialName).
        "Error [IST0101] (Gateway default/mygateway gw.yaml:8) Referenced credentialName not found: "
        '"httpbin-credential"'
    ]


def test_credential_in_gateway_namespace_is_not_found() -> None:
    # The secret must be in the *workload's* namespace (istio-system), not the Gateway's
    # (docs/behaviour.md §8.1).
    cert, key = _cert_pem()
    secret = _secret("httpbin-credential", {"tls.crt": cert, "tls.key": key}, namespace="default")
    assert [m.code for m in analyze(_store((HTTPS_GATEWAY, None), (secret, None)).snapshot())] == ["IST0101"]


@pytest.mark.parametrize(
    "layout",
    ["tls", "generic"],
)
def test_valid_credential_layouts_are_clean(layout: str) -> None:
    cert, key = _cert_pem()
    data = {"tls.crt": cert, "tls.key": key} if layout == "tls" else {"cert": cert, "key": key}
    assert _lines(_store((HTTPS_GATEWAY, None), (_secret("httpbin-credential", data), None))) == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"tls.crt": b"not a certificate", "tls.key": b"k"}, id="not-pem"),
        pytest.param({"ca.crt": b"x"}, id="wrong-keys"),
        pytest.param({"tls.crt": b"", "tls.key": b""}, id="empty"),
        pytest.param(
            {"tls.crt": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "tls.key": b"k"},
            id="not-x509",
        ),
        pytest.param("expired", id="expired"),
    ],
)
def test_ist0161_invalid_credential(data: dict[str, bytes] | str) -> None:
    if data == "expired":
        cert, key = _cert_pem(expired=True)
        data = {"tls.crt": cert, "tls.key": key}
    assert isinstance(data, dict)
    store = _store((HTTPS_GATEWAY, "gw.yaml"), (_secret("httpbin-credential", data), None))
    assert _lines(store) == [
        "Error [IST0161] (Gateway default/mygateway gw.yaml:8) The credential referenced by the Gateway "
        "mygateway in namespace istio-system is invalid, which can cause the traffic not to work as expected."
    ]


def test_ist0101_destination_host_and_port_and_subset() -> None:
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: routes}
spec:
  hosts: [httpbin.example.com]
  gateways: [httpbin-gateway]
  http:
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: nosuch}}]
  - match: [{uri: {prefix: /b}}]
    route: [{destination: {host: httpbin, port: {number: 9999}}}]
  - match: [{uri: {prefix: /c}}]
    route: [{destination: {host: httpbin.default.svc.cluster.local, subset: v3}}]
  - match: [{uri: {prefix: /d}}]
    route: [{destination: {host: httpbin, subset: v1}}]
  - route: [{destination: {host: httpbin.org}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin
  subsets: [{name: v1, labels: {version: v1}}]
"""
    assert _lines(_store((GATEWAY, None), (vs, "routes.yaml"))) == [
        # Each at its {.spec.http[i].route[j].destination.host}; sorted as strings, like istioctl.
        "Error [IST0101] (VirtualService default/routes routes.yaml:11) Referenced host:port not found: "
        '"httpbin:9999"',
        "Error [IST0101] (VirtualService default/routes routes.yaml:13) Referenced host+subset in "
        'destinationrule not found: "httpbin.default.svc.cluster.local+v3"',
        'Error [IST0101] (VirtualService default/routes routes.yaml:16) Referenced host not found: "httpbin.org"',  # noqa: E501
        'Error [IST0101] (VirtualService default/routes routes.yaml:9) Referenced host not found: "nosuch"',
    ]


def test_service_entry_makes_external_host_known() -> None:
    vs = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin-ext}
spec:
  hosts: [httpbin.org, "*.wikipedia.org"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ext}
spec:
  hosts: [httpbin.org]
  http:
  - match: [{uri: {prefix: /x}}]
    route: [{destination: {host: httpbin.org}}]
  - route: [{destination: {host: en.wikipedia.org, port: {number: 443}}}]
"""
    assert _lines(_store((vs, None))) == [
        'Error [IST0101] (VirtualService default/ext) Referenced host:port not found: "en.wikipedia.org:443"'
    ]


def test_messages_sorted_errors_first_and_structured() -> None:
    gw = GATEWAY.replace("istio: ingressgateway", "istio: nosuch")
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec:
  hosts: [other.com]
  gateways: [httpbin-gateway]
  http: [{route: [{destination: {host: httpbin}}]}]
"""
    msgs = analyze(_store((gw, "gw.yaml"), (vs, None)).snapshot())
    assert [(m.level, m.code, m.resource.kind) for m in msgs] == [
        ("Error", "IST0101", "Gateway"),
        ("Warning", "IST0132", "VirtualService"),
    ]
    first = msgs[0]
    assert isinstance(first, Message) and first.name == "ReferencedResourceNotFound"
    assert first.to_dict() == {
        "code": "IST0101",
        "level": "Error",
        "origin": "Gateway default/httpbin-gateway",
        "message": 'Referenced selector not found: "istio=nosuch"',
        "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/",
        "reference": "gw.yaml:7",
    }
