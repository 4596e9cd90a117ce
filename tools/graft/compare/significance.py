"""The report's significance: a paired bootstrap of every metric the predictions allow, and each
metric's verdict from its interval (or its ``metrics.rules`` tolerance without one).

:func:`bootstrap` runs :func:`graft.compare.stats.paired_bootstrap` on the test rows both revisions
scored (joined on the predictions' id column), with the fairness gaps when the head's sensitive
groups join to the rows, and Holm-adjusts the p-values over every interval computed; or says why
it could not run (:func:`unavailable_reason`, or the revisions without predictions).
:func:`verdict_of` judges one metric (:func:`graft.compare.verdicts.judge`). `graft report` and the
web view read both; neither imports graft.compare.report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.compare import DEFAULT_RESAMPLES
from graft.compare.diff import is_number
from graft.compare.predictions import class_names
from graft.project import DEFAULT_BASE

if TYPE_CHECKING:
    from graft.compare.predictions import Groups, Paired, Scored
    from graft.compare.scorers import Extras
    from graft.compare.stats import Interval
    from graft.compare.verdicts import Verdict
    from graft.project.settings import Settings
    from graft.project.view import View

LEVEL = 0.95
INTERVAL_KEYS = ("low", "high", "level", "p_value", "p_adjusted")


def bootstrap(
    base: Scored | None,
    head: Scored | None,
    names: tuple[str, str],
    settings: Settings,
    resamples: int,
    seed: int,
    reason: str | None = None,
    head_view: View | None = None,
) -> dict[str, Any]:
    """The paired bootstrap of every metric the predictions allow, or why it was not run.

    Each metric gets its interval, its bootstrap p-value, its Holm-adjusted p-value (over all
    the intervals computed; ``intervals`` counts them) and its verdict as a
    :meth:`graft.compare.verdicts.Verdict.to_dict`, unadjusted (``verdict``) and Holm-adjusted
    (``verdict_holm``). Fairness gaps are included when
    the head's sensitive groups can be joined to the rows (``groups`` says where from or why not).
    """
    if reason is not None:
        return {"available": False, "missing": [], "reason": reason}
    missing = [name for name, s in zip(names, (base, head), strict=True) if s is None]
    if missing or base is None or head is None:
        return {"available": False, "missing": missing, "reason": None}
    from graft.compare.predictions import pair
    from graft.compare.stats import paired_bootstrap
    from graft.compare.verdicts import holm

    paired = pair(base, head)
    groups = _groups(settings, head_view, paired)
    intervals = paired_bootstrap(
        paired.y,
        paired.base,
        paired.head,
        resamples=resamples,
        seed=seed,
        level=LEVEL,
        task=settings.task.type,
        extras=_extras(settings, groups),
    )
    adjusted = holm([iv.p_value for iv in intervals.values()])
    return {
        "available": True,
        "rows": len(paired.y),
        "resamples": resamples,
        "seed": seed,
        "level": LEVEL,
        "id": settings.predictions.id,
        "intervals": len(intervals),
        "adjust": settings.report.adjust,
        "groups": {"columns": list(groups.columns), "source": groups.source, "reason": groups.reason},
        "metrics": {
            m: _entry(settings, m, iv, p) for (m, iv), p in zip(intervals.items(), adjusted, strict=True)
        },
    }


def _groups(settings: Settings, head_view: View | None, paired: Paired) -> Groups:
    """The head's sensitive groups of the paired rows (binary tasks only), or why there are none."""
    from graft.compare.predictions import Groups, group_columns

    if settings.task.type == "binary" and head_view is not None and paired.ids is not None:
        return group_columns(head_view, paired.ids)
    return Groups({}, reason="not a binary task")


def _extras(settings: Settings, groups: Groups) -> Extras:
    """What the bootstrap computes beyond the task's metrics: the threshold, the fairness gaps,
    the classes and the quantiles."""
    from graft.compare.scorers import Extras, group_codes

    return Extras(
        threshold=settings.task.threshold,
        groups={c: group_codes(v)[0] for c, v in groups.columns.items()} or None,
        classes=class_names(settings) if settings.task.type == "multiclass" else None,
        quantiles=tuple(settings.report.quantiles),
    )


def _entry(settings: Settings, metric: str, iv: Interval, p_adjusted: float) -> dict[str, Any]:
    """One bootstrapped metric: its values, interval, p-values and both verdicts."""
    entry: dict[str, Any] = {
        "base": _finite(iv.base),
        "head": _finite(iv.head),
        "delta": _finite(iv.delta),
        "low": _finite(iv.low),
        "high": _finite(iv.high),
        "level": LEVEL,
        "p_value": _finite(iv.p_value),
        "p_adjusted": _finite(p_adjusted),
    }
    entry["verdict"] = verdict_of(settings, metric, entry["delta"], entry, adjust=False).to_dict()
    entry["verdict_holm"] = verdict_of(settings, metric, entry["delta"], entry, adjust=True).to_dict()
    return entry


def _finite(value: float) -> float | None:
    """A number for JSON: NaN (a metric undefined on every resample) becomes None."""
    return value if value == value and abs(value) != float("inf") else None


def interval_of(ci: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The interval fields of a bootstrapped metric (None: not bootstrapped, or undefined)."""
    if ci is None or ci["low"] is None or ci["high"] is None:
        return None
    return {k: ci[k] for k in INTERVAL_KEYS}


def verdict_of(
    settings: Settings, key: str, delta: Any, interval: Mapping[str, Any] | None, adjust: bool
) -> Verdict:
    """The verdict on ``key`` (:func:`graft.compare.verdicts.judge`): its interval when bootstrapped,
    else its ``metrics.rules`` tolerance; ``adjust``: Holm-adjusted."""
    from graft.compare.verdicts import judge

    rule = settings.metrics.rules.get(key)
    interval = interval_of(interval)
    bounds = None if interval is None else (interval["low"], interval["high"])
    return judge(
        delta if is_number(delta) else None,
        settings.direction(key),
        bounds,
        None if rule is None else rule.tolerance,
        adjusted_p=interval["p_adjusted"] if adjust and interval is not None else None,
        level=LEVEL,
    )


def scored(view: View, settings: Settings) -> Scored | None:
    """``view``'s committed predictions, scored as the head's task reads them (None: none)."""
    from graft.compare.predictions import scored

    return scored(view, settings.task)


def unavailable_reason(base: View, head: View, settings: Settings) -> str | None:
    """Why the two revisions' predictions cannot be compared at all (None: they can)."""
    if settings.predictions.path is None:
        return "no predictions file is configured (predictions.path)"
    if base.settings.task.type != settings.task.type:
        before, after = base.settings.task.type, settings.task.type
        return f"the task changed ({before} at {base.name}, {after} at {head.name})"
    old, new = base.settings.task.labels, settings.task.labels
    if settings.task.type != "regression" and old and new and old != new:
        return f"the classes changed between {base.name} and {head.name} (task.labels)"
    return None


def significance(
    root: str | Path,
    base: str = DEFAULT_BASE,
    head: str = "HEAD",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The paired bootstrap alone (the web view's significance panel): :func:`bootstrap` of
    ``head`` against ``base`` on the test rows both scored, or why it cannot run."""
    from graft.project import Project

    project = Project.find(root)
    bv, hv = project.at(project.resolve(base)), project.at(project.resolve(head))
    settings = hv.settings
    reason = unavailable_reason(bv, hv, settings)
    scored_b = scored_h = None
    if reason is None:
        scored_b, scored_h = scored(bv, settings), scored(hv, settings)
    return bootstrap(scored_b, scored_h, (base, head), settings, resamples, seed, reason)
