#!/bin/bash
# shellcheck disable=SC2034,SC2153,SC2155,SC2164

####################################################################################################
# A task script for gatewaykit's own tests in the style of istio.io's generated snips.sh (see
# ingress-control.sh for the conventions).
#
# Flow: https://istio.io/latest/docs/tasks/traffic-management/ingress/ingress-sni-passthrough/ with
# the Istio API: an NGINX server that terminates TLS itself, reached through a PASSTHROUGH server.
####################################################################################################

snip_make_certificates_1() {
mkdir -p example_certs
openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 -subj '/O=example Inc./CN=example.com' \
  -keyout example_certs/example.com.key -out example_certs/example.com.crt 2>/dev/null
openssl req -out example_certs/nginx.example.com.csr -newkey rsa:2048 -nodes \
  -keyout example_certs/nginx.example.com.key -subj "/CN=nginx.example.com/O=some organization" 2>/dev/null
openssl x509 -req -sha256 -days 365 -CA example_certs/example.com.crt -CAkey example_certs/example.com.key \
  -set_serial 1 -in example_certs/nginx.example.com.csr -out example_certs/nginx.example.com.crt 2>/dev/null
}

snip_run_nginx_1() {
kubectl create secret tls nginx-server-certs \
  --key example_certs/nginx.example.com.key \
  --cert example_certs/nginx.example.com.crt
}

! IFS=$'\n' read -r -d '' snip_run_nginx_1_out <<\ENDSNIP
secret/nginx-server-certs created
ENDSNIP

snip_run_nginx_2() {
cat <<\EOF > ./nginx.conf
events {
}

http {
  server {
    listen 443 ssl;

    root /usr/share/nginx/html;
    index index.html;

    server_name nginx.example.com;
    ssl_certificate /etc/nginx-server-certs/tls.crt;
    ssl_certificate_key /etc/nginx-server-certs/tls.key;
  }
}
EOF
kubectl create configmap nginx-configmap --from-file=nginx.conf=./nginx.conf
}

! IFS=$'\n' read -r -d '' snip_run_nginx_2_out <<\ENDSNIP
configmap/nginx-configmap created
ENDSNIP

snip_run_nginx_3() {
kubectl apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
  labels:
    run: my-nginx
spec:
  ports:
  - port: 443
    protocol: TCP
  selector:
    run: my-nginx
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  selector:
    matchLabels:
      run: my-nginx
  replicas: 1
  template:
    metadata:
      labels:
        run: my-nginx
        sidecar.istio.io/inject: "true"
    spec:
      containers:
      - name: my-nginx
        image: nginx
        ports:
        - containerPort: 443
        volumeMounts:
        - name: nginx-config
          mountPath: /etc/nginx
          readOnly: true
        - name: nginx-server-certs
          mountPath: /etc/nginx-server-certs
          readOnly: true
      volumes:
      - name: nginx-config
        configMap:
          name: nginx-configmap
      - name: nginx-server-certs
        secret:
          secretName: nginx-server-certs
EOF
}

! IFS=$'\n' read -r -d '' snip_run_nginx_3_out <<\ENDSNIP
service/my-nginx created
deployment.apps/my-nginx created
ENDSNIP

snip_run_nginx_4() {
kubectl wait --for=condition=available deployment/my-nginx --timeout=120s
}

# verify: contains subject: CN=nginx.example.com
snip_run_nginx_5() {
kubectl exec "$(kubectl get pod -l run=my-nginx -o jsonpath={.items..metadata.name})" -c istio-proxy -- \
  curl -sS -v -k --resolve nginx.example.com:443:127.0.0.1 https://nginx.example.com
}

snip_pass_tls_through_1() {
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
      mode: PASSTHROUGH
    hosts:
    - nginx.example.com
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: nginx
spec:
  hosts:
  - nginx.example.com
  gateways:
  - mygateway
  tls:
  - match:
    - port: 443
      sniHosts:
      - nginx.example.com
    route:
    - destination:
        host: my-nginx
        port:
          number: 443
EOF
}

! IFS=$'\n' read -r -d '' snip_pass_tls_through_1_out <<\ENDSNIP
gateway.networking.istio.io/mygateway created
virtualservice.networking.istio.io/nginx created
ENDSNIP

snip_pass_tls_through_2() {
export INGRESS_HOST=$(kubectl get po -l istio=ingressgateway -n istio-system -o jsonpath='{.items[0].status.hostIP}')
export SECURE_INGRESS_PORT=$(kubectl -n istio-system get service istio-ingressgateway -o jsonpath='{.spec.ports[?(@.name=="https")].nodePort}')
}

# verify: elided
snip_pass_tls_through_3() {
curl -v --resolve "nginx.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs/example.com.crt \
  "https://nginx.example.com:$SECURE_INGRESS_PORT"
}

! IFS=$'\n' read -r -d '' snip_pass_tls_through_3_out <<\ENDSNIP
...
*  subject: CN=nginx.example.com; O=some organization
...
*  SSL certificate verify ok.
...
< HTTP/1.1 200 OK
< Server: nginx/
...
<title>Welcome to nginx!</title>
...
ENDSNIP

# verify: failure
snip_pass_tls_through_4() {
curl -sS --resolve "other.example.com:$SECURE_INGRESS_PORT:$INGRESS_HOST" --cacert example_certs/example.com.crt \
  "https://other.example.com:$SECURE_INGRESS_PORT"
}

snip_clean_up_1() {
kubectl delete gateways.networking.istio.io mygateway
kubectl delete virtualservice nginx
kubectl delete secret nginx-server-certs
kubectl delete configmap nginx-configmap
kubectl delete service my-nginx
kubectl delete deployment my-nginx
rm ./nginx.conf
rm -rf ./example_certs
}

! IFS=$'\n' read -r -d '' snip_clean_up_1_out <<\ENDSNIP
gateway.networking.istio.io "mygateway" deleted from default namespace
virtualservice.networking.istio.io "nginx" deleted from default namespace
secret "nginx-server-certs" deleted from default namespace
configmap "nginx-configmap" deleted from default namespace
service "my-nginx" deleted from default namespace
deployment.apps "my-nginx" deleted from default namespace
ENDSNIP
