"""Label and field selectors (TEMPORARY shim; the full module replaces it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Selector", "parse_field_selector", "parse_label_selector"]


@dataclass(frozen=True)
class Selector:
    """A parsed selector: requirements (key, op, values)."""

    requirements: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy every requirement."""
        for key, op, values in self.requirements:
            have = key in labels
            if op in ("=", "==", "in") and (not have or labels[key] not in values):
                return False
            if op in ("!=", "notin") and have and labels[key] in values:
                return False
            if op == "exists" and not have:
                return False
            if op == "!" and have:
                return False
        return True


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str) -> Selector:
    """Parse ``app=curl,version!=v2,env in (a,b),!legacy``."""
    reqs = []
    for part in _split(text):
        if " notin " in part or " in " in part:
            op = "notin" if " notin " in part else "in"
            key, _, rest = part.partition(f" {op} ")
            values = tuple(v.strip() for v in rest.strip().strip("()").split(","))
            reqs.append((key.strip(), op, values))
        elif "!=" in part:
            k, _, v = part.partition("!=")
            reqs.append((k.strip(), "!=", (v.strip(),)))
        elif "==" in part or "=" in part:
            k, _, v = part.partition("==" if "==" in part else "=")
            reqs.append((k.strip(), "=", (v.strip(),)))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!", ()))
        else:
            reqs.append((part, "exists", ()))
    return Selector(tuple(reqs))


def parse_field_selector(text: str) -> Selector:
    """Parse ``metadata.name=x,status.phase!=Running``."""
    reqs = []
    for part in _split(text):
        if "!=" in part:
            k, _, v = part.partition("!=")
            reqs.append((k.strip(), "!=", (v.strip(),)))
        else:
            k, _, v = part.partition("==" if "==" in part else "=")
            if not _:
                raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
            reqs.append((k.strip(), "=", (v.strip(),)))
    return Selector(tuple(reqs))
