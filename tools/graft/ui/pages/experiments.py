"""The Experiments page of `graft ui`, and the significance intervals its cells load.

:func:`page` returns the page's context: one row per ``exp/*`` branch (archived ones with
``archived=1``), the params that differ from the base (all with ``all=1``), the headline metrics
with their delta against the base, filtered by name (``q``) and param value (``where``), sorted
by ``sort``. :func:`significance_cells` gives one branch's paired-bootstrap intervals (the live
page loads them per row; the export inlines them). Bad input raises
:class:`~graft.ui.pages.common.BadQuery` naming the parameter; an unknown branch
:class:`~graft.ui.pages.common.NotFound`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.ui.pages.common import BadQuery, Site, cell_view, number_of, show

SORT_PATTERN = re.compile(r"^(name|[pmd]:.+)$")


@dataclass(frozen=True)
class Columns:
    """The page's columns: the param rows shown, the headline metric keys and every diff row by
    key (a metric's direction and cells)."""

    param_rows: list[Any]
    metric_keys: list[str]
    by_key: dict[str, Any]

    @classmethod
    def of(cls, result: Any, heads: Sequence[str], show_all: bool) -> Columns:
        """The headline metrics the diff has (else its first two metrics) and the params that
        differ from the base (every param with ``show_all``)."""
        metric_rows = [r for r in result.rows if r.section == "metrics"]
        metric_keys = [k for k in heads if any(r.key == k for r in metric_rows)] or [
            r.key for r in metric_rows[:2]
        ]
        param_rows = [r for r in result.rows if r.section == "params" and (show_all or r.changed)]
        return cls(param_rows, metric_keys, {r.key: r for r in result.rows})


def archived_names(root: Path) -> list[str]:
    """``exp/NAME`` of every archive ref `graft exp prune` left whose branch is gone."""
    from graft.core import gitrepo

    repo = gitrepo.open_repo(root)
    live = set(gitrepo.branches(repo))
    prefix = gitrepo.ARCHIVE_PREFIX
    found = [r[len(prefix) :] for r in repo.references if r.startswith(prefix + gitrepo.EXP_PREFIX)]
    return sorted(n for n in found if n not in live)


def page(site: Site, query: Mapping[str, Any], with_significance: bool = False) -> dict[str, Any]:
    """The Experiments page: one row per ``exp/*`` branch (archived ones with ``archived=1``),
    params that differ (all with ``all=1``), headline metrics with their delta against the base,
    filtered by name (``q``) and param value (``where=KEY=VALUE``), sorted by ``sort`` (``name``,
    ``p:KEY``, ``m:KEY`` or ``d:KEY`` for a metric's delta; ``desc=1`` reverses)."""
    archived = archived_names(site.root) if query["archived"] == "1" else []
    result = site.experiments_diff(archived)
    columns = Columns.of(result, site.headline(), show_all=query["all"] == "1")
    base_row, rows = _rows(result, columns, set(archived))
    total = len(rows)
    rows = _sorted(_filtered(rows, query, result), query, columns)
    selected = [n for n in query["sel"] if any(r["name"] == n for r in rows)]
    if with_significance:
        for row in rows:
            row["significance"] = significance_cells(site, row["name"], columns.metric_keys)
    return {
        "base": base_row,
        "rows": rows,
        "total": total,
        "param_keys": [r.key for r in columns.param_rows],
        "metric_keys": columns.metric_keys,
        "directions": {k: columns.by_key[k].direction for k in columns.metric_keys},
        "query": dict(query),
        "selected": selected,
        "archived_count": len(archived),
    }


def _rows(result: Any, columns: Columns, archived: set[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The base's row and one row per experiment (its cells marked changed against the base's)."""
    base = next(i for i, c in enumerate(result.columns) if c.is_base)
    rows = [
        {
            "name": column.name,
            "sha": column.sha[:8],
            "archived": column.name in archived,
            "params": {r.key: cell_view(r.cells[i], r.cells[base]) for r in columns.param_rows},
            "metrics": {k: cell_view(columns.by_key[k].cells[i]) for k in columns.metric_keys},
        }
        for i, column in enumerate(result.columns)
        if not column.is_base
    ]
    base_row = {
        "name": result.columns[base].name,
        "sha": result.columns[base].sha[:8],
        "params": {r.key: cell_view(r.cells[base]) for r in columns.param_rows},
        "metrics": {k: cell_view(columns.by_key[k].cells[base]) for k in columns.metric_keys},
    }
    return base_row, rows


def _filtered(rows: list[dict[str, Any]], query: Mapping[str, Any], result: Any) -> list[dict[str, Any]]:
    """The rows whose name holds ``q`` (any case) and whose param ``KEY`` shows ``VALUE``
    (``where=KEY=VALUE``; a malformed ``where`` or an unknown param is a BadQuery)."""
    name_filter = query["q"].strip()
    if name_filter:
        rows = [r for r in rows if name_filter.lower() in r["name"].lower()]
    where = query["where"].strip()
    if not where:
        return rows
    key, sep, wanted = where.partition("=")
    key = key.strip()
    if not sep or not key:
        raise BadQuery(f"query parameter 'where': '{where}' is not KEY=VALUE")
    param = next((r for r in result.rows if r.section == "params" and r.key == key), None)
    if param is None:
        raise BadQuery(f"query parameter 'where': no param '{key}' in any branch")
    index = {c.name: i for i, c in enumerate(result.columns)}
    return [r for r in rows if show(param.cells[index[r["name"]]].value) == wanted.strip()]


def _sorted(rows: list[dict[str, Any]], query: Mapping[str, Any], columns: Columns) -> list[dict[str, Any]]:
    """The rows in ``sort`` order (``desc=1`` reverses), rows without the value last either way;
    a column the page does not show is a BadQuery."""
    sort = query["sort"] or "name"
    known_sort = sort == "name" or (
        SORT_PATTERN.match(sort) is not None
        and sort[2:] in ({r.key for r in columns.param_rows} if sort[0] == "p" else set(columns.metric_keys))
    )
    if not known_sort:
        raise BadQuery(f"query parameter 'sort': no column '{sort}' on this page")
    key_of = _sort_key(sort)
    present = [r for r in rows if key_of(r)[0] < 2]
    absent = [r for r in rows if key_of(r)[0] == 2]
    present.sort(key=key_of, reverse=query["desc"] == "1")
    return present + absent


def _sort_key(sort: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    kind, _, key = sort.partition(":")

    def by(row: dict[str, Any]) -> tuple[int, Any]:
        if kind == "name":
            return 0, row["name"]
        cells = row["params"] if kind == "p" else row["metrics"]
        cell = cells.get(key)
        if cell is None:
            return 2, ""
        raw = cell["delta"] if kind == "d" else cell["value"]
        number = number_of(raw)
        if number is not None:
            return 0, number
        return (1, show(raw)) if raw is not None else (2, "")

    return by


def significance_cells(site: Site, branch: str, metric_keys: Sequence[str]) -> list[dict[str, Any]]:
    """Each headline metric's paired-bootstrap interval for ``branch`` against the base, with
    compare's verdict (``None`` interval and a ``reason`` when it cannot be computed)."""
    site.resolve(branch)
    boot = site.significance(branch)
    out = []
    for key in metric_keys:
        ci = boot["metrics"].get(key) if boot.get("available") else None
        if ci is None:
            why = boot.get("reason") or (
                f"no predictions at {', '.join(boot['missing'])}"
                if boot.get("missing")
                else "not a metric the task's bootstrap computes"
            )
            out.append({"key": key, "ci": None, "reason": why})
        else:
            out.append({"key": key, "ci": ci, "reason": None, "level": boot["level"]})
    return out
