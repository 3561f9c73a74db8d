"""Support for the egress tests: one running ``Sandbox.local()`` per module with Istio's ``curl``
sample deployed, a ``kubectl`` stand-in that deletes what a test applied, and the manifests of
Istio's egress tasks (istio.io ``content/en/docs/tasks/traffic-management/egress/*/snips.sh``),
verbatim except ``networking.istio.io/v1`` and ``curl`` for the old ``sleep`` sample (§1.7).

Every test runs the docs' command with ``source="default/curl"`` -- the docs'
``kubectl exec "$SOURCE_POD" -c sleep -- curl ...`` -- through the real curl binary.
"""

from __future__ import annotations

import base64
import os
import pathlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
import yaml

from gatewaykit.certs import CertKey, istio_docs_certs
from gatewaykit.sandbox import Sandbox

ROOT = pathlib.Path(__file__).resolve().parents[2]
CURL_SAMPLE = ROOT / "labs" / "samples" / "curl.yaml"
SOURCE = "default/curl"

# ------------------------------------------------------------------ mesh configuration (§11.2)

#: How the sandbox's Istio was installed (the docs' "<flags-you-used-to-install-Istio>").
SANDBOX_INSTALL = ROOT / "gatewaykit" / "data" / "sandbox-install.yaml"


@dataclass(frozen=True)
class IstioctlInstall:
    """``istioctl install <flags-you-used-to-install-Istio> --set ...``: how the docs change the mesh
    config since Istio 1.24 (egress-control "Change to the blocking-by-default policy"), run in the
    sandbox's shell."""

    sets: tuple[str, ...]

    @property
    def command(self) -> str:
        flags = " ".join(f"--set {s}" for s in self.sets)
        return f"istioctl install -f {SANDBOX_INSTALL} {flags} -y"


REGISTRY_ONLY_INSTALL = IstioctlInstall(("meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY",))
ALLOW_ANY_INSTALL = IstioctlInstall(("meshConfig.outboundTrafficPolicy.mode=ALLOW_ANY",))

# ------------------------------------------------------------------------- egress-control

SE_HTTPBIN = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: DNS
  location: MESH_EXTERNAL
"""

SE_GOOGLE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: google
spec:
  hosts:
  - www.google.com
  ports:
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
  location: MESH_EXTERNAL
"""

VS_HTTPBIN_TIMEOUT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin-ext
spec:
  hosts:
  - httpbin.org
  http:
  - timeout: 3s
    route:
    - destination:
        host: httpbin.org
      weight: 100
"""

#: egress-control snips.sh ``snip_access_an_external_http_service_2_out`` (Istio 1.27), verbatim.
ACCESS_AN_EXTERNAL_HTTP_SERVICE_2_OUT = """\
{
  "headers": {
    "Accept": "*/*",
    "Host": "httpbin.org",
    ...
    "X-Envoy-Decorator-Operation": "httpbin.org:80/*",
    ...
  }
}
"""

# ------------------------------------------------------------------------- egress-gateway

SE_CNN_HTTP = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
"""

EGRESS_GATEWAY_HTTP = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - edition.cnn.com
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
"""

VS_CNN_THROUGH_EGRESS_HTTP = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 80
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 80
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: {upstream_port}
      weight: 100
"""

SE_CNN_TLS = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 443
    name: tls
    protocol: TLS
  resolution: DNS
"""

EGRESS_GATEWAY_TLS = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: tls
      protocol: TLS
    hosts:
    - edition.cnn.com
    tls:
      mode: PASSTHROUGH
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-cnn-through-egress-gateway
spec:
  hosts:
  - edition.cnn.com
  gateways:
  - mesh
  - istio-egressgateway
  tls:
  - match:
    - gateways:
      - mesh
      port: 443
      sniHosts:
      - edition.cnn.com
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: cnn
        port:
          number: 443
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
      sniHosts:
      - edition.cnn.com
    route:
    - destination:
        host: edition.cnn.com
        port:
          number: 443
      weight: 100
"""

# ----------------------------------------------------------------- egress-tls-origination

SE_CNN_ORIGINATION = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: edition-cnn-com
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http-port
    protocol: HTTP
    targetPort: 443
  - number: 443
    name: https-port
    protocol: HTTPS
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: edition-cnn-com
spec:
  host: edition.cnn.com
  trafficPolicy:
    portLevelSettings:
    - port:
        number: 80
      tls:
        mode: SIMPLE # initiates HTTPS when accessing edition.cnn.com
"""

DR_ORIGINATE_TLS_AT_EGRESS = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: originate-tls-for-edition-cnn-com
spec:
  host: edition.cnn.com
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: SIMPLE # initiates HTTPS for connections to edition.cnn.com
"""

#: egress-gateway-tls-origination (Istio 1.27) snip_perform_tls_origination_with_an_egress_gateway_1.
SE_CNN_FOR_EGRESS_ORIGINATION = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: cnn
spec:
  hosts:
  - edition.cnn.com
  ports:
  - number: 80
    name: http
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
"""

#: ..._3: the egress gateway's port 80 terminates Istio mTLS (HTTPS + ISTIO_MUTUAL); sidecars reach
#: it through subset cnn with ISTIO_MUTUAL and SNI edition.cnn.com.
EGRESS_GATEWAY_ISTIO_MUTUAL_CNN = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 80
      name: https-port-for-tls-origination
      protocol: HTTPS
    hosts:
    - edition.cnn.com
    tls:
      mode: ISTIO_MUTUAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-cnn
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: cnn
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
      portLevelSettings:
      - port:
          number: 80
        tls:
          mode: ISTIO_MUTUAL
          sni: edition.cnn.com
"""

#: Istio's troubleshooting guide, "Double TLS (TLS origination for a TLS request)".
DOUBLE_TLS = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin.org
  ports:
  - number: 443
    name: http
    protocol: HTTP
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: originate-tls
spec:
  host: httpbin.org
  trafficPolicy:
    tls:
      mode: SIMPLE
"""

# ------------------------------------------------- mutual TLS origination (my-nginx, §13, §16)

NGINX_CONF = """\
events {
}

http {
  log_format main '$remote_addr - $remote_user [$time_local]  $status '
  '"$request" $body_bytes_sent "$http_referer" '
  '"$http_user_agent" "$http_x_forwarded_for"';
  access_log /var/log/nginx/access.log main;
  error_log  /var/log/nginx/error.log;

  server {
    listen 443 ssl;

    root /usr/share/nginx/html;
    index index.html;

    server_name my-nginx.mesh-external.svc.cluster.local;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
    ssl_client_certificate /etc/nginx-ca-certs/example.com.crt;
    ssl_verify_client on;
  }
}
"""

MY_NGINX = """\
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
  namespace: mesh-external
  labels:
    run: my-nginx
spec:
  ports:
  - port: 443
    protocol: TCP
  selector:
    run: my-nginx
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
  namespace: mesh-external
spec:
  selector:
    matchLabels:
      run: my-nginx
  replicas: 1
  template:
    metadata:
      labels:
        run: my-nginx
    spec:
      containers:
      - name: my-nginx
        image: nginx
        ports:
        - containerPort: 443
        volumeMounts:
        - name: nginx-config
          mountPath: /etc/nginx
          readOnly: true
        - name: nginx-server-certs
          mountPath: /etc/nginx-server-certs
          readOnly: true
        - name: nginx-ca-certs
          mountPath: /etc/nginx-ca-certs
          readOnly: true
      volumes:
      - name: nginx-config
        configMap:
          name: nginx-configmap
      - name: nginx-server-certs
        secret:
          secretName: nginx-server-certs
      - name: nginx-ca-certs
        secret:
          secretName: nginx-ca-certs
"""

EGRESS_MTLS_NGINX = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: istio-egressgateway
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - my-nginx.mesh-external.svc.cluster.local
    tls:
      mode: ISTIO_MUTUAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: egressgateway-for-nginx
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: nginx
    trafficPolicy:
      loadBalancer:
        simple: ROUND_ROBIN
      portLevelSettings:
      - port:
          number: 443
        tls:
          mode: ISTIO_MUTUAL
          sni: my-nginx.mesh-external.svc.cluster.local
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: direct-nginx-through-egress-gateway
spec:
  hosts:
  - my-nginx.mesh-external.svc.cluster.local
  gateways:
  - istio-egressgateway
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        subset: nginx
        port:
          number: 443
      weight: 100
  - match:
    - gateways:
      - istio-egressgateway
      port: 443
    route:
    - destination:
        host: my-nginx.mesh-external.svc.cluster.local
        port:
          number: 443
      weight: 100
"""

DR_ORIGINATE_MTLS_AT_EGRESS = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: originate-mtls-for-nginx
  namespace: istio-system
spec:
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: {mode}
        credentialName: client-credential # this must match the secret created earlier to hold client certs
        sni: my-nginx.mesh-external.svc.cluster.local
"""

DR_ORIGINATE_MTLS_AT_SIDECAR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: originate-mtls-for-nginx
spec:
  workloadSelector:
    matchLabels:
      app: curl
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: MUTUAL
        # credentialName "must match the secret created earlier to hold client certs, and works
        # only when DR has a workloadSelector" (the docs' comment)
        credentialName: client-credential
        sni: my-nginx.mesh-external.svc.cluster.local # this is optional
"""


def secret_manifest(
    name: str, data: Mapping[str, bytes], *, namespace: str = "default", type_: str = "Opaque"
) -> str:
    """The Secret ``kubectl create secret ... --dry-run=client -o yaml`` would print."""
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": type_,
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def nginx_manifests(certs: Mapping[str, CertKey]) -> list[str]:
    """``kubectl create namespace mesh-external``, the nginx Secrets and ConfigMap, and my-nginx."""
    server = certs["my-nginx.mesh-external.svc.cluster.local"]
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nginx-configmap", "namespace": "mesh-external"},
        "data": {"nginx.conf": NGINX_CONF},
    }
    return [
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mesh-external\n",
        secret_manifest(
            "nginx-server-certs",
            {"tls.key": server.key_pem, "tls.crt": server.cert_pem},
            namespace="mesh-external",
            type_="kubernetes.io/tls",
        ),
        secret_manifest(
            "nginx-ca-certs", {"example.com.crt": certs["example.com"].cert_pem}, namespace="mesh-external"
        ),
        yaml.safe_dump(configmap, sort_keys=False),
        MY_NGINX,
    ]


def client_credential(certs: Mapping[str, CertKey], namespace: str) -> str:
    """``kubectl create secret generic client-credential --from-file=tls.key=... tls.crt=... ca.crt=...``."""
    client = certs["client.example.com"]
    return secret_manifest(
        "client-credential",
        {"tls.key": client.key_pem, "tls.crt": client.cert_pem, "ca.crt": certs["example.com"].cert_pem},
        namespace=namespace,
    )


class Kubectl:
    """``kubectl apply``/``delete`` against the sandbox; what a test applied is deleted after it."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self._applied: list[str] = []

    def apply(self, *manifests: str | IstioctlInstall) -> None:
        """``kubectl apply -f -`` for each manifest, in order (an :class:`IstioctlInstall` runs
        ``istioctl install`` in the sandbox's shell instead)."""
        for m in manifests:
            if isinstance(m, IstioctlInstall):
                r = self.sb.shell(m.command)
                assert r.exit_code == 0, r.output
                assert r.output.rstrip().endswith("✔ Installation complete"), r.output
                continue
            self.sb.apply(m)
            self._applied.append(m)

    def cleanup(self) -> None:
        """Delete everything applied, newest first, and restore the default mesh config."""
        for m in reversed(self._applied):
            self.sb.delete(m)
        self._applied.clear()
        self.sb.set_mesh_config(outbound_traffic_policy="ALLOW_ANY")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """A running embedded sandbox with the ``curl`` sample (the docs' ``sleep``) deployed."""
    box = Sandbox.local()
    here = os.getcwd()
    try:
        box.apply(CURL_SAMPLE)
        os.chdir(box.work_dir)  # where a learner runs the docs' commands (curl's cwd)
        yield box
    finally:
        os.chdir(here)
        box.close()


@pytest.fixture()
def kubectl(sb: Sandbox) -> Iterator[Kubectl]:
    """Per-test ``kubectl``; cleans up after the test."""
    k = Kubectl(sb)
    try:
        yield k
    finally:
        k.cleanup()


@pytest.fixture(scope="session")
def docs_certs() -> dict[str, CertKey]:
    """The certificates of Istio's egress TLS origination tasks (``example.com`` CA, my-nginx, client)."""
    return istio_docs_certs()


def last_line(log: str, *needles: str) -> str:
    """The newest access-log line containing every needle (``""`` if none)."""
    for line in reversed(log.splitlines()):
        if all(n in line for n in needles):
            return line
    return ""
