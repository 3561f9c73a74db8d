"""istiod's debug endpoints in the sandbox, reached the two ways the real istiod allows and refuses.

istiod 1.27 answers ``/debug/*`` on 15014 only from localhost (pilot/pkg/xds/debug.go,
``allowAuthenticatedOrLocalhost``): ``kubectl exec ... -- pilot-discovery request GET /debug/syncz``
works, the API server's pod proxy gets 401. gatewaykit's cluster backends read them the first way;
these tests run the real kubectl against the sandbox to hold it to the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gatewaykit import Sandbox

EXEC = "kubectl exec -n istio-system deploy/istiod -c discovery -- pilot-discovery request GET"

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: debug-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["debug.example.com"]
"""


@pytest.fixture(scope="module")
def sb() -> Iterator[object]:
    box = Sandbox.local()
    try:
        yield box
    finally:
        box.close()


def run(sb: object, script: str) -> tuple[int, str]:
    r = sb.shell(script)  # type: ignore[attr-defined]
    return r.exit_code, r.output


def debug(sb: object, path: str) -> object:
    code, out = run(sb, f"{EXEC} {path}")
    assert code == 0, out
    return json.loads(out)


def test_syncz_lists_every_gateway_proxy_synced(sb) -> None:
    syncz = debug(sb, "/debug/syncz")
    proxies = sorted(e["proxy"] for e in syncz)
    deployments = [p.split(".")[0].rsplit("-", 2)[0] for p in proxies]
    assert deployments == ["istio-egressgateway", "istio-ingressgateway"]
    for entry in syncz:
        assert entry["proxy"].endswith(".istio-system") and entry["proxy_type"] == "router"
        assert entry["istio_version"] == "1.27.1" and entry["cluster_id"] == "Kubernetes"
        for t in ("cluster", "listener"):
            assert entry[f"{t}_sent"] and entry[f"{t}_sent"] == entry[f"{t}_acked"]
    assert debug(sb, "/debug/syncz?namespace=default") == []


def test_configz_holds_what_kubectl_applied_at_its_resource_version(sb) -> None:
    code, out = run(sb, f"kubectl apply -f - <<'EOF'\n{GATEWAY}EOF")
    assert (code, out) == (0, "gateway.networking.istio.io/debug-gateway created\n")
    # The bare `gateway` is the Gateway API's where both are installed (discovery order).
    _, rv = run(
        sb, "kubectl get gateways.networking.istio.io debug-gateway -o jsonpath='{.metadata.resourceVersion}'"
    )
    configs = [c for c in debug(sb, "/debug/configz") if c["metadata"]["name"] == "debug-gateway"]
    assert len(configs) == 1
    assert configs[0]["kind"] == "Gateway" and configs[0]["apiVersion"] == "networking.istio.io/v1"
    assert configs[0]["metadata"]["namespace"] == "default"
    assert configs[0]["metadata"]["resourceVersion"] == rv
    assert configs[0]["spec"]["servers"][0]["hosts"] == ["debug.example.com"]
    run(sb, "kubectl delete gateways.networking.istio.io debug-gateway")
    assert not [c for c in debug(sb, "/debug/configz") if c["metadata"]["name"] == "debug-gateway"]


def test_mesh_follows_the_istio_configmap_as_jsonpb_prints_it(sb) -> None:
    mesh = debug(sb, "/debug/mesh")
    assert mesh["outboundTrafficPolicy"] == {"mode": "ALLOW_ANY"}
    assert mesh["accessLogFile"] == "/dev/stdout" and mesh["rootNamespace"] == "istio-system"
    sb.set_mesh_config(outbound_traffic_policy="REGISTRY_ONLY")  # type: ignore[attr-defined]
    try:
        # REGISTRY_ONLY is the enum's zero value: jsonpb leaves it out.
        assert debug(sb, "/debug/mesh")["outboundTrafficPolicy"] == {}
    finally:
        sb.set_mesh_config(outbound_traffic_policy="ALLOW_ANY")  # type: ignore[attr-defined]


def test_an_unknown_debug_path_prints_go_s_404_page(sb) -> None:
    assert run(sb, f"{EXEC} /debug/nosuchz") == (0, "404 page not found\n\n")


def test_the_pod_proxy_is_refused_as_istiod_refuses_it(sb) -> None:
    code, out = run(
        sb,
        "POD=$(kubectl get pod -n istio-system -l app=istiod -o jsonpath='{.items[0].metadata.name}')\n"
        'kubectl get --raw "/api/v1/namespaces/istio-system/pods/$POD:15014/proxy/debug/syncz"',
    )
    # istiod's bare 401, passed through by the API server: kubectl reads it as its own login failure.
    assert code == 1
    assert out == (
        "error: You must be logged in to the server (the server has asked for the client to provide "
        "credentials)\n"
    )


def test_other_programs_in_istiod_are_refused(sb) -> None:
    code, out = run(sb, "kubectl exec -n istio-system deploy/istiod -- pilot-discovery discovery")
    assert code == 1
    assert out == (
        "Error: the sandbox's istiod runs only `pilot-discovery request`\n"
        "command terminated with exit code 1\n"
    )
