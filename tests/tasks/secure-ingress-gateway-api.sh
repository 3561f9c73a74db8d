#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: the Gateway API blocks of https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/
# -- the Gateway in istio-system beside its Secrets, routes from default -- on a cluster without a
# load balancer (the Gateway asks for a NodePort Service).
####################################################################################################

snip_deploy_the_backend_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/httpbin/httpbin.yaml
kubectl apply -f samples/helloworld/helloworld.yaml -l service=helloworld
kubectl apply -f samples/helloworld/helloworld.yaml -l version=v1
}

snip_make_certificates_1() {
mkdir -p example_certs1 example_certs2
for set in example_certs1 example_certs2; do
  openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
    -keyout "$set/example.com.key" -out "$set/example.com.crt" 2>/dev/null
done
for spec in "example_certs1 httpbin 1" "example_certs1 helloworld 2" "example_certs1 client 3" "example_certs2 httpbin 1"; do
  set -- $spec
  openssl req -out "$1/$2.example.com.csr" -newkey rsa:2048 -nodes -keyout "$1/$2.example.com.key" \
    -subj "/CN=$2.example.com/O=$2 organization" 2>/dev/null
  openssl x509 -req -sha256 -days 365 -CA "$1/example.com.crt" -CAkey "$1/example.com.key" -set_serial "$3" \
    -in "$1/$2.example.com.csr" -out "$1/$2.example.com.crt" 2>/dev/null
done
}

snip_one_host_1() {
kubectl create -n istio-system secret tls httpbin-credential \
  --key=example_certs1/httpbin.example.com.key \
  --cert=example_certs1/httpbin.example.com.crt
}

! IFS=$'\n' read -r -d '' snip_one_host_1_out <<\ENDSNIP
secret/httpbin-credential created
ENDSNIP

snip_one_host_2() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: httpbin.example.com
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: mygateway
    namespace: istio-system
  hostnames:
  - httpbin.example.com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /status
    - path:
        type: PathPrefix
        value: /delay
    backendRefs:
    - name: httpbin
      port: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_one_host_2_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/mygateway created
httproute.gateway.networking.k8s.io/httpbin created
ENDSNIP

snip_one_host_3() {
kubectl wait --for=condition=programmed gtw mygateway -n istio-system --timeout=120s
export INGRESS_HOST=$(kubectl get po -l gateway.networking.k8s.io/gateway-name=mygateway -n istio-system -o jsonpath='{.items[0].status.hostIP}')
export SECURE_INGRESS_PORT=$(kubectl get svc mygateway-istio -n istio-system -o jsonpath='{.spec.ports[?(@.port==443)].nodePort}')
}

! IFS=$'\n' read -r -d '' snip_one_host_3_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/mygateway condition met
ENDSNIP

snip_one_host_4() {
kubectl get httproute httpbin -o jsonpath='{.status.parents[0].conditions[?(@.type=="Accepted")].status}'
}

! IFS=$'\n' read -r -d '' snip_one_host_4_out <<\ENDSNIP
True
ENDSNIP

# verify: elided
snip_one_host_5() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_one_host_5_out <<\ENDSNIP
...
*  subject: CN=httpbin.example.com; O=httpbin organization
...
< HTTP/2 418
...
< server: istio-envoy
...
I'm a teapot!
ENDSNIP

snip_rotate_the_credential_1() {
kubectl -n istio-system delete secret httpbin-credential
kubectl create -n istio-system secret tls httpbin-credential \
  --key=example_certs2/httpbin.example.com.key \
  --cert=example_certs2/httpbin.example.com.crt
}

! IFS=$'\n' read -r -d '' snip_rotate_the_credential_1_out <<\ENDSNIP
secret "httpbin-credential" deleted from istio-system namespace
secret/httpbin-credential created
ENDSNIP

# verify: elided
snip_rotate_the_credential_2() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs2/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_rotate_the_credential_2_out <<\ENDSNIP
...
< HTTP/2 418
...
I'm a teapot!
ENDSNIP

# verify: failure
snip_rotate_the_credential_3() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

snip_two_hosts_1() {
kubectl -n istio-system delete secret httpbin-credential
kubectl create -n istio-system secret tls httpbin-credential \
  --key=example_certs1/httpbin.example.com.key \
  --cert=example_certs1/httpbin.example.com.crt
kubectl create -n istio-system secret tls helloworld-credential \
  --key=example_certs1/helloworld.example.com.key \
  --cert=example_certs1/helloworld.example.com.crt
}

snip_two_hosts_2() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: https-httpbin
    hostname: httpbin.example.com
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
  - name: https-helloworld
    hostname: helloworld.example.com
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: helloworld-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: helloworld
spec:
  parentRefs:
  - name: mygateway
    namespace: istio-system
  hostnames:
  - helloworld.example.com
  rules:
  - matches:
    - path:
        type: Exact
        value: /hello
    backendRefs:
    - name: helloworld
      port: 5000
EOF
}

! IFS=$'\n' read -r -d '' snip_two_hosts_2_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/mygateway configured
httproute.gateway.networking.k8s.io/helloworld created
ENDSNIP

# verify: elided
snip_two_hosts_3() {
curl -v -HHost:helloworld.example.com --resolve "helloworld.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://helloworld.example.com:$SECURE_INGRESS_PORT/hello"
}

! IFS=$'\n' read -r -d '' snip_two_hosts_3_out <<\ENDSNIP
...
*  subject: CN=helloworld.example.com; O=helloworld organization
...
< HTTP/2 200
...
Hello version: v1, instance: helloworld-v1-
ENDSNIP

# verify: elided
snip_two_hosts_4() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_two_hosts_4_out <<\ENDSNIP
...
*  subject: CN=httpbin.example.com; O=httpbin organization
...
< HTTP/2 418
...
I'm a teapot!
ENDSNIP

snip_mutual_tls_1() {
kubectl -n istio-system delete secret httpbin-credential
kubectl create -n istio-system secret generic httpbin-credential \
  --from-file=tls.key=example_certs1/httpbin.example.com.key \
  --from-file=tls.crt=example_certs1/httpbin.example.com.crt \
  --from-file=ca.crt=example_certs1/example.com.crt
}

snip_mutual_tls_2() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: httpbin.example.com
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
      options:
        gateway.istio.io/tls-terminate-mode: MUTUAL
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
EOF
}

! IFS=$'\n' read -r -d '' snip_mutual_tls_2_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/mygateway configured
ENDSNIP

# verify: contains alert certificate required
snip_mutual_tls_3() {
curl -sS -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

# verify: elided
snip_mutual_tls_4() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt --cert example_certs1/client.example.com.crt \
  --key example_certs1/client.example.com.key \
  "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_mutual_tls_4_out <<\ENDSNIP
...
< HTTP/2 418
...
I'm a teapot!
ENDSNIP

snip_clean_up_1() {
kubectl delete gtw --cascade=foreground mygateway -n istio-system
kubectl delete httproute httpbin helloworld
kubectl delete -n istio-system secret httpbin-credential helloworld-credential
kubectl delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml
kubectl delete --ignore-not-found=true -f samples/helloworld/helloworld.yaml
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
gateway.gateway.networking.k8s.io "mygateway" deleted from istio-system namespace
httproute.gateway.networking.k8s.io "httpbin" deleted from default namespace
httproute.gateway.networking.k8s.io "helloworld" deleted from default namespace
secret "httpbin-credential" deleted from istio-system namespace
secret "helloworld-credential" deleted from istio-system namespace
serviceaccount "httpbin" deleted from default namespace
service "httpbin" deleted from default namespace
deployment.apps "httpbin" deleted from default namespace
service "helloworld" deleted from default namespace
deployment.apps "helloworld-v1" deleted from default namespace
ENDSNIP
