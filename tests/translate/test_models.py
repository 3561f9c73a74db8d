"""Typed models: camelCase fields, tuples, Secret decoding, tolerance of odd input (design §1)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewaykit.errors import GatewayKitError, ManifestError
from gatewaykit.resources import models as M
from gatewaykit.resources.meta import KINDS, ResourceKey, Source


def load(text: str) -> M.Resource:
    return M.from_dict(yaml.safe_load(text), Source("x.yaml", 0, 1))


def test_gateway_fields() -> None:
    gw = load("""
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: istio-system, labels: {a: b}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["./a.example.com"]
    tls: {mode: MUTUAL, credentialName: c, minProtocolVersion: TLSV1_2, cipherSuites: [X]}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    tls: {httpsRedirect: true}
""")
    assert isinstance(gw, M.Gateway)
    assert gw.key == ResourceKey("Gateway", "istio-system", "gw")
    assert gw.source == Source("x.yaml", 0, 1)
    s0, s1 = gw.spec.servers
    assert s0.port == M.Port(number=443, protocol="HTTPS", name="https")
    assert s0.hosts == ("./a.example.com",)
    assert s0.tls is not None and (s0.tls.mode, s0.tls.credentialName, s0.tls.cipherSuites) == (
        "MUTUAL",
        "c",
        ("X",),
    )
    # The proto's zero value: an httpsRedirect-only tls block has mode PASSTHROUGH (§6).
    assert s1.tls is not None and s1.tls.httpsRedirect and s1.tls.mode == "PASSTHROUGH"
    assert gw.spec.selector == {"istio": "ingressgateway"}
    assert gw.metadata.labels == {"a": "b"}
    with pytest.raises(TypeError):
        gw.metadata.labels["x"] = "y"  # type: ignore[index]


def test_virtualservice_fields() -> None:
    vs = load("""
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a]
  http:
  - name: r
    match:
    - uri: {prefix: /a}
      headers: {x: {regex: "b.*"}}
      port: 80
      gateways: [mesh]
      queryParams: {q: {exact: "1"}}
    route: [{destination: {host: a, subset: v1, port: {number: 80}}, weight: 50}]
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 1s}
    fault: {abort: {httpStatus: 500, percentage: {value: 10}}}
    mirror: {host: b}
  tls: [{match: [{sniHosts: [a.com], port: 443}], route: [{destination: {host: a.com}}]}]
  tcp: [{match: [{port: 31400}], route: [{destination: {host: t}}]}]
""")
    assert isinstance(vs, M.VirtualService)
    assert vs.metadata.namespace == "default"  # kubectl's default namespace
    (h,) = vs.spec.http
    assert h.match[0].headers["x"] == M.StringMatch(regex="b.*")
    assert h.match[0].queryParams["q"].exact == "1"
    assert h.route[0].destination == M.Destination(host="a", subset="v1", port=M.PortSelector(80))
    assert M.parse_duration(h.timeout) == 2.0
    assert h.fault["abort"]["httpStatus"] == 500
    assert vs.spec.tls[0].match[0].sniHosts == ("a.com",)
    assert vs.spec.tcp[0].match[0].port == 31400


def test_secret_data_and_string_data() -> None:
    s = load("""
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: Q0VSVA==, tls.key: S0VZ}
stringData: {tls.key: override}
""")
    assert isinstance(s, M.Secret)
    assert s.type == "kubernetes.io/tls"
    assert dict(s.data) == {"tls.crt": b"CERT", "tls.key": b"override"}
    with pytest.raises(ManifestError, match="illegal base64"):
        load("{apiVersion: v1, kind: Secret, metadata: {name: s}, data: {a: '!!notbase64'}}")


def test_service_deployment() -> None:
    svc = load("""
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports: [{name: http, port: 80, targetPort: http}, {port: 81, targetPort: 8081, appProtocol: http}]
  selector: {app: s}
""")
    assert isinstance(svc, M.Service)
    assert [p.targetPort for p in svc.spec.ports] == ["http", 8081]
    dep = load("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, annotations: {a: b}}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}, annotations: {inject.istio.io/templates: gateway}}
    spec:
      containers:
      - name: c
        image: i
        command: [sh]
        args: [-c, x]
        ports: [{containerPort: 8080, name: http}]
        volumeMounts: [{name: v, mountPath: /etc/x, readOnly: true}]
      volumes:
      - {name: v, secret: {secretName: s, items: [{key: a, path: b}]}}
      - {name: w, configMap: {name: cm}}
""")
    assert isinstance(dep, M.Deployment)
    assert dep.spec.replicas == 1
    c = dep.containers[0]
    assert (c.command, c.args, c.ports[0].name, c.volumeMounts[0].readOnly) == (
        ("sh",),
        ("-c", "x"),
        "http",
        True,
    )
    assert dep.volumes[0].secret == M.SecretVolumeSource("s", (M.KeyToPath("a", "b"),))
    assert dep.volumes[1].configMap is not None and dep.volumes[1].configMap.name == "cm"
    assert dep.pod_annotations == {"inject.istio.io/templates": "gateway"}


def test_istiooperator_is_not_a_kind_a_cluster_serves() -> None:
    # Istio 1.24+ installs no IstioOperator CRD: kubectl's mapping error, word for word, and no
    # "supported kinds" line (it is a real Istio kind, just not served).
    from gatewaykit.resources.codecs import load as load_all

    with pytest.raises(ManifestError) as err:
        load_all("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {}\n", name="iop.yaml")
    assert str(err.value) == (
        'error: resource mapping not found for name: "" namespace: "" from "iop.yaml": no matches for kind '
        '"IstioOperator" in version "install.istio.io/v1alpha1"\nensure CRDs are installed first'
    )


def test_every_kind_has_a_model_and_namespace_is_cluster_scoped() -> None:
    for info in KINDS:
        if info.system:  # made by controllers, read raw (pods, endpoints): no typed model
            continue
        raw = {"apiVersion": info.api_versions()[0], "kind": info.kind, "metadata": {"name": "x"}}
        m = M.from_dict(raw)
        assert m.kind == info.kind
        assert m.key.namespace == ("default" if info.namespaced else "")


def test_unknown_kind() -> None:
    with pytest.raises(ManifestError, match="Gateway, VirtualService"):
        M.from_dict({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([k.kind for k in KINDS]), spec=_json, meta=_json, extra=_json)
def test_odd_input_never_raises_foreign_errors(kind: str, spec: Any, meta: Any, extra: Any) -> None:
    api = next(k for k in KINDS if k.kind == kind).api_versions()[0]
    raw = {
        "apiVersion": api,
        "kind": kind,
        "metadata": meta,
        "spec": spec,
        "data": extra,
        "stringData": extra,
    }
    try:
        M.from_dict(raw)
    except GatewayKitError:
        pass
