"""A fake Kubernetes API server for the cluster backend's client code (a real cluster cannot run here).

Real HTTP on 127.0.0.1 and a real websocket for exec, so the unmodified ``kubernetes`` client
(``ApiClient``, ``DynamicClient``, ``stream``) talks to it exactly as to kube-apiserver. Discovery and
error bodies are RECORDED responses (``fixtures/*.json``, shaped like kube-apiserver 1.33's). Objects
live in memory with server-side-apply semantics reduced to what the backend relies on: create,
change detection (resourceVersion bumps only when the object changes), ``dryRun=All``, and
Istio's validating webhook denying a Gateway without servers. Exec runs the command with the
host's ``bash`` (so curl really runs and really fails), streaming channels 1/2 and the status on 3.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import pathlib
import struct
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

DISCOVERY = {
    "/version": "version.json",
    "/api": "api.json",
    "/apis": "apis.json",
    "/api/v1": "api_v1.json",
    "/apis/apps/v1": "apis_apps_v1.json",
    "/apis/apiextensions.k8s.io/v1": "apis_apiextensions_v1.json",
    "/apis/networking.istio.io/v1": "apis_networking_istio_io_v1.json",
    "/apis/networking.istio.io/v1beta1": "apis_networking_istio_io_v1beta1.json",
    "/apis/networking.istio.io/v1alpha3": "apis_networking_istio_io_v1alpha3.json",
}

KINDS = {
    "namespaces": ("v1", "Namespace"),
    "services": ("v1", "Service"),
    "secrets": ("v1", "Secret"),
    "configmaps": ("v1", "ConfigMap"),
    "serviceaccounts": ("v1", "ServiceAccount"),
    "pods": ("v1", "Pod"),
    "nodes": ("v1", "Node"),
    "deployments": ("apps/v1", "Deployment"),
    "customresourcedefinitions": ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    "gateways": ("networking.istio.io/v1", "Gateway"),
    "virtualservices": ("networking.istio.io/v1", "VirtualService"),
    "destinationrules": ("networking.istio.io/v1", "DestinationRule"),
    "serviceentries": ("networking.istio.io/v1", "ServiceEntry"),
}


def fixture(name: str) -> Any:
    """A recorded response body."""
    return json.loads((FIXTURES / name).read_text())


def _pod(name: str, ns: str, labels: dict[str, str], containers: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "resourceVersion": "1",
            "creationTimestamp": "2026-11-25T17:40:00Z",
            "uid": hashlib.md5(name.encode()).hexdigest(),
        },
        "spec": {"containers": [{"name": c, "image": "x"} for c in containers]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": c,
                    "ready": True,
                    "restartCount": 0,
                    "image": "x",
                    "imageID": "x",
                    "state": {"running": {"startedAt": "2026-11-25T17:40:00Z"}},
                }
                for c in containers
            ],
        },
    }


class FakeCluster:
    """The in-memory state: objects by (plural, namespace, name), a resourceVersion counter, requests."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rv = 100
        self.requests: list[tuple[str, str]] = []
        self.execs: list[list[str]] = []
        self.syncz = "syncz_synced.json"
        # jsonpb, as istiod prints it: ALLOW_ANY is spelled out, REGISTRY_ONLY (0) would be left out.
        self.mesh: dict[str, Any] = {
            "accessLogFile": "/dev/stdout",
            "outboundTrafficPolicy": {"mode": "ALLOW_ANY"},
        }
        self.lock = threading.Lock()
        for ns in ("default", "istio-system", "kube-system"):
            self.put("namespaces", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.put(
            "pods",
            "default",
            _pod(
                "curl-5b7f6c8d9-abcde",
                "default",
                {"app": "curl", "pod-template-hash": "5b7f6c8d9"},
                ["curl", "istio-proxy"],
            ),
        )
        self.put(
            "pods",
            "istio-system",
            _pod(
                "istiod-6d8f7c9b5-zzzzz", "istio-system", {"app": "istiod", "istio": "pilot"}, ["discovery"]
            ),
        )
        self.put(
            "pods",
            "istio-system",
            _pod(
                "istio-ingressgateway-7c9d7b6c5d-4xk2p",
                "istio-system",
                {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                ["istio-proxy"],
            ),
        )
        self.put(
            "deployments",
            "istio-system",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "istiod",
                    "namespace": "istio-system",
                    "labels": {"app": "istiod", "istio": "pilot"},
                },
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "istiod", "istio": "pilot"}},
                    "template": {
                        "metadata": {"labels": {"app": "istiod", "istio": "pilot"}},
                        "spec": {
                            "containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.27.1"}]
                        },
                    },
                },
            },
        )
        self.put(
            "deployments",
            "istio-system",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "istio-ingressgateway",
                    "namespace": "istio-system",
                    "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                },
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}},
                    "template": {
                        "metadata": {"labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}},
                        "spec": {"containers": [{"name": "istio-proxy", "image": "auto"}]},
                    },
                },
            },
        )
        self.put(
            "services",
            "istio-system",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
                "spec": {
                    "type": "NodePort",
                    "ports": [
                        {"name": "status-port", "port": 15021, "targetPort": 15021, "nodePort": 31021},
                        {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 30080},
                        {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443},
                        {"name": "tcp", "port": 31400, "targetPort": 31400, "nodePort": 31400},
                    ],
                },
            },
        )
        self.put(
            "nodes",
            "",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "gatewaykit-control-plane"},
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": "172.18.0.2"},
                        {"type": "Hostname", "address": "gatewaykit-control-plane"},
                    ]
                },
            },
        )

    def put(self, plural: str, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.rv)
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-11-25T17:40:00Z")
        if ns:
            meta["namespace"] = ns
        self.objects[(plural, ns, meta["name"])] = obj
        return obj


def _content(obj: dict[str, Any]) -> Any:
    meta = obj.get("metadata") or {}
    return (
        {k: v for k, v in obj.items() if k not in ("metadata", "status")},
        meta.get("labels"),
        meta.get("annotations"),
    )


class _Handler(BaseHTTPRequestHandler):
    server: FakeApiServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # -- helpers

    def _send(
        self, code: int, body: Any, headers: dict[str, str] | None = None, ctype: str = "application/json"
    ) -> None:
        data = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str, dict[str, list[str]], str, str, str] | None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        # /api/v1/... or /apis/<group>/<version>/...
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        ns = ""
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = "/".join(rest[2:])
        return url.path, query, plural, ns, name + ("|" + sub if sub else "")

    def _not_found(self, plural: str, name: str) -> None:
        api, _ = KINDS.get(plural, ("v1", ""))
        group = api.split("/")[0] if "/" in api else ""
        qual = f"{plural}.{group}" if group else plural
        self._send(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f'{qual} "{name}" not found',
                "reason": "NotFound",
                "details": {"name": name, "group": group, "kind": plural},
                "code": 404,
            },
        )

    # -- verbs

    def do_GET(self) -> None:  # noqa: N802
        cluster = self.server.cluster
        path = urllib.parse.urlsplit(self.path).path
        cluster.requests.append(("GET", self.path))
        if path in DISCOVERY:
            return self._send(200, fixture(DISCOVERY[path]))
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._exec()
        route = self._route()
        if route is None:
            return self._send(
                404,
                {
                    "kind": "Status",
                    "status": "Failure",
                    "code": 404,
                    "message": "the server could not find the requested resource",
                },
            )
        _, query, plural, ns, name = route
        if "|" in name:
            name, sub = name.split("|", 1)
            if plural == "pods" and sub == "log":
                return self._send(200, (FIXTURES / "istio-proxy.log").read_text(), ctype="text/plain")
            if plural == "pods" and sub.startswith("proxy/"):
                # istiod's debug endpoints through the pod proxy: the API server connects from the
                # node's address, and istiod's allowAuthenticatedOrLocalhost answers a bare 401
                # (pilot/pkg/xds/debug.go: w.WriteHeader(http.StatusUnauthorized), no body).
                return self._send(401, b"", ctype="text/plain; charset=utf-8")
            return self._send(404, {"kind": "Status", "status": "Failure", "code": 404})
        with cluster.lock:
            if name:
                obj = cluster.objects.get((plural, ns, name))
                if obj is None:
                    return self._not_found(plural, name)
                return self._send(200, obj)
            selector = dict(
                kv.split("=", 1) for kv in (query.get("labelSelector", [""])[0].split(",")) if "=" in kv
            )
            items = [
                o
                for (p, n, _), o in cluster.objects.items()
                if p == plural
                and (not ns or n == ns)
                and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
            ]
        api, kind = KINDS[plural]
        return self._send(
            200,
            {
                "apiVersion": api,
                "kind": f"{kind}List",
                "metadata": {"resourceVersion": str(cluster.rv)},
                "items": items,
            },
        )

    def do_PATCH(self) -> None:  # noqa: N802
        cluster = self.server.cluster
        cluster.requests.append(("PATCH", self.path))
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        assert self.headers.get("Content-Type") == "application/apply-patch+yaml", self.headers.get(
            "Content-Type"
        )
        route = self._route()
        assert route is not None
        _, query, plural, ns, name = route
        dry = query.get("dryRun") == ["All"]
        if ns and ("namespaces", "", ns) not in cluster.objects:
            body404 = fixture("status_namespace_not_found.json")
            body404["message"] = f'namespaces "{ns}" not found'
            body404["details"]["name"] = ns
            return self._send(404, body404)
        # Istio's validating webhook (recorded denials): a Gateway must have at least one server; ports
        # in 1..65535 and TLS settings on HTTPS servers; a VirtualService needs http, tcp or tls routes.
        spec = body.get("spec") or {}
        if plural == "gateways" and not spec.get("servers"):
            return self._send(400, fixture("status_webhook_denied.json"))
        if plural == "gateways" and any((s.get("port") or {}).get("number") == 0 for s in spec["servers"]):
            return self._send(400, fixture("status_webhook_denied_multi.json"))
        if plural == "virtualservices" and not (spec.get("http") or spec.get("tcp") or spec.get("tls")):
            return self._send(400, fixture("status_webhook_denied_vs.json"))
        if plural == "services" and not spec.get("ports"):
            return self._send(422, fixture("status_invalid_service.json"))
        headers = {}
        if ((body.get("metadata") or {}).get("annotations") or {}).get("test.gatewaykit.io/warn"):
            # An admission warning as the API server relays it (RFC 7234 Warning header).
            headers["Warning"] = (
                '299 - "VirtualService rule #0 match #0 of prefix /status is not used '
                '(duplicate/overlapping match in rule #0 of prefix /status on #0)"'
            )
        with cluster.lock:
            old = cluster.objects.get((plural, ns, name))
            new = copy.deepcopy(body)
            if old is not None and _content(old) == _content(new):
                return self._send(200, old, headers)
            if dry:
                new.setdefault("metadata", {})["resourceVersion"] = (
                    (old or {}).get("metadata", {}).get("resourceVersion", "")
                )
                return self._send(201 if old is None else 200, new, headers)
            if old is not None:
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            if plural == "customresourcedefinitions":
                new["status"] = {
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True"},
                        {"type": "Established", "status": "True"},
                    ]
                }
            if plural == "deployments":
                r = (new.get("spec") or {}).get("replicas", 1)
                new["status"] = {
                    "observedGeneration": new["metadata"].get("generation", 1),
                    "replicas": r,
                    "updatedReplicas": r,
                    "readyReplicas": r,
                    "availableReplicas": r,
                }
            stored = cluster.put(plural, ns, new)
        return self._send(201 if old is None else 200, stored, headers)

    def do_DELETE(self) -> None:  # noqa: N802
        cluster = self.server.cluster
        cluster.requests.append(("DELETE", self.path))
        route = self._route()
        assert route is not None
        _, _, plural, ns, name = route
        with cluster.lock:
            obj = cluster.objects.pop((plural, ns, name), None)
        if obj is None:
            return self._not_found(plural, name)
        return self._send(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "kind": plural, "uid": "x"},
            },
        )

    # -- exec over a real websocket (v4.channel.k8s.io)

    def _exec(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        command = query.get("command", [])
        self.server.cluster.execs.append(command)
        if command[:3] == ["pilot-discovery", "request", "GET"]:
            return self._istiod_request(command[3])
        self._upgrade()
        try:
            proc = subprocess.run(command, capture_output=True, timeout=20)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
            status: dict[str, Any] = (
                fixture("exec_status_success.json")
                if code == 0
                else {
                    "metadata": {},
                    "status": "Failure",
                    "message": "command terminated with non-zero exit code: "
                    f"error executing command {command}, exit code {code}",
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
                }
            )
        except FileNotFoundError:
            out, err = b"", b""
            status = fixture("exec_status_notfound.json")
        for channel, data in ((1, out), (2, err)):
            # Real servers split large output into several frames.
            for i in range(0, len(data), 4096):
                self._frame(bytes([channel]) + data[i : i + 4096])
        self._frame(bytes([3]) + json.dumps(status).encode())
        self._frame(struct.pack("!H", 1000), opcode=0x8)
        self.close_connection = True

    def _istiod_request(self, path: str) -> None:
        """``pilot-discovery request GET /debug/<x>`` in istiod's ``discovery`` container: the body of
        istiod's answer to 127.0.0.1:15014 and a newline (fmt.Println), pilot/pkg/request/command.go."""
        cluster = self.server.cluster
        what = path.rsplit("/", 1)[1]
        if what == "syncz":
            body: Any = fixture(cluster.syncz)
        elif what == "configz":
            body = [
                o
                for (p, _, _), o in cluster.objects.items()
                if p in ("gateways", "virtualservices", "destinationrules", "serviceentries")
            ]
        elif what == "mesh":
            body = cluster.mesh
        else:
            body = None
        self._upgrade()
        # An unknown path: Go's ServeMux answers 404 "404 page not found", which the request
        # command prints like a body (it fails only above 399 other than 404).
        out = b"404 page not found\n" if body is None else json.dumps(body).encode()
        self._frame(bytes([1]) + out + b"\n")
        status = fixture("exec_status_success.json")
        self._frame(bytes([3]) + json.dumps(status).encode())
        self._frame(struct.pack("!H", 1000), opcode=0x8)
        self.close_connection = True

    def _upgrade(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()

    def _frame(self, payload: bytes, opcode: int = 0x2) -> None:
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        self.wfile.write(head + payload)
        self.wfile.flush()


class FakeApiServer(ThreadingHTTPServer):
    """The fake API server on 127.0.0.1 (a random port); ``url`` for ``Configuration.host``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = FakeCluster()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def api_client_factory(self) -> Any:
        """A factory of real ``kubernetes.client.ApiClient`` objects pointed at this server."""
        from kubernetes import client

        def factory() -> Any:
            cfg = client.Configuration()
            cfg.host = self.url
            return client.ApiClient(cfg)

        return factory
