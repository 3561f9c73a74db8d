"""Every lab loads, validates and is complete: steps with probes, exercises with hints, check, solution."""

from __future__ import annotations

import re

import pytest

from gatewaykit.kit import list_labs, load_lab
from gatewaykit.kit.labs import ManifestRef, labs_dir

#: The curriculum of the teaching-kit issue, in order.
EXPECTED = [
    "01-virtual-hosts",
    "02-gateway-workloads",
    "03-https-redirect",
    "04-tls-simple",
    "05-mutual-tls",
    "06-tls-passthrough",
    "07-namespace-hosts",
    "08-tcp-mongo",
    "09-egress-policy",
    "10-egress-gateway",
    "11-tls-origination",
    "12-my-gateway",
]


def test_the_twelve_labs_exist_in_order() -> None:
    assert list_labs() == EXPECTED


@pytest.mark.parametrize("lab_id", EXPECTED)
def test_lab_loads_and_is_complete(lab_id: str) -> None:
    lab = load_lab(lab_id)
    assert lab.id == lab_id
    assert lab.title and lab.summary and lab.concepts
    assert lab.steps
    assert sum(len(s.probes) for s in lab.steps) >= 1
    for step in lab.steps:
        assert step.explain.strip()
        for probe in step.probes:
            runs = "kubectl " if probe.kubectl else "curl "
            assert re.search(rf"\b{runs}", probe.command)
    assert lab.exercises, "every lab has at least one exercise"
    for ex in lab.exercises:
        assert ex.hints, f"{lab_id}/{ex.id} has no hints"
        assert ex.probes or ex.conditions, f"{lab_id}/{ex.id} has no check"
        traffic = [p for p in ex.probes if not p.kubectl]
        assert traffic, f"{lab_id}/{ex.id}: a check should prove the outcome with traffic"
        assert not ex.solution.empty, f"{lab_id}/{ex.id} has no reference solution"


@pytest.mark.parametrize("lab_id", EXPECTED)
def test_lab_manifests_name_real_kinds(lab_id: str) -> None:
    lab = load_lab(lab_id)
    known = {
        "Gateway",
        "VirtualService",
        "DestinationRule",
        "ServiceEntry",
        "Namespace",
        "Service",
        "Secret",
        "ConfigMap",
        "ServiceAccount",
        "Deployment",
    }
    refs = list(lab.setup.action.manifests)
    for s in lab.steps:
        refs += list(s.action.manifests) + list(s.action.delete)
    for e in lab.exercises:
        refs += list(e.setup.manifests) + list(e.solution.manifests) + list(e.solution.delete)
    for ref in refs:
        for doc in ref.documents:
            assert doc["kind"] in known, f"{lab_id}: {ref.origin}: {doc['kind']}"
            if doc["kind"] in {"Gateway", "VirtualService", "DestinationRule", "ServiceEntry"}:
                assert doc["apiVersion"] == "networking.istio.io/v1"


@pytest.mark.parametrize("lab_id", EXPECTED)
def test_lab_manifests_pass_istio_validation(lab_id: str) -> None:
    """Every manifest a lab applies -- except a step that demonstrates a rejection -- is accepted by
    Istio's validation (CRD schema and webhook, §14), and warnings are only the expected ones."""
    from gatewaykit.resources.codecs import load
    from gatewaykit.resources.validation import validate

    lab = load_lab(lab_id)
    refs: list[tuple[ManifestRef, tuple[str, ...]]] = [(m, ()) for m in lab.setup.action.manifests]
    refs += [(m, s.expect_warnings) for s in lab.steps if not s.expect_rejected for m in s.action.manifests]
    refs += [(m, ()) for e in lab.exercises for m in (*e.setup.manifests, *e.solution.manifests)]
    for ref, allowed_warnings in refs:
        for manifest in load(ref.text, name=ref.origin):
            report = validate(manifest)
            where = f"{lab_id}: {ref.origin}"
            assert not report.errors, f"{where}: {report.errors}"
            assert not report.schema_errors, f"{where}: {report.schema_errors}"
            assert not report.unknown_fields, f"{where}: {report.unknown_fields}"
            for w in report.warnings:
                assert any(a in w for a in allowed_warnings), f"{where}: unexpected warning {w!r}"


def test_the_rejection_step_is_rejected_by_istio_validation() -> None:
    from gatewaykit.resources.codecs import load
    from gatewaykit.resources.validation import validate

    step = load_lab("03-https-redirect").step("tls-on-http")
    (manifest,) = load(step.action.manifests[0].text)
    assert "server cannot have TLS settings for plain text HTTP ports" in validate(manifest).errors


def test_rejection_steps_really_are_invalid() -> None:
    """A step that says Istio rejects it carries a manifest Istio's rules reject (§6, §14.1)."""
    lab = load_lab("03-https-redirect")
    step = lab.step("tls-on-http")
    assert step.expect_rejected == "server cannot have TLS settings for plain text HTTP ports"
    server = step.action.manifests[0].documents[0]["spec"]["servers"][0]
    assert server["port"]["protocol"] == "HTTP" and server["tls"]["mode"] == "SIMPLE"


def test_egress_labs_run_inside_the_mesh_client() -> None:
    for lab_id in ("09-egress-policy", "10-egress-gateway", "11-tls-origination"):
        lab = load_lab(lab_id)
        probes = [p for s in lab.steps for p in s.probes] + [p for e in lab.exercises for p in e.probes]
        assert probes and all(p.source == "default/curl" for p in probes), lab_id


def test_short_lab_names_resolve() -> None:
    assert load_lab("01").id == "01-virtual-hosts"
    assert load_lab("tls-simple").id == "04-tls-simple"
    assert load_lab(labs_dir() / "12-my-gateway").id == "12-my-gateway"
