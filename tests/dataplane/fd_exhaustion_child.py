"""A gateway data plane under a low descriptor limit (``ulimit -n``), run as a subprocess by
``test_dataplane_overload.py``: it prints its ports as JSON, serves until stdin closes, and
leaves on stderr whatever the process logged -- what a notebook would show.

Usage: ``python fd_exhaustion_child.py <RLIMIT_NOFILE>``
"""

from __future__ import annotations

import json
import resource
import sys

from gatewaykit import envoy
from gatewaykit.dataplane import DataPlane

PROXY = "istio-system/istio-ingressgateway-5c8d7f9b6d-abcde"


def gateway() -> envoy.ProxyConfig:
    """A gateway with three HTTP listeners answering ``200 ok`` itself (no upstream needed)."""
    route = envoy.Route(
        "ok", envoy.RouteMatch(prefix="/"), direct_response=envoy.DirectResponseAction(200, "ok")
    )
    rc = envoy.RouteConfiguration("http.8080", (envoy.VirtualHost("*:80", ("*",), (route,)),))
    hcm = envoy.HttpConnectionManager(route_config_name="http.8080", stat_prefix="outbound_0.0.0.0_8080")
    listeners = tuple(
        envoy.Listener(
            f"0.0.0.0_{port}", "0.0.0.0", port, (envoy.FilterChain(name="http", http_connection_manager=hcm),)
        )
        for port in (8080, 8081, 8082)
    )
    return envoy.ProxyConfig(
        id="istio-ingressgateway-5c8d7f9b6d-abcde.istio-system",
        type="router",
        namespace="istio-system",
        workload="istio-ingressgateway",
        listeners=listeners,
        route_configs={"http.8080": rc},
        clusters={},
    )


def main() -> None:
    limit = int(sys.argv[1])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    dp = DataPlane().start()
    try:
        ports = dp.update({PROXY: gateway()})
        print(json.dumps(sorted(ports.values())), flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
    finally:
        dp.close()


if __name__ == "__main__":
    main()
