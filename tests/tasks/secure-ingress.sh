#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/ with the Istio
# API: certificates made with openssl, Secrets made with kubectl create secret, one host (SIMPLE),
# a rotation, two hosts on one port, then mutual TLS.
####################################################################################################

snip_deploy_the_backend_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/httpbin/httpbin.yaml
}

snip_make_certificates_1() {
mkdir -p example_certs1 example_certs2
openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
  -keyout example_certs1/example.com.key -out example_certs1/example.com.crt 2>/dev/null
openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
  -keyout example_certs2/example.com.key -out example_certs2/example.com.crt 2>/dev/null
}

snip_make_certificates_2() {
for spec in "example_certs1 httpbin 1" "example_certs1 helloworld 2" "example_certs1 client 3" "example_certs2 httpbin 1"; do
  set -- $spec
  openssl req -out "$1/$2.example.com.csr" -newkey rsa:2048 -nodes -keyout "$1/$2.example.com.key" \
    -subj "/CN=$2.example.com/O=$2 organization" 2>/dev/null
  openssl x509 -req -sha256 -days 365 -CA "$1/example.com.crt" -CAkey "$1/example.com.key" -set_serial "$3" \
    -in "$1/$2.example.com.csr" -out "$1/$2.example.com.crt" 2>/dev/null
done
}

snip_make_certificates_3() {
ls example_certs1/*.crt example_certs2/*.crt
}

! IFS=$'\n' read -r -d '' snip_make_certificates_3_out <<\ENDSNIP
example_certs1/client.example.com.crt
example_certs1/example.com.crt
example_certs1/helloworld.example.com.crt
example_certs1/httpbin.example.com.crt
example_certs2/example.com.crt
example_certs2/httpbin.example.com.crt
ENDSNIP

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
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: httpbin-credential
    hosts:
    - httpbin.example.com
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin.example.com
  gateways:
  - mygateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        host: httpbin
        port:
          number: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_one_host_2_out <<\ENDSNIP
gateway.networking.istio.io/mygateway created
virtualservice.networking.istio.io/httpbin created
ENDSNIP

snip_one_host_3() {
export INGRESS_HOST=$(kubectl get po -l istio=ingressgateway -n istio-system -o jsonpath='{.items[0].status.hostIP}')
export SECURE_INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="https")].nodePort}')
}

# verify: elided
snip_one_host_4() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_one_host_4_out <<\ENDSNIP
...
*  subject: CN=httpbin.example.com; O=httpbin organization
...
< HTTP/2 418
...
< server: istio-envoy
...
I'm a teapot!
ENDSNIP

# verify: failure
snip_one_host_5() {
curl -sS -HHost:httpbin.example.com --cacert example_certs1/example.com.crt "https://$INGRESS_HOST:$SECURE_INGRESS_PORT/status/418"
}

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
kubectl apply -f samples/helloworld/helloworld.yaml -l service=helloworld
kubectl apply -f samples/helloworld/helloworld.yaml -l version=v1
}

! IFS=$'\n' read -r -d '' snip_two_hosts_2_out <<\ENDSNIP
service/helloworld created
deployment.apps/helloworld-v1 created
ENDSNIP

snip_two_hosts_3() {
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https-httpbin
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: httpbin-credential
    hosts:
    - httpbin.example.com
  - port:
      number: 443
      name: https-helloworld
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: helloworld-credential
    hosts:
    - helloworld.example.com
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: helloworld
spec:
  hosts:
  - helloworld.example.com
  gateways:
  - mygateway
  http:
  - match:
    - uri:
        exact: /hello
    route:
    - destination:
        host: helloworld
        port:
          number: 5000
EOF
}

! IFS=$'\n' read -r -d '' snip_two_hosts_3_out <<\ENDSNIP
gateway.networking.istio.io/mygateway configured
virtualservice.networking.istio.io/helloworld created
ENDSNIP

# verify: elided
snip_two_hosts_4() {
curl -v -HHost:helloworld.example.com --resolve "helloworld.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://helloworld.example.com:$SECURE_INGRESS_PORT/hello"
}

! IFS=$'\n' read -r -d '' snip_two_hosts_4_out <<\ENDSNIP
...
*  subject: CN=helloworld.example.com; O=helloworld organization
...
< HTTP/2 200
...
Hello version: v1, instance: helloworld-v1-
ENDSNIP

# verify: elided
snip_two_hosts_5() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_two_hosts_5_out <<\ENDSNIP
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

! IFS=$'\n' read -r -d '' snip_mutual_tls_1_out <<\ENDSNIP
secret "httpbin-credential" deleted from istio-system namespace
secret/httpbin-credential created
ENDSNIP

snip_mutual_tls_2() {
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: MUTUAL
      credentialName: httpbin-credential
    hosts:
    - httpbin.example.com
EOF
}

! IFS=$'\n' read -r -d '' snip_mutual_tls_2_out <<\ENDSNIP
gateway.networking.istio.io/mygateway configured
ENDSNIP

# verify: failure
snip_mutual_tls_3() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

# verify: contains alert certificate required
snip_mutual_tls_4() {
curl -sS -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

# verify: elided
snip_mutual_tls_5() {
curl -v -HHost:httpbin.example.com --resolve "httpbin.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" \
  --cacert example_certs1/example.com.crt --cert example_certs1/client.example.com.crt \
  --key example_certs1/client.example.com.key \
  "https://httpbin.example.com:$SECURE_INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_mutual_tls_5_out <<\ENDSNIP
...
< HTTP/2 418
...
I'm a teapot!
ENDSNIP

snip_clean_up_1() {
kubectl delete gateways.networking.istio.io mygateway
kubectl delete virtualservice httpbin helloworld
kubectl delete -n istio-system secret httpbin-credential helloworld-credential
kubectl delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml
kubectl delete --ignore-not-found=true -f samples/helloworld/helloworld.yaml
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
gateway.networking.istio.io "mygateway" deleted from default namespace
virtualservice.networking.istio.io "httpbin" deleted from default namespace
virtualservice.networking.istio.io "helloworld" deleted from default namespace
secret "httpbin-credential" deleted from istio-system namespace
secret "helloworld-credential" deleted from istio-system namespace
serviceaccount "httpbin" deleted from default namespace
service "httpbin" deleted from default namespace
deployment.apps "httpbin" deleted from default namespace
service "helloworld" deleted from default namespace
deployment.apps "helloworld-v1" deleted from default namespace
ENDSNIP
