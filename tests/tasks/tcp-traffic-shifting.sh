#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: https://istio.io/latest/docs/tasks/traffic-management/tcp-traffic-shifting/ with the Istio
# API: all TCP traffic of the ingress gateway's port 31400 to tcp-echo v1, then 20% to v2. The page
# sends its lines with nc from the curl pod; this script does that once, and sends the many lines
# of the weight check from the learner's machine (bash's /dev/tcp) to the same gateway port.
####################################################################################################

snip_set_up_1() {
kubectl create namespace istio-io-tcp-traffic-shifting
kubectl label namespace istio-io-tcp-traffic-shifting istio-injection=enabled
}

! IFS=$'\n' read -r -d '' snip_set_up_1_out <<\ENDSNIP
namespace/istio-io-tcp-traffic-shifting created
namespace/istio-io-tcp-traffic-shifting labeled
ENDSNIP

snip_set_up_2() {
kubectl apply -f samples/curl/curl.yaml -n istio-io-tcp-traffic-shifting
kubectl apply -f samples/tcp-echo/tcp-echo-services.yaml -n istio-io-tcp-traffic-shifting
}

! IFS=$'\n' read -r -d '' snip_set_up_2_out <<\ENDSNIP
serviceaccount/curl created
service/curl created
deployment.apps/curl created
service/tcp-echo created
deployment.apps/tcp-echo-v1 created
deployment.apps/tcp-echo-v2 created
ENDSNIP

snip_set_up_3() {
kubectl wait --for=condition=available deployment --all -n istio-io-tcp-traffic-shifting --timeout=120s
}

! IFS=$'\n' read -r -d '' snip_set_up_3_out <<\ENDSNIP
deployment.apps/curl condition met
deployment.apps/tcp-echo-v1 condition met
deployment.apps/tcp-echo-v2 condition met
ENDSNIP

snip_all_to_v1_1() {
kubectl apply -f samples/tcp-echo/tcp-echo-all-v1.yaml -n istio-io-tcp-traffic-shifting
}

! IFS=$'\n' read -r -d '' snip_all_to_v1_1_out <<\ENDSNIP
gateway.networking.istio.io/tcp-echo-gateway created
destinationrule.networking.istio.io/tcp-echo-destination created
virtualservice.networking.istio.io/tcp-echo created
ENDSNIP

snip_all_to_v1_2() {
export INGRESS_HOST=$(kubectl get po -l istio=ingressgateway -n istio-system -o jsonpath='{.items[0].status.hostIP}')
export TCP_INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="tcp")].nodePort}')
export CURL=$(kubectl get pod -l app=curl -n istio-io-tcp-traffic-shifting -o jsonpath={.items..metadata.name})
}

# verify: regex ^one [A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]{8} UTC [0-9]{4}$
snip_all_to_v1_3() {
kubectl exec "$CURL" -c curl -n istio-io-tcp-traffic-shifting -- sh -c "(date; sleep 1) | nc $INGRESS_HOST $TCP_INGRESS_PORT"
}

# verify: lines + one hello 1\n+ one hello 20\n- two
snip_all_to_v1_4() {
for i in $(seq 1 20); do
  exec 3<>"/dev/tcp/$INGRESS_HOST/$TCP_INGRESS_PORT"
  echo "hello $i" >&3
  read -r line <&3
  echo "$line"
  exec 3<&-
done
}

snip_shift_20_percent_to_v2_1() {
kubectl apply -f samples/tcp-echo/tcp-echo-20-v2.yaml -n istio-io-tcp-traffic-shifting
}

! IFS=$'\n' read -r -d '' snip_shift_20_percent_to_v2_1_out <<\ENDSNIP
virtualservice.networking.istio.io/tcp-echo configured
ENDSNIP

# verify: elided
snip_shift_20_percent_to_v2_2() {
kubectl get virtualservice tcp-echo -o yaml -n istio-io-tcp-traffic-shifting
}

! IFS=$'\n' read -r -d '' snip_shift_20_percent_to_v2_2_out <<\ENDSNIP
apiVersion: networking.istio.io/v1
kind: VirtualService
...
  tcp:
  - match:
    - port: 31400
    route:
    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v1
      weight: 80
    - destination:
        host: tcp-echo
        port:
          number: 9000
        subset: v2
      weight: 20
ENDSNIP

# verify: lines + one hello\n+ two hello
snip_shift_20_percent_to_v2_3() {
for i in $(seq 1 60); do
  exec 3<>"/dev/tcp/$INGRESS_HOST/$TCP_INGRESS_PORT"
  echo "hello" >&3
  read -r line <&3
  echo "$line"
  exec 3<&-
done
}

snip_clean_up_1() {
kubectl delete -f samples/tcp-echo/tcp-echo-all-v1.yaml -n istio-io-tcp-traffic-shifting
kubectl delete -f samples/curl/curl.yaml -n istio-io-tcp-traffic-shifting
kubectl delete -f samples/tcp-echo/tcp-echo-services.yaml -n istio-io-tcp-traffic-shifting
kubectl delete namespace istio-io-tcp-traffic-shifting
}
