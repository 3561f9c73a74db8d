"""Data-plane test fixtures (defined in ``dataplane_support``)."""

from __future__ import annotations

from dataplane_support import certs, gateway, upstreams  # noqa: F401
