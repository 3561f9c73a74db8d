"""Workloads: local stand-ins for the container images a Deployment names, and the fake internet.

Public API::

    from gatewaykit.workloads import WorkloadSpec, start_workload, classify_image

    w = start_workload(WorkloadSpec(pod_name="httpbin-7f9c8d6b5-abcde", namespace="default",
                                    image="docker.io/kong/httpbin", ports=(80,)))
    w.status            # "Running" (or "ErrImagePull" / "CrashLoopBackOff", see w.message)
    w.ports[80]         # the real 127.0.0.1 port serving containerPort 80
    w.logs()            # the container log (what `kubectl logs` prints)
    w.close()           # frees ports and threads

    net = FakeInternet(work_dir).start()   # httpbin.org, edition.cnn.com, www.google.com
    net.ports["httpbin.org"][443], net.ca_pem, net.ca_file
    net.close()

Modules: :mod:`.base` (the contract), :mod:`.images` (image -> stand-in), :mod:`.apps` (httpbin,
helloworld, tcp-echo, client), :mod:`.gohttpbin` (go-httpbin v2.15.0, Istio 1.24+'s httpbin; its helpers.go in
:mod:`._gohttpbin_helpers`, over :mod:`._gohttp`, Go's net/http, and :mod:`._golang`, Go's output
formats), :mod:`.nginx`,
:mod:`.internet`, and :mod:`._http` (the h11/h2 server core).
"""

from __future__ import annotations

from gatewaykit.workloads.apps import preload
from gatewaykit.workloads.base import RunningWorkload, WorkloadSpec, WorkloadStatus
from gatewaykit.workloads.images import SUPPORTED_IMAGES, classify_image, start_workload
from gatewaykit.workloads.internet import DEFAULT_HOSTS, ExternalHost, FakeInternet

__all__ = [
    "DEFAULT_HOSTS",
    "SUPPORTED_IMAGES",
    "ExternalHost",
    "FakeInternet",
    "RunningWorkload",
    "WorkloadSpec",
    "WorkloadStatus",
    "classify_image",
    "preload",
    "start_workload",
]
