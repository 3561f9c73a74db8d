"""The protobuf message table of the served built-in kinds (moved to :mod:`gatewaykit.resources.k8s_types`,
where the API server's JSON decoding reads it too)."""

from __future__ import annotations

from gatewaykit.resources.k8s_types import MESSAGES

__all__ = ["MESSAGES"]
