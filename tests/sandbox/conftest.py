"""Embedded-sandbox test fixtures (defined in ``sandbox_support``): ``sb`` (one running
``Sandbox.local()`` per module), ``kubectl`` (per-test, cleans up) and ``docs_certs``."""

from __future__ import annotations

from sandbox_support import docs_certs, kubectl, sb  # noqa: F401
