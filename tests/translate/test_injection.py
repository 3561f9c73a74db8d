"""Which pods Istio 1.27's injector mutates, and when (design §3).

Sources: the webhooks' selectors in
manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml (which pods the API
server sends to istiod at all), pkg/kube/inject/inject.go injectRequired (label before annotation,
ignored namespaces) and selectTemplates (``inject.istio.io/templates``), and
https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/ ("the
sidecar.istio.io/inject label ... The annotation is no longer supported for this purpose").
"""

from __future__ import annotations

import pytest
from _tx import raw_snapshot

from gatewaykit._translate import translate
from gatewaykit._translate.mesh import injection_required, injection_webhook

ENABLED = {"istio-injection": "enabled"}
INJECT_LABEL = {"sidecar.istio.io/inject": "true"}


@pytest.mark.parametrize(
    ("namespace_labels", "pod_labels", "webhook"),
    [
        # namespace.sidecar-injector: istio-injection=enabled, the pod does not opt out by label.
        (ENABLED, {}, "namespace.sidecar-injector.istio.io"),
        (ENABLED, {"sidecar.istio.io/inject": "false"}, None),
        # object.sidecar-injector: an unlabelled namespace and the pod *label* inject=true.
        ({}, INJECT_LABEL, "object.sidecar-injector.istio.io"),
        ({}, {}, None),  # the seed's annotation alone: no webhook is called
        # istio-injection=disabled matches no webhook, whatever the pod says.
        ({"istio-injection": "disabled"}, INJECT_LABEL, None),
        # Revision labels: istio.io/rev=default on the namespace, or on the pod.
        ({"istio.io/rev": "default"}, {}, "rev.namespace.sidecar-injector.istio.io"),
        ({}, {"istio.io/rev": "default"}, "rev.object.sidecar-injector.istio.io"),
        ({}, {"istio.io/rev": "canary"}, None),  # a revision that is not installed
        ({"istio.io/rev": "canary"}, INJECT_LABEL, None),
        # Both namespace labels: the legacy one wins (rev.namespace requires istio-injection absent).
        ({**ENABLED, "istio.io/rev": "canary"}, {}, "namespace.sidecar-injector.istio.io"),
    ],
)
def test_which_webhook_selects_a_pod(namespace_labels, pod_labels, webhook) -> None:
    assert injection_webhook(namespace_labels, pod_labels) == webhook


@pytest.mark.parametrize(
    ("namespace", "namespace_labels", "pod_labels", "annotations", "injected"),
    [
        ("shop", ENABLED, {}, {}, True),
        # injectRequired reads the annotation when there is no label: "false" opts out ...
        ("shop", ENABLED, {}, {"sidecar.istio.io/inject": "false"}, False),
        # ... but the label is preferred when both are set.
        ("shop", ENABLED, INJECT_LABEL, {"sidecar.istio.io/inject": "false"}, True),
        ("shop", {}, {}, {"sidecar.istio.io/inject": "true"}, False),  # annotation only: no webhook
        ("shop", {}, INJECT_LABEL, {}, True),
        ("kube-system", {}, INJECT_LABEL, {}, False),  # IgnoredNamespaces
    ],
)
def test_injection_required(namespace, namespace_labels, pod_labels, annotations, injected) -> None:
    assert injection_required(namespace, namespace_labels, pod_labels, annotations) is injected


GATEWAYS = """
apiVersion: v1
kind: Namespace
metadata: {name: gw}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: annotated, namespace: gw}
spec:
  selector: {matchLabels: {app: annotated}}
  template:
    metadata:
      labels: {app: annotated}
      annotations: {sidecar.istio.io/inject: "true", inject.istio.io/templates: gateway}
    spec: {containers: [{name: istio-proxy, image: auto}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: labelled, namespace: gw}
spec:
  selector: {matchLabels: {app: labelled}}
  template:
    metadata:
      labels: {app: labelled, sidecar.istio.io/inject: "true"}
      annotations: {inject.istio.io/templates: gateway}
    spec: {containers: [{name: istio-proxy, image: auto}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: renamed, namespace: gw}
spec:
  selector: {matchLabels: {app: renamed}}
  template:
    metadata:
      labels: {app: renamed, sidecar.istio.io/inject: "true"}
      annotations: {inject.istio.io/templates: gateway}
    spec: {containers: [{name: proxy, image: auto}]}
"""


def test_only_injected_gateway_pods_get_a_proxy() -> None:
    state = translate(raw_snapshot(GATEWAYS))
    kinds = {p.deployment: (p.kind, p.injected) for p in state.pods if p.namespace == "gw"}
    assert kinds == {
        "annotated": ("plain", False),  # keeps image: auto (ErrImagePull)
        "labelled": ("gateway", True),
        # The gateway template adds its own istio-proxy container; `proxy` keeps `auto`.
        "renamed": ("gateway", True),
    }
    assert state.proxy_for("gw/annotated") is None
    assert state.proxy_for("gw/labelled").type == "router"


def test_a_pod_keeps_what_it_got_when_it_was_created() -> None:
    # The webhook mutates a pod at admission: labelling the namespace later changes nothing for
    # pods that exist (Pod objects the controllers wrote, with or without sidecar.istio.io/status).
    labelled_later = GATEWAYS.replace("{name: gw}", "{name: gw, labels: {istio-injection: enabled}}")
    before = translate(raw_snapshot(GATEWAYS))
    existing = _PodObjects(before)
    after = translate(_WithPods(raw_snapshot(labelled_later), existing))
    assert {p.name: p.injected for p in after.pods} == {p.name: p.injected for p in before.pods}
    # New pods (another name: a changed template, `kubectl rollout restart`) decide again.
    fresh = translate(raw_snapshot(labelled_later))
    assert [p.injected for p in fresh.pods if p.deployment == "annotated"] == [True]


class _PodObjects:
    """Pod objects as the controllers store them: the injected ones carry sidecar.istio.io/status."""

    def __init__(self, state) -> None:
        self.pods = [
            _Raw(
                {
                    "metadata": {
                        "name": p.name,
                        "namespace": p.namespace,
                        "annotations": {"sidecar.istio.io/status": "{}"} if p.injected else {},
                    }
                }
            )
            for p in state.pods
        ]


class _Raw:
    def __init__(self, raw) -> None:
        self.raw = raw
        self.kind = "Pod"


class _WithPods:
    def __init__(self, snapshot, pods: _PodObjects) -> None:
        self._snapshot = snapshot
        self._pods = tuple(pods.pods)

    def list(self, kind: str):
        return self._pods if kind == "Pod" else self._snapshot.list(kind)
