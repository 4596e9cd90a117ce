"""`graft report`: everything a pull-request comment needs to judge a head against a base.

Reads both revisions through the project layer (Git objects, no checkout): params, the shown
metrics, the committed predictions, per-group fairness and ``dvc.lock``. The head's settings
decide the task, its metrics, the headline, metric directions, the gate's rules and bounds and
whether there is a fairness section (only when sensitive columns are configured). Builds one
context dictionary; the wording lives in ``templates/report.md.j2``, the JSON document in
:mod:`graft.compare.reportjson`.

* verdict: graft's gate of head against base, then each headline metric's change with its
  interval and verdict (:mod:`graft.compare.verdicts`, not Holm-adjusted);
* significance: a paired bootstrap of every metric the predictions allow
  (:mod:`graft.compare.significance`: the same resamples for all, fairness gaps when the groups
  join to the rows) on the test rows both revisions scored (joined on the predictions' id column);
* metrics: every row's ``interval`` (null without one), ``verdict`` (kind, label, basis,
  adjusted) and ``basis`` (``bootstrap``, ``tolerance`` or ``none``); the table's verdicts are
  Holm-adjusted over all intervals when ``report.adjust`` is ``holm``; the table shows only
  changed metrics (the rest counted in ``unchanged``) unless ``all_metrics``;
* changed params, changed data inputs, fairness by group, task charts, leaderboard;
* the plots dvc.yaml declares (:mod:`graft.compare.plots`), base and head together, drawn into
  the plots folder (``--png-dir``, else ``<report>_plots/`` beside ``-o``) and linked relative to
  the report's folder, so ``cml comment update`` uploads them with the comment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.compare import DEFAULT_RESAMPLES, charts, plots
from graft.compare.diff import (
    Snapshot,
    best_indices,
    build_diff,
    directions,
    is_number,
    readable,
    snapshot,
)
from graft.compare.gate import committed_metrics, describe_failure, evaluate
from graft.compare.predictions import class_names
from graft.compare.significance import bootstrap, interval_of, scored, unavailable_reason, verdict_of
from graft.core.errors import UsageError
from graft.project import DEFAULT_BASE
from graft.project.lock import flatten

if TYPE_CHECKING:
    from graft.compare.predictions import Scored
    from graft.project import Project
    from graft.project.settings import Settings
    from graft.project.view import View

MARKER = "<!-- graft-report -->"


@dataclass(frozen=True)
class ReportResult:
    markdown: str
    context: dict[str, Any]
    png_files: list[Path] = field(default_factory=list)
    plot_files: list[Path] = field(default_factory=list)


# --- tables ----------------------------------------------------------------------------------


def _row(
    settings: Settings,
    key: str,
    values: tuple[Any, Any, Any],
    ci: Mapping[str, Any] | None,
    changed: bool,
    from_predictions: bool,
) -> dict[str, Any]:
    base, head, delta = values
    adjust = settings.report.adjust == "holm"
    verdict = verdict_of(settings, key, delta, ci, adjust)
    return {
        "key": key,
        "base": base,
        "head": head,
        "delta": delta,
        "direction": settings.direction(key),
        "changed": changed,
        "interval": interval_of(ci),
        "verdict": verdict.to_dict(),
        "basis": verdict.basis,
        "from_predictions": from_predictions,
    }


def metric_rows(
    base: Snapshot, head: Snapshot, settings: Settings, dirs: Mapping[str, str], boot: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One row per shown metric (bootstrap interval attached by name), then the bootstrapped
    metrics that no metrics file holds (point values from the predictions). Each row's verdict
    is Holm-adjusted when ``report.adjust`` is ``holm``; ``changed``: the two values differ."""
    cis = boot["metrics"] if boot["available"] else {}
    rows = []
    for row in build_diff([base, head], dirs).rows:
        if row.section != "metrics":
            continue
        b, h = row.cells
        values = (b.value if b.status == "value" else None, h.value if h.status == "value" else None, h.delta)
        rows.append(_row(settings, row.key, values, cis.get(row.key), row.changed, False))
    shown = {r["key"] for r in rows}
    for metric, ci in cis.items():
        if metric not in shown:
            changed = ci["base"] != ci["head"]
            rows.append(_row(settings, metric, (ci["base"], ci["head"], ci["delta"]), ci, changed, True))
    return rows


def verdict_rows(
    settings: Settings, rows: Sequence[Mapping[str, Any]], boot: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The headline metrics (default: the task's first two) with their change, interval and
    verdict (never Holm-adjusted: the headline is one or two metrics chosen in advance)."""
    wanted = list(settings.metrics.headline) or list(settings.task_metrics[:2])
    by_key = {r["key"]: r for r in rows}
    out = []
    for metric in wanted:
        ci = boot["metrics"].get(metric) if boot["available"] else None
        row = by_key.get(metric)
        delta = ci["delta"] if ci is not None else row["delta"] if row is not None else None
        if delta is None:
            continue
        verdict = verdict_of(settings, metric, delta, ci, adjust=False)
        out.append(
            {
                "key": metric,
                "delta": delta,
                "interval": interval_of(ci),
                "verdict": verdict.to_dict(),
                "basis": verdict.basis,
            }
        )
    return out


def fold_unchanged(rows: Sequence[Mapping[str, Any]], all_metrics: bool) -> tuple[list[Any], int]:
    """The rows the table shows (all with ``all_metrics``, else the changed ones) and how many
    unchanged rows were folded away."""
    if all_metrics:
        return list(rows), 0
    shown = [r for r in rows if r["changed"]]
    return shown, len(rows) - len(shown)


def params_changed(base: Snapshot, head: Snapshot) -> list[dict[str, Any]]:
    diff = build_diff([base, head], {}, only_changed=True)
    return [
        {
            "key": r.key,
            "base": r.cells[0].value if r.cells[0].status == "value" else None,
            "head": r.cells[1].value if r.cells[1].status == "value" else None,
            "base_status": r.cells[0].status,
            "head_status": r.cells[1].status,
        }
        for r in diff.rows
        if r.section == "params"
    ]


def data_changed(base: View, head: View) -> list[dict[str, Any]]:
    """The pipeline's data inputs (from each side's dvc.lock) whose hash differs."""
    b, h = base.lock.data_inputs, head.lock.data_inputs
    out = []
    for path in sorted(set(b) | set(h)):
        if b.get(path) != h.get(path):
            status = "added" if path not in b else "removed" if path not in h else "changed"
            out.append({"path": path, "base": b.get(path), "head": h.get(path), "status": status})
    return out


def fairness_rows(base: Any, head: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Per-group metric names (first-seen order) and one row per (column, group) with each
    metric's base, head and delta."""
    base, head = base or {}, head or {}
    metrics: dict[str, None] = {}
    rows = []
    for column in dict.fromkeys([*base, *head]):
        groups_b = base.get(column) if isinstance(base.get(column), Mapping) else {}
        groups_h = head.get(column) if isinstance(head.get(column), Mapping) else {}
        for group in dict.fromkeys([*groups_b, *groups_h]):
            gb = flatten(groups_b[group]) if isinstance(groups_b.get(group), Mapping) else {}
            gh = flatten(groups_h[group]) if isinstance(groups_h.get(group), Mapping) else {}
            values = {}
            for m in dict.fromkeys([*gb, *gh]):
                metrics.setdefault(m, None)
                vb, vh = gb.get(m), gh.get(m)
                d = vh - vb if is_number(vb) and is_number(vh) else None
                values[m] = {"base": vb, "head": vh, "delta": d}
            rows.append({"column": column, "group": group, "values": values})
    return list(metrics), rows


def fairness_section(base: View, head: View, settings: Settings) -> dict[str, Any] | None:
    """None when no sensitive columns are configured; else the per-group table and charts."""
    if not settings.fairness.columns:
        return None
    metrics, rows = fairness_rows(base.fairness(), head.fairness())
    return {
        "file": settings.fairness.file,
        "columns": list(settings.fairness.columns),
        "metrics": metrics,
        "rows": rows,
        "charts": charts.fairness_charts(rows, metrics),
    }


def gate_summary(base_metrics: Mapping[str, Any] | None, head: View) -> dict[str, Any]:
    """graft's gate of ``head`` against the base metrics, with ``head``'s rules and bounds."""
    settings = head.settings
    metrics = head.metrics()
    if (not settings.metrics.rules and not settings.gate.thresholds) or metrics is None:
        return {"present": False, "passed": None, "failed": []}
    checks = evaluate(base_metrics or {}, metrics, settings.metrics.rules, settings.gate.thresholds)
    failed = [{"metric": c.metric, "line": describe_failure(c)} for c in checks if not c.passed]
    return {"present": True, "passed": not failed, "failed": failed, "checks": len(checks)}


def leaderboard(
    project: Project,
    names: Sequence[str],
    base_metrics: Mapping[str, Any] | None,
    settings: Settings,
    listed: Sequence[str] = (),
) -> dict[str, Any]:
    """Revisions ranked by the first headline metric; each with its gate against the base.
    ``listed``: names found by ``--all`` (an unreadable one is left out with a warning)."""
    views, snaps = readable([project.at(n) for n in names], listed)
    present = {k for s in snaps for k in (s.metrics or {})}
    wanted = [*settings.metrics.headline, *settings.task_metrics]
    metrics = [m for m in dict.fromkeys(wanted) if m in present]
    dirs = directions(settings, metrics)
    sort_metric = metrics[0] if metrics else None
    sign = -1.0 if sort_metric is None or dirs.get(sort_metric) != "lower" else 1.0

    def key(i: int) -> tuple[int, float]:
        value = (snaps[i].metrics or {}).get(sort_metric) if sort_metric else None
        return (0, sign * value) if is_number(value) else (1, 0.0)

    order = sorted(range(len(snaps)), key=key)
    best = {m: best_indices([(s.metrics or {}).get(m) for s in snaps], dirs.get(m)) for m in metrics}
    entries = []
    for rank, i in enumerate(order, start=1):
        values = snaps[i].metrics
        entries.append(
            {
                "rank": rank,
                "name": snaps[i].name,
                "sha": snaps[i].sha[:8],
                "has_metrics": values is not None,
                "values": {m: {"value": (values or {}).get(m), "best": i in best[m]} for m in metrics},
                "gate": gate_summary(base_metrics, views[i]),
            }
        )
    return {"sort": sort_metric, "metrics": metrics, "entries": entries}


def task_charts(settings: Settings, base: Scored | None, head: Scored | None) -> dict[str, Any]:
    """What the task's predictions show beyond the metrics: ROC (binary), per-class precision and
    recall (multiclass), error summary (regression); None where the task has no such chart."""
    task = settings.task.type
    either = base is not None or head is not None
    roc = None
    if task == "binary":
        roc = {"grid": charts.ROC_GRID, "base": charts.roc_series(base), "head": charts.roc_series(head)}
    classes = None
    if task == "multiclass" and either:
        classes = charts.class_table(base, head, class_names(settings))
    errors = None
    if task == "regression" and either:
        errors = {"base": charts.regression_errors(base), "head": charts.regression_errors(head)}
    return {"roc": roc, "classes": classes, "errors": errors}


# --- the report --------------------------------------------------------------------------------


def build_context(
    root: str | Path,
    base: str = DEFAULT_BASE,
    head: str = "HEAD",
    also: Sequence[str] = (),
    all_experiments: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    all_metrics: bool = False,
) -> dict[str, Any]:
    from graft.core import gitrepo
    from graft.project import Project

    project = Project.find(root)
    base_rev, head_rev = project.resolve(base), project.resolve(head)
    bv, hv = project.at(base_rev), project.at(head_rev)
    settings = hv.settings
    base_snap, head_snap = snapshot(bv), snapshot(hv)
    committed_metrics(hv, f"'{head}' ({head_rev.short})")  # a clear error when there are none
    reason = unavailable_reason(bv, hv, settings)
    scored_b = scored_h = None
    if reason is None:
        scored_b, scored_h = scored(bv, settings), scored(hv, settings)
    boot = bootstrap(scored_b, scored_h, (base, head), settings, resamples, seed, reason, hv)
    keys = [*(base_snap.metrics or {}), *(head_snap.metrics or {}), *settings.task_metrics]
    dirs = directions(settings, keys)
    rows = metric_rows(base_snap, head_snap, settings, dirs, boot)
    table, unchanged = fold_unchanged(rows, all_metrics)
    board_names: list[str] = []
    listed: list[str] = []
    if also or all_experiments:
        if all_experiments:
            listed = [b for b in gitrepo.branches(project.repo) if b not in {base, head, *also}]
        board_names = list(dict.fromkeys([base, head, *also, *listed]))
    board = leaderboard(project, board_names, base_snap.metrics, settings, listed) if board_names else None
    return {
        "marker": MARKER,
        "task": settings.task.type,
        "base": {"name": base, "sha": base_rev.short, "has_metrics": base_snap.metrics is not None},
        "head": {"name": head, "sha": head_rev.short},
        "gate": gate_summary(base_snap.metrics, hv),
        "bootstrap": boot,
        "verdict": verdict_rows(settings, rows, boot),
        "metrics": rows,
        "table": table,
        "unchanged": unchanged,
        "all_metrics": all_metrics,
        "adjusted": settings.report.adjust == "holm",
        "params": params_changed(base_snap, head_snap),
        "data": data_changed(bv, hv),
        "fairness": fairness_section(bv, hv, settings),
        **task_charts(settings, scored_b, scored_h),
        "leaderboard": board,
        "png": [],
        "plots": plots.collect(bv, hv, plots.revision_names(base, head, base_rev.short, head_rev.short)),
        "plots_dir": None,
    }


def render(context: Mapping[str, Any]) -> str:
    from graft.core.templating import render as render_template

    return render_template("report.md.j2", **context)


def make_report(
    root: str | Path,
    base: str = DEFAULT_BASE,
    head: str = "HEAD",
    also: Sequence[str] = (),
    all_experiments: bool = False,
    png_dir: Path | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    output: Path | None = None,
    plot_format: str = "png",
    all_metrics: bool = False,
) -> ReportResult:
    """The Markdown report (and, with ``png_dir``, its charts as PNG files). The declared plots
    are drawn (as ``plot_format``) into ``png_dir``, else beside ``output`` (the Markdown file the
    caller writes) in ``<stem>_plots/``; without either they are listed, not drawn."""
    if plot_format not in plots.FORMATS:
        raise UsageError(f"plot format {plot_format!r}: expected one of {', '.join(plots.FORMATS)}")
    context = build_context(root, base, head, also, all_experiments, resamples, seed, all_metrics)
    pngs = charts.write_pngs(context, Path(png_dir)) if png_dir is not None else []
    context["png"] = [str(p) for p in pngs]
    declared: list[plots.Plot] = context["plots"]
    plot_dir = plot_folder(png_dir, output)
    written: list[Path] = []
    if plot_dir is not None and declared:
        link_base = Path(output).parent if output is not None else Path.cwd()
        written = plots.write(declared, plot_dir, link_base, plot_format, taken=[p.name for p in pngs])
    context["plots"] = [p.summary() for p in declared]
    context["plots_dir"] = None if plot_dir is None else str(plot_dir)
    return ReportResult(render(context), context, pngs, written)


def plot_folder(png_dir: Path | None, output: Path | None) -> Path | None:
    """Where the declared plots are drawn: ``png_dir``, else ``<stem>_plots/`` beside ``output``."""
    if png_dir is not None:
        return Path(png_dir)
    if output is not None:
        return Path(output).parent / f"{Path(output).stem}_plots"
    return None
