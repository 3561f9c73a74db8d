#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: the Gateway API blocks of https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
# -- a Gateway of class istio as the egress gateway (a ClusterIP Service: nothing outside the
# cluster needs it), an HTTPRoute whose parent is the ServiceEntry (the sidecars' half) and one whose
# parent is the Gateway with a Hostname backend (the gateway's half); then the same for HTTPS with
# TLSRoutes, which istiod serves with PILOT_ENABLE_ALPHA_GATEWAY_API=true.
####################################################################################################

snip_deploy_the_client_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/curl/curl.yaml
kubectl wait --for=condition=available deployment/curl --timeout=120s
export SOURCE_POD=$(kubectl get pod -l app=curl -o jsonpath={.items..metadata.name})
}

snip_http_through_an_egress_gateway_1() {
kubectl apply -f - <<EOF
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
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: cnn-egress-gateway
  annotations:
    networking.istio.io/service-type: ClusterIP
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    hostname: edition.cnn.com
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
EOF
}

! IFS=$'\n' read -r -d '' snip_http_through_an_egress_gateway_1_out <<\ENDSNIP
serviceentry.networking.istio.io/cnn created
gateway.gateway.networking.k8s.io/cnn-egress-gateway created
ENDSNIP

snip_http_through_an_egress_gateway_2() {
kubectl wait --for=condition=programmed gtw cnn-egress-gateway --timeout=120s
}

! IFS=$'\n' read -r -d '' snip_http_through_an_egress_gateway_2_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/cnn-egress-gateway condition met
ENDSNIP

snip_http_through_an_egress_gateway_3() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: direct-cnn-to-egress-gateway
spec:
  parentRefs:
  - kind: ServiceEntry
    group: networking.istio.io
    name: cnn
  rules:
  - backendRefs:
    - name: cnn-egress-gateway-istio
      port: 80
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: forward-cnn-from-egress-gateway
spec:
  parentRefs:
  - name: cnn-egress-gateway
  hostnames:
  - edition.cnn.com
  rules:
  - backendRefs:
    - kind: Hostname
      group: networking.istio.io
      name: edition.cnn.com
      port: 80
EOF
}

! IFS=$'\n' read -r -d '' snip_http_through_an_egress_gateway_3_out <<\ENDSNIP
httproute.gateway.networking.k8s.io/direct-cnn-to-egress-gateway created
httproute.gateway.networking.k8s.io/forward-cnn-from-egress-gateway created
ENDSNIP

# verify: elided
snip_http_through_an_egress_gateway_4() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_http_through_an_egress_gateway_4_out <<\ENDSNIP
HTTP/1.1 301 Moved Permanently
...
location: https://edition.cnn.com/politics
...
HTTP/2 200
...
ENDSNIP

# verify: regex "GET /politics HTTP/1.1" 301 .* outbound\|80\|\|edition\.cnn\.com .* default\.forward-cnn-from-egress-gateway\.0$
snip_http_through_an_egress_gateway_5() {
kubectl logs -l gateway.networking.k8s.io/gateway-name=cnn-egress-gateway -c istio-proxy | tail -1
}

snip_clean_up_the_http_gateway_1() {
kubectl delete serviceentry cnn
kubectl delete gtw --cascade=foreground cnn-egress-gateway
kubectl delete httproute direct-cnn-to-egress-gateway
kubectl delete httproute forward-cnn-from-egress-gateway
}

! IFS=$'\n' read -r -d '' snip_clean_up_the_http_gateway_1_out <<\ENDSNIP
serviceentry.networking.istio.io "cnn" deleted from default namespace
gateway.gateway.networking.k8s.io "cnn-egress-gateway" deleted from default namespace
httproute.gateway.networking.k8s.io "direct-cnn-to-egress-gateway" deleted from default namespace
httproute.gateway.networking.k8s.io "forward-cnn-from-egress-gateway" deleted from default namespace
ENDSNIP

snip_https_through_an_egress_gateway_1() {
istioctl install --set profile=default --set meshConfig.accessLogFile=/dev/stdout --set values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API=true -y
}

snip_https_through_an_egress_gateway_2() {
kubectl apply -f - <<EOF
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
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: cnn-egress-gateway
  annotations:
    networking.istio.io/service-type: ClusterIP
spec:
  gatewayClassName: istio
  listeners:
  - name: tls
    hostname: edition.cnn.com
    port: 443
    protocol: TLS
    tls:
      mode: Passthrough
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: direct-cnn-to-egress-gateway
spec:
  parentRefs:
  - kind: ServiceEntry
    group: networking.istio.io
    name: cnn
  rules:
  - backendRefs:
    - name: cnn-egress-gateway-istio
      port: 443
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: forward-cnn-from-egress-gateway
spec:
  parentRefs:
  - name: cnn-egress-gateway
  hostnames:
  - edition.cnn.com
  rules:
  - backendRefs:
    - kind: Hostname
      group: networking.istio.io
      name: edition.cnn.com
      port: 443
EOF
}

! IFS=$'\n' read -r -d '' snip_https_through_an_egress_gateway_2_out <<\ENDSNIP
serviceentry.networking.istio.io/cnn created
gateway.gateway.networking.k8s.io/cnn-egress-gateway created
tlsroute.gateway.networking.k8s.io/direct-cnn-to-egress-gateway created
tlsroute.gateway.networking.k8s.io/forward-cnn-from-egress-gateway created
ENDSNIP

snip_https_through_an_egress_gateway_3() {
kubectl wait --for=condition=programmed gtw cnn-egress-gateway --timeout=120s
}

# verify: elided
snip_https_through_an_egress_gateway_4() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSL -o /dev/null -D - https://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_https_through_an_egress_gateway_4_out <<\ENDSNIP
HTTP/2 200
...
ENDSNIP

# verify: regex "- - -" 0 .* outbound\|443\|\|edition\.cnn\.com .* edition\.cnn\.com
snip_https_through_an_egress_gateway_5() {
kubectl logs -l gateway.networking.k8s.io/gateway-name=cnn-egress-gateway -c istio-proxy | tail -1
}

snip_clean_up_1() {
kubectl delete serviceentry cnn
kubectl delete gtw --cascade=foreground cnn-egress-gateway
kubectl delete tlsroute direct-cnn-to-egress-gateway
kubectl delete tlsroute forward-cnn-from-egress-gateway
kubectl delete -f samples/curl/curl.yaml
}
