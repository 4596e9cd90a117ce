"""Text formats of a :class:`graft.compare.diff.DiffResult`: aligned table, Markdown, JSON, CSV.

Pure functions from a result to a string (no printing, no heavy imports).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from graft.compare.diff import Cell, Column, DiffResult, Row
from graft.core.texttable import align_rows
from graft.project.dvccache import NOT_CACHED

FORMATS = ("table", "md", "json", "csv")
NO_FILE = {"params": "no params", "metrics": "no metrics"}
MISSING = "-"
BEST_MARK = "*"
TABLE_CELL_WIDTH = 40  # longer texts (descriptions, long lists) are cut in the plain table
DIRECTION_SOURCE = "direction from the base's metrics.rules, else the task's metric"


def fmt_value(value: Any) -> str:
    """Numbers compactly (6 significant digits for floats), lists/dicts as JSON, the rest as str."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def fmt_delta(value: float | None) -> str:
    if value is None or value == 0:
        return ""
    return f"{value:+d}" if isinstance(value, int) else f"{value:+.6g}"


def cell_text(row: Row, cell: Cell, bold: Callable[[str], str] | None = None) -> str:
    if cell.status == "no_file":
        return NO_FILE[row.section]
    if cell.status == "not_cached":
        return NOT_CACHED
    if cell.status == "missing":
        return MISSING
    text = fmt_value(cell.value)
    if cell.best:
        text = bold(text) if bold else f"{text} {BEST_MARK}"
    d = fmt_delta(cell.delta)
    return f"{text} ({d})" if d else text


def to_table(result: DiffResult) -> str:
    """Aligned plain text: one block per section, a column per revision (base first)."""
    names = ["", *(f"{c.name}{' (base)' if c.is_base else ''}" for c in result.columns)]
    shas = ["", *(c.sha[:8] for c in result.columns)]
    lines: list[list[str]] = [names, shas]
    for section in ("params", "metrics"):
        rows = [r for r in result.rows if r.section == section]
        lines.append([f"[{section}]", *([""] * len(result.columns))])
        if not rows:
            empty = "(no changes)" if result.only_changed else "(none)"
            lines.append([empty, *(_section_state(c, section) for c in result.columns)])
        for row in rows:
            lines.append([row.key, *(_cut(cell_text(row, c)) for c in row.cells)])
    out = align_rows(lines)
    out.append("")
    out.append(f"{BEST_MARK} best per metric ({DIRECTION_SOURCE}); (+x) change against the base")
    return "\n".join(out) + "\n"


def _cut(text: str, width: int = TABLE_CELL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _has(column: Column, section: str) -> bool:
    return column.has_params if section == "params" else column.has_metrics


def _section_state(column: Column, section: str) -> str:
    if section == "metrics" and not column.has_metrics and column.unreadable:
        return NOT_CACHED
    return "" if _has(column, section) else NO_FILE[section]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(result: DiffResult) -> str:
    """A GitHub table: best values in bold, deltas in parentheses."""
    head = ["section", "key", *(f"{c.name} (base)" if c.is_base else c.name for c in result.columns)]
    out = [
        "| " + " | ".join(_md_escape(h) for h in head) + " |",
        "| --- | --- |" + " ---: |" * len(result.columns),
    ]
    for row in result.rows:
        cells = [cell_text(row, c, bold=lambda t: f"**{t}**") for c in row.cells]
        out.append("| " + " | ".join(_md_escape(t) for t in [row.section, f"`{row.key}`", *cells]) + " |")
    if not result.rows:
        out.append("| | (no rows) |" + " |" * len(result.columns))
    shas = ", ".join(f"{c.name} = `{c.sha[:8]}`" for c in result.columns)
    out.append("")
    out.append(f"Bold: best per metric ({DIRECTION_SOURCE}). Commits: {shas}.")
    return "\n".join(out) + "\n"


def to_dict(result: DiffResult) -> dict[str, Any]:
    """The JSON shape (graft.compare.diffjson.DiffJson, dumped)."""
    from graft.compare.diffjson import DiffJson

    return DiffJson.of(result).model_dump(mode="json")


def to_json(result: DiffResult) -> str:
    """The :func:`to_dict` document, indented, with one compact line per row.

    A row per line keeps the output readable and diff-friendly, and lets the C encoder write
    the rows (a fully indented document of 100 revisions takes the pure-Python encoder).
    """
    document = to_dict(result)
    rows = document.pop("rows")
    head = json.dumps(document, indent=2)[:-2]  # without the closing newline and brace
    if not rows:
        return f'{head},\n  "rows": []\n}}\n'
    lines = ",\n".join(f"    {json.dumps(row)}" for row in rows)
    return f'{head},\n  "rows": [\n{lines}\n  ]\n}}\n'


CSV_HEADER = ("section", "key", "revision", "commit", "status", "value", "delta", "best", "direction")


def to_csv(result: DiffResult) -> str:
    """Long format: one line per (key, revision); value and delta empty when absent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in result.rows:
        for column, cell in zip(result.columns, row.cells, strict=True):
            value = "" if cell.status != "value" else _csv_value(cell.value)
            writer.writerow(
                [
                    row.section,
                    row.key,
                    column.name,
                    column.sha,
                    cell.status,
                    value,
                    "" if cell.delta is None else repr(cell.delta),
                    "true" if cell.best else "false",
                    row.direction or "",
                ]
            )
    return buffer.getvalue()


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict, bool)) or value is None:
        return json.dumps(value)
    return str(value)


RENDERERS: dict[str, Callable[[DiffResult], str]] = {
    "table": to_table,
    "md": to_markdown,
    "json": to_json,
    "csv": to_csv,
}


def render(result: DiffResult, fmt: str) -> str:
    return RENDERERS[fmt](result)
