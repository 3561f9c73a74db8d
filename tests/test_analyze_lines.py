"""istioctl-exact line numbers: each message points at the line of the field it is about.

istioctl builds a field → line map of every resource it reads from a file
(pilot/pkg/config/file/store.go ``BuildFieldPathMap``) and each analyzer looks up one path
(pkg/config/analysis/analyzers/util/find_errorline_utils.go); a path that is not in the map
leaves the line where Istio's YAML reader starts the document. Multi-document files below, with
the expected line written next to the field it must point at.
"""

from __future__ import annotations

import pytest

from gatewaykit._analyze import analyze
from gatewaykit.resources.codecs import load
from gatewaykit.resources.meta import FieldLines, Source
from gatewaykit.store import ConfigStore

BASE = """\
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector:
    matchLabels: {app: istio-ingressgateway, istio: ingressgateway}
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway}
    spec:
      containers: [{name: istio-proxy, image: docker.io/istio/proxyv2}]
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8080}]
"""


def _analyze(text: str, name: str = "lab.yaml") -> list[str]:
    store = ConfigStore()
    store.apply(load(BASE, name="base.yaml"))
    store.apply(load(text, name=name))
    return [str(m) for m in analyze(store.snapshot())]


def _line_of(text: str, marker: str) -> int:
    """1-based line of the only line containing ``marker`` (keeps the tables honest)."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


LAB = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["web.example.com"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["web.example.com"]
    tls:
      mode: SIMPLE
      credentialName: web-credential   # missing
---
# Routes for web.example.com
# (two comment lines: istioctl starts this document here)
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: ["web.example.com"]
  gateways:
  - mesh
  - web
  - web-gateway        # missing
  http:
  - match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: httpbin}}]
    mirror:
      host: shadow       # missing
  - match: [{uri: {prefix: /subset}}]
    route:
    - destination: {host: httpbin, port: {number: 8000}}
      weight: 90
    - destination:
        host: httpbin    # no DestinationRule subset
        subset: v2
      weight: 10
  - route:
    - destination:
        host: httpbin
        port:
          number: 9999   # not a port of httpbin
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp}
spec:
  hosts: ["*"]
  gateways: [web]
  tcp:
  - route:
    - destination: {host: tcp-echo, port: {number: 9000}}   # missing
"""


def test_each_message_points_at_its_field() -> None:
    line = lambda marker: _line_of(LAB, marker)  # noqa: E731
    expected = [
        f"Error [IST0101] (Gateway default/web lab.yaml:{line('credentialName: web-credential')}) "
        'Referenced credentialName not found: "web-credential"',
        f"Error [IST0101] (VirtualService default/tcp lab.yaml:{line('host: tcp-echo')}) "
        'Referenced host not found: "tcp-echo"',
        f"Error [IST0101] (VirtualService default/web lab.yaml:{line('- web-gateway')}) "
        'Referenced gateway not found: "web-gateway"',
        f"Error [IST0101] (VirtualService default/web lab.yaml:{line('host: shadow')}) "
        'Referenced mirror host not found: "shadow"',
        f"Error [IST0101] (VirtualService default/web lab.yaml:{line('host: httpbin    # no')}) "
        'Referenced host+subset in destinationrule not found: "httpbin+v2"',
        # host:port points at the destination *host* (util.DestinationHost), not at the port.
        f"Error [IST0101] (VirtualService default/web lab.yaml:{line('number: 9999') - 2}) "
        'Referenced host:port not found: "httpbin:9999"',
        f"Warning [IST0132] (VirtualService default/web lab.yaml:{line('- web-gateway')}) "
        "one or more host [web.example.com] defined in VirtualService default/web not found in "
        "Gateway default/web-gateway.",
    ]
    got = _analyze(LAB)
    assert sorted(got) == sorted(expected)
    # istioctl's order: level, code, Kind/name/namespace, then the whole line as text (so
    # "x.yaml:16" would sort before "x.yaml:9"; see test_analyze).
    web = [m for m in got if "VirtualService default/web " in m and "IST0101" in m]
    assert web == sorted(web)


def test_missing_field_path_falls_back_to_where_istioctl_starts_the_document() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["dup.example.com"]}]
---

# b conflicts with a; IST0145 has no field path, so the document line is printed:
# istioctl's reader starts the document at the first non-empty line, this comment.
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["dup.example.com"]}]
"""
    got = _analyze(text, "gws.yaml")
    assert got == [
        "Error [IST0145] (Gateway default/a gws.yaml:1) Conflict with gateways default/b "
        "(workload selector istio=ingressgateway, port 80, hosts dup.example.com).",
        f"Error [IST0145] (Gateway default/b gws.yaml:{_line_of(text, '# b conflicts')}) Conflict with "
        "gateways default/a (workload selector istio=ingressgateway, port 80, hosts dup.example.com).",
    ]


def test_mirrors_use_istios_path_which_never_matches() -> None:
    # util.MirrorsHost is "{.spec.http[%d].mirrors[%d].host}" -- without ".destination" -- so
    # istioctl prints the document line for a bad mirrors[] host.
    text = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: m}
spec:
  hosts: [httpbin]
  http:
  - route: [{destination: {host: httpbin}}]
    mirrors:
    - destination: {host: shadow}
"""
    assert _analyze(text, "m.yaml") == [
        'Error [IST0101] (VirtualService default/m m.yaml:1) Referenced mirror host not found: "shadow"'
    ]


def test_selector_line_is_the_first_label_in_sorted_order() -> None:
    # labels.SelectorFromSet sorts the keys; util.ExtractLabelFromSelectorString takes the first.
    text = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec:
  selector:
    zone: west
    app: nosuch
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
"""
    assert _analyze(text, "g.yaml") == [
        f"Error [IST0101] (Gateway default/g g.yaml:{_line_of(text, 'app: nosuch')}) "
        'Referenced selector not found: "app=nosuch,zone=west"'
    ]


def test_gateway_port_not_on_service_points_at_the_selector() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 8081, name: http, protocol: HTTP}
    hosts: ["*"]
"""
    assert _analyze(text, "g.yaml") == [
        f"Warning [IST0162] (Gateway default/g g.yaml:{_line_of(text, 'istio: ingressgateway')}) The "
        "gateway is listening on a target port (port 8081) that is not defined in the Service associated "
        "with its workload instances (Pod selector istio=ingressgateway). If you need to access the "
        "gateway port through the gateway Service, it will not be available."
    ]


def test_no_reference_without_a_file() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec:
  hosts: [a.example.com]
  gateways: [nosuch]
  http: [{route: [{destination: {host: httpbin}}]}]
"""
    store = ConfigStore()
    store.apply(load(BASE, name="base.yaml"))
    store.apply(load(text))  # STDIN, as `kubectl apply -f -`
    assert [str(m) for m in analyze(store.snapshot())][0] == (
        'Error [IST0101] (VirtualService default/v) Referenced gateway not found: "nosuch"'
    )


# ----------------------------------------------------------------------------- the loader


def test_loader_field_lines_match_istios_build_field_path_map() -> None:
    text = """---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: x
spec:
  hosts: [a.com, "b.com"]
  gateways:
  - gw
  http:
  - route:
    - destination: {host: httpbin, port: {number: 80}}
    headers:
      request:
        set: {x-a: "1"}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports: [{port: 80}]
"""
    vs, svc = load(text, name="f.yaml")
    assert dict(vs.source.fields) == {
        "{}": 2,
        "{.apiVersion}": 2,
        "{.kind}": 3,
        "{.metadata.name}": 5,
        "{.spec.hosts[0]}": 7,
        "{.spec.hosts[1]}": 7,
        "{.spec.gateways[0]}": 9,
        "{.spec.http[0].route[0].destination.host}": 12,
        "{.spec.http[0].route[0].destination.port.number}": 12,
        "{.spec.http[0].headers.request.set.x-a}": 15,
    }
    assert vs.source.line == 2
    # Only Istio kinds get a field map (the analyzers only look at those).
    assert svc.source.fields == {}


def test_whitespace_only_line_shifts_lines_like_istio() -> None:
    # Istio's reader starts the document at the "   " line, but yaml.v3 numbers the lines of the
    # whitespace-trimmed document: every field line comes out one less than in the file.
    text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n---\n   \n" + (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
    )
    _, gw = load(text, name="w.yaml")
    assert gw.source.fields["{}"] == 5
    assert gw.source.fields["{.metadata.name}"] == 7  # the file line is 8


def test_source_fields_do_not_change_identity() -> None:
    a = Source("f.yaml", 0, 3, FieldLines({"{.spec.hosts[0]}": 7}))
    b = Source("f.yaml", 0, 3)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(TypeError):
        a.fields["{.x}"] = 1  # type: ignore[index]
    # dicts and lists of dicts carry no lines.
    (m,) = load({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "g"}})
    assert m.source.fields == {}
