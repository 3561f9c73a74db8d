"""``istioctl install`` / ``uninstall`` in the sandbox, and the IstioOperator that kubectl cannot apply.

Expected texts are Istio 1.27.1's: the progress lines of ``operator/pkg/util/progress`` (stderr, one
message per line when not on a terminal), the prune lines of ``operator/pkg/uninstall/prune.go``
(stdout), the validation errors of ``operator/pkg/apis/validation`` and kubectl's mapping error.
"""

from __future__ import annotations

import pathlib

import pytest
from istioctl_support import ART, SANDBOX_INSTALL, pod_of, run

from gatewaykit.errors import ManifestError
from gatewaykit.sandbox import Sandbox

BLOCKED = "curl -sI https://www.google.com"
DONE_ALL = (
    "\n- Processing resources for Istio core.\n✔ Istio core installed ⛵️"
    "\n- Processing resources for Istiod.\n✔ Istiod installed 🧠"
    "\n- Processing resources for Egress gateways, Ingress gateways."
    "\n✔ Egress gateways installed 🛫\n✔ Ingress gateways installed 🛬"
    "\n- Pruning removed resources\n✔ Installation complete\n"
)
DONE_DEFAULT = (
    "\n- Processing resources for Istio core.\n✔ Istio core installed ⛵️"
    "\n- Processing resources for Istiod.\n✔ Istiod installed 🧠"
    "\n- Processing resources for Ingress gateways.\n✔ Ingress gateways installed 🛬"
    "\n- Pruning removed resources\n✔ Installation complete\n"
)
EGRESS_REMOVED = (
    "  Removed apps/v1, Kind=Deployment/istio-egressgateway.istio-system.\n"
    "  Removed /v1, Kind=Service/istio-egressgateway.istio-system.\n"
    "  Removed /v1, Kind=ServiceAccount/istio-egressgateway-service-account.istio-system.\n"
)


def _mesh(sb: Sandbox) -> str:
    return run(sb, "kubectl get configmap istio -n istio-system -o jsonpath='{.data.mesh}'").out


def test_kubectl_apply_of_an_istiooperator_fails_with_kubectls_text(
    fresh: Sandbox, tmp_path: pathlib.Path
) -> None:
    named = tmp_path / "named.yaml"
    named.write_text(
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: installed-state\n"
        "  namespace: istio-system\nspec:\n  meshConfig:\n    outboundTrafficPolicy:\n      mode: "
        "REGISTRY_ONLY\n"
    )
    unnamed = tmp_path / "unnamed.yaml"
    unnamed.write_text(
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  profile: default\n"
    )
    before = fresh.store.resource_version
    r = run(fresh, f"kubectl apply -f {named}")
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        'error: resource mapping not found for name: "installed-state" namespace: "istio-system" from '
        f'"{named}": '
        'no matches for kind "IstioOperator" in version "install.istio.io/v1alpha1"\nensure CRDs are '
        "installed first\n"
    )
    r = run(fresh, f"kubectl apply -f {unnamed}")
    assert r.err == (
        f'error: resource mapping not found for name: "" namespace: "" from "{unnamed}": '
        'no matches for kind "IstioOperator" in version "install.istio.io/v1alpha1"\nensure CRDs are '
        "installed first\n"
    )
    # The Python API says exactly what kubectl says, and changes nothing either.
    with pytest.raises(ManifestError) as err:
        fresh.apply(named)
    assert str(err.value) == r.err.replace(str(unnamed), str(named)).replace(
        'name: "" namespace: ""', 'name: "installed-state" namespace: "istio-system"'
    ).rstrip("\n")
    assert fresh.store.resource_version == before
    assert fresh.curl(BLOCKED, source="default/curl").status == 200


def test_install_set_switches_the_outbound_policy_both_ways(fresh: Sandbox) -> None:
    assert fresh.curl(BLOCKED, source="default/curl").status == 200
    r = run(fresh, "istioctl install --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY -y")
    # The default profile has no egress gateway: istioctl prunes the one installed with the sandbox.
    assert (r.code, r.out, r.err) == (0, EGRESS_REMOVED, ART + DONE_DEFAULT)
    assert _mesh(fresh) == (
        "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\ndefaultProviders:\n  metrics:\n"
        "  - prometheus\nenablePrometheusMerge: true\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"
        "rootNamespace: istio-system\ntrustDomain: cluster.local"
    )
    r = fresh.curl(BLOCKED, source="default/curl")
    assert (r.exit_code, r.stdout) == (35, "")
    assert fresh.curl("curl -sI http://httpbin.org/headers", source="default/curl").status == 502
    assert run(fresh, "kubectl get deploy -n istio-system -o name").out == (
        "deployment.apps/istio-ingressgateway\ndeployment.apps/istiod\n"
    )
    r = run(fresh, "istioctl install --set meshConfig.outboundTrafficPolicy.mode=ALLOW_ANY -y")
    assert (r.code, r.out, r.err) == (0, "", ART + DONE_DEFAULT)
    assert fresh.curl(BLOCKED, source="default/curl").status == 200


def test_install_f_of_an_unnamed_istiooperator(fresh: Sandbox, tmp_path: pathlib.Path) -> None:
    # The docs' snippet has no metadata at all: istioctl reads it anyway (kubectl would not).
    iop = tmp_path / "registry-only.yaml"
    iop.write_text(
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n"
        "    accessLogFile: /dev/stdout\n    outboundTrafficPolicy:\n      mode: REGISTRY_ONLY\n"
        "  components:\n    egressGateways:\n    - name: istio-egressgateway\n      enabled: true\n"
    )
    ingress = pod_of(fresh, "istio-system", "istio-ingressgateway")
    egress = pod_of(fresh, "istio-system", "istio-egressgateway")
    r = run(fresh, f"istioctl install -f {iop} -y")
    assert (r.code, r.out, r.err) == (0, "", ART + DONE_ALL)
    assert fresh.curl(BLOCKED, source="default/curl").exit_code == 35
    # The gateways' pod templates are the same: their pods keep running (no restart, same names).
    assert pod_of(fresh, "istio-system", "istio-egressgateway") == egress
    assert pod_of(fresh, "istio-system", "istio-ingressgateway") != ingress  # its Service lost port 31400
    assert "31400" not in run(fresh, "kubectl get svc istio-ingressgateway -n istio-system").out


def test_installing_the_sandboxs_own_settings_changes_nothing(fresh: Sandbox) -> None:
    pods = sorted(p.name for p in fresh.xds.pods)
    r = run(fresh, f"istioctl install -f {SANDBOX_INSTALL} -y")
    assert (r.code, r.out, r.err) == (0, "", ART + DONE_ALL)
    assert sorted(p.name for p in fresh.xds.pods) == pods
    version = fresh.store.resource_version
    r = run(fresh, f"istioctl upgrade -f {SANDBOX_INSTALL} -y")
    assert (r.code, r.err) == (0, DONE_ALL)  # upgrade is install without the art
    assert fresh.store.resource_version == version  # the same apply again is a no-op
    # ... and the traffic still flows.
    r = fresh.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.status == 200


def test_ingress_gateway_component_deploys_a_gateway_a_gateway_then_selects(
    fresh: Sandbox, tmp_path: pathlib.Path
) -> None:
    # The seed's first way to get a gateway workload: components.ingressGateways of the install spec.
    iop = tmp_path / "my-ingress.yaml"
    spec = SANDBOX_INSTALL.read_text().replace(
        "    egressGateways:",
        "    - name: my-ingressgateway\n      enabled: true\n      label:\n        istio: my-ingressgateway\n"
        "    egressGateways:",
    )
    iop.write_text(spec)
    r = run(fresh, f"istioctl install -f {iop} -y")
    assert (r.code, r.err) == (0, ART + DONE_ALL)
    labels = run(
        fresh,
        "kubectl get deploy my-ingressgateway -n istio-system -o jsonpath='{.spec.selector.matchLabels}'",
    )
    assert labels.out == '{"app":"istio-ingressgateway","istio":"my-ingressgateway"}'
    pods = run(
        fresh,
        "kubectl get pods -n istio-system -l istio=my-ingressgateway -o jsonpath='{.items[*].status.phase}'",
    )
    assert pods.out == "Running"
    # Nothing selects it yet: its Service's port 80 is refused.
    host, port = fresh.service_address("istio-system", "my-ingressgateway", 80)
    probe = f'curl -sS -o /dev/null -w "%{{http_code}}" -HHost:httpbin.example.com "http://{host}:{port}/status/200"'
    assert fresh.curl(probe).exit_code == 7
    gw = run(
        fresh,
        "kubectl patch gateways.networking.istio.io httpbin-gateway --type merge -p "
        '\'{"spec":{"selector":{"istio":"my-ingressgateway"}}}\'',
    )
    assert gw.out == "gateway.networking.istio.io/httpbin-gateway patched\n"
    r = fresh.curl(probe)
    assert (r.exit_code, r.stdout) == (0, "200")
    # enabled: false removes it again, as istioctl prunes what it no longer renders.
    iop.write_text(spec.replace("      enabled: true\n      label:", "      enabled: false\n      label:"))
    r = run(fresh, f"istioctl install -f {iop} -y")
    assert r.code == 0
    assert r.out == (
        "  Removed apps/v1, Kind=Deployment/my-ingressgateway.istio-system.\n"
        "  Removed /v1, Kind=Service/my-ingressgateway.istio-system.\n"
        "  Removed /v1, Kind=ServiceAccount/my-ingressgateway-service-account.istio-system.\n"
    )
    assert run(fresh, "kubectl get deploy my-ingressgateway -n istio-system").err == (
        'Error from server (NotFound): deployments.apps "my-ingressgateway" not found\n'
    )


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        ("--set foo=bar", 'could not unmarshal: json: unknown field "foo"'),
        (
            "--set profile=5",
            "could not unmarshal: json: cannot unmarshal number into Go struct field "
            "IstioOperatorSpec.spec.profile of type string",
        ),
        (
            "--set meshConfig.outboundTrafficPolicy.mode=registry_only",
            'failed to convert to proto. unknown value "\\"registry_only\\"" for enum '
            "istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode, "
            'failed to convert to proto. unknown value "\\"registry_only\\"" for enum '
            "istio.mesh.v1alpha1.MeshConfig.OutboundTrafficPolicy.Mode",
        ),
        (
            "--set meshConfig.outboundTraficPolicy.mode=REGISTRY_ONLY",
            'failed to convert to proto. unknown field "outboundTraficPolicy" in '
            "istio.mesh.v1alpha1.MeshConfig, "
            'failed to convert to proto. unknown field "outboundTraficPolicy" in '
            "istio.mesh.v1alpha1.MeshConfig",
        ),
        ("-f nosuch.yaml", "merge inputs: open nosuch.yaml: no such file or directory"),
        (
            "--set profile=nosuch",
            'merge inputs: profile "nosuch" not found: open profiles/nosuch.yaml: file does not exist',
        ),
        ("--set components.egressGateways[name:x].enabled=true", "merge inputs: element [name:x] not found"),
    ],
)
def test_install_refuses_bad_input_with_istioctls_text_and_changes_nothing(
    sb: Sandbox, flags: str, error: str
) -> None:
    version = sb.store.resource_version
    r = run(sb, f"istioctl install {flags} -y")
    assert (r.code, r.out, r.err) == (1, "", f"{ART}Error: generate config: {error}\n")
    assert sb.store.resource_version == version


def test_install_without_y_asks_first(sb: Sandbox) -> None:
    version = sb.store.resource_version
    prompt = 'This will install the Istio 1.27.1 profile "default" into the cluster. Proceed? (y/N) '
    r = run(sb, "istioctl install --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY")
    assert (r.code, r.out, r.err) == (1, prompt, ART + "Cancelled.\n")
    r = run(sb, "istioctl install --set profile=demo", stdin="n\n")
    assert (r.code, r.out) == (1, prompt.replace('"default"', '"demo"'))
    assert sb.store.resource_version == version


def test_profiles_the_sandbox_cannot_run_are_refused(sb: Sandbox) -> None:
    r = run(sb, "istioctl install --set profile=ambient -y")
    assert r.code == 1
    assert r.err.endswith(
        'Error: generate config: merge inputs: gatewaykit: the sandbox cannot install the "ambient" '
        "profile: it "
        "needs ztunnel and the Istio CNI node agent, which the sandbox does not run (profiles here: default, "
        "demo, minimal, empty, preview, stable)\n"
    )


def test_uninstall_purge_then_install_again(fresh: Sandbox) -> None:
    r = run(fresh, "istioctl uninstall")
    assert (r.code, r.err) == (
        1,
        "Error: at least one of the --revision (or --set revision=<revision>), --filename or --purge flags "
        "must be set\n",
    )
    ingress = pod_of(fresh, "istio-system", "istio-ingressgateway")
    egress = pod_of(fresh, "istio-system", "istio-egressgateway")
    istiod = pod_of(fresh, "istio-system", "istiod")
    r = run(fresh, "istioctl uninstall --purge -y")
    assert r.code == 0
    assert r.out == (
        "All Istio resources will be pruned from the cluster\n\n"
        "  Removed apps/v1, Kind=Deployment/istio-egressgateway.istio-system.\n"
        "  Removed apps/v1, Kind=Deployment/istio-ingressgateway.istio-system.\n"
        "  Removed apps/v1, Kind=Deployment/istiod.istio-system.\n"
        "  Removed /v1, Kind=Service/istio-egressgateway.istio-system.\n"
        "  Removed /v1, Kind=Service/istio-ingressgateway.istio-system.\n"
        "  Removed /v1, Kind=Service/istiod.istio-system.\n"
        "  Removed /v1, Kind=ConfigMap/istio.istio-system.\n"
        f"  Removed /v1, Kind=Pod/{egress}.istio-system.\n"
        f"  Removed /v1, Kind=Pod/{ingress}.istio-system.\n"
        f"  Removed /v1, Kind=Pod/{istiod}.istio-system.\n"
        "  Removed /v1, Kind=ServiceAccount/istio-egressgateway-service-account.istio-system.\n"
        "  Removed /v1, Kind=ServiceAccount/istio-ingressgateway-service-account.istio-system.\n"
        "  Removed /v1, Kind=ServiceAccount/istio-reader-service-account.istio-system.\n"
        "  Removed /v1, Kind=ServiceAccount/istiod.istio-system.\n"
    )
    assert r.err == "\n✔ Uninstall complete\n"
    assert (
        run(fresh, "kubectl get pods -n istio-system").err
        == "No resources found in istio-system namespace.\n"
    )
    r = run(fresh, "istioctl version")
    assert (r.out, r.err) == (
        "client version: 1.27.1\n",
        'Istio is not present in the cluster: no running Istio pods in namespace "istio-system"\n',
    )
    r = fresh.curl('curl -sS -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.exit_code == 7
    assert run(fresh, f"istioctl install -f {SANDBOX_INSTALL} -y").code == 0
    assert run(fresh, "istioctl version").out == (
        "client version: 1.27.1\ncontrol plane version: 1.27.1\ndata plane version: 1.27.1 (4 proxies)\n"
    )
    r = fresh.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"')
    assert r.status == 200


def test_mesh_config_lives_in_the_istio_configmap(fresh: Sandbox, tmp_path: pathlib.Path) -> None:
    fresh.set_mesh_config(outbound_traffic_policy="REGISTRY_ONLY")
    assert "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n" in _mesh(fresh)
    assert fresh.curl(BLOCKED, source="default/curl").exit_code == 35
    # istiod watches the ConfigMap: `kubectl replace` of it changes the mesh live.
    r = run(
        fresh,
        "kubectl get configmap istio -n istio-system -o yaml | sed 's/mode: REGISTRY_ONLY/mode: ALLOW_ANY/'"
        " | kubectl replace -f -",
    )
    assert (r.code, r.out) == (0, "configmap/istio replaced\n")
    assert fresh.curl(BLOCKED, source="default/curl").status == 200
    fresh.set_mesh_config(outbound_traffic_policy="REGISTRY_ONLY")
    # The ConfigMap is journaled like any object: a sandbox started again on the work dir keeps it.
    work = tmp_path / "work"
    with Sandbox.local(work) as first:
        first.apply(
            (pathlib.Path(__file__).resolve().parents[2] / "labs" / "samples" / "curl.yaml").read_text()
        )
        first.set_mesh_config(outbound_traffic_policy="REGISTRY_ONLY")
    with Sandbox.local(work) as again:
        assert again.xds.mesh.outbound_traffic_policy == "REGISTRY_ONLY"
        assert again.curl(BLOCKED, source="default/curl").exit_code == 35
