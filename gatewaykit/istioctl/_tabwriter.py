"""Go's ``text/tabwriter`` (flags 0, space padding), which istioctl's tables are printed with.

Tab-terminated cells form columns; a column's width is its widest cell (in runes) plus ``padding``
(at least ``minwidth``), computed per *column block* -- a run of consecutive lines that have a cell
in that column. The last cell of a line is never padded. Same algorithm as Go's ``Writer.format``.
"""

from __future__ import annotations

__all__ = ["tabwrite"]


def tabwrite(text: str, *, minwidth: int = 0, padding: int = 1) -> str:
    """Align ``text`` (lines of ``\\t``-separated cells) like ``tabwriter.NewWriter(w, minwidth, 8,
    padding, ' ', 0)`` followed by ``Flush``."""
    lines = text.split("\n")
    trailing_newline = text.endswith("\n")
    if trailing_newline:
        lines = lines[:-1]
    rows = [line.split("\t") for line in lines]
    out: list[str] = []
    _format(rows, 0, len(rows), [], minwidth, padding, out)
    result = "\n".join(out)
    return result + "\n" if trailing_newline else result


def _format(
    rows: list[list[str]],
    line0: int,
    line1: int,
    widths: list[int],
    minwidth: int,
    padding: int,
    out: list[str],
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(rows[this]) - 1:
            this += 1
            continue
        _write_lines(rows, line0, this, widths, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(rows[this]) - 1:
            width = max(width, len(rows[this][column]) + padding)
            this += 1
        _format(rows, line0, this, [*widths, width], minwidth, padding, out)
        line0 = this
    _write_lines(rows, line0, line1, widths, out)


def _write_lines(rows: list[list[str]], line0: int, line1: int, widths: list[int], out: list[str]) -> None:
    for row in rows[line0:line1]:
        parts = []
        for j, cell in enumerate(row):
            parts.append(cell)
            if j < len(widths) and j < len(row) - 1:
                parts.append(" " * (widths[j] - len(cell)))
        out.append("".join(parts))
