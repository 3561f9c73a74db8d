#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: the Istio API blocks of https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
# -- HTTP and then HTTPS (TLS passthrough) to edition.cnn.com through istio-egressgateway.
####################################################################################################

snip_deploy_the_client_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/curl/curl.yaml
kubectl wait --for=condition=available deployment/curl --timeout=120s
export SOURCE_POD=$(kubectl get pod -l app=curl -o jsonpath={.items..metadata.name})
}

# verify: like
snip_deploy_the_client_2() {
kubectl get pod -l istio=egressgateway -n istio-system
}

! IFS=$'\n' read -r -d '' snip_deploy_the_client_2_out <<\ENDSNIP
NAME                                   READY   STATUS    RESTARTS   AGE
istio-egressgateway-7d4c9f8b96-k2xqp   1/1     Running   0          1m
ENDSNIP

snip_http_through_the_egress_gateway_1() {
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
EOF
}

! IFS=$'\n' read -r -d '' snip_http_through_the_egress_gateway_1_out <<\ENDSNIP
serviceentry.networking.istio.io/cnn created
ENDSNIP

# verify: elided
snip_http_through_the_egress_gateway_2() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_http_through_the_egress_gateway_2_out <<\ENDSNIP
HTTP/1.1 301 Moved Permanently
...
location: https://edition.cnn.com/politics
...
HTTP/2 200
...
ENDSNIP

snip_http_through_the_egress_gateway_3() {
kubectl apply -f - <<EOF
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
---
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
          number: 80
      weight: 100
EOF
}

! IFS=$'\n' read -r -d '' snip_http_through_the_egress_gateway_3_out <<\ENDSNIP
gateway.networking.istio.io/istio-egressgateway created
destinationrule.networking.istio.io/egressgateway-for-cnn created
virtualservice.networking.istio.io/direct-cnn-through-egress-gateway created
ENDSNIP

# verify: elided
snip_http_through_the_egress_gateway_4() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_http_through_the_egress_gateway_4_out <<\ENDSNIP
HTTP/1.1 301 Moved Permanently
...
location: https://edition.cnn.com/politics
...
HTTP/2 200
...
ENDSNIP

# verify: regex "GET /politics HTTP/2" 301 .* outbound\|80\|\|edition\.cnn\.com
snip_http_through_the_egress_gateway_5() {
kubectl logs -l istio=egressgateway -c istio-proxy -n istio-system | tail -1
}

snip_clean_up_the_http_gateway_1() {
kubectl delete serviceentry cnn
kubectl delete gateways.networking.istio.io istio-egressgateway
kubectl delete virtualservice direct-cnn-through-egress-gateway
kubectl delete destinationrule egressgateway-for-cnn
}

! IFS=$'\n' read -r -d '' snip_clean_up_the_http_gateway_1_out <<\ENDSNIP
serviceentry.networking.istio.io "cnn" deleted from default namespace
gateway.networking.istio.io "istio-egressgateway" deleted from default namespace
virtualservice.networking.istio.io "direct-cnn-through-egress-gateway" deleted from default namespace
destinationrule.networking.istio.io "egressgateway-for-cnn" deleted from default namespace
ENDSNIP

snip_https_through_the_egress_gateway_1() {
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
EOF
}

# verify: elided
snip_https_through_the_egress_gateway_2() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSL -o /dev/null -D - https://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_https_through_the_egress_gateway_2_out <<\ENDSNIP
HTTP/2 200
...
ENDSNIP

snip_https_through_the_egress_gateway_3() {
kubectl apply -f - <<EOF
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
EOF
}

! IFS=$'\n' read -r -d '' snip_https_through_the_egress_gateway_3_out <<\ENDSNIP
gateway.networking.istio.io/istio-egressgateway created
destinationrule.networking.istio.io/egressgateway-for-cnn created
virtualservice.networking.istio.io/direct-cnn-through-egress-gateway created
ENDSNIP

# verify: elided
snip_https_through_the_egress_gateway_4() {
kubectl exec "$SOURCE_POD" -c curl -- curl -sSL -o /dev/null -D - https://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_https_through_the_egress_gateway_4_out <<\ENDSNIP
HTTP/2 200
...
ENDSNIP

# verify: regex "- - -" 0 .* outbound\|443\|\|edition\.cnn\.com .* edition\.cnn\.com
snip_https_through_the_egress_gateway_5() {
kubectl logs -l istio=egressgateway -n istio-system | tail -1
}

snip_clean_up_1() {
kubectl delete serviceentry cnn
kubectl delete gateways.networking.istio.io istio-egressgateway
kubectl delete virtualservice direct-cnn-through-egress-gateway
kubectl delete destinationrule egressgateway-for-cnn
kubectl delete -f samples/curl/curl.yaml
}
