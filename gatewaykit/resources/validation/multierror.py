"""Go's error accumulation, reproduced because it decides what kubectl shows.

Istio appends errors with ``multierror.Append`` (hashicorp/go-multierror) through
``agent.AppendErrors``/``AppendValidation`` (``pkg/config/validation/agent/validation.go``).
One error renders bare; several -- or one appended to a ``nil`` multierror by a bare
``multierror.Append`` -- render in go-multierror's list format
(``2 errors occurred:\\n\\t* a\\n\\t* b\\n\\n``).

Here an error value (:data:`Err`) is ``None`` (Go ``nil``), a ``str`` (one ``error``) or a
:class:`MultiError` (a ``*multierror.Error``); :class:`Validation` is ``agent.Validation``.

Rule: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "Err",
    "MultiError",
    "Validation",
    "append_errors",
    "flatten",
    "multierror_append",
    "multierror_text",
]


class MultiError(list):  # type: ignore[type-arg]
    """A ``*multierror.Error``: renders as a list even with one entry."""


#: An error value: ``None`` | ``str`` | :class:`MultiError`.
Err = Any


def append_errors(err: Err, *more: Err) -> Err:
    """``agent.AppendErrors``: a nil-preserving ``multierror.Append`` (flattens multierrors).

    A :class:`Validation` among ``more`` contributes its error only, as in Go.
    """
    for e in more:
        if isinstance(e, Validation):
            e = e.err
        if e is None:
            continue
        if err is None:
            err = e
            continue
        merged = MultiError(err) if isinstance(err, MultiError) else MultiError([err])
        if isinstance(e, MultiError):
            merged.extend(e)
        else:
            merged.append(e)
        err = merged
    return err


def multierror_append(err: Err, e: str) -> MultiError:
    """A bare ``multierror.Append(errs, e)``: always a multierror, even from nil."""
    merged = MultiError(err) if isinstance(err, MultiError) else MultiError([] if err is None else [err])
    merged.append(e)
    return merged


class Validation:
    """``agent.Validation``: an error and a warning, appended with ``AppendValidation``."""

    __slots__ = ("err", "warn")

    def __init__(self, err: Err = None, warn: Err = None) -> None:
        self.err = err
        self.warn = warn

    def add(self, *items: Any) -> Validation:
        """``AppendValidation``: append errors (str/MultiError/None) or other Validations, in order."""
        for item in items:
            if isinstance(item, Validation):
                self.err = append_errors(self.err, item.err)
                self.warn = append_errors(self.warn, item.warn)
            else:
                self.err = append_errors(self.err, item)
        return self

    def warning(self, w: Err) -> Validation:
        """Append a warning (``WrapWarning``)."""
        self.warn = append_errors(self.warn, w)
        return self


def flatten(err: Err) -> list[str]:
    """The messages of an error value, in order (``[]`` for nil)."""
    if err is None:
        return []
    if isinstance(err, MultiError):
        return [str(e) for e in err]
    return [str(err)]


def multierror_text(errors: Sequence[str]) -> str:
    """go-multierror's ``ListFormatFunc`` (format.go): a count line, then one ``\\t* `` per error."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"
