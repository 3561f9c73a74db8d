"""The kind backend's declarative config: pinned images, node flags, kubeadm, Istio install, samples."""

from __future__ import annotations

import re

import pytest
import yaml

from gatewaykit.backends import kind
from gatewaykit.backends.kind import (
    CLUSTER_DIR,
    KindNode,
    NodeSpec,
    diagnose,
    ingress_env,
    patch_corefile,
    pinned_images,
    render_cni_manifest,
    render_istio_operator,
    render_kubeadm_config,
)
from gatewaykit.errors import ClusterError


def test_images_are_pinned_node_by_digest_and_one_istio_version() -> None:
    images = pinned_images()
    roles = {i.role for i in images}
    assert roles == {"node", "istioctl", "cluster", "internet"}
    (node,) = [i for i in images if i.role == "node"]
    assert re.fullmatch(r"docker\.io/kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", node.ref)
    istio = [
        i.ref for i in images if "/istio/" in i.ref and "examples" not in i.ref and "tcp-echo" not in i.ref
    ]
    assert {r.rsplit(":", 1)[1] for r in istio} == {"1.27.1"}
    assert {r.rsplit("/", 1)[1].split(":")[0] for r in istio} == {"istioctl", "pilot", "proxyv2"}
    for img in images:
        tag = img.ref.split("@")[0].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] != "latest", f"{img.ref} is not pinned"
    assert node.short == "kindest/node:v1.33.1"


def test_node_spec_matches_kind_flags() -> None:
    spec = NodeSpec.load()
    assert spec.privileged and spec.cgroupns == "private" and spec.tty
    assert set(spec.security_opt) == {"seccomp=unconfined", "apparmor=unconfined"}
    assert set(spec.tmpfs) == {"/tmp", "/run"} and spec.var_volume == "/var"
    assert spec.entrypoint == ("/usr/local/bin/entrypoint", "/sbin/init")
    assert spec.node_ports == {"http2": 30080, "https": 30443, "tcp": 31400}
    assert spec.published_ports() == (6443, 30080, 30443, 31400)
    assert spec.kubernetes_version in pinned_images()[0].ref


def test_node_spec_rejects_unknown_keys(tmp_path) -> None:
    bad = tmp_path / "node.yaml"
    bad.write_text("privileged: true\nprivilged: false\n")
    with pytest.raises(ClusterError, match="unknown keys"):
        NodeSpec.load(bad)


def test_container_kwargs_are_kinds_docker_run_flags() -> None:
    node = KindNode(NodeSpec.load(), "img:1", cluster="c1", client=object())
    kw = node.container_kwargs("c1-control-plane-var")
    assert kw["privileged"] is True
    assert kw["security_opt"] == ["seccomp=unconfined", "apparmor=unconfined"]
    assert kw["cgroupns"] == "private" and kw["tty"] is True and kw["init"] is False
    assert kw["hostname"] == "gatewaykit-control-plane"
    assert kw["entrypoint"] == ["/usr/local/bin/entrypoint", "/sbin/init"]
    assert kw["labels"] == {
        "io.gatewaykit.cluster": "c1",
        "io.gatewaykit.role": "node",
        "app.kubernetes.io/managed-by": "gatewaykit",
    }
    assert node.volume_mappings("v")[0] == ("v", "/var", "rw")
    assert (
        KindNode(NodeSpec.load(), "img:1", privileged=False, client=object()).container_kwargs("v")[
            "privileged"
        ]
        is False
    )


def test_kubeadm_config_renders_the_node() -> None:
    spec = NodeSpec.load()
    docs = list(yaml.safe_load_all(render_kubeadm_config(spec, "172.18.0.2")))
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {
        "ClusterConfiguration",
        "InitConfiguration",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
    }
    cc = by_kind["ClusterConfiguration"]
    assert cc["kubernetesVersion"] == "v1.33.1"
    assert cc["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/16"}
    # The API server is reached as 127.0.0.1 (host), by hostname (istioctl container) and by IP.
    assert cc["apiServer"]["certSANs"] == ["localhost", "127.0.0.1", "gatewaykit-control-plane", "172.18.0.2"]
    init = by_kind["InitConfiguration"]
    assert init["localAPIEndpoint"]["advertiseAddress"] == "172.18.0.2"
    assert init["nodeRegistration"]["kubeletExtraArgs"]["node-ip"] == "172.18.0.2"
    assert by_kind["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    assert by_kind["KubeletConfiguration"]["imageGCHighThresholdPercent"] == 100


def _operator(**kw) -> dict:
    return yaml.safe_load(render_istio_operator(NodeSpec.load(), istio_version="1.27.1", **kw))


def test_istio_operator_default_profile_egress_nodeports_zero_requests() -> None:
    op = _operator()
    assert op["kind"] == "IstioOperator" and op["spec"]["profile"] == "default"
    assert op["spec"]["tag"] == "1.27.1" and op["spec"]["hub"] == "docker.io/istio"
    assert op["spec"]["meshConfig"]["outboundTrafficPolicy"] == {"mode": "ALLOW_ANY"}
    comps = op["spec"]["components"]
    (ingress,) = comps["ingressGateways"]
    (egress,) = comps["egressGateways"]
    assert ingress["name"] == "istio-ingressgateway" and ingress["enabled"]
    assert egress["name"] == "istio-egressgateway" and egress["enabled"]
    svc = ingress["k8s"]["service"]
    assert svc["type"] == "NodePort"
    ports = {p["name"]: (p["port"], p["targetPort"], p["nodePort"]) for p in svc["ports"]}
    # Service ports as in istio-behavior.md §2 (http2 80→8080, https 443→8443, tcp 31400).
    assert ports["http2"] == (80, 8080, 30080)
    assert ports["https"] == (443, 8443, 30443)
    assert ports["tcp"] == (31400, 31400, 31400)
    # The NodePorts are the ones the node container publishes.
    assert {ports[k][2] for k in ("http2", "https", "tcp")} == set(NodeSpec.load().node_ports.values())
    zero = {"cpu": "0m", "memory": "0Mi"}
    assert comps["pilot"]["k8s"]["resources"]["requests"] == zero
    assert ingress["k8s"]["resources"]["requests"] == zero and egress["k8s"]["resources"]["requests"] == zero
    assert op["spec"]["values"]["global"]["proxy"]["resources"]["requests"] == zero


def test_istio_operator_switches_outbound_traffic_policy() -> None:
    assert _operator(outbound_traffic_policy="REGISTRY_ONLY")["spec"]["meshConfig"][
        "outboundTrafficPolicy"
    ] == {"mode": "REGISTRY_ONLY"}
    with pytest.raises(ValueError, match="ALLOW_ANY or REGISTRY_ONLY"):
        _operator(outbound_traffic_policy="DENY")


KINDNET_TEMPLATE = """# kindnetd networking manifest
# would you kindly template this file
---
apiVersion: apps/v1
kind: DaemonSet
spec:
  template:
    spec:
      containers:
      - name: kindnet-cni
        env:
        - name: POD_SUBNET
          value: {{ .PodSubnet }}
"""


def test_cni_manifest_templating() -> None:
    out = render_cni_manifest(KINDNET_TEMPLATE, "10.244.0.0/16")
    env = [d for d in yaml.safe_load_all(out) if d][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "POD_SUBNET", "value": "10.244.0.0/16"}]
    with pytest.raises(ClusterError, match="not kind's template"):
        render_cni_manifest("kind: DaemonSet\n", "10.244.0.0/16")
    with pytest.raises(ClusterError, match="does not know"):
        render_cni_manifest(KINDNET_TEMPLATE + "  x: {{ .Other }}\n", "10.244.0.0/16")


def test_ingress_env_names_the_published_ports() -> None:
    assert ingress_env({"http2": 41001, "https": 41002, "tcp": 41003}) == {
        "INGRESS_HOST": "127.0.0.1",
        "INGRESS_PORT": "41001",
        "SECURE_INGRESS_PORT": "41002",
        "TCP_INGRESS_PORT": "41003",
    }


COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def test_corefile_patch_resolves_the_fake_internet_and_is_idempotent() -> None:
    once = patch_corefile(COREFILE, "172.18.0.3", ["httpbin.org", "edition.cnn.com"])
    assert "       172.18.0.3 httpbin.org edition.cnn.com\n       fallthrough\n" in once
    assert once.index("hosts {") < once.index("kubernetes cluster.local")
    twice = patch_corefile(once, "172.18.0.9", ["httpbin.org"])
    assert twice.count("hosts {") == 1 and "172.18.0.9 httpbin.org\n" in twice and "172.18.0.3" not in twice
    with pytest.raises(ClusterError):
        patch_corefile("example.org {\n}\n", "1.2.3.4", ["x"])


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        (
            "Error while fetching server API version: Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
            "no Docker",
        ),
        (
            "driver failed programming external connectivity: Bind for 127.0.0.1:30080 failed: "
            "port is already allocated",
            "port in use",
        ),
        ('404 Client Error: Not Found ("No such image: kindest/node:v1.33.1")', "image missing"),
        ("curl-5b7f6c8d9-abcde/curl: ErrImagePull: failed to resolve reference", "image missing"),
        ("Docker has 1.9 GiB of memory\ninsufficient memory", "too little memory"),
        ("kubelet: OOMKilled", "too little memory"),
    ],
)
def test_diagnose_names_the_fix(text: str, fix: str) -> None:
    assert (diagnose(text) or "").startswith(fix)


def test_diagnose_unknown_is_none() -> None:
    assert diagnose("kubeadm: some new failure") is None


def test_not_ready_error_carries_step_fix_and_last_lines() -> None:
    err = kind._fail(
        "load images",
        "docker.io/kong/httpbin:0.1.0 is not in the host's Docker",
        "\n".join(f"line {i}" for i in range(40)) + "\nno such image",
    )
    text = str(err)
    assert text.startswith(
        "load images: docker.io/kong/httpbin:0.1.0 is not in the host's Docker\nfix: image missing"
    )
    assert "--- last log lines ---" in text and "line 39" in text and "line 5\n" not in text


def _sample_docs() -> list[dict]:
    docs = []
    for path in sorted((CLUSTER_DIR / "samples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_samples_use_only_pinned_images_with_if_not_present() -> None:
    pinned = {i.ref for i in pinned_images() if i.role == "cluster"}
    containers = [
        c
        for d in _sample_docs()
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert {c["image"] for c in containers} <= pinned
    assert all(c.get("imagePullPolicy") == "IfNotPresent" for c in containers)
    names = {d["metadata"]["name"] for d in _sample_docs() if d["kind"] == "Deployment"}
    assert {"httpbin", "helloworld-v1", "helloworld-v2", "tcp-echo-v1", "curl", "my-nginx"} <= names


def test_samples_match_the_embedded_sandbox_shapes() -> None:
    svcs = {d["metadata"]["name"]: d for d in _sample_docs() if d["kind"] == "Service"}
    # httpbin: port 8000 name http -> 8080 (istio-behavior.md §16); curl: port 80; tcp-echo 9000/9001.
    assert svcs["httpbin"]["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8080}]
    assert svcs["curl"]["spec"]["ports"] == [{"port": 80, "name": "http"}]
    assert [p["port"] for p in svcs["tcp-echo"]["spec"]["ports"]] == [9000, 9001]
    deps = {d["metadata"]["name"]: d for d in _sample_docs() if d["kind"] == "Deployment"}
    curl = deps["curl"]["spec"]["template"]["spec"]["containers"][0]
    assert curl["name"] == "curl"  # sb.curl(source="default/curl") execs into the container named curl
    assert deps["tcp-echo-v1"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "9000,9001,9002",
        "one",
    ]


def test_pin_images_gives_doc_style_images_the_pinned_tag() -> None:
    from gatewaykit.backends.kind import pin_images

    pinned = [i.ref for i in pinned_images() if i.role == "cluster"]

    def dep(*images: str) -> dict:
        return {
            "kind": "Deployment",
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
                }
            },
        }

    out = pin_images(
        dep(
            "curlimages/curl",
            "docker.io/kong/httpbin",
            "nginx",
            "nginx:latest",
            "docker.io/istio/examples-helloworld-v1",
            "nginx:1.25",
            "ghcr.io/me/app",
            "auto",
        ),
        pinned,
    )
    images = [(c["image"], c.get("imagePullPolicy")) for c in out["spec"]["template"]["spec"]["containers"]]
    assert images == [
        ("docker.io/curlimages/curl:8.16.0", "IfNotPresent"),
        ("docker.io/kong/httpbin:0.1.0", "IfNotPresent"),
        ("docker.io/library/nginx:1.27.5", "IfNotPresent"),
        ("docker.io/library/nginx:1.27.5", "IfNotPresent"),
        ("docker.io/istio/examples-helloworld-v1:1.0", "IfNotPresent"),
        ("nginx:1.25", None),  # a tag the learner chose is kept
        ("ghcr.io/me/app", None),
        ("auto", None),  # gateway injection template image
    ]
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80}]}}
    assert pin_images(dict(svc), pinned) == svc


def test_kubeadm_sans_include_the_container_name() -> None:
    docs = list(
        yaml.safe_load_all(
            render_kubeadm_config(
                NodeSpec.load(), "172.18.0.2", extra_sans=["gatewaykit-ab12cd-control-plane"]
            )
        )
    )
    assert docs[0]["apiServer"]["certSANs"][-1] == "gatewaykit-ab12cd-control-plane"


def test_private_clusters_get_their_own_name_and_network(tmp_path) -> None:
    from gatewaykit.backends.kind import KindSandbox

    shared = KindSandbox(start=False, state_dir=tmp_path)
    private = KindSandbox(reuse=False, start=False, state_dir=tmp_path)
    assert (shared.name, shared.network, shared.reuse) == ("gatewaykit", "gatewaykit", True)
    assert private.name.startswith("gatewaykit-") and private.network == private.name
    assert private.state_dir == tmp_path / private.name


def test_progress_widget_follows_the_steps() -> None:
    pytest.importorskip("ipywidgets")
    from gatewaykit.backends.kind import STEPS, progress_widget

    box, hook = progress_widget()
    bar, label = box.children
    assert (bar.value, bar.max) == (0, len(STEPS))
    hook("kubeadm init")
    assert (bar.value, label.value) == (STEPS.index("kubeadm init") + 1, "kubeadm init")
    hook("fake internet: image missing, egress labs unavailable")
    assert bar.value == STEPS.index("kubeadm init") + 1 and label.value.startswith("fake internet")
    hook("ready")
    assert bar.value == bar.max and bar.bar_style == "success"


def test_image_candidates_cover_pull_by_digest_and_bundle_tags() -> None:
    from gatewaykit.backends.kind import image_candidates

    node = "docker.io/kindest/node:v1.33.1@sha256:" + "0" * 64
    assert image_candidates(node) == [
        node,
        "docker.io/kindest/node@sha256:" + "0" * 64,
        "docker.io/kindest/node:v1.33.1",
    ]
    assert image_candidates("docker.io/istio/pilot:1.27.1") == ["docker.io/istio/pilot:1.27.1"]
    assert image_candidates("localhost:5000/x@sha256:ab") == [
        "localhost:5000/x@sha256:ab",
        "localhost:5000/x@sha256:ab",
    ]
