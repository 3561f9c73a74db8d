#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: the TLS origination half of
# https://istio.io/latest/docs/tasks/traffic-management/egress/egress-tls-origination/ -- the
# sidecar turns the application's plain HTTP into HTTPS to edition.cnn.com.
####################################################################################################

snip_deploy_the_client_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/curl/curl.yaml
kubectl wait --for=condition=available deployment/curl --timeout=120s
export SOURCE_POD=$(kubectl get pod -l app=curl -o jsonpath={.items..metadata.name})
}

snip_plain_http_first_1() {
kubectl apply -f - <<EOF
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
  - number: 443
    name: https-port
    protocol: HTTPS
  resolution: DNS
EOF
}

! IFS=$'\n' read -r -d '' snip_plain_http_first_1_out <<\ENDSNIP
serviceentry.networking.istio.io/edition-cnn-com created
ENDSNIP

# verify: elided
snip_plain_http_first_2() {
kubectl exec "${SOURCE_POD}" -c curl -- curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_plain_http_first_2_out <<\ENDSNIP
HTTP/1.1 301 Moved Permanently
...
location: https://edition.cnn.com/politics
...
HTTP/2 200
...
ENDSNIP

snip_originate_tls_at_the_sidecar_1() {
kubectl apply -f - <<EOF
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
        mode: SIMPLE
EOF
}

! IFS=$'\n' read -r -d '' snip_originate_tls_at_the_sidecar_1_out <<\ENDSNIP
serviceentry.networking.istio.io/edition-cnn-com configured
destinationrule.networking.istio.io/edition-cnn-com created
ENDSNIP

# verify: elided
snip_originate_tls_at_the_sidecar_2() {
kubectl exec "${SOURCE_POD}" -c curl -- curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_originate_tls_at_the_sidecar_2_out <<\ENDSNIP
HTTP/1.1 200 OK
...
ENDSNIP

# verify: not_contains 301 Moved Permanently
snip_originate_tls_at_the_sidecar_3() {
kubectl exec "${SOURCE_POD}" -c curl -- curl -sSL -o /dev/null -D - http://edition.cnn.com/politics
}

# verify: elided
snip_originate_tls_at_the_sidecar_4() {
kubectl exec "${SOURCE_POD}" -c curl -- curl -sSL -o /dev/null -D - https://edition.cnn.com/politics
}

! IFS=$'\n' read -r -d '' snip_originate_tls_at_the_sidecar_4_out <<\ENDSNIP
HTTP/2 200
...
ENDSNIP

snip_clean_up_1() {
kubectl delete serviceentry edition-cnn-com
kubectl delete destinationrule edition-cnn-com
kubectl delete -f samples/curl/curl.yaml
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
serviceentry.networking.istio.io "edition-cnn-com" deleted from default namespace
destinationrule.networking.istio.io "edition-cnn-com" deleted from default namespace
serviceaccount "curl" deleted from default namespace
service "curl" deleted from default namespace
deployment.apps "curl" deleted from default namespace
ENDSNIP
