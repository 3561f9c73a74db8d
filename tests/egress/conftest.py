"""Egress test fixtures (defined in ``egress_support``): ``sb`` (one running ``Sandbox.local()``
per module with the curl sample), ``kubectl`` (per test, cleans up) and ``docs_certs``."""

from __future__ import annotations

from egress_support import docs_certs, kubectl, sb  # noqa: F401
