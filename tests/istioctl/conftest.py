"""Fixtures of the sandbox-istioctl tests (``istioctl_support``): ``sb`` (one sandbox per module) and
``fresh`` (one per test)."""

from __future__ import annotations

from istioctl_support import fresh, sb  # noqa: F401
