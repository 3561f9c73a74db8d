"""The real kubectl (v1.37, the pinned wheel) is the oracle for gatewaykit.kube.patch.

* ``kubectl patch --local`` runs apimachinery's strategic merge patch and json-patch v4 on a file,
  with no server: every row of ``_patch_cases.py`` must print exactly what the module computes.
* ``kubectl apply`` is pointed at a stub API server on 127.0.0.1 that serves discovery and one
  live object and records the body kubectl sends: the three-way patch (and the create body with
  its last-applied annotation) must be byte-identical to :func:`gatewaykit.kube.patch.apply_patch`.
"""

from __future__ import annotations

import copy
import json
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from _patch_cases import JSON, JSON_ERRORS, MERGE, STRATEGIC, STRATEGIC_ERRORS, ctr

from gatewaykit.kube import patch as kp
from gatewaykit.kube.gojson import marshal, marshal_indent

KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"


@pytest.fixture(scope="module")
def kubectl_bin() -> str:
    if KUBECTL.exists():
        return str(KUBECTL)
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed next to the Python interpreter or on PATH")
    return found


def _run(
    binary: str, home: pathlib.Path, *args: str, kubeconfig: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def patch_local(kubectl_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``kubectl patch --local -f <obj> --type=<t> -p <patch> -o json``: (exit code, stdout, stderr)."""
    home = tmp_path_factory.mktemp("kubectl-local")

    def run(obj: dict[str, Any], patch_type: str, patch: Any) -> tuple[int, str, str]:
        path = home / "obj.json"
        path.write_text(json.dumps(obj))
        args = (
            "patch",
            "--local",
            "-f",
            str(path),
            f"--type={patch_type}",
            "-p",
            json.dumps(patch),
            "-o",
            "json",
        )
        proc = _run(kubectl_bin, home, *args)
        return proc.returncode, proc.stdout, proc.stderr

    return run


def _ids(rows: list[tuple[Any, ...]]) -> list[str]:
    return [row[0] for row in rows]


def _printed(obj: Any) -> str:
    return marshal_indent(obj) + "\n"  # cli-runtime JSONPrinter: MarshalIndent(4 spaces) + "\n"


def _error(text: str) -> str:
    return f"error: {text}" + ("" if text.endswith("\n") else "\n")  # cmdutil.CheckErr


@pytest.mark.parametrize(("name", "kind", "original", "patch", "expected"), STRATEGIC, ids=_ids(STRATEGIC))
def test_strategic_cases_match_kubectl(
    patch_local: Any, name: str, kind: str, original: dict, patch: dict, expected: dict
) -> None:
    assert patch_local(original, "strategic", patch) == (0, _printed(expected), "")
    assert _printed(kp.strategic_merge_patch(original, patch, kind)) == _printed(expected)


@pytest.mark.parametrize(
    ("name", "kind", "original", "patch", "code", "message", "go_error"),
    STRATEGIC_ERRORS,
    ids=_ids(STRATEGIC_ERRORS),
)
def test_strategic_errors_match_kubectl(
    patch_local: Any,
    name: str,
    kind: str,
    original: dict,
    patch: dict,
    code: int,
    message: str,
    go_error: str,
) -> None:
    assert patch_local(original, "strategic", patch) == (1, "", _error(go_error))


@pytest.mark.parametrize(("name", "target", "patch", "expected"), MERGE, ids=_ids(MERGE))
def test_merge_cases_match_kubectl(
    patch_local: Any, name: str, target: dict, patch: Any, expected: dict
) -> None:
    assert patch_local(target, "merge", patch) == (0, _printed(expected), "")


def test_merge_patch_that_is_not_an_object_matches_kubectl(patch_local: Any) -> None:
    assert patch_local({"apiVersion": "v1", "kind": "ConfigMap"}, "merge", 5) == (
        1,
        "",
        _error("Invalid JSON Patch"),
    )


@pytest.mark.parametrize(("name", "target", "ops", "expected"), JSON, ids=_ids(JSON))
def test_json_cases_match_kubectl(
    patch_local: Any, name: str, target: dict, ops: list, expected: dict
) -> None:
    assert patch_local(target, "json", ops) == (0, _printed(expected), "")


@pytest.mark.parametrize(("name", "target", "ops", "go_error"), JSON_ERRORS, ids=_ids(JSON_ERRORS))
def test_json_errors_match_kubectl(
    patch_local: Any, name: str, target: dict, ops: list, go_error: str
) -> None:
    assert patch_local(target, "json", ops) == (1, "", _error(go_error))


# ----------------------------------------------------------------------- kubectl apply (3-way)
def _resources(group_version: str, rows: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "get", "patch"],
            }
            for plural, kind, namespaced in rows
        ],
    }


DISCOVERY = {
    "/api/v1": _resources(
        "v1",
        [
            ("configmaps", "ConfigMap", True),
            ("namespaces", "Namespace", False),
            ("services", "Service", True),
        ],
    ),
    "/apis/apps/v1": _resources("apps/v1", [("deployments", "Deployment", True)]),
    "/apis/networking.istio.io/v1": _resources("networking.istio.io/v1", [("gateways", "Gateway", True)]),
    "/apis/discovery.k8s.io/v1": _resources(
        "discovery.k8s.io/v1", [("endpointslices", "EndpointSlice", True)]
    ),
    "/apis/apiextensions.k8s.io/v1": _resources(
        "apiextensions.k8s.io/v1", [("customresourcedefinitions", "CustomResourceDefinition", False)]
    ),
}
GROUPS = ["apps", "networking.istio.io", "discovery.k8s.io", "apiextensions.k8s.io"]


class StubApiServer:
    """Plain discovery, 404 for OpenAPI (so kubectl uses its compiled-in structs), one object."""

    def __init__(self) -> None:
        self.live: dict[str, Any] | None = None
        self.requests: list[tuple[str, str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                if path == "/api":
                    return self._send(200, {"kind": "APIVersions", "versions": ["v1"]})
                if path == "/apis":
                    gv = [{"groupVersion": f"{g}/v1", "version": "v1"} for g in GROUPS]
                    groups = [
                        {"name": g, "versions": [v], "preferredVersion": v}
                        for g, v in zip(GROUPS, gv, strict=True)
                    ]
                    return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
                if path in DISCOVERY:
                    return self._send(200, DISCOVERY[path])
                if stub.live is not None and not path.startswith("/openapi"):
                    return self._send(200, stub.live)
                return self._send(
                    404,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "code": 404,
                        "reason": "NotFound",
                        "message": "not found",
                    },
                )

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                stub.requests.append((self.command, self.headers.get("Content-Type", ""), body))
                self._send(
                    201 if self.command == "POST" else 200,
                    json.loads(body) if self.command == "POST" else stub.live,
                )

            do_PATCH = _record  # noqa: N815
            do_POST = _record  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def apply(kubectl_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``kubectl apply -f <manifest>`` against the stub holding ``live``: (stdout, requests)."""
    stub = StubApiServer()
    home = tmp_path_factory.mktemp("kubectl-apply")
    kubeconfig = home / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: stub\nusers: []\n"
        f"clusters: [{{name: stub, cluster: {{server: 'http://127.0.0.1:{stub.server.server_address[1]}'}}}}]\n"
        "contexts: [{name: stub, context: {cluster: stub, namespace: default}}]\n"
    )

    def run(manifest: dict[str, Any], live: dict[str, Any] | None) -> tuple[str, list[tuple[str, str, str]]]:
        stub.live, stub.requests = live, []
        path = home / "manifest.json"
        path.write_text(json.dumps(manifest))
        proc = _run(
            kubectl_bin, home, "apply", "-f", str(path), "--validate=false", kubeconfig=str(kubeconfig)
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout, stub.requests

    yield run
    stub.server.shutdown()
    stub.server.server_close()


def live_after_create(manifest: dict[str, Any], *, namespaced: bool = True) -> dict[str, Any]:
    return kp.apply_create_object(kp.prepare_manifest(manifest, namespaced=namespaced))


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v", "old": "1"}}
DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    ctr("a", image="nginx", ports=[{"containerPort": 80}], env=[{"name": "X", "value": "1"}])
                ]
            },
        },
    },
}
GATEWAY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "g"},
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    },
}


def _edit(obj: dict[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    change(out)
    return out


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return containers


LIVE_CM = live_after_create(CM)
LIVE_DEPLOY = live_after_create(DEPLOY)
LIVE_GATEWAY = live_after_create(GATEWAY)

# (description, manifest, live object, kind, builtin, namespaced)
APPLY: list[tuple[str, dict[str, Any], dict[str, Any], str, bool, bool]] = [
    ("an unchanged manifest sends nothing", CM, LIVE_CM, "ConfigMap", True, True),
    (
        "a label added live survives; a changed key and a removed key",
        _edit(CM, lambda o: o.update(data={"k": "v2"})),
        _edit(LIVE_CM, lambda o: o["metadata"].update(labels={"team": "a"})),
        "ConfigMap",
        True,
        True,
    ),
    (
        "annotation values with HTML characters and non-ASCII text",
        _edit(CM, lambda o: o["metadata"].update(annotations={"a": "<b&c>"}, labels={"u": "é"})),
        LIVE_CM,
        "ConfigMap",
        True,
        True,
    ),
    (
        "a changed container image and a new container",
        _edit(
            DEPLOY,
            lambda o: (
                _containers(o).extend([ctr("b", image="busybox")])
                or _containers(o)[0].update(image="nginx:2")
            ),
        ),
        LIVE_DEPLOY,
        "Deployment",
        True,
        True,
    ),
    (
        "a container added live (a sidecar) and defaults set live are kept",
        _edit(DEPLOY, lambda o: _containers(o)[0].update(image="nginx:2")),
        _edit(
            LIVE_DEPLOY,
            lambda o: (
                _containers(o).append(ctr("istio-proxy", image="proxyv2"))
                or _containers(o)[0].update(imagePullPolicy="IfNotPresent")
                or o.update(status={"replicas": 1})
            ),
        ),
        "Deployment",
        True,
        True,
    ),
    (
        "env removed from the manifest is deleted",
        _edit(DEPLOY, lambda o: _containers(o)[0].pop("env")),
        LIVE_DEPLOY,
        "Deployment",
        True,
        True,
    ),
    (
        "ports reordered and one added",
        _edit(
            DEPLOY,
            lambda o: _containers(o)[0].update(
                ports=[{"containerPort": 8080}, {"containerPort": 80, "name": "http"}]
            ),
        ),
        LIVE_DEPLOY,
        "Deployment",
        True,
        True,
    ),
    (
        "strategy (retainKeys) switched to Recreate while the server had defaulted rollingUpdate",
        _edit(DEPLOY, lambda o: o["spec"].update(strategy={"type": "Recreate"})),
        _edit(
            LIVE_DEPLOY,
            lambda o: o["spec"].update(
                strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
            ),
        ),
        "Deployment",
        True,
        True,
    ),
    (
        "volumes (merge + retainKeys) change their source",
        _edit(
            DEPLOY,
            lambda o: o["spec"]["template"]["spec"].update(
                volumes=[{"name": "v", "configMap": {"name": "cm"}}]
            ),
        ),
        _edit(
            LIVE_DEPLOY,
            lambda o: o["spec"]["template"]["spec"].update(volumes=[{"name": "v", "emptyDir": {}}]),
        ),
        "Deployment",
        True,
        True,
    ),
    (
        "finalizers (a merging list of scalars) differ from the live ones",
        _edit(DEPLOY, lambda o: o["metadata"].update(finalizers=["b", "a"])),
        _edit(LIVE_DEPLOY, lambda o: o["metadata"].update(finalizers=["c", "b"])),
        "Deployment",
        True,
        True,
    ),
    (
        "a live object without a last-applied annotation",
        _edit(DEPLOY, lambda o: _containers(o)[0].pop("env")),
        _edit(LIVE_DEPLOY, lambda o: o["metadata"].pop("annotations")),
        "Deployment",
        True,
        True,
    ),
    (
        "a cluster-scoped object: the manifest's metadata.namespace is dropped",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "x", "namespace": "zzz", "labels": {"c": "d"}},
        },
        live_after_create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"a": "b"}}},
            namespaced=False,
        ),
        "Namespace",
        True,
        False,
    ),
    (
        "a Service port added; the live clusterIP and protocol are kept",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
        },
        _edit(
            live_after_create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "s"},
                    "spec": {"ports": [{"port": 80, "name": "http"}]},
                }
            ),
            lambda o: (
                o["spec"].update(clusterIP="10.96.0.10") or o["spec"]["ports"][0].update(protocol="TCP")
            ),
        ),
        "Service",
        True,
        True,
    ),
    ("a custom resource, unchanged", GATEWAY, LIVE_GATEWAY, "Gateway", False, True),
    (
        "a custom resource gets a JSON merge patch; live labels and status are kept",
        _edit(
            GATEWAY,
            lambda o: o["spec"].pop("selector") and o["spec"]["servers"][0].update(hosts=["a.example.com"]),
        ),
        _edit(
            LIVE_GATEWAY, lambda o: o["metadata"].update(labels={"live": "1"}) or o.update(status={"x": 1})
        ),
        "Gateway",
        False,
        True,
    ),
    (
        "a custom resource with an explicit empty map, a float and a null",
        _edit(GATEWAY, lambda o: o["spec"].update(empty={}, weight=1.5, gone=None)),
        LIVE_GATEWAY,
        "Gateway",
        False,
        True,
    ),
    (
        "an EndpointSlice: kubectl has its struct, so a strategic patch",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "e"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["1.1.1.1"]}, {"addresses": ["2.2.2.2"]}],
        },
        live_after_create(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "e"},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["1.1.1.1"]}],
            }
        ),
        "EndpointSlice",
        True,
        True,
    ),
    (
        "a CustomResourceDefinition: kubectl lacks its struct, so a merge patch",
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "xs.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced"},
        },
        live_after_create(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "xs.example.com"},
                "spec": {"group": "example.com"},
            },
            namespaced=False,
        ),
        "CustomResourceDefinition",
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "manifest", "live", "kind", "builtin", "namespaced"), APPLY, ids=_ids(APPLY)
)
def test_three_way_patch_is_byte_identical_to_kubectl_apply(
    apply: Any, name: str, manifest: dict, live: dict, kind: str, builtin: bool, namespaced: bool
) -> None:
    stdout, requests = apply(manifest, live)
    patch_type, patch = kp.apply_patch(manifest, live, kind, builtin=builtin, namespaced=namespaced)
    resource = (
        f"{kind.lower()}{'.' + manifest['apiVersion'].split('/')[0] if '/' in manifest['apiVersion'] else ''}"
    )
    if patch == {}:
        assert requests == []
        assert stdout == f"{resource}/{manifest['metadata']['name']} unchanged\n"
    else:
        assert requests == [("PATCH", patch_type, marshal(patch))]
        assert stdout == f"{resource}/{manifest['metadata']['name']} configured\n"


@pytest.mark.parametrize(
    ("manifest", "namespaced"),
    [
        (_edit(CM, lambda o: o["data"].update(gone=None)), True),
        (
            _edit(
                DEPLOY, lambda o: o["metadata"].update(annotations={"keep": "me", kp.LAST_APPLIED: "stale"})
            ),
            True,
        ),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}}, False),
    ],
    ids=[
        "nulls pruned from the body, kept in the annotation",
        "a stale annotation replaced",
        "cluster-scoped",
    ],
)
def test_create_body_and_annotation_match_kubectl_apply(apply: Any, manifest: dict, namespaced: bool) -> None:
    _, requests = apply(manifest, None)
    [(method, _, body)] = requests
    expected = kp.apply_create_object(kp.prepare_manifest(manifest, namespaced=namespaced))
    assert method == "POST"
    assert json.loads(body) == expected
    sent = json.loads(body)["metadata"]["annotations"][kp.LAST_APPLIED]
    assert (
        sent == expected["metadata"]["annotations"][kp.LAST_APPLIED]
    )  # byte for byte, trailing newline included
