"""The Data page of `graft ui`: the tables the pipeline declares, one revision or two.

:func:`page` returns the tables declared at ``rev`` (else the base); for ``path``, the table at
``rev``: rows, format, size and per column its type, missing share, distinct count, range and
distribution (:func:`distribution_spec`, a Vega-Lite chart); with ``a`` and ``b``, the table
compared between them as `graft data diff` judges it: rows, columns added and removed, which
columns' distributions moved beyond noise, and the rows added, removed and changed by ``key``
when one is set. Only one of ``a`` and ``b`` is a :class:`~graft.ui.pages.common.BadQuery`; an
unknown revision a :class:`~graft.ui.pages.common.NotFound`; a path that is no declared table
the error :mod:`graft.api` raises for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graft import api
from graft.ui.pages.common import VEGA_LITE, BadQuery, Site, show


def page(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Data page: the tables the pipeline declares at the base; for ``path``, the table at
    ``rev`` (rows, and per column its type, missing share and distribution); with ``a`` and
    ``b``, the table compared between them (rows added, removed and changed by ``key`` when one
    is set; which columns' distributions moved beyond noise, as `graft data diff` judges)."""
    path, rev, a, b, key = query["path"], query["rev"], query["a"], query["b"], query["key"]
    tables = api.data_tables(site.root, rev or site.base)
    context: dict[str, Any] = {"tables": tables, "path": path, "summary": None, "diff": None, "error": None}
    context["query"] = dict(query)
    if not path:
        return context
    if bool(a) != bool(b):
        raise BadQuery("query parameters 'a' and 'b': give both revisions to compare, or neither")
    if a:
        context["diff"] = _diff(site, path, a, b, key)
    else:
        context["summary"] = _summary(site, path, rev or site.base)
    return context


def _diff(site: Site, path: str, a: str, b: str, key: str) -> dict[str, Any]:
    """The table at ``path`` compared between revisions ``a`` and ``b`` (rows by ``key``)."""
    for name in (a, b):
        site.resolve(name, "revision")
    diff = api.data_diff(site.root, path, a, b, key or None)
    by_name_b = {c.name: c for c in diff.b.columns}
    return {
        "a": a,
        "b": b,
        "rows": (diff.a.rows, diff.b.rows),
        "identical": diff.identical,
        "added": diff.columns_added,
        "removed": diff.columns_removed,
        "columns": [
            _moved(move, diff.a.column(move.name), by_name_b.get(move.name), a, b) for move in diff.columns
        ],
        "rowdiff": diff.keys,
    }


def _moved(move: Any, col_a: Any, col_b: Any, a: str, b: str) -> dict[str, Any]:
    """One column's drift verdict between ``a`` and ``b``, with both distributions overlaid
    (no chart when the column's kind differs between them)."""
    values = _distribution(col_a, a) + (_distribution(col_b, b) if col_b is not None else [])
    kind = col_a.kind if col_a is not None and (col_b is None or col_b.kind == col_a.kind) else ""
    return {
        "name": move.name,
        "status": move.status,
        "moved": move.moved,
        "method": move.method,
        "score": show(move.score),
        "threshold": show(move.threshold),
        "missing": (move.missing_share_a, move.missing_share_b),
        "new_categories": move.new_categories,
        "spec": distribution_spec(move.name, kind, values) if kind else None,
    }


def _summary(site: Site, path: str, name: str) -> dict[str, Any]:
    """The table at ``path`` at revision ``name``: its size and each column's view and chart."""
    site.resolve(name, "revision")
    summary = api.data_show(site.root, path, name)
    return {
        "rev": name,
        "commit": summary.commit[:8],
        "rows": summary.rows,
        "format": summary.format,
        "stored": summary.stored,
        "bytes": summary.bytes,
        "columns": [
            {**_column_view(c), "spec": distribution_spec(c.name, c.kind, _distribution(c, name))}
            for c in summary.columns
        ],
    }


def _distribution(column: Any, revision: str) -> list[dict[str, Any]]:
    """A column's histogram bins (numeric) or top categories and the rest, tagged ``revision``."""
    if column.kind == "numeric":
        return [{"rev": revision, "low": b.low, "high": b.high, "count": b.count} for b in column.histogram]
    values = [{"rev": revision, "value": c.value, "count": c.count} for c in column.top]
    if column.other:
        values.append({"rev": revision, "value": "(other)", "count": column.other})
    return values


def distribution_spec(name: str, kind: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """A column's histogram (numeric) or top categories, one colour per revision."""
    if kind == "numeric":
        encoding = {
            "x": {"field": "low", "type": "quantitative", "title": name, "bin": {"binned": True}},
            "x2": {"field": "high"},
            "y": {"field": "count", "type": "quantitative", "stack": None},
        }
    else:
        encoding = {
            "y": {"field": "value", "type": "nominal", "sort": "-x", "title": name},
            "x": {"field": "count", "type": "quantitative"},
            "yOffset": {"field": "rev"},
        }
    return {
        "$schema": VEGA_LITE,
        "width": 260,
        "height": 140,
        "data": {"values": values},
        "mark": {"type": "bar", "opacity": 0.6},
        "encoding": {**encoding, "color": {"field": "rev", "type": "nominal", "title": "revision"}},
    }


def _column_view(column: Any) -> dict[str, Any]:
    return {
        "name": column.name,
        "kind": column.kind,
        "dtype": column.dtype,
        "missing_share": column.missing_share,
        "distinct": column.distinct,
        "distinct_capped": column.distinct_capped,
        "mean": show(column.mean),
        "min": show(column.min),
        "max": show(column.max),
    }
