"""Istio's ingress-sni-passthrough task against the embedded sandbox: nginx terminates TLS itself,
the gateway only routes the raw TLS stream by SNI.

Docs: istio/istio.io content/en/docs/tasks/traffic-management/ingress/ingress-sni-passthrough/snips.sh.
Rules: ../shared/reference/istio-behavior.md §1.1, §1.5, §2, §4.4, §5.
"""

from __future__ import annotations

import pytest
from sandbox_support import secret_manifest

# snip_deploy_an_nginx_server_2 (the nginx.conf the docs write).
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

    server_name nginx.example.com;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
  }
}
"""

# snip_deploy_an_nginx_server_4
NGINX_DEPLOYMENT = """\
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
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
spec:
  selector:
    matchLabels:
      run: my-nginx
  replicas: 1
  template:
    metadata:
      labels:
        run: my-nginx
        sidecar.istio.io/inject: "true"
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
      volumes:
      - name: nginx-config
        configMap:
          name: nginx-configmap
      - name: nginx-server-certs
        secret:
          secretName: nginx-server-certs
"""

# snip_configure_an_ingress_gateway_1
PASSTHROUGH_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway # use istio default ingress gateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: PASSTHROUGH
    hosts:
    - nginx.example.com
"""

# snip_configure_an_ingress_gateway_3
NGINX_VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: nginx
spec:
  hosts:
  - nginx.example.com
  gateways:
  - mygateway
  tls:
  - match:
    - port: 443
      sniHosts:
      - nginx.example.com
    route:
    - destination:
        host: my-nginx
        port:
          number: 443
"""

# snip_configure_an_ingress_gateway_6
CURL_NGINX = (
    'curl -v --resolve "nginx.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
    '--cacert example_certs/example.com.crt "https://nginx.example.com:$SECURE_INGRESS_PORT"'
)


def configmap_manifest(name: str, files: dict[str, str]) -> str:
    """``kubectl create configmap NAME --from-file=k=path`` as a manifest (block scalars)."""
    out = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}", "data:"]
    for key, text in files.items():
        out.append(f"  {key}: |")
        out.extend(("    " + line) if line else "" for line in text.splitlines())
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module", autouse=True)
def nginx(sb):
    """snip_deploy_an_nginx_server_1 .. _4: secret, configmap, Service + Deployment."""
    root = sb.work_dir
    report = sb.apply(
        secret_manifest(
            "nginx-server-certs",
            {
                "tls.crt": (root / "example_certs/nginx.example.com.crt").read_bytes(),
                "tls.key": (root / "example_certs/nginx.example.com.key").read_bytes(),
            },
            type_="kubernetes.io/tls",
        )
    )
    assert str(report) == "secret/nginx-server-certs created"
    assert str(sb.apply(configmap_manifest("nginx-configmap", {"nginx.conf": NGINX_CONF}))) == (
        "configmap/nginx-configmap created"
    )
    assert str(sb.apply(NGINX_DEPLOYMENT)) == "service/my-nginx created\ndeployment.apps/my-nginx created"
    pods = [p for p in sb.pods() if p.name.startswith("my-nginx-")]
    assert len(pods) == 1 and pods[0].status == "Running", pods


def test_passthrough_reaches_nginx_with_its_own_certificate(sb, kubectl):
    kubectl.apply(PASSTHROUGH_GATEWAY)
    kubectl.apply(NGINX_VS)
    r = sb.curl(CURL_NGINX)
    assert r.exit_code == 0, r
    err = r.stderr
    # snip_configure_an_ingress_gateway_6_out: nginx's certificate, verified by the docs' CA ...
    assert "*  subject: CN=nginx.example.com; O=some organization" in err
    assert "*  issuer: O=example Inc.; CN=example.com" in err
    assert "*  SSL certificate verify ok." in err
    # ... nginx's HTTP/1.1 answer, headers untouched by the gateway (§1.1, §1.5).
    # (Whole lines as curl writes them: its progress meter may share the terminal line before them.)
    assert "< HTTP/1.1 200 OK\r\n" in err
    assert "\n< Server: nginx/1.15.2\r\n" in err
    assert r.status_line == "HTTP/1.1 200 OK"
    assert "server" in r.headers and r.headers["server"] == "nginx/1.15.2"
    assert "x-envoy-upstream-service-time" not in r.headers
    assert "<title>Welcome to nginx!</title>" in r.stdout
    assert r.stdout.lstrip().startswith("<!DOCTYPE html>")


def test_passthrough_sends_the_backend_alpn(sb, kubectl):
    # nginx's `listen 443 ssl;` has no http2: ALPN settles on http/1.1, unlike the gateway's h2.
    kubectl.apply(PASSTHROUGH_GATEWAY)
    kubectl.apply(NGINX_VS)
    r = sb.curl(CURL_NGINX)
    assert "* ALPN: server accepted http/1.1" in r.stderr


def test_passthrough_unknown_path_is_nginx_404(sb, kubectl):
    kubectl.apply(PASSTHROUGH_GATEWAY)
    kubectl.apply(NGINX_VS)
    r = sb.curl(
        CURL_NGINX.replace('$SECURE_INGRESS_PORT"', '$SECURE_INGRESS_PORT/nope"').replace(
            "curl -v", "curl -s -i"
        )
    )
    assert r.exit_code == 0, r
    assert r.status_line == "HTTP/1.1 404 Not Found"
    assert r.headers["server"] == "nginx/1.15.2"
    assert "<center>nginx/1.15.2</center>" in r.body


def test_passthrough_unmatched_sni_is_closed(sb, kubectl):
    # §4.4/§5: only the sniHosts filter chain exists; another SNI matches nothing -> handshake fails.
    kubectl.apply(PASSTHROUGH_GATEWAY)
    kubectl.apply(NGINX_VS)
    r = sb.curl(
        'curl -s -k --resolve "other.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" '
        '"https://other.example.com:$SECURE_INGRESS_PORT"'
    )
    assert r.exit_code == 35, r


def test_passthrough_without_tls_route_has_no_listener(sb, kubectl):
    # §5 mismatch / §2: a PASSTHROUGH server with no tls: route builds zero filter chains, so the
    # port has no listener -- connection refused.
    kubectl.apply(PASSTHROUGH_GATEWAY)
    r = sb.curl(CURL_NGINX)
    assert r.exit_code == 7, r
    assert "Connection refused" in r.stderr


def test_passthrough_with_http_only_virtual_service_has_no_listener(sb, kubectl):
    kubectl.apply(PASSTHROUGH_GATEWAY)
    kubectl.apply(
        """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: nginx
spec:
  hosts:
  - nginx.example.com
  gateways:
  - mygateway
  http:
  - route:
    - destination:
        host: my-nginx
        port:
          number: 443
"""
    )
    r = sb.curl(CURL_NGINX)
    assert r.exit_code == 7, r


def test_passthrough_access_log_line(sb, kubectl):
    # A TCP-proxy line: no HTTP fields, the cluster, and the SNI the TLS inspector read.
    import time

    kubectl.apply(PASSTHROUGH_GATEWAY)
    kubectl.apply(NGINX_VS)
    assert sb.curl(CURL_NGINX).exit_code == 0
    deadline = time.monotonic() + 2  # logged when the connection closes
    while True:
        lines = [
            ln
            for ln in sb.logs("istio-system/istio-ingressgateway").splitlines()
            if " outbound|443||my-nginx.default.svc.cluster.local " in ln
        ]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert lines, sb.logs("istio-system/istio-ingressgateway")
    assert '] "- - -" 0 - - - "-" ' in lines[-1]
    assert lines[-1].endswith(" nginx.example.com -"), lines[-1]
