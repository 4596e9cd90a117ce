"""`graft data show|diff`: a declared data table at a revision, and two revisions compared
(parsing and rendering only; :mod:`graft.data` does the work).

``show PATH [--rev R]``: rows and, per column, type, missing share and distribution.
``diff PATH A B [--key COL]``: rows added, removed and changed by the key column, columns
added and removed, and the columns whose distribution moved beyond noise. ``--format json``
prints the result's ``as_dict()`` (schemas/data-show.json, data-diff.json). ``PATH`` is
relative to the current directory, as typed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from graft import api
from graft.cli.common import Ui, add_format, add_offline, common_parent

if TYPE_CHECKING:
    from graft.data.types import ColumnMove, ColumnSummary, TableDiff, TableSummary

EXTRA = "monitor"  # the diff's tests are the monitor's (scipy)
SPARK = "▁▂▃▄▅▆▇█"
TOP_SHOWN = 3


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True
    common = [common_parent()]

    show = sub.add_parser(
        "show", parents=common, help="rows and, per column, type, missing share and distribution"
    )
    show.add_argument("path", metavar="PATH", help="a table the pipeline declares (CSV, TSV, Parquet)")
    show.add_argument("--rev", default="HEAD", metavar="REV", help="the revision to read (default: HEAD)")
    add_format(show)
    add_offline(show)
    show.set_defaults(handler=run_show)

    diff = sub.add_parser(
        "diff",
        parents=common,
        help="rows added, removed and changed by a key, and the columns whose distribution moved",
    )
    diff.add_argument("path", metavar="PATH", help="a table the pipeline declares (CSV, TSV, Parquet)")
    diff.add_argument("rev_a", metavar="A", help="the revision compared against (the reference)")
    diff.add_argument("rev_b", metavar="B", help="the revision compared")
    diff.add_argument(
        "--key",
        metavar="COL",
        help="the column identifying a row (default: graft.yaml data.keys; none: no row diff)",
    )
    add_format(diff)
    add_offline(diff)
    diff.set_defaults(handler=run_diff)


# --- show ------------------------------------------------------------------------------------


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def spark(counts: list[int]) -> str:
    """A histogram as one line of block characters (the tallest bin full)."""
    top = max(counts, default=0)
    if not top:
        return ""
    return "".join(SPARK[min(len(SPARK) - 1, (len(SPARK) * c) // (top + 1))] if c else " " for c in counts)


def distribution(column: ColumnSummary) -> str:
    if column.kind == "numeric":
        if column.min is None:
            return "no values"
        sampled = f" (sample of {column.sample_size:,})" if column.sampled else ""
        return (
            f"{spark([b.count for b in column.histogram])}  min {_number(column.min)} · mean "
            f"{_number(column.mean)} · max {_number(column.max)}{sampled}"
        )
    present = column.rows - column.missing
    if not present:
        return "no values"
    tops = [f"{c.value} {_percent(c.count / present)}" for c in column.top[:TOP_SHOWN]]
    rest = column.distinct - min(len(column.top), TOP_SHOWN)
    more = f" · {rest:,}{'+' if column.distinct_capped else ''} more" if rest > 0 else ""
    return " · ".join(tops) + more


def _header(summary: TableSummary) -> str:
    return (
        f"{summary.path} at {summary.rev} ({summary.commit[:8]}, {summary.format} from {summary.stored}, "
        f"{summary.bytes:,} bytes): {summary.rows:,} rows, {len(summary.columns)} columns"
    )


def render_show(summary: TableSummary) -> str:
    from graft.core.texttable import format_table

    rows = [[c.name, c.dtype, _percent(c.missing_share), distribution(c)] for c in summary.columns]
    table = format_table(["column", "type", "missing", "distribution"], rows) if rows else "(no columns)"
    return f"{_header(summary)}\n\n{table}\n"


def run_show(args: argparse.Namespace, ui: Ui) -> int:
    summary = api.data_show(ui.root, ui.repo_path(args.path), args.rev)
    if ui.json_mode:
        from graft.data.results import TableJson

        ui.json(TableJson.of(summary))
    else:
        ui.out(render_show(summary))
    return 0


# --- diff ------------------------------------------------------------------------------------


def _score(move: ColumnMove) -> tuple[str, str]:
    """The score shown (a test's Holm-adjusted p-value, or the distance) and what moves it."""
    if move.score is None:
        return "-", "-"
    if move.p_adjusted is not None:
        return f"p {move.p_adjusted:.3g}", f"p < {move.threshold:g}"
    return f"{move.score:.3g}", f">= {move.threshold:g}"


def render_diff(diff: TableDiff) -> str:
    from graft.core.texttable import format_table

    a, b = diff.a, diff.b
    lines = [
        f"{diff.path}: {a.rev} ({a.commit[:8]}) -> {b.rev} ({b.commit[:8]})"
        + ("; the same file at both" if diff.identical else ""),
        f"rows: {a.rows:,} -> {b.rows:,}",
    ]
    if diff.keys is not None:
        k = diff.keys
        lines.append(
            f"by key '{k.key}': {k.added:,} added, {k.removed:,} removed, {k.changed:,} changed, "
            f"{k.unchanged:,} unchanged"
        )
        cells = [f"{name} {n:,}" for name, n in k.changed_cells.items() if n]
        if cells:
            lines.append(f"  changed values by column: {', '.join(cells)}")
        for kind in ("added", "removed", "changed"):
            if k.examples.get(kind):
                lines.append(f"  {kind}, e.g.: {', '.join(k.examples[kind])}")
    else:
        lines.append("no key column (--key, or graft.yaml data.keys): rows are not matched")
    if diff.columns_added:
        lines.append(f"columns added: {', '.join(diff.columns_added)}")
    if diff.columns_removed:
        lines.append(f"columns removed: {', '.join(diff.columns_removed)}")
    rows = [
        [
            m.name,
            m.kind,
            f"{_percent(m.missing_share_a)} -> {_percent(m.missing_share_b)}"
            + (" (moved)" if m.missing_moved else ""),
            m.method,
            *_score(m),
            m.status,
        ]
        for m in diff.columns
    ]
    if rows:
        lines += [
            "",
            format_table(["column", "kind", "missing", "test", "score", "moved at", "distribution"], rows),
        ]
    moved = diff.moved_columns
    lines += ["", f"moved beyond noise: {', '.join(moved)}" if moved else "no column moved beyond noise"]
    return "\n".join(lines) + "\n"


def run_diff(args: argparse.Namespace, ui: Ui) -> int:
    diff = api.data_diff(ui.root, ui.repo_path(args.path), args.rev_a, args.rev_b, key=args.key)
    if ui.json_mode:
        from graft.data.results import TableDiffJson

        ui.json(TableDiffJson.of(diff))
    else:
        ui.out(render_diff(diff))
    return 0
