"""The JSON of `graft monitor` (graft.core.results): :class:`MonitorResult`, what ``--format json``
prints and ``--json FILE`` writes. Built from the result :func:`graft.monitoring.run.monitor`
assembles (the templates render that same mapping), with the files the command wrote.

Sections follow the package's task: ``outputs`` is the positive rate and score distribution
(binary), the predicted-class distribution (multiclass) or the prediction distribution
(regression); ``fairness`` per group column holds selection rates and gaps (binary) or the
realised metrics per group (multiclass, regression); the realised metrics' values are keys named
after them (``feedback``, and each group of a multiclass or regression ``fairness`` column).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag

from graft.core.results import Result, Sparse

Task = Literal["binary", "multiclass", "regression"]
Status = Literal["ok", "drift", "insufficient data"]
Method = Literal["ks", "chi2", "fisher_exact", "wasserstein_normed", "jensen_shannon", "none"]


class Metrics(Result):
    """A part with one key per realised metric of the task (names in ``metrics``), null when not
    measured."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, float | None] = Field(init=False)


class WindowJson(Result):
    """What the window of the log holds."""

    since: str | None
    """window start (inclusive), as given (null: the log's first record)"""
    until: str | None
    """window end (exclusive), as given (null: now)"""
    predictions: int
    """readable predictions in the window"""
    feedback: int
    """feedback events naming the window's requests"""
    unreadable_rows: int
    """log rows skipped (see unreadable)"""
    model_versions: dict[str, int]
    """model version -> records it served in the window"""
    min_window: int
    """fewer readable predictions than this: nothing is judged (status no_data)"""


class UnreadableJson(Result):
    """Log rows skipped for one reason."""

    rows: int
    """how many"""
    examples: list[str]
    """the first request ids (cut to 80 characters)"""


class PointMassJson(Result):
    """A numeric feature's most frequent value, tested as its own bin."""

    value: float | None
    """the value"""
    reference_share: float | None
    """its share in training"""
    current_share: float | None
    """its share in the window (null: no value present)"""


class FeatureJson(Result):
    """One input feature's drift against training."""

    feature: str
    """the input column"""
    kind: Literal["numeric", "categorical"]
    """how it is compared"""
    method: Method
    """the statistic: a test (ks, chi2, fisher_exact) or a distance; none: too few rows"""
    score: float | None
    """the raw p-value of a test, or the distance; null: insufficient data"""
    threshold: float
    """the family error rate (tests) or the distance threshold"""
    psi: float | None
    """population stability index (null: no value present)"""
    reference_missing_rate: float
    """share of missing values in training"""
    current_missing_rate: float
    """share of missing values in the window"""
    current_rows: int
    """rows in the window"""
    missing_p_value: float | None
    """raw p-value of "the missing rate moved by more than monitor.drift.max_missing_rate_change\""""
    status: Status
    """decided with the Holm-adjusted p-values"""
    p_adjusted: float | None
    """Holm-adjusted p-value of the distribution test (null: a distance, or not run)"""
    missing_p_adjusted: float | None
    """Holm-adjusted p-value of the missing-rate test"""
    missing_alert: bool
    """the missing rate alerts"""
    pooled_categories: int
    """categories pooled because they were expected fewer than 5 times"""
    point_mass: PointMassJson | None
    """numeric features with a point mass in training (null: none)"""
    new_categories: dict[str, int]
    """categories never seen in training -> rows"""
    drifted: bool
    """status is drift"""


class DatasetJson(Result):
    """Dataset drift: the share of judged features that drifted."""

    drifted_features: list[str]
    """the drifted features"""
    judged_features: int
    """features with enough data to judge"""
    share: float
    """drifted / judged (0 when none judged)"""
    threshold: float
    """monitor.drift.dataset_share"""
    drifted: bool
    """share reached the threshold"""


class ViolationJson(Result):
    """Logged inputs that break the package's input schema (the server rejects them: expect none)."""

    column: str
    """the input column"""
    problem: Literal["column absent from the log", "not a number", "outside the schema"]
    """what is wrong"""
    rows: int
    """rows affected"""


class InputsJson(Result):
    """The inputs' drift; every test of the window is one Holm family."""

    features: list[FeatureJson]
    """per input feature"""
    dataset: DatasetJson
    """over all features"""
    schema_violations: list[ViolationJson]
    """inputs outside the package's schema"""
    tests_in_family: int
    """hypothesis tests in the window's Holm family (inputs, outputs, fairness)"""
    family_error_rate: float
    """the chance an undrifted window alerts on any test (monitor.drift.p_value)"""


class _Outputs(Result):
    rows: int
    """predictions in the window"""
    method: Method
    """the statistic: a test (ks, chi2, fisher_exact) or a distance; none: too few rows"""
    score: float | None
    """the raw p-value of a test, or the distance; null: insufficient data"""
    threshold: float
    """the family error rate (tests) or the distance threshold"""
    rate_p_value: float | None
    """binary: raw p-value of "the positive rate moved by more than max_rate_change"; else null"""
    p_adjusted: float | None
    """Holm-adjusted p-value of the distribution test (null: a distance, or not run)"""
    rate_p_adjusted: float | None
    """Holm-adjusted rate_p_value"""
    drifted: bool
    """the distribution drifted"""
    status: Status
    """ok, drift or insufficient data"""
    rate_alert: bool
    """binary: the positive rate moved beyond its bound"""


class BinaryOutputs(_Outputs):
    """A binary model's positive-class probability and positive rate against its test predictions."""

    mean_proba: float | None
    """mean probability in the window"""
    reference_mean_proba: float | None
    """mean probability on the test predictions"""
    positive_rate: float | None
    """share predicted positive (at task.threshold) in the window"""
    reference_positive_rate: float | None
    """share predicted positive on the test predictions"""
    positive_rate_change: float | None
    """positive_rate - reference_positive_rate"""
    max_rate_change: float
    """monitor.outputs.max_positive_rate_change"""


class ClassOutputs(_Outputs):
    """A multiclass model's predicted-class distribution against its test predictions."""

    of: Literal["predicted-class distribution"]
    """what is compared"""
    psi: float | None
    """population stability index of the predicted classes"""
    predicted_share: dict[str, float | None]
    """class -> share predicted in the window"""
    reference_predicted_share: dict[str, float | None]
    """class -> share predicted on the test predictions"""
    mean_probability: dict[str, float | None]
    """class -> mean probability in the window"""
    reference_mean_probability: dict[str, float | None]
    """class -> mean probability on the test predictions"""


class ValueOutputs(_Outputs):
    """A regression model's prediction distribution against its test predictions."""

    of: Literal["prediction distribution"]
    """what is compared"""
    psi: float | None
    """population stability index of the predictions"""
    mean: float | None
    """in the window"""
    reference_mean: float | None
    """on the test predictions"""
    median: float | None
    """in the window"""
    reference_median: float | None
    """on the test predictions"""
    std: float | None
    """in the window"""
    reference_std: float | None
    """on the test predictions"""


def _outputs_kind(value: Any) -> str:
    of = value.get("of") if isinstance(value, Mapping) else getattr(value, "of", None)
    return {"predicted-class distribution": "class", "prediction distribution": "value"}.get(
        str(of), "binary"
    )


Outputs = Annotated[
    Annotated[BinaryOutputs, Tag("binary")]
    | Annotated[ClassOutputs, Tag("class")]
    | Annotated[ValueOutputs, Tag("value")],
    Discriminator(_outputs_kind),
]


class DelayJson(Result):
    """Seconds from a prediction to its feedback."""

    median: float | None
    """(null: no feedback)"""
    p90: float | None
    """90th percentile (null: no feedback)"""


class FeedbackJson(Metrics):
    """The realised metrics over the predictions that received an outcome; plus one key per
    metric: its value (null: not enough feedback)."""

    rows_with_feedback: int
    """predictions with an outcome"""
    coverage: float | None
    """rows_with_feedback / predictions"""
    delay_seconds: DelayJson
    """feedback delay"""
    enough_feedback: bool
    """at least min_rows outcomes (and both classes, binary): the metrics are measured"""
    min_rows: int
    """monitor.feedback.min_rows"""
    metrics: list[str]
    """the task's realised metrics, the keys that hold their values"""
    reference: dict[str, float] | None
    """metric -> its value on the release's test predictions"""
    bounds: dict[str, float]
    """monitor.feedback min_<metric> / max_<metric> -> bound (beyond: an alert)"""


class GroupRatesJson(Result):
    """One group of a binary model's sensitive column."""

    count: int
    """predictions"""
    selection_rate: float | None
    """share predicted positive"""
    labelled: int
    """predictions with an outcome"""
    tpr: float | None
    """true positive rate (null: no positive outcome)"""
    fpr: float | None
    """false positive rate (null: no negative outcome)"""
    in_gaps: bool
    """count reached monitor.fairness.min_group_rows: counted in the parity gap"""
    in_odds_gaps: bool
    """both outcome classes reached min_group_rows: counted in the odds gap"""


class RatesFairness(Result):
    """A binary model's sensitive column: selection rates, error rates and their gaps, each gap
    with the p-value of "the gap exceeds its bound"."""

    groups: dict[str, GroupRatesJson]
    """group value (nan: missing) -> rates"""
    demographic_parity_difference: float | None
    """largest minus smallest selection rate (null: fewer than two groups in the gap)"""
    equalized_odds_difference: float | None
    """the larger of the TPR and FPR gaps"""
    demographic_parity_p_value: float | None
    """raw p-value (null: not testable)"""
    equalized_odds_p_value: float | None
    """raw p-value, Bonferroni over the TPR and FPR tests"""
    demographic_parity_p_adjusted: float | None
    """Holm-adjusted within the window's family"""
    equalized_odds_p_adjusted: float | None
    """Holm-adjusted within the window's family"""


class GroupMetricsJson(Metrics):
    """One group of a multiclass or regression model's sensitive column; plus one key per realised
    metric (null: too few outcomes)."""

    count: int
    """predictions"""
    labelled: int
    """predictions with an outcome"""
    in_gaps: bool
    """enough outcomes: counted in the gaps"""


class MetricsFairness(Metrics):
    """A multiclass or regression model's sensitive column: the realised metrics per group
    (reported, not alerted on); plus ``<metric>_gap`` per metric: the largest gap between the
    groups in the gaps (null: fewer than two)."""

    groups: dict[str, GroupMetricsJson]
    """group value (nan: missing) -> metrics"""
    metrics: list[str]
    """the task's realised metrics"""


def _fairness_kind(value: Any) -> str:
    has = "metrics" in value if isinstance(value, Mapping) else hasattr(value, "metrics")
    return "metrics" if has else "rates"


Fairness = Annotated[
    Annotated[RatesFairness, Tag("rates")] | Annotated[MetricsFairness, Tag("metrics")],
    Discriminator(_fairness_kind),
]


class AlertJson(Sparse):
    """One alert (any alert makes `graft monitor` exit 1)."""

    kind: Literal[
        "dataset_drift",
        "feature_drift",
        "missing_rate",
        "schema",
        "output_drift",
        "positive_rate",
        "realised_quality",
        "fairness",
        "unreadable_rows",
    ]
    """the rule that fired"""
    detail: str
    """what was seen, against which bound"""
    feature: str | None = None
    """the input column (feature_drift, missing_rate, schema)"""
    metric: str | None = None
    """the metric (realised_quality; fairness: COLUMN.GAP_difference)"""


class MonitorResult(Sparse):
    """`graft monitor`: drift, outputs, feedback and fairness of a served model over a window of its
    prediction log. A window too small to judge has no inputs, outputs, feedback, fairness or
    insufficient_data sections."""

    model_version: str
    """the package's version"""
    task: Task
    """the package's task type: what the outputs, feedback and fairness sections hold"""
    window: WindowJson
    """what the window holds"""
    unreadable: dict[str, UnreadableJson]
    """rows of the log that could not be read, by reason"""
    inputs: InputsJson | None = None
    """the inputs' drift"""
    outputs: Outputs | None = None
    """the outputs' drift, as the task defines them"""
    feedback: FeedbackJson | None = None
    """the realised quality"""
    fairness: dict[str, Fairness] | None = None
    """group column -> per-group rates and gaps (binary) or realised metrics (multiclass,
    regression); absent when no sensitive column is configured"""
    insufficient_data: list[str] | None = None
    """the checks that had too little data (features, outputs, realised quality)"""
    alerts: list[AlertJson]
    """every alert"""
    alert: bool
    """an alert fired: exit 1"""
    status: Literal["ok", "alert", "no_data"]
    """no_data: the window was too small to judge"""
    verdict: str
    """one line"""
    exit_code: Literal[0, 1, 4]
    """0 no alert, 1 alert, 4 nothing judged"""
    outputs_written: list[str]
    """the report (-o) and its plots, then the --json file"""

    @classmethod
    def of(cls, result: Mapping[str, Any], written: list[str]) -> MonitorResult:
        """From :func:`graft.monitoring.run.monitor`'s result and the files written."""
        return cls.model_validate({**result, "outputs_written": written})
