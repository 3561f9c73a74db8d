#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests, written in the style of istio.io's generated snips.sh:
# one snip_* function per command block, one <name>_out block per expected output, and a
# "# verify: <how>" comment where an output is compared other than exactly (istio.io's
# tests/util/verify.sh semantics). Run it with:  gatewaykit verify tests/tasks/ingress-control.sh
#
# Flow: the Istio API half of https://istio.io/latest/docs/tasks/traffic-management/ingress/ingress-control/
# on a cluster without a load balancer (the page's node-port recipe).
####################################################################################################

snip_deploy_the_backend_1() {
kubectl label namespace default istio-injection=enabled --overwrite
}

snip_deploy_the_backend_2() {
kubectl apply -f samples/httpbin/httpbin.yaml
}

! IFS=$'\n' read -r -d '' snip_deploy_the_backend_2_out <<\ENDSNIP
serviceaccount/httpbin created
service/httpbin created
deployment.apps/httpbin created
ENDSNIP

snip_deploy_the_backend_3() {
kubectl wait --for=condition=available deployment/httpbin --timeout=120s
}

! IFS=$'\n' read -r -d '' snip_deploy_the_backend_3_out <<\ENDSNIP
deployment.apps/httpbin condition met
ENDSNIP

snip_admit_the_host_at_the_gateway_1() {
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - httpbin.example.com
EOF
}

! IFS=$'\n' read -r -d '' snip_admit_the_host_at_the_gateway_1_out <<\ENDSNIP
gateway.networking.istio.io/httpbin-gateway created
ENDSNIP

snip_admit_the_host_at_the_gateway_2() {
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin.example.com
  gateways:
  - httpbin-gateway
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

! IFS=$'\n' read -r -d '' snip_admit_the_host_at_the_gateway_2_out <<\ENDSNIP
virtualservice.networking.istio.io/httpbin created
ENDSNIP

snip_find_the_gateway_address_1() {
export INGRESS_NAME=istio-ingressgateway
export INGRESS_NS=istio-system
}

# verify: like
snip_find_the_gateway_address_2() {
kubectl get svc "$INGRESS_NAME" -n "$INGRESS_NS"
}

! IFS=$'\n' read -r -d '' snip_find_the_gateway_address_2_out <<\ENDSNIP
NAME                   TYPE           CLUSTER-IP     EXTERNAL-IP   PORT(S)   AGE
istio-ingressgateway   LoadBalancer   10.96.48.20    <pending>     ...       12s
ENDSNIP

snip_find_the_gateway_address_3() {
export INGRESS_HOST=$(kubectl get po -l istio=ingressgateway -n "$INGRESS_NS" -o jsonpath='{.items[0].status.hostIP}')
export INGRESS_PORT=$(kubectl -n "$INGRESS_NS" get service "$INGRESS_NAME" -o jsonpath='{.spec.ports[?(@.name=="http2")].nodePort}')
}

# verify: regex ^INGRESS_HOST=[0-9]+(\.[0-9]+){3}, INGRESS_PORT=3[0-2][0-9]{3}$
snip_find_the_gateway_address_4() {
echo "INGRESS_HOST=$INGRESS_HOST, INGRESS_PORT=$INGRESS_PORT"
}

# verify: elided
snip_reach_httpbin_1() {
curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
}

! IFS=$'\n' read -r -d '' snip_reach_httpbin_1_out <<\ENDSNIP
HTTP/1.1 200 OK
...
server: istio-envoy
...
ENDSNIP

snip_reach_httpbin_2() {
curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/418"
}

! IFS=$'\n' read -r -d '' snip_reach_httpbin_2_out <<\ENDSNIP
I'm a teapot!
ENDSNIP

# verify: elided
snip_reach_httpbin_3() {
curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"
}

! IFS=$'\n' read -r -d '' snip_reach_httpbin_3_out <<\ENDSNIP
HTTP/1.1 404 Not Found
...
ENDSNIP

# verify: first_line
snip_reach_httpbin_4() {
curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
}

! IFS=$'\n' read -r -d '' snip_reach_httpbin_4_out <<\ENDSNIP
HTTP/1.1 404 Not Found
ENDSNIP

snip_any_host_1() {
kubectl apply -f - <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /headers
    route:
    - destination:
        host: httpbin
        port:
          number: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_any_host_1_out <<\ENDSNIP
gateway.networking.istio.io/httpbin-gateway configured
virtualservice.networking.istio.io/httpbin configured
ENDSNIP

# verify: contains HTTP/1.1 200 OK
snip_any_host_2() {
curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/headers"
}

snip_any_host_3() {
curl -s "http://$INGRESS_HOST:$INGRESS_PORT/headers" | jq -r '.headers["Host"][0] == env.INGRESS_HOST + ":" + env.INGRESS_PORT'
}

! IFS=$'\n' read -r -d '' snip_any_host_3_out <<\ENDSNIP
true
ENDSNIP

snip_clean_up_1() {
kubectl delete gateways.networking.istio.io httpbin-gateway
kubectl delete virtualservice httpbin
kubectl delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
gateway.networking.istio.io "httpbin-gateway" deleted from default namespace
virtualservice.networking.istio.io "httpbin" deleted from default namespace
serviceaccount "httpbin" deleted from default namespace
service "httpbin" deleted from default namespace
deployment.apps "httpbin" deleted from default namespace
ENDSNIP
