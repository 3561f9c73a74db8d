"""The kind backend's declarative config: pinned images, node flags, kubeadm, Istio install, samples."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from gatewaykit.backends import _node
from gatewaykit.backends._kindconfig import (
    CLUSTER_DIR,
    READY_LOG,
    HostConfig,
    NodeSpec,
    diagnose,
    docker_platform,
    host_config,
    image_repository,
    ingress_env,
    parse_snapshotter,
    patch_corefile,
    pin_images,
    pinned_images,
    render_cni_manifest,
    render_istio_operator,
    render_kubeadm_config,
)
from gatewaykit.backends._node import KindNode, image_candidates, import_command
from gatewaykit.errors import ClusterError


def test_images_are_istio_1_27_and_its_samples_pinned_by_tag_and_digest_where_known() -> None:
    images = pinned_images()
    assert {i.role for i in images} == {"node", "istioctl", "cluster", "ryuk", "internet"}
    (node,) = [i for i in images if i.role == "node"]
    # kind v0.29.0's default node image (pkg/apis/config/defaults/image.go), by digest.
    assert node.ref == (
        "docker.io/kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
    )
    istio = [
        i.tagged for i in images if "/istio/" in i.ref and "examples" not in i.ref and "tcp-echo" not in i.ref
    ]
    assert sorted(istio) == [f"docker.io/istio/{n}:1.27.1" for n in ("istioctl", "pilot", "proxyv2")]
    cluster = {i.tagged for i in images if i.role == "cluster"}
    # Istio 1.27.1's samples: samples/httpbin (go-httpbin v2.15.0 on 8080), curl, helloworld, tcp-echo.
    assert {
        "docker.io/mccutchen/go-httpbin:v2.15.0",
        "docker.io/curlimages/curl:8.16.0",
        "docker.io/istio/examples-helloworld-v1:1.0",
        "docker.io/istio/examples-helloworld-v2:1.0",
        "docker.io/istio/tcp-echo-server:1.3",
    } <= cluster
    assert not [i for i in images if "kong/httpbin" in i.ref]
    for img in images:
        assert img.tagged.rsplit(":", 1)[1] != "latest" and ":" in img.tagged.rsplit("/", 1)[1], img.ref
        assert img.digest is None or re.fullmatch(r"sha256:[0-9a-f]{64}", img.digest), img.ref
    assert node.short == "kindest/node:v1.33.1"
    (ryuk,) = [i for i in images if i.role == "ryuk"]
    from testcontainers.core.config import testcontainers_config

    # The reaper testcontainers starts is in the offline bundle.
    assert ryuk.short == testcontainers_config.ryuk_image


def test_node_spec_matches_kind_flags() -> None:
    spec = NodeSpec.load()
    assert spec.privileged and spec.cgroupns == "private" and spec.tty
    assert set(spec.security_opt) == {"seccomp=unconfined", "apparmor=unconfined"}
    assert set(spec.tmpfs) == {"/tmp", "/run"} and spec.var_volume == "/var"
    assert spec.entrypoint == ("/usr/local/bin/entrypoint", "/sbin/init")
    assert spec.restart_policy == {"Name": "on-failure", "MaximumRetryCount": 1}
    assert spec.node_ports == {"http2": 30080, "https": 30443, "tcp": 31400}
    assert spec.published_ports() == (6443, 30080, 30443, 31400)


def test_node_spec_rejects_unknown_keys(tmp_path) -> None:
    bad = tmp_path / "node.yaml"
    bad.write_text("privileged: true\nprivilged: false\n")
    with pytest.raises(ClusterError, match="unknown keys"):
        NodeSpec.load(bad)


def test_container_kwargs_are_kinds_docker_run_flags() -> None:
    node = KindNode(NodeSpec.load(), "img:1", cluster="c1", client=object())
    kw = node.container_kwargs()
    assert kw["privileged"] is True
    assert kw["security_opt"] == ["seccomp=unconfined", "apparmor=unconfined"]
    assert kw["cgroupns"] == "private" and kw["tty"] is True and kw["init"] is False
    assert kw["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
    assert kw["hostname"] == "gatewaykit-control-plane" and kw["name"] == "c1-control-plane"
    assert kw["entrypoint"] == ["/usr/local/bin/entrypoint", "/sbin/init"]
    # Only gatewaykit's labels: no testcontainers session label that Ryuk would reap.
    assert kw["labels"] == {
        "io.gatewaykit.cluster": "c1",
        "io.gatewaykit.role": "node",
        "app.kubernetes.io/managed-by": "gatewaykit",
    }
    assert kw["volumes"] == {
        "c1-control-plane-var": {"bind": "/var", "mode": "rw"},
        "/lib/modules": {"bind": "/lib/modules", "mode": "ro"},
    }
    assert kw["ports"] == {f"{p}/tcp": ("127.0.0.1", None) for p in (6443, 30080, 30443, 31400)}
    assert kw["environment"] == {"KUBECONFIG": "/etc/kubernetes/admin.conf"}
    assert "devices" not in kw and "userns_mode" not in kw
    assert (
        KindNode(NodeSpec.load(), "img:1", privileged=False, client=object()).container_kwargs()["privileged"]
        is False
    )
    host = HostConfig(binds=("/dev/mapper:/dev/mapper",), devices=("/dev/fuse",), userns_mode="host")
    kw = KindNode(NodeSpec.load(), "img:1", cluster="c1", client=object(), host=host).container_kwargs()
    assert kw["volumes"]["/dev/mapper"] == {"bind": "/dev/mapper", "mode": "rw"}
    assert kw["devices"] == ["/dev/fuse:/dev/fuse:rwm"] and kw["userns_mode"] == "host"


def test_kubeadm_config_renders_the_node() -> None:
    spec = NodeSpec.load()
    text = render_kubeadm_config(spec, "172.18.0.2", kubernetes_version="v1.33.1")
    docs = list(yaml.safe_load_all(text))
    by_kind = {d["kind"]: d for d in docs}
    assert set(by_kind) == {
        "ClusterConfiguration",
        "InitConfiguration",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
    }
    # kind's removeMetadata: kubeadm's config types have no metadata.
    assert "metadata:" not in text and all("metadata" not in d for d in docs)
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
    # The version comes from the node image, not from a pin of ours.
    assert "v1.34.0" in render_kubeadm_config(spec, "172.18.0.2", kubernetes_version="v1.34.0")


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
    # Service ports as in docs/behaviour.md §2 (http2 80→8080, https 443→8443, tcp 31400).
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
    err = _node.fail(
        "load images",
        "docker.io/mccutchen/go-httpbin:v2.15.0 is not in the host's Docker",
        "\n".join(f"line {i}" for i in range(40)) + "\nno such image",
    )
    text = str(err)
    assert text.startswith(
        "load images: docker.io/mccutchen/go-httpbin:v2.15.0 is not in the host's Docker\nfix: image missing"
    )
    assert "--- last log lines ---" in text and "line 39" in text and "line 5\n" not in text


def _sample_docs() -> list[dict]:
    docs = []
    for path in sorted((CLUSTER_DIR / "samples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_samples_of_the_embedded_sandbox_use_only_pinned_images() -> None:
    samples = pytest.importorskip(
        "gatewaykit.samples", reason="gatewaykit.samples (Istio 1.27's samples) not merged"
    )
    pinned = {image_repository(i.ref): i.tagged for i in pinned_images() if i.role == "cluster"}
    for path in sorted(pathlib.Path(samples.path()).rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            for c in doc["spec"]["template"]["spec"]["containers"]:
                pinned_doc = pin_images(doc, pinned.values())
                image = [
                    x for x in pinned_doc["spec"]["template"]["spec"]["containers"] if x["name"] == c["name"]
                ][0]
                assert image["image"] in pinned.values(), (
                    f"{path}: {c['image']} is not pinned in cluster/images.txt"
                )


def test_cluster_samples_are_the_embedded_sandboxs() -> None:
    # One set of samples for every backend (gatewaykit/data/samples); cluster/samples is gone.
    assert not (CLUSTER_DIR / "samples").exists()


def test_pin_images_gives_doc_style_images_the_pinned_tag() -> None:
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
            "docker.io/mccutchen/go-httpbin",
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
    # repo:tag, never @digest: `ctr images import` records no registry digest, so the node's
    # containerd knows the loaded images by tag only.
    assert images == [
        ("docker.io/curlimages/curl:8.16.0", "IfNotPresent"),
        ("docker.io/mccutchen/go-httpbin:v2.15.0", "IfNotPresent"),
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
    text = render_kubeadm_config(
        NodeSpec.load(),
        "172.18.0.2",
        kubernetes_version="v1.33.1",
        extra_sans=["gatewaykit-ab12cd-control-plane"],
    )
    docs = list(yaml.safe_load_all(text))
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
    from gatewaykit.backends.kind import STEPS
    from gatewaykit.kit.progress import progress_widget

    box, hook = progress_widget(STEPS)
    bar, label = box.children
    assert (bar.value, bar.max) == (0, len(STEPS))
    hook("kubeadm init")
    assert (bar.value, label.value) == (STEPS.index("kubeadm init") + 1, "kubeadm init")
    hook("pulling istio/pilot:1.27.1 (2/9)")
    assert bar.value == STEPS.index("kubeadm init") + 1 and label.value == "pulling istio/pilot:1.27.1 (2/9)"
    hook("ready")
    assert bar.value == bar.max and bar.bar_style == "success"


def test_image_candidates_cover_pull_by_digest_and_bundle_tags() -> None:
    node = "docker.io/kindest/node:v1.33.1@sha256:" + "0" * 64
    assert image_candidates(node) == [
        node,
        "docker.io/kindest/node@sha256:" + "0" * 64,
        "docker.io/kindest/node:v1.33.1",
    ]
    assert image_candidates("docker.io/istio/pilot:1.27.1") == ["docker.io/istio/pilot:1.27.1"]


# ---------------------------------------------------------------- host checks (kind v0.29.0's)


@pytest.mark.parametrize(
    "line",
    [
        "[  OK  ] Reached target multi-user.target - Multi-User System.",  # systemd 252 (kind's Debian 12)
        "[  OK  ] Reached target \x1b[0;1;39mMulti-User System\x1b[0m.",  # coloured, no unit name
        "INFO: detected cgroup v1",  # kind's entrypoint on cgroup v1 hosts
    ],
)
def test_ready_line_matches_kinds_regexp(line: str) -> None:
    assert READY_LOG.search(line)


def test_ready_line_does_not_match_other_targets() -> None:
    assert not READY_LOG.search("[  OK  ] Reached target sysinit.target - System Initialization.")
    assert not READY_LOG.search("Reached target multi-user.target")  # systemd's unit name alone is not it


DOCKER_INFO = {
    "Driver": "overlay2",
    "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
    "CgroupVersion": "2",
    "CgroupDriver": "systemd",
    "MemoryLimit": True,
    "PidsLimit": True,
    "CPUShares": True,
    "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
}


@pytest.mark.parametrize(
    ("change", "binds"),
    [
        ({}, ()),
        ({"Driver": "btrfs"}, ("/dev/mapper:/dev/mapper",)),
        ({"Driver": "zfs"}, ("/dev/mapper:/dev/mapper",)),
        ({"Driver": "devicemapper"}, ("/dev/mapper:/dev/mapper",)),
        ({"DriverStatus": [["Backing Filesystem", "xfs"]]}, ("/dev/mapper:/dev/mapper",)),
        ({"DriverStatus": [["Backing Filesystem", "btrfs"]]}, ("/dev/mapper:/dev/mapper",)),
        # Docker's containerd image store: overlayfs snapshotter on ext4, nothing extra.
        ({"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}, ()),
    ],
)
def test_dev_mapper_is_mounted_where_kind_mounts_it(change: dict, binds: tuple) -> None:
    assert host_config({**DOCKER_INFO, **change}).binds == binds


def test_rootless_docker_gets_fuse_and_needs_cgroup_v2_with_delegation() -> None:
    rootless = {
        **DOCKER_INFO,
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"],
    }
    assert host_config(rootless).devices == ("/dev/fuse",)
    with pytest.raises(ClusterError, match="^rootless Docker needs cgroup v2 for a kind node"):
        host_config({**rootless, "CgroupVersion": "1"})
    with pytest.raises(ClusterError, match='^rootless Docker needs the systemd property "Delegate=yes"'):
        host_config({**rootless, "PidsLimit": False})
    with pytest.raises(ClusterError, match="Delegate=yes"):
        host_config({**rootless, "CgroupDriver": "none"})


def test_userns_remap_and_cgroup_v1_notes() -> None:
    assert host_config({**DOCKER_INFO, "SecurityOptions": ["name=userns"]}).userns_mode == "host"
    notes = host_config({**DOCKER_INFO, "CgroupVersion": "1"}).notes
    assert notes == (
        "cgroup v1 host: supported by Kubernetes 1.33 in maintenance mode; cgroup v2 is preferred",
    )


CONTAINERD_V2 = """version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
"""
CONTAINERD_V3 = """version = 3
[plugins]
  [plugins."io.containerd.cri.v1.images"]
    snapshotter = "native"
"""


def test_snapshotter_is_read_from_containerds_config_like_kind() -> None:
    assert parse_snapshotter(CONTAINERD_V2) == "overlayfs"
    assert parse_snapshotter(CONTAINERD_V3) == "native"
    with pytest.raises(ClusterError, match="unknown containerd config version 4"):
        parse_snapshotter("version = 4\n")
    with pytest.raises(ClusterError, match="names no CRI snapshotter"):
        parse_snapshotter("version = 3\n")


def test_images_are_imported_for_the_nodes_platform_only() -> None:
    assert docker_platform({"Os": "linux", "Architecture": "amd64"}) == "linux/amd64"
    assert docker_platform({"Os": "linux", "Architecture": "arm64", "Variant": "v8"}) == "linux/arm64/v8"
    assert docker_platform({"OSType": "linux", "Architecture": "aarch64"}) == "linux/arm64"
    argv = import_command("abc123", "linux/arm64", "overlayfs")
    assert argv == [
        "docker",
        "exec",
        "-i",
        "abc123",
        "ctr",
        "--namespace=k8s.io",
        "images",
        "import",
        "--platform=linux/arm64",
        "--digests",
        "--snapshotter=overlayfs",
        "-",
    ]
    assert "--all-platforms" not in argv


def test_fake_internet_routes_http_by_host() -> None:
    from gatewaykit.backends.internet_container import host_from_head

    head = b"GET /status/200 HTTP/1.1\r\nHost: HTTPBIN.org:80\r\nAccept: */*\r\n\r\n"
    assert host_from_head(head) == "httpbin.org"
    assert host_from_head(b"GET / HTTP/1.0\r\n\r\n") is None


def test_references_are_normalized_as_containerd_records_them() -> None:
    from gatewaykit.backends._kindconfig import normalize_ref

    assert normalize_ref("nginx:1.27.5") == "docker.io/library/nginx:1.27.5"
    assert normalize_ref("gatewaykit/internet:0.1.0") == "docker.io/gatewaykit/internet:0.1.0"
    assert normalize_ref("docker.io/istio/pilot:1.27.1") == "docker.io/istio/pilot:1.27.1"
    assert normalize_ref("localhost:5000/x") == "localhost:5000/x:latest"
