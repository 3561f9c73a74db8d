"""The teaching kit: labs as data, a Python API for notebooks, and live widgets.

>>> lab = open_lab("01-virtual-hosts")          # doctest: +SKIP
>>> print(lab.steps[0].apply())                 # doctest: +SKIP
>>> print(lab.curl('curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"'))

Widgets live in :mod:`gatewaykit.kit.widgets` (imported on demand: ipywidgets is optional).
"""

from __future__ import annotations

from gatewaykit.kit.labs import Exercise, Lab, Probe, Step, list_labs, load_lab
from gatewaykit.kit.results import (
    ApplyOutcome,
    CheckResult,
    CurlOutcome,
    Explanation,
    Hint,
    ProbeResult,
)
from gatewaykit.kit.session import LabSession, StepHandle, open_lab
from gatewaykit.kit.verify import plain_words, summarize

__all__ = [
    "ApplyOutcome",
    "CheckResult",
    "CurlOutcome",
    "Exercise",
    "Explanation",
    "Hint",
    "Lab",
    "LabSession",
    "Probe",
    "ProbeResult",
    "Step",
    "StepHandle",
    "list_labs",
    "load_lab",
    "open_lab",
    "plain_words",
    "summarize",
]
