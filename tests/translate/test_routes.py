"""HTTP route translation (route.go): matches, actions, decorator, retries, order
(docs/behaviour.md §1.3, §1.4, §4.2)."""

from __future__ import annotations

from _tx import proxy

from gatewaykit.envoy import HeaderMatcher, RetryPolicy, Route

BASE = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: c}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  ports: [{name: http, port: 8000, targetPort: 8080}]
  selector: {app: httpbin}
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: default}
spec:
  ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]
  selector: {app: multi}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  hosts: ["httpbin.example.com"]
  gateways: [gw]
  http:
"""


def routes(http: str, rc: str = "http.8080") -> list[Route]:
    p = proxy(BASE + http)
    vhs = p.route_configs[rc].virtual_hosts
    assert [v.name for v in vhs] == [f"httpbin.example.com:{443 if rc.startswith('https') else 80}"]
    return list(vhs[0].routes)


def test_prefix_exact_regex_and_decorator_operation() -> None:
    rs = routes("""  - match: [{uri: {exact: /status/418}}]
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {regex: "/delay/[0-9]+"}}]
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /status}}]
    route: [{destination: {host: httpbin, port: {number: 8000}}}]
""")
    assert [(r.match.path, r.match.safe_regex, r.match.prefix) for r in rs] == [
        ("/status/418", None, None),
        (None, "/delay/[0-9]+", None),
        (None, None, "/status"),
    ]
    # GetRouteOperation: <fqdn>:<port><exact path | regex | prefix*> (docs/behaviour.md §1.3); the service's
    # only port is used when the destination names none.
    assert [r.decorator_operation for r in rs] == [
        "httpbin.default.svc.cluster.local:8000/status/418",
        "httpbin.default.svc.cluster.local:8000/delay/[0-9]+",
        "httpbin.default.svc.cluster.local:8000/status*",
    ]


def test_multi_port_service_without_port_uses_listener_port_and_weighted_uses_vs_name() -> None:
    rs = routes("""  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: multi}}]
  - route:
    - {destination: {host: httpbin}, weight: 90}
    - {destination: {host: httpbin, subset: v2}, weight: 10}
    - {destination: {host: httpbin, subset: v3}, weight: 0}
""")
    assert rs[0].route is not None and rs[0].route.cluster == "outbound|80||multi.default.svc.cluster.local"
    w = rs[1].route
    assert w is not None and w.cluster is None
    assert [(c.name, c.weight) for c in w.weighted_clusters] == [
        ("outbound|8000||httpbin.default.svc.cluster.local", 90),
        ("outbound|8000|v2|httpbin.default.svc.cluster.local", 10),
    ]
    assert rs[1].decorator_operation == "vs:80/*"


def test_headers_sorted_then_method_authority_scheme_and_query() -> None:
    (r,) = routes("""  - match:
    - headers: {x-b: {prefix: b}, X-A: {exact: a}, present: {}}
      withoutHeaders: {x-no: {exact: "1"}}
      method: {exact: GET}
      authority: {prefix: httpbin}
      queryParams: {q: {exact: v}}
      ignoreUriCase: true
    route: [{destination: {host: httpbin}}]
""")
    assert r.match.headers == (
        HeaderMatcher(name="present", present=True),
        HeaderMatcher(name="x-a", exact="a"),
        HeaderMatcher(name="x-b", prefix="b"),
        HeaderMatcher(name="x-no", exact="1", invert_match=True),
        HeaderMatcher(name=":method", exact="GET"),
        HeaderMatcher(name=":authority", prefix="httpbin"),
    )
    assert r.match.query_parameters == (HeaderMatcher(name="q", exact="v"),)
    assert r.match.case_sensitive is False
    assert r.match.prefix == "/"


def test_catch_all_stops_the_virtualservice_and_sorts_last() -> None:
    rs = routes("""  - match: [{uri: {prefix: /}}, {uri: {prefix: /never}}]
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /after}}]
    route: [{destination: {host: httpbin}}]
""")
    # BuildHTTPRoutesForVirtualService stops after the first catch-all match.
    assert [r.match.prefix for r in rs] == ["/"]


def test_redirect_direct_response_rewrite_timeout_retries() -> None:
    rs = routes("""  - name: moved
    match: [{name: old, uri: {prefix: /old}}]
    redirect: {uri: /new, authority: example.org, redirectCode: 302}
  - match: [{uri: {prefix: /port}}]
    redirect: {port: 80, scheme: http}
  - match: [{uri: {prefix: /teapot}}]
    directResponse: {status: 418, body: {string: "I'm a teapot"}}
  - match: [{uri: {prefix: /rw}}]
    rewrite: {uri: /anything, authority: internal.example}
    timeout: 1.5s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,503"}
    route: [{destination: {host: httpbin}}]
  - match: [{uri: {prefix: /noretry}}]
    retries: {attempts: 0}
    route: [{destination: {host: httpbin}}]
  - route: [{destination: {host: httpbin}}]
""")
    moved, port, teapot, rw, noretry, default = rs
    assert moved.name == "moved.old"
    assert moved.redirect is not None
    assert (moved.redirect.path_redirect, moved.redirect.host_redirect, moved.redirect.response_code) == (
        "/new",
        "example.org",
        302,
    )
    assert moved.decorator_operation == "vs:80/old*"
    # Default ports are not written into the Location (ApplyRedirect).
    assert port.redirect is not None and port.redirect.port_redirect is None
    assert teapot.direct_response is not None
    assert (teapot.direct_response.status, teapot.direct_response.body) == (418, "I'm a teapot")
    assert rw.route is not None
    assert (rw.route.prefix_rewrite, rw.route.host_rewrite_literal, rw.route.timeout) == (
        "/anything",
        "internal.example",
        1.5,
    )
    assert rw.route.retry_policy == RetryPolicy(
        retry_on="5xx,retriable-status-codes",
        num_retries=3,
        per_try_timeout=0.5,
        retriable_status_codes=(503,),
    )
    assert noretry.route is not None and noretry.route.retry_policy is None
    # Istio's default retry policy and no timeout (docs/behaviour.md §1.4 notes).
    assert default.route is not None and default.route.retry_policy == RetryPolicy()
    assert default.route.timeout == 0.0
    assert default.route.cluster_not_found_response_code == 503


def test_header_operations() -> None:
    (r,) = routes("""  - headers:
      request: {set: {x-set: "1"}, add: {x-add: "2"}, remove: [x-rm]}
      response: {set: {x-resp: "3"}, remove: [server-timing]}
    route:
    - destination: {host: httpbin}
      headers: {request: {set: {host: rewritten.example}}}
""")
    assert r.request_headers_to_add == (("x-add", "2"), ("x-set", "1"))
    assert r.request_headers_to_remove == ("x-rm",)
    assert r.response_headers_to_add == (("x-resp", "3"),)
    assert r.response_headers_to_remove == ("server-timing",)
    assert r.route is not None and r.route.host_rewrite_literal == "rewritten.example"


def test_https_server_routes_use_server_port() -> None:
    rs = routes(
        """  - match: [{port: 443}]
    route: [{destination: {host: httpbin}}]
""",
        rc="https.443.https.gw.default",
    )
    assert len(rs) == 1
