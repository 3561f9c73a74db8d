"""Labs name Istio 1.27's samples with ``sample:`` (``kubectl apply [-n NS] [-l SEL] -f samples/...``).

The labs share no copies of the sample apps: a manifest entry ``{sample: httpbin/httpbin.yaml}``
is the sandbox's ``samples/httpbin/httpbin.yaml`` (go-httpbin on 8080), and ``selector:`` /
``namespace:`` pick documents and a namespace as kubectl's ``-l`` and ``-n`` do.
"""

from __future__ import annotations

import pathlib

import pytest

from gatewaykit import samples
from gatewaykit.errors import LabError
from gatewaykit.kit import list_labs, load_lab

LAB = """\
id: 99-test
title: A test lab
summary: For the sample tests.
setup:
  manifests:
{entries}
steps:
- id: one
  title: Step one
  explain: Nothing.
  probes:
  - curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/status/200"
    expect: {{status: 200}}
exercises:
- id: ex
  title: Exercise
  task: Do it.
  hints: [think]
  check:
    probes:
    - curl: curl -s -I "http://$INGRESS_HOST:$INGRESS_PORT/"
      expect: {{status: 404}}
  solution:
    manifests:
    - sample: httpbin/httpbin.yaml
"""


def _lab(tmp_path: pathlib.Path, entries: str) -> pathlib.Path:
    d = tmp_path / "99-test"
    d.mkdir()
    (d / "lab.yaml").write_text(LAB.format(entries=entries))
    return d


def _kinds(ref) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    return [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in ref.documents]


def test_a_sample_is_the_sandbox_file(tmp_path: pathlib.Path) -> None:
    lab = load_lab(_lab(tmp_path, "  - sample: httpbin/httpbin.yaml"))
    ref = lab.setup.action.manifests[0]
    assert ref.origin == "samples/httpbin/httpbin.yaml"
    assert ref.text == (samples.path() / "httpbin" / "httpbin.yaml").read_text()
    deployment = next(d for d in ref.documents if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/mccutchen/go-httpbin:v2.15.0"
    assert container["ports"] == [{"containerPort": 8080}]


def test_selector_and_namespace_act_as_kubectl_l_and_n(tmp_path: pathlib.Path) -> None:
    entries = (
        "  - {sample: helloworld/helloworld.yaml, selector: service=helloworld}\n"
        "  - {sample: helloworld/helloworld.yaml, selector: version=v1, namespace: other}"
    )
    service, v1 = load_lab(_lab(tmp_path, entries)).setup.action.manifests
    assert _kinds(service) == [("Service", "helloworld", None)]
    assert service.origin == "samples/helloworld/helloworld.yaml -l service=helloworld"
    assert _kinds(v1) == [("Deployment", "helloworld-v1", "other")]
    assert v1.origin == "samples/helloworld/helloworld.yaml -n other -l version=v1"
    assert "namespace: other" in v1.text and "helloworld-v2" not in v1.text


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("  - {sample: nope/nope.yaml}", "manifest file 'nope/nope.yaml' not found"),
        (
            "  - {sample: httpbin/httpbin.yaml, file: x.yaml}",
            "exactly one of `file:`, `sample:` or `inline:`",
        ),
        (
            "  - {sample: httpbin/httpbin.yaml, selector: 'app in nothing'}",
            "unable to parse requirement",
        ),
        (
            "  - {sample: httpbin/httpbin.yaml, selector: app=nothing}",
            "no document of samples/httpbin/httpbin.yaml has the labels app=nothing",
        ),
    ],
)
def test_bad_sample_entries_name_the_line(tmp_path: pathlib.Path, entries: str, message: str) -> None:
    with pytest.raises(LabError) as info:
        load_lab(_lab(tmp_path, entries))
    assert ":6:" in str(info.value) and message in str(info.value)


def test_a_file_in_another_namespace_is_refused_as_kubectl_does(tmp_path: pathlib.Path) -> None:
    d = _lab(tmp_path, "  - {file: ns.yaml, namespace: other}")
    (d / "ns.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: mine\n")
    with pytest.raises(LabError) as info:
        load_lab(d)
    assert (
        'the namespace from the provided object "mine" does not match the namespace "other". '
        "You must pass '--namespace=mine' to perform this operation."
    ) in str(info.value)


def test_no_lab_ships_its_own_copy_of_a_sample() -> None:
    """Every sample app comes from Istio 1.27's samples: no lab manifest runs a sample image itself."""
    images = {
        "mccutchen/go-httpbin", "kong/httpbin", "curlimages/curl", "examples-helloworld", "tcp-echo-server"
    }
    labs = pathlib.Path(load_lab(list_labs()[0]).path).parent
    assert not (labs / "samples").exists()
    offenders = [
        str(f.relative_to(labs))
        for f in sorted(labs.glob("*/*.yaml"))
        if f.name != "lab.yaml" and any(image in f.read_text() for image in images)
    ]
    assert offenders == []
