"""The Compare page of `graft ui`: several branches side by side.

:func:`page` returns the page's context for the branches ``b`` (every experiment with ``all=1``,
at most ``GRAFT_LIMIT_UI_COMPARE_BRANCHES``): every param and metric row with its cells, as a
transposed table for up to :data:`TRANSPOSED_MAX` branches (differing rows first; only those
with ``rows=diff``, the default, and ``identical`` counts the others) and as a
Vega-Lite parallel-coordinates chart (:func:`parallel_spec`) for more, with the plots dvc.yaml
declares for the base and the first selected branches (:func:`plot_views`). No branch is a
:class:`~graft.ui.pages.common.BadQuery`; an unknown one a
:class:`~graft.ui.pages.common.NotFound`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graft import api
from graft.core import limits
from graft.core.errors import GraftError
from graft.ui.pages.common import VEGA_LITE, BadQuery, Site, cell_view, number_of

# a compare page this wide or narrower is a transposed table; wider, parallel coordinates
TRANSPOSED_MAX = 5


def _check_branches(site: Site, names: Sequence[str]) -> None:
    bound = limits.UI_COMPARE_BRANCHES
    if len(names) > bound.value():
        raise BadQuery(bound.over("query parameter 'b'", f"{len(names):,} branches"))
    for name in names:
        site.resolve(name)


def page(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Compare page of the branches ``b`` (every experiment with ``all=1``): a transposed
    table for a few (the rows that differ; every row, differing first, with ``rows=all``),
    parallel coordinates for many, and the plots
    dvc.yaml declares for the base and the first selected branches, overlaid."""
    from graft.core import gitrepo

    names = list(query["b"])
    if query["all"] == "1":
        names = list(dict.fromkeys([*names, *gitrepo.branches(gitrepo.open_repo(site.root))]))
    if not names:
        raise BadQuery("query parameter 'b': select at least one branch to compare")
    _check_branches(site, names)
    result = api.diff(site.root, names, base=site.base, memo=site.snapshots)
    columns = [{"name": c.name, "sha": c.sha[:8], "is_base": c.is_base} for c in result.columns]
    rows = [
        {
            "section": r.section,
            "key": r.key,
            "changed": r.changed,
            "direction": r.direction,
            "cells": [cell_view(c) for c in r.cells],
        }
        for r in result.rows
    ]
    rows.sort(key=lambda r: (r["section"] != "params", not r["changed"]))
    identical = sum(not r["changed"] for r in rows)
    if query["rows"] != "all":
        rows = [r for r in rows if r["changed"]]
    context: dict[str, Any] = {
        "columns": columns,
        "rows": rows,
        "identical": identical,
        "names": names,
        "query": dict(query),
    }
    context["transposed"] = len(names) <= TRANSPOSED_MAX
    context["parallel"] = None if context["transposed"] else parallel_spec(result)
    context["plots"] = plot_views(site, names)
    return context


def parallel_spec(result: Any) -> dict[str, Any]:
    """A Vega-Lite parallel-coordinates chart: one line per revision over every numeric row that
    differs, each axis scaled to its own range (the raw value in the tooltip)."""
    values: list[dict[str, Any]] = []
    axes: list[str] = []
    for row in result.rows:
        numbers = [number_of(c.value) if c.status == "value" else None for c in row.cells]
        known = [n for n in numbers if n is not None]
        if not row.changed or len(known) < 2:
            continue
        low, high = min(known), max(known)
        axes.append(row.key)
        for column, number in zip(result.columns, numbers, strict=True):
            if number is None:
                continue
            scaled = 0.5 if high == low else (number - low) / (high - low)
            values.append({"revision": column.name, "axis": row.key, "scaled": scaled, "value": number})
    return {
        "$schema": VEGA_LITE,
        "width": max(300, 90 * len(axes)),
        "height": 300,
        "data": {"values": values},
        "mark": {"type": "line", "point": True, "opacity": 0.6},
        "encoding": {
            "x": {"field": "axis", "type": "nominal", "sort": axes, "title": None},
            "y": {"field": "scaled", "type": "quantitative", "title": "scaled to each axis' range"},
            "detail": {"field": "revision"},
            "color": {"field": "revision", "legend": None},
            "tooltip": [{"field": "revision"}, {"field": "axis"}, {"field": "value"}],
        },
    }


def plot_views(site: Site, names: Sequence[str]) -> list[dict[str, Any]]:
    """The declared plots of the base and the first selected branches, as Vega-Lite specs DVC's
    templates fill (images as data URIs), with the notes saying what could not be drawn."""
    import base64

    from graft.compare import plots
    from graft.project import Project

    project = Project.find(site.root)
    shown = [site.base, *[n for n in names if n != site.base]][: limits.UI_PLOT_REVISIONS.value()]
    views = [(project.at(project.resolve(n)), n) for n in shown]
    try:
        found = plots.collect_many(views)
    except GraftError as exc:
        return [{"name": "plots", "kind": "error", "notes": [str(exc)], "spec": None, "images": []}]
    out = []
    for plot in found:
        images = []
        for rev, (file, data) in plot.images.items():
            mime = "image/svg+xml" if file.lower().endswith(".svg") else _image_mime(file)
            images.append(
                {
                    "revision": rev,
                    "file": file,
                    "uri": f"data:{mime};base64,{base64.b64encode(data).decode()}",
                }
            )
        out.append(
            {"name": plot.name, "kind": plot.kind, "notes": plot.notes, "spec": plot.spec, "images": images}
        )
    return out


def _image_mime(file: str) -> str:
    ext = Path(file).suffix.lower().lstrip(".")
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}.get(ext, "image/png")
