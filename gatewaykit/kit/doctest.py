"""istio.io's doc-test verifiers, as pure functions.

istio.io tests every task page by running its generated ``snips.sh`` and comparing each command's
output with the page's expected output, using the ``_verify_*`` functions of
``tests/util/verify.sh`` (istio/istio.io). This module reproduces their semantics exactly,
normalisations included, so gatewaykit accepts and rejects the same outputs istio.io does:

* the command's output is captured as ``out=$($func 2>&1)`` and then passed through
  ``sed 's/[[:space:]]*$//g'``: trailing whitespace (``\\r`` included) goes from every line and
  trailing newlines from the end (:func:`normalize_output`);
* the expected text is read with ``IFS=$'\\n' read -r -d ''`` from a quoted here-document, which
  drops leading and trailing newlines only (:func:`expected_text`);
* most comparisons first remove every ``\\r`` from the output.

Each verifier is ``verify_<name>(output, expected, exit_code=0) -> bool`` with ``output`` as the
command printed it (normalised here) and ``expected`` as the page states it. The exit code only
matters to :func:`verify_failure` (non-zero wanted) and :func:`verify_not_contains` (which also
wants the command to succeed); every other verifier ignores it, as ``verify.sh`` does.

Not reproduced: the retry loop (``VERIFY_TIMEOUT``/``VERIFY_DELAY``: the caller decides whether
to run a command again) and POSIX ERE details in :func:`verify_regex` (Python's ``re`` is used).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = [
    "VERIFIERS",
    "expected_text",
    "normalize_output",
    "verifier",
    "verify_contains",
    "verify_elided",
    "verify_failure",
    "verify_first_line",
    "verify_like",
    "verify_lines",
    "verify_not_contains",
    "verify_regex",
    "verify_same",
]

# [[:space:]] in the C/UTF-8 locales: space, \t, \n, \v, \f, \r (sed works line by line, so no \n).
_SPACE = " \t\v\f\r"


def normalize_output(text: str) -> str:
    """What ``__verify_with_retry`` compares: ``$(...)`` then ``sed 's/[[:space:]]*$//g'`` then ``$(...)``."""
    lines = [line.rstrip(_SPACE) for line in text.split("\n")]
    return "\n".join(lines).rstrip("\n")


def expected_text(block: str) -> str:
    """A ``snip_*_out`` value: ``read -d ''`` with ``IFS=$'\\n'`` drops leading/trailing newlines."""
    return block.strip("\n")


def _cr_free(output: str) -> str:
    return normalize_output(output).replace("\r", "")


def verify_same(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_same``: the output equals ``expected`` exactly."""
    return _cr_free(output) == expected


def verify_contains(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_contains``: ``expected`` is a substring of the output."""
    return expected in _cr_free(output)


def verify_not_contains(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_not_contains``: the command succeeded and its output lacks ``expected``.

    verify.sh passes ``failonerr`` here: a failing command never satisfies "does not contain".
    """
    return exit_code == 0 and expected not in _cr_free(output)


def _is_elision(line: str) -> bool:
    """A line ``^[[:space:]]*\\.\\.\\.[[:space:]]*$``."""
    return line.strip(_SPACE) == "..."


def verify_elided(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_elided``: every block of ``expected`` between ``...`` lines is a substring of the output.

    As ``__cmp_elided`` does it: blocks are checked one by one against the whole output -- not
    line-anchored (``HTTP/2 418`` is found inside ``< HTTP/2 418``) and not in order; blank lines at
    the start of a block are dropped.
    """
    out = _cr_free(output)
    block = ""
    for line in expected.split("\n"):
        if _is_elision(line):
            if block and block not in out:
                return False
            block = ""
        else:
            block = f"{block}\n{line}" if block else line
    return not block or block in out


def verify_regex(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_regex``: the output matches the (unanchored) regular expression ``expected``."""
    return re.search(expected, _cr_free(output)) is not None


def _first_line_of_output(text: str) -> str:
    """``IFS=$'\\n\\r' read -r line``: leading ``\\r`` skipped; a lone trailing ``\\r`` dropped."""
    line = text.split("\n", 1)[0].lstrip("\r")
    if line.endswith("\r") and "\r" not in line[:-1]:
        return line[:-1]
    return line


def verify_first_line(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_first_line``: the first line of the output equals the first line of ``expected``."""
    return _first_line_of_output(normalize_output(output)) == expected.split("\n", 1)[0]


_IP = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_DURATION = re.compile(r"([0-9]+[smhd])+")
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_DATE = re.compile(r"[0-9]{4}-(0?[1-9]|1[012])-(0?[1-9]|[12][0-9]|3[01])")
_TIME = re.compile(r"(2[0-3]|[01]?[0-9]):([0-5]?[0-9]):([0-5]?[0-9]).[0-9]+")  # '.' is any char there
_DASHED_PREFIX = re.compile(r"([a-zA-Z0-9_/]+-)+")

#: Token pairs ``__cmp_like`` accepts as equal when both sides are of one kind.
_SAME_KIND = (_DURATION, _VERSION, _DATE, _TIME)


def _tokens_like(otok: str, etok: str, match_ip_none: bool, match_ip_pending: bool) -> bool:
    """One token of ``__cmp_like``."""
    if etok == "..." or otok == etok:
        return True
    if any(rx.fullmatch(otok) and rx.fullmatch(etok) for rx in _SAME_KIND):
        return True
    if _IP.fullmatch(etok) and (
        _IP.fullmatch(otok)
        or (otok == "<pending>" and match_ip_pending)
        or (otok == "<none>" and match_ip_none)
    ):
        return True
    # A generated name: the common prefix must start with "word-" groups (httpbin-7f9c-... vs -8d2a-...).
    common = 0
    while common < len(otok) and common < len(etok) and otok[common] == etok[common]:
        common += 1
    return _DASHED_PREFIX.match(otok[:common]) is not None


def _words(line: str) -> list[str]:
    """``read -r -a`` with the default IFS: fields split on runs of blanks."""
    return [w for w in re.split(r"[ \t\n]+", line) if w]


def verify_like(
    output: str,
    expected: str,
    exit_code: int = 0,
    *,
    match_ip_none: bool = False,
    match_ip_pending: bool = False,
) -> bool:
    """``_verify_like``: same lines and tokens, where times, versions, dates, IPs and generated names vary.

    Lines are compared with surrounding blanks trimmed (``read -r``), tokens split on blanks; a token
    ``...`` in ``expected`` matches anything. ``match_ip_none``/``match_ip_pending`` are the
    ``CMP_MATCH_IP_NONE``/``CMP_MATCH_IP_PENDING`` switches (``<none>``/``<pending>`` for an IP).
    """
    out = _cr_free(output)
    if out == expected:
        return True
    olines = [ln.strip(" \t") for ln in out.split("\n")]
    elines = [ln.strip(" \t") for ln in expected.split("\n")]
    if len(olines) != len(elines):
        return False
    for oline, eline in zip(olines, elines, strict=True):
        if oline == eline:
            continue
        otoks, etoks = _words(oline), _words(eline)
        if len(otoks) != len(etoks):
            return False
        if not all(
            _tokens_like(o, e, match_ip_none, match_ip_pending) for o, e in zip(otoks, etoks, strict=True)
        ):
            return False
    return True


def verify_lines(output: str, expected: str, exit_code: int = 0) -> bool:
    """``_verify_lines``: each ``+ x`` line of ``expected`` is in the output, no ``- x`` line is."""
    out = _cr_free(output)
    for line in expected.split("\n"):
        if line.startswith("+ ") and line[2:] not in out:
            return False
        if line.startswith("- ") and line[2:] in out:
            return False
    return True


def verify_failure(output: str, expected: str = "", exit_code: int = 0) -> bool:
    """``_verify_failure``: the command exited non-zero (its output does not matter)."""
    return exit_code != 0


Verifier = Callable[[str, str, int], bool]

#: verify.sh's public functions by their short name (``_verify_elided`` -> ``"elided"``).
VERIFIERS: Mapping[str, Verifier] = {
    "same": verify_same,
    "contains": verify_contains,
    "not_contains": verify_not_contains,
    "elided": verify_elided,
    "regex": verify_regex,
    "first_line": verify_first_line,
    "like": verify_like,
    "lines": verify_lines,
    "failure": verify_failure,
}


def verifier(name: str) -> Verifier:
    """The verifier called ``name``: ``"elided"``, ``"_verify_elided"`` or ``"verify_elided"``.

    Raises:
        KeyError: with the known names, for anything else.
    """
    key = name.strip().removeprefix("_").removeprefix("verify_").replace("-", "_")
    if key not in VERIFIERS:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(VERIFIERS)}")
    return VERIFIERS[key]
