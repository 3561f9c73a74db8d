"""Istio 1.27's samples as the sandbox knows them.

The manifests Istio's gateway tasks apply (``kubectl apply -f samples/httpbin/httpbin.yaml``),
in Istio's release layout (``samples/<app>/<file>.yaml``, ``samples/<app>/gateway-api/...``) and
with the same names, labels, ports, images and args as Istio 1.27.1's ``samples/`` directory
(``curl``/``sleep`` pin ``docker.io/curlimages/curl:8.16.0`` as Istio 1.27.7 does). Each image has
a sandbox stand-in (:mod:`gatewaykit.workloads`): httpbin is go-httpbin v2.15.0.

    >>> from gatewaykit import samples
    >>> (samples.path() / "httpbin" / "httpbin.yaml").is_file()
    True
"""

from __future__ import annotations

import pathlib

__all__ = ["link", "path"]


def path() -> pathlib.Path:
    """The ``samples`` directory (``samples.path() / "httpbin/httpbin.yaml"``), shipped as package data."""
    return pathlib.Path(__file__).resolve().parent / "data" / "samples"


def link(directory: str | pathlib.Path) -> pathlib.Path:
    """Make ``directory/samples`` a symlink to :func:`path`, so the docs' relative paths work there.

    Istio's docs run ``kubectl apply -f samples/httpbin/httpbin.yaml`` from the Istio release
    folder; a ``samples`` link in the learner's working folder gives the same paths. An existing
    ``samples`` that is not our link is left alone (and returned).
    """
    target = pathlib.Path(directory) / "samples"
    if not target.exists() and not target.is_symlink():
        target.symlink_to(path(), target_is_directory=True)
    return target
