"""Quality gate between two revisions: no metric may fall behind its base by more than its tolerance
(``metrics.rules`` of graft's settings) and none may break an absolute bound (``gate.thresholds``).

Both the rules and the bounds are taken from the head's settings: the change under review
states what it must satisfy, and a change to the rules shows up in the same diff. Metrics are
those the project layer shows for each side (the headline file's keys bare, other declared
metrics files' keys as ``path:key``), so a rule can name a metric of any declared file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from graft.compare.verdicts import VerdictJson
from graft.core.errors import DataError, ParamsError
from graft.core.results import CommitSha, Result
from graft.project.lock import flatten
from graft.project.settings import SETTINGS_FILE, Bound, MetricRule

if TYPE_CHECKING:
    from graft.compare.verdicts import Verdict
    from graft.project.view import View

# Absorbs float noise in "head == base - tolerance" (values are JSON round-tripped floats).
EPSILON = 1e-12

CheckKind = Literal["regression", "threshold"]


@dataclass(frozen=True)
class Check:
    metric: str
    kind: CheckKind
    head: float | None
    base: float | None
    passed: bool
    detail: str
    direction: str | None = None
    tolerance: float | None = None
    bound: Bound | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Metrics flattened to dotted keys; non-numbers become None."""
    return {k: _number(v) for k, v in flatten(metrics).items()}


def regression_check(metric: str, rule: MetricRule, base: float | None, head: float | None) -> Check:
    def make(passed: bool, detail: str) -> Check:
        return Check(metric, "regression", head, base, passed, detail, rule.direction, rule.tolerance)

    if head is None:
        if base is None:  # a rule for a metric neither side has: a typo or a moved file
            return make(False, "no such metric at base or head")
        return make(False, "missing at head")
    if base is None:
        return make(True, "no base value to compare with")
    delta = head - base
    worse = -delta if rule.direction == "higher" else delta
    if worse > rule.tolerance + EPSILON:
        return make(False, f"{'fell' if rule.direction == 'higher' else 'rose'} by {abs(delta):.6g}")
    return make(True, f"change {delta:+.6g}")


def threshold_check(metric: str, bound: Bound, base: float | None, head: float | None) -> Check:
    def make(passed: bool, detail: str) -> Check:
        return Check(metric, "threshold", head, base, passed, detail, bound=bound)

    if head is None:
        return make(False, "missing at head")
    failure = bound.violation(head)
    return make(failure is None, failure or "within bounds")


def evaluate(
    base_metrics: Mapping[str, Any],
    head_metrics: Mapping[str, Any],
    rules: Mapping[str, MetricRule],
    bounds: Mapping[str, Bound],
) -> list[Check]:
    """Every regression check (one per rule), then every absolute bound, in name order."""
    base_values = metric_values(base_metrics)
    head_values = metric_values(head_metrics)
    checks = [
        regression_check(name, rule, base_values.get(name), head_values.get(name))
        for name, rule in sorted(rules.items())
    ]
    checks += [
        threshold_check(name, bound, base_values.get(name), head_values.get(name))
        for name, bound in sorted(bounds.items())
    ]
    return checks


def check_verdict(check: Check) -> Verdict:
    """A regression check's verdict on the change (:mod:`graft.compare.verdicts`, tolerance basis:
    the gate has no per-row data); a threshold check judges no change (kind ``none``)."""
    from graft.compare.verdicts import judge, no_verdict

    if check.kind != "regression" or check.head is None or check.base is None:
        return no_verdict()
    return judge(check.head - check.base, check.direction, None, check.tolerance)


def describe_failure(check: Check) -> str:
    """One line naming the metric, its value at head and base, and the tolerance or bound."""
    head = "missing" if check.head is None else f"{check.head:.6g}"
    base = "missing" if check.base is None else f"{check.base:.6g}"
    if check.kind == "regression":
        return (
            f"{check.metric}: head {head}, base {base}, {check.detail} "
            f"({check.direction} is better, tolerance {check.tolerance:.6g})"
        )
    bound = check.bound
    limits = ", ".join(
        f"{side} {value:.6g}"
        for side, value in (("min", bound and bound.min), ("max", bound and bound.max))
        if value is not None
    )
    return f"{check.metric}: head {head}, base {base}, {check.detail} (gate.thresholds: {limits})"


@dataclass(frozen=True)
class Report:
    """The gate's verdict: what was compared and every check."""

    base: str
    base_sha: str
    head: str
    head_sha: str | None  # None: the working tree
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


# --- reading both sides through the project layer -----------------------------------------------


def committed_metrics(view: View, where: str) -> dict[str, Any]:
    """The view's shown metrics; an error naming the files looked for when there are none."""
    metrics = view.metrics()
    if metrics is None:
        files = view.shown_metrics_files()
        unreadable = {f: why for f in files if (why := view.source.unreadable(f)) is not None}
        if unreadable:  # DVC-cached results: committing is not the advice, fetching is
            said = "; ".join(f"{f} is kept in DVC's cache and is {why}" for f, why in unreadable.items())
            hint = "fetch it with `dvc fetch`, or run without --offline"
            raise DataError(f"no metrics at {where}: {said} ({hint})")
        if len(files) == 1:
            looked = f"{files[0]} is not committed there"
        elif files:
            looked = f"none of {', '.join(files)} is committed there"
        else:
            looked = f"dvc.yaml declares no metrics file and {SETTINGS_FILE} sets no metrics.file"
        raise DataError(f"no metrics at {where}: {looked} (run `dvc repro` and commit its outputs)")
    return metrics


def check_views(base: View, head: View, base_where: str, head_where: str) -> list[Check]:
    """The gate's checks of ``head`` against ``base``, with the head's rules and bounds."""
    settings = head.settings
    if not settings.metrics.rules and not settings.gate.thresholds:
        raise ParamsError(
            f"{SETTINGS_FILE} at {head_where}: neither metrics.rules nor "
            "gate.thresholds is set, so the gate has nothing to check"
        )
    base_metrics = committed_metrics(base, base_where)
    head_metrics = committed_metrics(head, head_where)
    return evaluate(base_metrics, head_metrics, settings.metrics.rules, settings.gate.thresholds)


def run(root: str | Path, base: str, head: str = "HEAD", working_tree: bool = False) -> Report:
    """Gate ``head`` (or the working tree) against ``base``, both read through the project layer."""
    from graft.project import Project

    project = Project.find(root)
    base_rev = project.resolve(base)
    base_view = project.at(base_rev)
    base_where = f"'{base}' ({base_rev.short})"
    if working_tree:
        head_view = project.work()
        head_name, head_sha, head_where = "working tree", None, f"the working tree ({project.root})"
    else:
        head_rev = project.resolve(head)
        head_view = project.at(head_rev)
        head_name, head_sha, head_where = head, head_rev.sha, f"'{head}' ({head_rev.short})"
    checks = check_views(base_view, head_view, base_where, head_where)
    return Report(base, base_rev.sha, head_name, head_sha, tuple(checks))


# --- the JSON of `graft gate` ---------------------------------------------------------------


class Revision(Result):
    """A compared revision."""

    name: str
    """the revision as given (--base)"""
    commit: CommitSha
    """its commit"""


class HeadRevision(Result):
    """The head compared."""

    name: str
    """the revision as given (--head), or 'working tree' (--working-tree)"""
    commit: CommitSha | None
    """null: --working-tree"""


class BoundJson(Result):
    """The threshold's bound."""

    min: float | None
    """the metric must be at least this (null: no lower bound)"""
    max: float | None
    """the metric must be at most this (null: no upper bound)"""


class CheckJson(Result):
    """One check of the gate."""

    metric: str
    """the metric (headline file's keys bare, others FILE:KEY; nested keys dotted)"""
    kind: CheckKind
    """regression: a metrics.rules tolerance against the base; threshold: a gate.thresholds bound"""
    passed: bool
    """the check passed"""
    base: float | None
    """the metric at the base (null: absent or not a number)"""
    head: float | None
    """the metric at the head (null: absent or not a number)"""
    detail: str
    """what was found, as graft gate words it (e.g. "fell by 0.02", "missing at head", "within bounds")"""
    direction: Literal["higher", "lower"] | None
    """which way is better (null: a threshold check)"""
    tolerance: float | None
    """how far the metric may move the worse way (null: a threshold check)"""
    bound: BoundJson | None
    """the bound (null: a regression check)"""
    verdict: Annotated[
        VerdictJson,
        Field(
            description="graft.compare.verdicts on the change: a regression check within/beyond its "
            "tolerance (basis tolerance; the gate has no per-row data, so never better/worse); a "
            "threshold check none"
        ),
    ]


class GateResult(Result):
    """What `graft gate` decided."""

    passed: bool
    """false: exit 1"""
    base: Revision
    """the revision compared against"""
    head: HeadRevision
    """the revision under review"""
    checks: list[CheckJson]
    """every regression check (one per metrics.rules entry), then every threshold, each in metric name
    order"""

    @classmethod
    def of(cls, report: Report) -> GateResult:
        return cls(
            passed=report.passed,
            base=Revision(name=report.base, commit=report.base_sha),
            head=HeadRevision(name=report.head, commit=report.head_sha),
            checks=[
                CheckJson(
                    metric=c.metric,
                    kind=c.kind,
                    passed=c.passed,
                    base=c.base,
                    head=c.head,
                    detail=c.detail,
                    direction=c.direction,
                    tolerance=c.tolerance,
                    bound=None if c.bound is None else BoundJson(min=c.bound.min, max=c.bound.max),
                    verdict=VerdictJson.of(check_verdict(c)),
                )
                for c in report.checks
            ],
        )
