"""The Branch page of `graft ui`: one branch against the base.

:func:`page` returns the context of the branch ``name``: the params that differ from the base,
every metric (base and branch cells, each metric's direction), the commits since the fork point
and the stages whose dvc.lock entries changed (``GRAFT_LIMIT_UI_LOG_COMMITS`` at most), and the
comparison report `graft report` renders with its verdict (its Markdown, which the template
renders as HTML up to ``GRAFT_LIMIT_UI_REPORT_BYTES``) -- or, when the report cannot be made, the
reason in ``report_error`` (the rest of the page still shows). No ``name`` is a
:class:`~graft.ui.pages.common.BadQuery`; an unknown branch a
:class:`~graft.ui.pages.common.NotFound`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graft import api
from graft.core import limits
from graft.core.errors import GraftError
from graft.ui.pages.common import BadQuery, Site, cell_view


def page(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Branch page: params against the base, the commits since the fork point, the stages
    whose dvc.lock entries changed, and the comparison report `graft report` renders."""
    name = query["name"]
    if not name:
        raise BadQuery("query parameter 'name': which branch to show")
    site.resolve(name)
    result = api.diff(site.root, [name], base=site.base, memo=site.snapshots)
    index = next(i for i, c in enumerate(result.columns) if not c.is_base) if len(result.columns) > 1 else 0
    params = [
        {"key": r.key, "base": cell_view(r.cells[0]), "head": cell_view(r.cells[index])}
        for r in result.rows
        if r.section == "params" and r.changed
    ]
    metrics = [
        {
            "key": r.key,
            "direction": r.direction,
            "base": cell_view(r.cells[0]),
            "head": cell_view(r.cells[index]),
        }
        for r in result.rows
        if r.section == "metrics"
    ]
    hist = api.branch_history(site.root, site.base, name, limits.UI_LOG_COMMITS.value())
    return {
        "name": name,
        "sha": result.columns[index].sha[:8],
        "params": params,
        "metrics": metrics,
        "history": hist,
        **_report(site, name),
    }


def _report(site: Site, name: str) -> dict[str, Any]:
    """`graft report`'s Markdown of ``name`` against the base and its verdict; when the report
    cannot be made, an empty report and the reason in ``report_error``; when it is longer than
    ``GRAFT_LIMIT_UI_REPORT_BYTES``, why it shows as its source in ``report_too_long``."""
    try:
        report = api.report(site.root, base=site.base, head=name, resamples=site.resamples, seed=site.seed)
    except GraftError as exc:
        return {"report": "", "report_error": str(exc), "report_too_long": None, "verdict": []}
    size = len(report.markdown.encode())
    bound = limits.UI_REPORT_BYTES
    too_long = bound.over("the report's Markdown", f"{size:,} bytes") if size > bound.value() else None
    return {
        "report": report.markdown,
        "report_error": None,
        "report_too_long": too_long,
        "verdict": report.context.get("verdict") or [],
    }
