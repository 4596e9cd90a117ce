"""The JSON of `graft report` (graft.core.results): :class:`ReportJson`, the report's data (the
context :func:`graft.compare.report.build_context` assembles, as the template reads it) and its
Markdown. Built from a :class:`~graft.compare.report.ReportResult`; the context's keys the
document holds are this model's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from graft.compare.diff import Status
from graft.compare.report import ReportResult
from graft.compare.verdicts import Basis, Direction, VerdictJson
from graft.core.results import Result, pattern

Number = float | int
ShortSha = Annotated[str, pattern(r"^[0-9a-f]{8}$")]


class HeadJson(Result):
    """The revision under review."""

    name: str
    """as given (--base, --head)"""
    sha: ShortSha
    """its commit, abbreviated"""


class BaseJson(HeadJson):
    """The revision compared against."""

    has_metrics: bool
    """its metrics files were read (false: every change is against nothing)"""


class GateFailureJson(Result):
    """One failed rule or bound."""

    metric: str
    """the metric"""
    line: str
    """why it failed, as graft gate words it"""


class GateSummaryJson(Result):
    """graft's gate of a revision against the base, with the head's metrics.rules and gate.thresholds."""

    present: bool
    """any rule or bound is configured and the revision has metrics (false: no gate was run)"""
    passed: bool | None
    """every check passed (null: no gate)"""
    failed: list[GateFailureJson]
    """the failed checks"""
    checks: int | None = Field(default=None, exclude_if=lambda v: v is None)
    """how many checks ran (absent: no gate)"""


class IntervalJson(Result):
    """The paired bootstrap's percentile interval of delta (head - base)."""

    low: float
    """lower end"""
    high: float
    """upper end"""
    level: float
    """confidence level (0.95)"""
    p_value: float | None
    """two-sided bootstrap p-value of delta = 0"""
    p_adjusted: float | None
    """Holm-adjusted over all the report's intervals"""


class HeadlineJson(Result):
    """A headline metric (report.headline, default the task's first two metrics)."""

    key: str
    """the metric"""
    delta: Number | None
    """head - base"""
    interval: IntervalJson | None
    """null: no interval (the metric cannot be computed from the predictions)"""
    verdict: VerdictJson
    """never Holm-adjusted: the headline is chosen in advance"""
    basis: Basis
    """what backs the verdict: an interval, the metrics.rules tolerance, or nothing"""


class BootMetricJson(Result):
    """One bootstrapped metric (null: undefined on every resample)."""

    base: float | None
    """at the base, on the paired rows"""
    head: float | None
    """at the head, on the paired rows"""
    delta: float | None
    """head - base"""
    low: float | None
    """interval's lower end"""
    high: float | None
    """interval's upper end"""
    level: float
    """confidence level"""
    p_value: float | None
    """two-sided bootstrap p-value of delta = 0"""
    p_adjusted: float | None
    """Holm-adjusted over every interval computed"""
    verdict: VerdictJson
    """from the interval, unadjusted"""
    verdict_holm: VerdictJson
    """from the Holm-adjusted p-value"""


class GroupsJson(Result):
    """The sensitive columns joined to the paired rows, for the fairness gaps."""

    columns: list[str]
    """joined columns"""
    source: str | None
    """the table they were read from"""
    reason: str | None
    """why there are none"""


class BootstrapJson(Result):
    """The paired bootstrap on the test rows both revisions scored."""

    available: Literal[True]
    """it ran"""
    rows: int
    """paired rows (joined on the id column)"""
    resamples: int
    """--resamples"""
    seed: int
    """--seed"""
    level: float
    """confidence level"""
    id: str | None
    """the predictions' id column"""
    intervals: int
    """intervals computed (the Holm family)"""
    adjust: Literal["holm", "none"]
    """report.adjust: whether the table's verdicts are Holm-adjusted"""
    groups: GroupsJson
    """sensitive columns for the fairness gaps"""
    metrics: dict[str, BootMetricJson]
    """metric -> its interval and verdicts"""


class NoBootstrapJson(Result):
    """The paired bootstrap did not run."""

    available: Literal[False]
    """it did not run"""
    missing: list[str]
    """the revisions without predictions"""
    reason: str | None
    """why the predictions cannot be compared (null: see missing)"""


def _ran(value: Any) -> str:
    available = value.get("available") if isinstance(value, dict) else getattr(value, "available", None)
    return "ran" if available else "not"


Bootstrap = Annotated[
    Annotated[BootstrapJson, Tag("ran")] | Annotated[NoBootstrapJson, Tag("not")],
    Discriminator(_ran),
]


class MetricRowJson(Result):
    """One metric (also those the table folds as unchanged)."""

    key: str
    """as graft diff shows it"""
    base: Any
    """the value at the base (null: absent)"""
    head: Any
    """the value at the head (null: absent)"""
    delta: Number | None
    """head - base (numbers only)"""
    direction: Direction | None
    """which way is better"""
    changed: bool
    """base and head values differ (false: folded into the unchanged count)"""
    interval: IntervalJson | None
    """null: no interval (the metric cannot be computed from the predictions)"""
    verdict: VerdictJson
    """Holm-adjusted when report.adjust is holm"""
    basis: Basis
    """what backs the verdict: an interval, the metrics.rules tolerance, or nothing"""
    from_predictions: bool
    """no metrics file holds it; values computed from the predictions"""


class ParamJson(Result):
    """A changed parameter."""

    key: str
    """as graft diff shows it"""
    base: Any
    """at the base (null: absent)"""
    head: Any
    """at the head (null: absent)"""
    base_status: Status
    """value, missing, no_file or not_cached"""
    head_status: Status
    """value, missing, no_file or not_cached"""


class DataJson(Result):
    """A data input of the pipeline (dvc.lock) whose hash differs."""

    path: str
    """the dependency"""
    base: str | None
    """its md5 at the base (null: absent)"""
    head: str | None
    """its md5 at the head (null: absent)"""
    status: Literal["added", "removed", "changed"]
    """how it differs"""


class CellJson(Result):
    """One per-group metric at both revisions."""

    base: Any
    """at the base (null: absent)"""
    head: Any
    """at the head (null: absent)"""
    delta: Number | None
    """head - base (numbers only)"""


class FairnessRowJson(Result):
    """One group of a sensitive column."""

    column: str
    """the sensitive column"""
    group: str
    """the group"""
    values: dict[str, CellJson]
    """per-group metric -> its values"""


class ChartGroupJson(Result):
    """One group's bar."""

    group: str
    """the group"""
    base: Any
    """at the base"""
    head: Any
    """at the head"""


class FairnessChartJson(Result):
    """Per column, the per-group rate that moved most."""

    column: str
    """the sensitive column"""
    metric: str
    """the rate charted"""
    groups: list[ChartGroupJson]
    """its value per group"""


class FairnessJson(Result):
    """Per-group metrics of the configured sensitive columns, base and head."""

    file: str
    """fairness.file"""
    columns: list[str]
    """fairness.columns"""
    metrics: list[str]
    """per-group metric names, first-seen order"""
    rows: list[FairnessRowJson]
    """one per (column, group)"""
    charts: list[FairnessChartJson]
    """what the charts draw"""


class RankedValueJson(Result):
    """One metric of a ranked revision."""

    value: Any
    """its value (null: absent)"""
    best: bool
    """the best value among the ranked revisions"""


class RankedJson(Result):
    """One ranked revision."""

    rank: int
    """1: best by the sort metric"""
    name: str
    """the revision"""
    sha: ShortSha
    """its commit, abbreviated"""
    has_metrics: bool
    """its metrics files were read"""
    values: dict[str, RankedValueJson]
    """metric -> value"""
    gate: GateSummaryJson
    """its gate against the base"""


class LeaderboardJson(Result):
    """With --also/--all: every ranked revision."""

    sort: str | None
    """the metric ranked by (the first headline metric present)"""
    metrics: list[str]
    """the metrics shown"""
    entries: list[RankedJson]
    """best first"""


class ConfusionJson(Result):
    """A confusion plot's counts."""

    actual: str
    """the field of the actual class"""
    predicted: str
    """the field of the predicted class"""
    classes: list[str]
    """every class of every revision, sorted"""
    counts: dict[str, list[list[int]]]
    """revision -> counts[actual][predicted]"""


class PlotJson(Result):
    """A plot dvc.yaml declares (top-level plots: and stages' plots outputs), base and head together."""

    name: str
    """the plot's id, as dvc plots names it"""
    kind: Literal["vega", "image"]
    """a spec over both revisions, or one image per revision"""
    template: str | None
    """DVC's template (null for images)"""
    files: list[str]
    """its data files"""
    revisions: list[str]
    """the revisions with data for it"""
    written: list[str]
    """files written (PNG/SVG, or the images)"""
    links: dict[str, str]
    """spec (a data plot) or a revision (an image) -> its link, relative to the report's folder"""
    notes: list[str]
    """files missing at a revision, over a bound or unreadable"""
    confusion: ConfusionJson | None
    """confusion templates: the counts (else null)"""


class ReportJson(Result):
    """`graft report`: the comparison of a head against a base, and its Markdown."""

    task: Literal["binary", "multiclass", "regression"]
    """the task type (graft.yaml task.type)"""
    base: BaseJson
    """compared against"""
    head: HeadJson
    """under review"""
    gate: GateSummaryJson
    """graft's gate of the head against the base (the head's rules and bounds)"""
    verdict: list[HeadlineJson]
    """the headline metrics' change, interval and verdict (never Holm-adjusted)"""
    bootstrap: Bootstrap
    """the paired bootstrap, or why it did not run"""
    metrics: list[MetricRowJson]
    """every metric: values, delta, interval, verdict and its basis"""
    unchanged: int
    """metrics equal at base and head, folded out of the Markdown table (0 with --all-metrics)"""
    params: list[ParamJson]
    """changed parameters"""
    data: list[DataJson]
    """changed data inputs (dvc.lock hashes)"""
    fairness: FairnessJson | None
    """per-group metrics of the sensitive columns (null: none configured)"""
    leaderboard: LeaderboardJson | None
    """with --also/--all: every ranked revision"""
    png: list[str]
    """charts written with --png-dir"""
    plots: list[PlotJson]
    """every plot dvc.yaml declares"""
    plots_dir: str | None
    """where the plots were drawn (null: not drawn)"""
    output: str | None
    """where -o wrote the Markdown"""
    markdown: str
    """the report, as printed without --format json"""

    @classmethod
    def of(cls, result: ReportResult, output: Path | None) -> ReportJson:
        """The context's keys that are fields, where -o wrote and the Markdown."""
        context = {k: v for k, v in result.context.items() if k in cls.model_fields}
        where = None if output is None else str(Path(output).resolve())
        return cls.model_validate({**context, "output": where, "markdown": result.markdown})
