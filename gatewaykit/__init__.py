"""gatewaykit: an interactive teaching kit for Istio gateways.

Edit real Istio manifests, apply them, and see live curl results through an ingress or egress
gateway -- on an embedded local sandbox (default) or a real kind cluster.
"""

from __future__ import annotations

from gatewaykit.errors import (
    BackendError,
    ClusterError,
    GatewayKitError,
    LabError,
    ManifestError,
    NotReadyError,
    SandboxError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ClusterError",
    "GatewayKitError",
    "LabError",
    "ManifestError",
    "NotReadyError",
    "SandboxError",
    "ValidationError",
]
