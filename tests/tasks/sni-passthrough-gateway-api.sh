#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: the Gateway API blocks of
# https://istio.io/latest/docs/tasks/traffic-management/ingress/ingress-sni-passthrough/ -- a TLS
# listener in Passthrough mode and a TLSRoute. TLSRoute is an experimental (v1alpha2) kind that
# istiod serves only with PILOT_ENABLE_ALPHA_GATEWAY_API=true, so the mesh is installed with it
# (https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/ "Setup").
####################################################################################################

snip_enable_alpha_gateway_api_1() {
istioctl install --set profile=default --set meshConfig.accessLogFile=/dev/stdout --set values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API=true -y
}

snip_make_certificates_1() {
mkdir -p example_certs
openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
  -keyout example_certs/example.com.key -out example_certs/example.com.crt 2>/dev/null
openssl req -out example_certs/nginx.example.com.csr -newkey rsa:2048 -nodes \
  -keyout example_certs/nginx.example.com.key -subj "/CN=nginx.example.com/O=some organization" 2>/dev/null
openssl x509 -req -sha256 -days 365 -CA example_certs/example.com.crt -CAkey example_certs/example.com.key \
  -set_serial 1 -in example_certs/nginx.example.com.csr -out example_certs/nginx.example.com.crt 2>/dev/null
}

snip_run_nginx_1() {
kubectl create secret tls nginx-server-certs \
  --key example_certs/nginx.example.com.key \
  --cert example_certs/nginx.example.com.crt
}

! IFS=$'\n' read -r -d '' snip_run_nginx_1_out <<\ENDSNIP
secret/nginx-server-certs created
ENDSNIP

snip_run_nginx_2() {
cat <<\EOF > ./nginx.conf
events {
}

http {
  server {
    listen 443 ssl;

    root /usr/share/nginx/html;
    index index.html;

    server_name nginx.example.com;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
  }
}
EOF
kubectl create configmap nginx-configmap --from-file=nginx.conf=./nginx.conf
}

! IFS=$'\n' read -r -d '' snip_run_nginx_2_out <<\ENDSNIP
configmap/nginx-configmap created
ENDSNIP

snip_run_nginx_3() {
kubectl apply -f - <<EOF
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
EOF
}

! IFS=$'\n' read -r -d '' snip_run_nginx_3_out <<\ENDSNIP
service/my-nginx created
deployment.apps/my-nginx created
ENDSNIP

snip_run_nginx_4() {
kubectl wait --for=condition=available deployment/my-nginx --timeout=120s
}

snip_pass_tls_through_1() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mygateway
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: nginx.example.com
    port: 443
    protocol: TLS
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: nginx
spec:
  parentRefs:
  - name: mygateway
  hostnames:
  - nginx.example.com
  rules:
  - backendRefs:
    - name: my-nginx
      port: 443
EOF
}

! IFS=$'\n' read -r -d '' snip_pass_tls_through_1_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/mygateway created
tlsroute.gateway.networking.k8s.io/nginx created
ENDSNIP

snip_pass_tls_through_2() {
kubectl wait --for=condition=programmed gtw mygateway --timeout=120s
export INGRESS_HOST=$(kubectl get po -l gateway.networking.k8s.io/gateway-name=mygateway -o jsonpath='{.items[0].status.hostIP}')
export SECURE_INGRESS_PORT=$(kubectl get svc mygateway-istio -o jsonpath='{.spec.ports[?(@.port==443)].nodePort}')
}

! IFS=$'\n' read -r -d '' snip_pass_tls_through_2_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/mygateway condition met
ENDSNIP

snip_pass_tls_through_3() {
kubectl get tlsroute nginx -o jsonpath='{range .status.parents[0].conditions[*]}{.type}={.status}{"\n"}{end}'
}

! IFS=$'\n' read -r -d '' snip_pass_tls_through_3_out <<\ENDSNIP
Accepted=True
ResolvedRefs=True
ENDSNIP

# verify: elided
snip_pass_tls_through_4() {
curl -v --resolve "nginx.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs/example.com.crt \
  "https://nginx.example.com:$SECURE_INGRESS_PORT"
}

! IFS=$'\n' read -r -d '' snip_pass_tls_through_4_out <<\ENDSNIP
...
*  subject: CN=nginx.example.com; O=some organization
...
*  SSL certificate verify ok.
...
< HTTP/1.1 200 OK
< Server: nginx/
...
<title>Welcome to nginx!</title>
...
ENDSNIP

# verify: failure
snip_pass_tls_through_5() {
curl -sS --resolve "other.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs/example.com.crt \
  "https://other.example.com:$SECURE_INGRESS_PORT"
}

snip_clean_up_1() {
kubectl delete gtw --cascade=foreground mygateway
kubectl delete tlsroute nginx
kubectl delete secret nginx-server-certs
kubectl delete configmap nginx-configmap
kubectl delete service my-nginx
kubectl delete deployment my-nginx
rm ./nginx.conf
rm -rf ./example_certs
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
gateway.gateway.networking.k8s.io "mygateway" deleted from default namespace
tlsroute.gateway.networking.k8s.io "nginx" deleted from default namespace
secret "nginx-server-certs" deleted from default namespace
configmap "nginx-configmap" deleted from default namespace
service "my-nginx" deleted from default namespace
deployment.apps "my-nginx" deleted from default namespace
ENDSNIP
