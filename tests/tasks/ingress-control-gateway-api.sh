#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: the Gateway API half of https://istio.io/latest/docs/tasks/traffic-management/ingress/ingress-control/
# on a cluster without a load balancer: the Gateway asks for a NodePort Service
# (networking.istio.io/service-type, https://istio.io/latest/docs/tasks/traffic-management/ingress/gateway-api/
# "Automated Deployment"), and the node port of the Service Istio made for it is the way in.
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

snip_create_a_gateway_1() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    hostname: httpbin.example.com
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
EOF
}

! IFS=$'\n' read -r -d '' snip_create_a_gateway_1_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/httpbin-gateway created
ENDSNIP

snip_create_a_gateway_2() {
kubectl wait --for=condition=programmed gtw httpbin-gateway --timeout=120s
}

! IFS=$'\n' read -r -d '' snip_create_a_gateway_2_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/httpbin-gateway condition met
ENDSNIP

# verify: like
snip_create_a_gateway_3() {
kubectl get deployment,service -l gateway.networking.k8s.io/gateway-name=httpbin-gateway
}

! IFS=$'\n' read -r -d '' snip_create_a_gateway_3_out <<\ENDSNIP
NAME                                    READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/httpbin-gateway-istio   1/1     1            1           9s

NAME                            TYPE       CLUSTER-IP     EXTERNAL-IP   PORT(S)   AGE
service/httpbin-gateway-istio   NodePort   10.96.92.183   <none>        ...       9s
ENDSNIP

snip_create_a_gateway_4() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: httpbin-gateway
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

! IFS=$'\n' read -r -d '' snip_create_a_gateway_4_out <<\ENDSNIP
httproute.gateway.networking.k8s.io/httpbin created
ENDSNIP

# verify: like
snip_read_the_status_1() {
kubectl get gtw httpbin-gateway
}

! IFS=$'\n' read -r -d '' snip_read_the_status_1_out <<\ENDSNIP
NAME              CLASS   ADDRESS                                           PROGRAMMED   AGE
httpbin-gateway   istio   httpbin-gateway-istio.default.svc.cluster.local   True         14s
ENDSNIP

snip_read_the_status_2() {
kubectl get httproute httpbin -o jsonpath='{range .status.parents[0].conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}'
}

! IFS=$'\n' read -r -d '' snip_read_the_status_2_out <<\ENDSNIP
Accepted=True (Accepted)
ResolvedRefs=True (ResolvedRefs)
ENDSNIP

snip_read_the_status_3() {
kubectl get gtw httpbin-gateway -o jsonpath='{.status.listeners[0].attachedRoutes}'
}

! IFS=$'\n' read -r -d '' snip_read_the_status_3_out <<\ENDSNIP
1
ENDSNIP

snip_find_the_gateway_address_1() {
export INGRESS_HOST=$(kubectl get po -l gateway.networking.k8s.io/gateway-name=httpbin-gateway -o jsonpath='{.items[0].status.hostIP}')
export INGRESS_PORT=$(kubectl get svc httpbin-gateway-istio -o jsonpath='{.spec.ports[?(@.port==80)].nodePort}')
}

# verify: regex ^INGRESS_HOST=[0-9]+(\.[0-9]+){3}, INGRESS_PORT=3[0-2][0-9]{3}$
snip_find_the_gateway_address_2() {
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

# verify: elided
snip_reach_httpbin_2() {
curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/headers"
}

! IFS=$'\n' read -r -d '' snip_reach_httpbin_2_out <<\ENDSNIP
HTTP/1.1 404 Not Found
...
ENDSNIP

snip_any_host_1() {
kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
  annotations:
    networking.istio.io/service-type: NodePort
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Same
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: httpbin-gateway
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /headers
    backendRefs:
    - name: httpbin
      port: 8000
EOF
}

! IFS=$'\n' read -r -d '' snip_any_host_1_out <<\ENDSNIP
gateway.gateway.networking.k8s.io/httpbin-gateway configured
httproute.gateway.networking.k8s.io/httpbin configured
ENDSNIP

# verify: contains HTTP/1.1 200 OK
snip_any_host_2() {
curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/headers"
}

snip_clean_up_1() {
kubectl delete httproute httpbin
kubectl delete gtw --cascade=foreground httpbin-gateway
kubectl delete --ignore-not-found=true -f samples/httpbin/httpbin.yaml
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
httproute.gateway.networking.k8s.io "httpbin" deleted from default namespace
gateway.gateway.networking.k8s.io "httpbin-gateway" deleted from default namespace
serviceaccount "httpbin" deleted from default namespace
service "httpbin" deleted from default namespace
deployment.apps "httpbin" deleted from default namespace
ENDSNIP

# verify: like
snip_clean_up_2() {
kubectl get deployment,service -l gateway.networking.k8s.io/gateway-name=httpbin-gateway
}

! IFS=$'\n' read -r -d '' snip_clean_up_2_out <<\ENDSNIP
No resources found in default namespace.
ENDSNIP
