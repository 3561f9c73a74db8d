#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/ -- the Gateway API
# CRDs, a Gateway in its own namespace for *.example.com, an HTTPRoute from default, a header added
# by a filter, the Deployment and Service Istio made for the Gateway, and a route for mesh traffic
# (parentRef: a Service). The Gateway asks for a NodePort Service: this cluster has no load balancer.
####################################################################################################

snip_check_the_crds_1() {
kubectl get crd gateways.gateway.networking.k8s.io -o jsonpath='{.metadata.annotations.gateway\.networking\.k8s\.io/bundle-version}'
}

! IFS=$'\n' read -r -d '' snip_check_the_crds_1_out <<\ENDSNIP
v1.3.0
ENDSNIP

# verify: like
snip_check_the_crds_2() {
kubectl get gatewayclass
}

! IFS=$'\n' read -r -d '' snip_check_the_crds_2_out <<\ENDSNIP
NAME           CONTROLLER                    ACCEPTED   AGE
istio          istio.io/gateway-controller   True       52s
istio-remote   istio.io/unmanaged-gateway    True       52s
ENDSNIP

snip_configure_a_gateway_1() {
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f samples/httpbin/httpbin.yaml
kubectl apply -f samples/curl/curl.yaml
}

snip_configure_a_gateway_2() {
kubectl create namespace istio-ingress
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gateway
  namespace: istio-ingress
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: default
    hostname: "*.example.com"
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames:
  - httpbin.example.com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    backendRefs:
    - name: httpbin
      port: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_configure_a_gateway_2_out <<\ENDSNIP
namespace/istio-ingress created
gateway.gateway.networking.k8s.io/gateway created
httproute.gateway.networking.k8s.io/http created
ENDSNIP

snip_configure_a_gateway_3() {
kubectl wait -n istio-ingress --for=condition=programmed gateways.gateway.networking.k8s.io gateway --timeout=120s
export INGRESS_HOST=$(kubectl get po -n istio-ingress -l gateway.networking.k8s.io/gateway-name=gateway -o jsonpath='{.items[0].status.hostIP}')
export INGRESS_PORT=$(kubectl get svc gateway-istio -n istio-ingress -o jsonpath='{.spec.ports[?(@.port==80)].nodePort}')
}

! IFS=$'\n' read -r -d '' snip_configure_a_gateway_3_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/gateway condition met
ENDSNIP

# verify: elided
snip_configure_a_gateway_4() {
curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/get"
}

! IFS=$'\n' read -r -d '' snip_configure_a_gateway_4_out <<\ENDSNIP
HTTP/1.1 200 OK
...
server: istio-envoy
...
ENDSNIP

# verify: elided
snip_configure_a_gateway_5() {
curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"
}

! IFS=$'\n' read -r -d '' snip_configure_a_gateway_5_out <<\ENDSNIP
HTTP/1.1 404 Not Found
...
ENDSNIP

snip_add_a_header_1() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http
  namespace: default
spec:
  parentRefs:
  - name: gateway
    namespace: istio-ingress
  hostnames:
  - httpbin.example.com
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /get
    - path:
        type: PathPrefix
        value: /headers
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: my-added-header
          value: added-value
    backendRefs:
    - name: httpbin
      port: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_add_a_header_1_out <<\ENDSNIP
httproute.gateway.networking.k8s.io/http configured
ENDSNIP

snip_add_a_header_2() {
curl -s -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers" | jq '.headers["My-Added-Header"][0]'
}

! IFS=$'\n' read -r -d '' snip_add_a_header_2_out <<\ENDSNIP
"added-value"
ENDSNIP

# verify: like
snip_what_istio_deployed_1() {
kubectl get deployment,service -n istio-ingress
}

! IFS=$'\n' read -r -d '' snip_what_istio_deployed_1_out <<\ENDSNIP
NAME                            READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/gateway-istio   1/1     1            1           30s

NAME                    TYPE       CLUSTER-IP    EXTERNAL-IP   PORT(S)   AGE
service/gateway-istio   NodePort   10.96.3.107   <none>        ...       30s
ENDSNIP

snip_what_istio_deployed_2() {
kubectl get deployment gateway-istio -n istio-ingress -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}'
}

! IFS=$'\n' read -r -d '' snip_what_istio_deployed_2_out <<\ENDSNIP
Gateway/gateway
ENDSNIP

snip_mesh_traffic_1() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: mesh
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: httpbin
    port: 8000
  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        add:
        - name: my-mesh-header
          value: from-the-mesh-route
    backendRefs:
    - name: httpbin
      port: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_mesh_traffic_1_out <<\ENDSNIP
httproute.gateway.networking.k8s.io/mesh created
ENDSNIP

snip_mesh_traffic_2() {
kubectl exec deploy/curl -c curl -- curl -s http://httpbin:8000/headers | jq -r '.headers["My-Mesh-Header"][0]'
}

! IFS=$'\n' read -r -d '' snip_mesh_traffic_2_out <<\ENDSNIP
from-the-mesh-route
ENDSNIP

snip_clean_up_1() {
kubectl delete httproute http mesh
kubectl delete gateways.gateway.networking.k8s.io gateway -n istio-ingress
kubectl delete ns istio-ingress
kubectl delete -f samples/httpbin/httpbin.yaml
kubectl delete -f samples/curl/curl.yaml
}
