"""Istio 1.27's samples as package data: every file loads and applies; labels select as the docs do.

Names, labels, ports and images follow Istio 1.27.1's ``samples/`` directory (``curl``/``sleep``
pin ``curlimages/curl:8.16.0`` as Istio 1.27.7 does).
"""

from __future__ import annotations

import pathlib

import pytest

from gatewaykit import samples
from gatewaykit.resources.codecs import load
from gatewaykit.store import ConfigStore

ROOT = samples.path()
FILES = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.yaml"))
NAMESPACES = "".join(
    f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n" for ns in ("default", "istio-system")
)

#: The files Istio's gateway task pages (ingress control, secure ingress, SNI passthrough, Gateway
#: API, egress control/gateway/TLS origination, TCP traffic shifting) apply, plus their companions.
EXPECTED = [
    "curl/curl.yaml",
    "helloworld/gateway-api/helloworld-gateway.yaml",
    "helloworld/gateway-api/helloworld-route.yaml",
    "helloworld/gateway-api/helloworld-versions.yaml",
    "helloworld/helloworld-gateway.yaml",
    "helloworld/helloworld.yaml",
    "httpbin/gateway-api/httpbin-gateway.yaml",
    "httpbin/httpbin-gateway.yaml",
    "httpbin/httpbin-nodeport.yaml",
    "httpbin/httpbin.yaml",
    "sleep/sleep.yaml",
    "tcp-echo/gateway-api/tcp-echo-20-v2.yaml",
    "tcp-echo/gateway-api/tcp-echo-all-v1.yaml",
    "tcp-echo/tcp-echo-20-v2.yaml",
    "tcp-echo/tcp-echo-all-v1.yaml",
    "tcp-echo/tcp-echo-services.yaml",
    "tcp-echo/tcp-echo.yaml",
]

def test_layout_is_istios() -> None:
    assert FILES == EXPECTED
    assert isinstance(ROOT, pathlib.Path) and ROOT.name == "samples"


@pytest.mark.parametrize("rel", EXPECTED)
def test_every_sample_loads_and_applies(rel: str) -> None:
    manifests = load(ROOT / rel)
    store = ConfigStore()
    store.apply(load(NAMESPACES))
    result = store.apply(manifests)
    assert len(result.lines) == len(manifests)
    assert all(line.endswith(" created") for line in result.lines)


def _selected(rel: str, selector: dict[str, str]) -> list[str]:
    """``kubectl apply -f FILE -l k=v``: the objects whose own labels match."""
    out = []
    for m in load(ROOT / rel):
        labels = (m.raw.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in selector.items()):
            out.append(f"{m.raw['kind']}/{m.raw['metadata']['name']}")
    return out


def test_helloworld_parts_selected_by_label_as_in_secure_ingress() -> None:
    # secure-ingress: kubectl apply -f samples/helloworld/helloworld.yaml -l service=helloworld,
    # then the same file with -l version=v1
    assert _selected("helloworld/helloworld.yaml", {"service": "helloworld"}) == ["Service/helloworld"]
    assert _selected("helloworld/helloworld.yaml", {"version": "v1"}) == ["Deployment/helloworld-v1"]
    assert _selected("helloworld/helloworld.yaml", {"version": "v2"}) == ["Deployment/helloworld-v2"]


def test_httpbin_is_go_httpbin_on_8080_behind_8000() -> None:
    sa, svc, dep = (m.raw for m in load(ROOT / "httpbin/httpbin.yaml"))
    assert (sa["kind"], sa["metadata"]["name"]) == ("ServiceAccount", "httpbin")
    assert svc["metadata"]["labels"] == {"app": "httpbin", "service": "httpbin"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8080}]
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "httpbin", "version": "v1"}
    assert pod["spec"]["serviceAccountName"] == "httpbin"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "docker.io/mccutchen/go-httpbin:v2.15.0"
    assert container["ports"] == [{"containerPort": 8080}]


def test_clients_and_echo_servers() -> None:
    for app in ("curl", "sleep"):
        dep = load(ROOT / f"{app}/{app}.yaml")[2].raw
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["image"] == "docker.io/curlimages/curl:8.16.0"
        assert c["command"] == ["/bin/sleep", "infinity"]
    services = [m.raw for m in load(ROOT / "tcp-echo/tcp-echo-services.yaml")]
    args = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["args"] for d in services[1:]
    }
    assert args == {"tcp-echo-v1": ["9000,9001,9002", "one"], "tcp-echo-v2": ["9000,9001,9002", "two"]}
    assert [p["port"] for p in services[0]["spec"]["ports"]] == [9000, 9001]
