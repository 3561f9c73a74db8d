"""Translation tests: helpers live in ``_tx`` (imported by the test modules)."""

from __future__ import annotations
