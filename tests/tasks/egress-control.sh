#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: https://istio.io/latest/docs/tasks/traffic-management/egress/egress-control/ -- ALLOW_ANY,
# then REGISTRY_ONLY (istioctl install with the flags of the sandbox's install plus the mode), a
# ServiceEntry per outside host, a timeout on an outside host (VirtualService, then HTTPRoute with
# the ServiceEntry as parent), and back to ALLOW_ANY.
####################################################################################################

snip_deploy_the_client_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/curl/curl.yaml
kubectl wait --for=condition=available deployment/curl --timeout=120s
}

snip_deploy_the_client_2() {
export SOURCE_POD=$(kubectl get pod -l app=curl -o jsonpath='{.items..metadata.name}')
}

snip_allow_any_1() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSI https://www.google.com | grep "HTTP/"; kubectl exec "$SOURCE_POD" -c curl -- curl -sI https://edition.cnn.com | grep "HTTP/"
}

! IFS=$'\n' read -r -d '' snip_allow_any_1_out <<\ENDSNIP
HTTP/2 200
HTTP/2 200
ENDSNIP

snip_registry_only_1() {
istioctl install --set profile=default --set meshConfig.accessLogFile=/dev/stdout --set "components.egressGateways[0].name=istio-egressgateway" --set "components.egressGateways[0].enabled=true" --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY -y
}

snip_registry_only_2() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sI https://www.google.com | grep "HTTP/"; kubectl exec "$SOURCE_POD" -c curl -- curl -sI https://edition.cnn.com | grep "HTTP/"
}

! IFS=$'\n' read -r -d '' snip_registry_only_2_out <<\ENDSNIP
command terminated with exit code 35
command terminated with exit code 35
ENDSNIP

# verify: first_line
snip_registry_only_3() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sI http://httpbin.org/headers
}

! IFS=$'\n' read -r -d '' snip_registry_only_3_out <<\ENDSNIP
HTTP/1.1 502 Bad Gateway
ENDSNIP

snip_register_an_http_host_1() {
kubectl apply -f - <<EOF
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
EOF
}

! IFS=$'\n' read -r -d '' snip_register_an_http_host_1_out <<\ENDSNIP
serviceentry.networking.istio.io/httpbin-ext created
ENDSNIP

# verify: elided
snip_register_an_http_host_2() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sS http://httpbin.org/headers
}

! IFS=$'\n' read -r -d '' snip_register_an_http_host_2_out <<\ENDSNIP
{
  "headers": {
    "Accept": "*/*",
    "Host": "httpbin.org",
...
    "X-Envoy-Decorator-Operation": "httpbin.org:80/*",
...
ENDSNIP

# verify: regex "GET /headers HTTP/1.1" 200 .* outbound\|80\|\|httpbin\.org
snip_register_an_http_host_3() {
kubectl logs "$SOURCE_POD" -c istio-proxy | tail -1
}

snip_register_an_https_host_1() {
kubectl apply -f - <<EOF
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
EOF
}

! IFS=$'\n' read -r -d '' snip_register_an_https_host_1_out <<\ENDSNIP
serviceentry.networking.istio.io/google created
ENDSNIP

snip_register_an_https_host_2() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSI https://www.google.com | grep "HTTP/"
}

! IFS=$'\n' read -r -d '' snip_register_an_https_host_2_out <<\ENDSNIP
HTTP/2 200
ENDSNIP

# verify: regex "- - -" 0 .* outbound\|443\|\|www\.google\.com .* www\.google\.com
snip_register_an_https_host_3() {
kubectl logs "$SOURCE_POD" -c istio-proxy | tail -1
}

# verify: first_line
snip_time_out_an_outside_host_1() {
kubectl exec "$SOURCE_POD" -c curl -- time curl -o /dev/null -sS -w "%{http_code}\n" http://httpbin.org/delay/5
}

! IFS=$'\n' read -r -d '' snip_time_out_an_outside_host_1_out <<\ENDSNIP
200
ENDSNIP

snip_time_out_an_outside_host_2() {
kubectl apply -f - <<EOF
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
EOF
}

! IFS=$'\n' read -r -d '' snip_time_out_an_outside_host_2_out <<\ENDSNIP
virtualservice.networking.istio.io/httpbin-ext created
ENDSNIP

# verify: first_line
snip_time_out_an_outside_host_3() {
kubectl exec "$SOURCE_POD" -c curl -- time curl -o /dev/null -sS -w "%{http_code}\n" http://httpbin.org/delay/5
}

! IFS=$'\n' read -r -d '' snip_time_out_an_outside_host_3_out <<\ENDSNIP
504
ENDSNIP

snip_time_out_an_outside_host_4() {
kubectl exec "$SOURCE_POD" -c curl -- curl -o /dev/null -sS -w "%{http_code} %{time_total}\n" http://httpbin.org/delay/5 | cut -c1-7
}

! IFS=$'\n' read -r -d '' snip_time_out_an_outside_host_4_out <<\ENDSNIP
504 3.0
ENDSNIP

snip_time_out_with_an_httproute_1() {
kubectl delete virtualservice httpbin-ext
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin-ext
spec:
  parentRefs:
  - kind: ServiceEntry
    group: networking.istio.io
    name: httpbin-ext
  hostnames:
  - httpbin.org
  rules:
  - timeouts:
      request: 3s
    backendRefs:
    - kind: Hostname
      group: networking.istio.io
      name: httpbin.org
      port: 80
EOF
}

! IFS=$'\n' read -r -d '' snip_time_out_with_an_httproute_1_out <<\ENDSNIP
virtualservice.networking.istio.io "httpbin-ext" deleted from default namespace
httproute.gateway.networking.k8s.io/httpbin-ext created
ENDSNIP

snip_time_out_with_an_httproute_2() {
kubectl exec "$SOURCE_POD" -c curl -- curl -o /dev/null -sS -w "%{http_code}\n" http://httpbin.org/delay/5
}

! IFS=$'\n' read -r -d '' snip_time_out_with_an_httproute_2_out <<\ENDSNIP
504
ENDSNIP

snip_clean_up_1() {
kubectl delete serviceentry httpbin-ext google
kubectl delete httproute httpbin-ext --ignore-not-found=true
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
serviceentry.networking.istio.io "httpbin-ext" deleted from default namespace
serviceentry.networking.istio.io "google" deleted from default namespace
httproute.gateway.networking.k8s.io "httpbin-ext" deleted from default namespace
ENDSNIP

snip_clean_up_2() {
istioctl install --set profile=default --set meshConfig.accessLogFile=/dev/stdout --set "components.egressGateways[0].name=istio-egressgateway" --set "components.egressGateways[0].enabled=true" --set meshConfig.outboundTrafficPolicy.mode=ALLOW_ANY -y
}

snip_clean_up_3() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSI https://www.google.com | grep "HTTP/"
}

! IFS=$'\n' read -r -d '' snip_clean_up_3_out <<\ENDSNIP
HTTP/2 200
ENDSNIP

snip_clean_up_4() {
kubectl delete -f samples/curl/curl.yaml
}

! IFS=$'\n' read -r -d '' snip_clean_up_4_out <<\ENDSNIP
serviceaccount "curl" deleted from default namespace
service "curl" deleted from default namespace
deployment.apps "curl" deleted from default namespace
ENDSNIP
