"""Plain-text tables for the terminal (column widths from the content, no dependencies)."""

from __future__ import annotations

from collections.abc import Sequence


def column_widths(rows: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]


def align_rows(rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned columns two spaces apart, trailing blanks stripped; one string per row."""
    cells = [[str(c) for c in row] for row in rows]
    widths = column_widths(cells)
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A header, a rule of dashes, then the rows."""
    lines = align_rows([headers, *rows])
    widths = column_widths([[str(c) for c in row] for row in [headers, *rows]])
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
