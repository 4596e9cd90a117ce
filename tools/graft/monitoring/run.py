"""Assemble one monitoring result (inputs, outputs, feedback, fairness), its alerts and exit code;
:func:`monitor_package` runs it for a released package on its prediction log.

What is checked follows the package's task (settings ``task.type``; see
:mod:`graft.monitoring.checks`): the outputs' drift statistic, the realised metrics (each
against the bounds ``monitor.feedback`` sets, and shown beside its value on the release's test
predictions), and fairness (binary: selection rates and error-rate gaps; multiclass and
regression: the realised metrics per group, reported). Fairness runs only on the sensitive
columns the settings name (``monitor.fairness.group_columns``, else ``fairness.columns``);
none named: no fairness section.

False alarms are controlled per window: every hypothesis test run on the window (each
feature's distribution test and missing-rate test, the prediction distribution test and the
positive-rate test) goes into one family whose p-values are adjusted with Holm's method, and a
test alerts only when its adjusted p-value is below ``monitor.drift.p_value``. The chance that
an undrifted window raises any of these alerts is then at most that rate, whatever the number
of features and however they depend on each other (Holm needs no independence, unlike
Benjamini-Hochberg, and the decision that matters here, page or not, is per window).

A window with fewer than ``monitor.min_window`` readable predictions is not judged: each check
reports "insufficient data" and the exit code is :data:`EXIT_NO_DATA` (unless an alert that
needs no statistics fires: unreadable log rows, schema violations).

Settings (graft.yaml ``monitor``, as packaged; every key has the default shown in
:class:`MonitorParams`): ``min_window``; ``drift`` (tests and distances); ``outputs``
(``max_positive_rate_change``, binary); ``feedback``: ``min_rows`` and any of ``min_<metric>`` /
``max_<metric>`` for the task's realised metrics (binary ``roc_auc``, ``accuracy``,
``log_loss``; multiclass ``accuracy``, ``macro_f1``, ``log_loss``; regression ``rmse``,
``mae``, ``r2``): a realised value beyond its bound alerts; ``fairness`` (group columns, gap
bounds, minimum group size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graft.core.errors import DataError, ParamsError
from graft.core.progress import SILENT, Reporter
from graft.monitoring import EXIT_NO_DATA, checks
from graft.monitoring.drift import (
    INSUFFICIENT,
    DriftConfig,
    FeatureDrift,
    Reference,
    dataset_drift,
    decide,
    feature_drift,
)
from graft.monitoring.logreader import LogLayout, Window, read_window
from graft.monitoring.significance import holm

if TYPE_CHECKING:
    from graft.project.settings import Settings

DEFAULT_MIN_WINDOW = 50  # packages released before `monitor.min_window` existed get this
REALISED = sorted({m for metrics in checks.REALISED_METRICS.values() for m in metrics})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftParams(_Strict):
    small_window: int = Field(default=1000, ge=1)
    p_value: float = Field(default=0.05, gt=0, lt=1)
    distance_threshold: float = Field(default=0.1, gt=0)
    dataset_share: float = Field(default=0.5, gt=0, le=1)
    feature_psi_alert: float = Field(default=0.1, gt=0)
    max_missing_rate_change: float = Field(default=0.05, ge=0)


class OutputParams(_Strict):
    max_positive_rate_change: float = Field(default=0.1, ge=0)


class FeedbackParams(BaseModel):
    """``min_rows`` and bounds on realised metrics: ``min_<metric>`` / ``max_<metric>``."""

    model_config = ConfigDict(extra="allow", frozen=True)
    min_rows: int = Field(default=DEFAULT_MIN_WINDOW, ge=1)

    @model_validator(mode="after")
    def _known_bounds(self) -> FeedbackParams:
        for key, value in (self.model_extra or {}).items():
            side, _, metric = key.partition("_")
            if side not in ("min", "max") or metric not in REALISED:
                raise ValueError(
                    f"unknown key '{key}': expected min_rows, or min_ or max_ followed by a "
                    f"realised metric ({', '.join(REALISED)})"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"'{key}' must be a number (got {value!r})")
        return self

    @property
    def bounds(self) -> dict[str, tuple[str, float]]:
        """``min_<metric>``/``max_<metric>`` key -> (metric, bound), in the order written."""
        return {k: (k.partition("_")[2], float(v)) for k, v in (self.model_extra or {}).items()}


class FairnessParams(_Strict):
    group_columns: list[str] | None = None  # None: the settings' sensitive columns (fairness.columns)
    max_demographic_parity_difference: float = 0.25
    max_equalized_odds_difference: float = 0.25
    min_group_rows: int = Field(default=30, ge=1)


class MonitorParams(_Strict):
    min_window: int = Field(default=DEFAULT_MIN_WINDOW, ge=1)
    drift: DriftParams = Field(default_factory=lambda: DriftParams())
    outputs: OutputParams = Field(default_factory=lambda: OutputParams())
    feedback: FeedbackParams = Field(default_factory=lambda: FeedbackParams())
    fairness: FairnessParams = Field(default_factory=lambda: FairnessParams())

    def check_task(self, task: str, source: str) -> None:
        """Every feedback bound names a realised metric of ``task`` (errors name the key)."""
        known = checks.REALISED_METRICS[task]
        for key, (metric, _) in self.feedback.bounds.items():
            if metric not in known:
                raise ParamsError(
                    f"{source}: 'monitor.feedback.{key}': a {task} model's realised metrics are "
                    f"{', '.join(known)}"
                )

    def drift_config(self) -> DriftConfig:
        d = self.drift
        return DriftConfig(
            small_window=d.small_window,
            p_value=d.p_value,
            distance_threshold=d.distance_threshold,
            dataset_share=d.dataset_share,
            min_window=self.min_window,
            max_missing_rate_change=d.max_missing_rate_change,
        )


def parse_params(raw: Any, source: str, required: bool = True) -> MonitorParams:
    """The ``monitor`` section, validated; absent: an error, or every default when not ``required``."""
    if raw is None:
        if not required:
            return MonitorParams()
        raise ParamsError(f"{source}: missing section 'monitor'")
    try:
        return MonitorParams.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(["monitor", *(str(p) for p in first["loc"])])
        message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
        raise ParamsError(f"{source}: '{key}': {message}") from None


def schema_violations(
    frame: pd.DataFrame, schema: dict[str, Any], not_numbers: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """Logged inputs that break the package's input schema (should be none: the server rejects them)."""
    out = []
    for column, prop in schema["properties"].items():
        if column not in frame:
            out.append({"column": column, "problem": "column absent from the log", "rows": len(frame)})
            continue
        values = frame[column]
        if "enum" in prop:
            allowed = {v for v in prop["enum"] if v is not None}
            bad = int((values.notna() & ~values.isin(allowed)).sum())
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            low, high = prop.get("minimum", -np.inf), prop.get("maximum", np.inf)
            bad = int((numbers.notna() & ((numbers < low) | (numbers > high))).sum())
            if not_numbers and not_numbers.get(column):
                out.append({"column": column, "problem": "not a number", "rows": not_numbers[column]})
        if bad:
            out.append({"column": column, "problem": "outside the schema", "rows": bad})
    return out


Alert = dict[str, Any]


def _alert(kind: str, detail: str, **extra: str) -> Alert:
    return {"kind": kind, "detail": detail, **extra}


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def input_alerts(features: list[FeatureDrift], dataset: dict[str, Any], p: DriftParams) -> list[Alert]:
    alerts = []
    if dataset["drifted"]:
        names = ", ".join(dataset["drifted_features"])
        alerts.append(
            _alert(
                "dataset_drift",
                f"{dataset['share']:.0%} of features drifted ({names}); threshold {p.dataset_share:.0%}",
            )
        )
    for f in features:
        if f.drifted and f.psi is not None and f.psi >= p.feature_psi_alert:
            if f.is_test:
                how = f"{f.method} p {_p(f.score)}, Holm-adjusted {_p(f.p_adjusted)} < {f.threshold}"
            else:
                how = f"{f.method} {f.score:.4g} >= {f.threshold}"
            detail = f"{f.feature}: {how}; PSI {f.psi:.3f} >= {p.feature_psi_alert}"
            alerts.append(_alert("feature_drift", detail, feature=f.feature))
        if f.missing_alert:
            now, before = f.current_missing_rate, f.reference_missing_rate
            detail = (
                f"{f.feature}: missing rate {now:.3f}, {before:.3f} in training "
                f"(moved by more than {p.max_missing_rate_change}: "
                f"Holm-adjusted p {_p(f.missing_p_adjusted)})"
            )
            alerts.append(_alert("missing_rate", detail, feature=f.feature))
    return alerts


def schema_alerts(violations: list[dict[str, Any]]) -> list[Alert]:
    return [
        _alert("schema", f"{v['column']}: {v['rows']} row(s) {v['problem']}", feature=v["column"])
        for v in violations
    ]


def output_alerts(outputs: dict[str, Any], p: OutputParams) -> list[Alert]:
    alerts = []
    if outputs.get("drifted"):
        how = (
            f"{outputs['method']} p {_p(outputs['score'])}, Holm-adjusted {_p(outputs['p_adjusted'])}"
            if outputs["method"] in checks.TEST_METHODS
            else f"{outputs['method']} {outputs['score']}"
        )
        what = outputs.get("of", "prediction distribution")
        alerts.append(_alert("output_drift", f"{what} moved: {how}"))
    if outputs.get("rate_alert"):
        detail = (
            f"positive rate {outputs['positive_rate']:.3f} vs {outputs['reference_positive_rate']:.3f} "
            f"on the test set (moved by more than {p.max_positive_rate_change}: "
            f"Holm-adjusted p {_p(outputs['rate_p_adjusted'])})"
        )
        alerts.append(_alert("positive_rate", detail))
    return alerts


def quality_alerts(quality: dict[str, Any], p: FeedbackParams) -> list[Alert]:
    """A realised metric beyond its ``min_``/``max_`` bound (with enough feedback to judge)."""
    if not quality["enough_feedback"]:
        return []
    alerts = []
    bounds = p.bounds
    for metric in quality["metrics"]:
        value = quality[metric]
        for side, sign in (("min", "<"), ("max", ">")):
            bound = bounds.get(f"{side}_{metric}")
            if bound is None or value is None:
                continue
            if (value < bound[1]) if side == "min" else (value > bound[1]):
                name = checks.METRIC_NAMES[metric]
                detail = f"realised {name} {value:.4f} {sign} {_bound(bound[1])}"
                alerts.append(_alert("realised_quality", detail, metric=metric))
    return alerts


def _bound(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) >= 1 else str(value)


FAIRNESS_GAPS = ("demographic_parity", "equalized_odds")


def fairness_alerts(column: str, rates: dict[str, Any], p: FairnessParams, alpha: float) -> list[Alert]:
    alerts = []
    for gap, bound in zip(
        FAIRNESS_GAPS, (p.max_demographic_parity_difference, p.max_equalized_odds_difference), strict=True
    ):
        value, adjusted = rates[f"{gap}_difference"], rates.get(f"{gap}_p_adjusted")
        if value is not None and value > bound and adjusted is not None and adjusted < alpha:
            label = gap.replace("_", " ") + " gap"
            detail = f"{column}: {label} {value:.3f} > {bound} (Holm-adjusted p {_p(adjusted)})"
            alerts.append(_alert("fairness", detail, metric=f"{column}.{gap}_difference"))
    return alerts


def unreadable_alerts(window: Window) -> list[Alert]:
    alerts = []
    for reason, info in sorted(window.unreadable.items()):
        examples = ", ".join(info["examples"])
        detail = f"{info['rows']} log row(s) skipped: {reason} (e.g. request {examples})"
        alerts.append(_alert("unreadable_rows", detail))
    return alerts


def adjust(
    features: list[FeatureDrift],
    outputs: dict[str, Any],
    fairness: dict[str, dict[str, Any]],
    config: DriftConfig,
) -> tuple[list[FeatureDrift], dict[str, Any], int]:
    """Holm over every test of the window: decides the features and outputs, annotates fairness
    in place; returns the decided features and outputs, and the number of tests in the family."""
    family: list[tuple[str, Any, float]] = []
    for i, f in enumerate(features):
        if f.is_test and f.score is not None:
            family.append(("feature", i, f.score))
        if f.missing_p_value is not None:
            family.append(("missing", i, f.missing_p_value))
    if outputs["method"] in checks.TEST_METHODS and outputs["score"] is not None:
        family.append(("output", 0, outputs["score"]))
    if outputs["rate_p_value"] is not None:
        family.append(("rate", 0, outputs["rate_p_value"]))
    for column, rates in fairness.items():
        for gap in FAIRNESS_GAPS:
            if rates.get(f"{gap}_p_value") is not None:
                family.append((gap, column, rates[f"{gap}_p_value"]))
    adjusted = dict(zip([(k, i) for k, i, _ in family], holm([p for *_, p in family]), strict=True))
    decided = [
        decide(f, adjusted.get(("feature", i)), adjusted.get(("missing", i)), config)
        for i, f in enumerate(features)
    ]
    outputs = dict(outputs)
    outputs["p_adjusted"] = adjusted.get(("output", 0))
    outputs["rate_p_adjusted"] = adjusted.get(("rate", 0))
    if outputs["method"] == "none":
        outputs["status"], outputs["drifted"] = INSUFFICIENT, False
    elif outputs["method"] in checks.TEST_METHODS:
        outputs["drifted"] = outputs["p_adjusted"] < config.p_value
    else:
        outputs["drifted"] = outputs["score"] >= config.distance_threshold
    outputs.setdefault("status", "drift" if outputs["drifted"] else "ok")
    rate_p = outputs["rate_p_adjusted"]
    outputs["rate_alert"] = rate_p is not None and rate_p < config.p_value
    for column, rates in fairness.items():
        for gap in FAIRNESS_GAPS:
            if f"{gap}_p_value" in rates:
                rates[f"{gap}_p_adjusted"] = adjusted.get((gap, column))
    return decided, outputs, len(family)


def exit_code(result: dict[str, Any]) -> int:
    """1 when an alert fired (graft's "check failed"), else :data:`EXIT_NO_DATA` when nothing
    was judged, else 0."""
    if result["alert"]:
        return 1
    return EXIT_NO_DATA if result["status"] == "no_data" else 0


def monitor(
    window: Window,
    reference: pd.DataFrame | Reference,
    reference_proba: np.ndarray,
    schema: dict[str, Any],
    spec: dict[str, Any],
    params: MonitorParams,
    threshold: float,
    model_version: str,
    *,
    task: str = "binary",
    classes: Sequence[str] = (),
    group_columns: Sequence[str] | None = None,
    reference_quality: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Everything the report shows, plus the alerts that make `graft monitor` exit 1.

    ``reference_proba``: the release's test predictions as the task defines them (binary: the
    positive class's probability; multiclass: one column per class of ``classes``; regression:
    the values). ``group_columns``: the sensitive columns (default: ``monitor.fairness``'s).
    ``reference_quality``: the realised metrics' values on the release's test predictions.
    """
    preds = window.predictions
    n = len(preds)
    unreadable_rows = sum(info["rows"] for info in window.unreadable.values())
    result: dict[str, Any] = {
        "model_version": model_version,
        "task": task,
        "window": {
            "since": window.since,
            "until": window.until,
            "predictions": n,
            "feedback": window.feedback_events,
            "unreadable_rows": unreadable_rows,
            "model_versions": dict(window.model_versions),
            "min_window": params.min_window,
        },
        "unreadable": window.unreadable,
    }
    violations = schema_violations(preds, schema, window.not_numbers) if n else []
    early = [*unreadable_alerts(window), *schema_alerts(violations)]
    if n < params.min_window:
        what = f"{n} prediction(s), fewer than {params.min_window}" if n else "no predictions in the window"
        result.update(
            alerts=early,
            alert=bool(early),
            status="alert" if early else "no_data",
            verdict=f"{len(early)} alert(s); {what}" if early else f"insufficient data: {what}",
        )
        result["exit_code"] = exit_code(result)
        return result
    config = params.drift_config()
    numeric, categorical = list(spec["numeric"]), [*spec["categorical"], *spec["onehot"]]
    if isinstance(reference, pd.DataFrame):
        reference = Reference.build(reference, numeric, categorical)
    raw = feature_drift(reference, preds, numeric, categorical, config)
    raw_outputs = checks.task_output_drift(
        preds,
        reference_proba,
        task,
        list(classes),
        threshold,
        config,
        params.outputs.max_positive_rate_change,
    )
    fp = params.fairness
    columns = list(fp.group_columns or []) if group_columns is None else list(group_columns)
    fairness = {
        column: (
            checks.group_rates(
                preds,
                column,
                threshold,
                fp.min_group_rows,
                fp.max_demographic_parity_difference,
                fp.max_equalized_odds_difference,
            )
            if task == "binary"
            else checks.group_metrics(preds, column, task, len(classes), threshold, fp.min_group_rows)
        )
        for column in columns
    }
    features, outputs, family = adjust(raw, raw_outputs, fairness, config)
    dataset = dataset_drift(features, config)
    quality = checks.realised_quality(preds, threshold, params.feedback.min_rows, task, len(classes))
    quality["reference"] = reference_quality
    quality["bounds"] = {key: bound for key, (_, bound) in params.feedback.bounds.items()}
    alerts = [
        *early,
        *input_alerts(features, dataset, params.drift),
        *output_alerts(outputs, params.outputs),
        *quality_alerts(quality, params.feedback),
        *(
            a
            for column, rates in fairness.items()
            if task == "binary"
            for a in fairness_alerts(column, rates, fp, config.p_value)
        ),
    ]
    insufficient = [f.feature for f in features if f.status == INSUFFICIENT]
    insufficient += ["outputs"] if outputs["status"] == INSUFFICIENT else []
    insufficient += [] if quality["enough_feedback"] else ["realised quality"]
    result.update(
        inputs={
            "features": [f.as_dict() for f in features],
            "dataset": dataset,
            "schema_violations": violations,
            "tests_in_family": family,
            "family_error_rate": config.p_value,
        },
        outputs=outputs,
        feedback=quality,
    )
    if fairness:
        result["fairness"] = fairness
    result.update(
        insufficient_data=insufficient,
        alerts=alerts,
        alert=bool(alerts),
        status="alert" if alerts else "ok",
        verdict=f"{len(alerts)} alert(s)" if alerts else "no alerts",
    )
    result["exit_code"] = exit_code(result)
    return result


# --- a released package on its log ---------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    """What monitoring takes from a package: its task, reference and test predictions."""

    settings: Settings
    version: str
    schema: dict[str, Any]
    reference: pd.DataFrame  # the reference rows (the schema's columns)
    scores: np.ndarray  # the test predictions, as the task defines them (see :func:`monitor`)
    classes: list[str]  # a classifier's labels, in the order of its probabilities
    quality: dict[str, float] | None  # the realised metrics on the test predictions

    @property
    def task(self) -> str:
        return self.settings.task.type

    def layout(self) -> LogLayout:
        """How to read this model's log: its input columns, task, labels."""
        from graft.release.reference import schema_columns, text_columns

        numeric, categorical = schema_columns(self.schema)
        positive = self.settings.task.positive or "1"
        text = tuple(text_columns(self.schema))
        return LogLayout(tuple(numeric), tuple(categorical), positive, self.task, tuple(self.classes), text)


def open_released(package_path: Path, workdir: Path) -> Released:
    """Read a verified package's task, reference rows and test predictions (errors name the package)."""
    from graft.compare.predictions import class_indices
    from graft.release.package import REFERENCE_ROWS, load_package
    from graft.release.reference import read_table, text_columns, text_lengths

    pkg = load_package(Path(package_path), workdir)
    settings = pkg.settings
    task = settings.task
    if REFERENCE_ROWS not in pkg.manifest["files"]:
        raise DataError(f"{pkg.label}: no {REFERENCE_ROWS} (graft.yaml package.reference names no rows)")
    path = pkg.predictions_file()
    if path is None:
        raise DataError(f"{pkg.label}: no test predictions (graft.yaml predictions.path): outputs need them")
    scores = np.asarray(pkg.reference_scores(), dtype=float)
    if task.type == "multiclass":
        if scores.ndim != 2:
            raise DataError(f"{pkg.label}: a multiclass model's test predictions need one column per class")
        classes = list(task.labels or (str(i) for i in range(scores.shape[1])))
    else:
        classes = list(task.labels or ("0", "1")) if task.type == "binary" else []
        if scores.ndim == 2 and task.type == "binary":
            scores = scores[:, -1]  # two columns (negative, positive)
    label, where = settings.predictions.label, f"{pkg.label}: {path.name}"
    labels = read_table(path.read_bytes(), where, [label])[label].to_numpy()
    y = labels.astype(float) if task.type == "regression" else class_indices(labels, classes, label, where)
    quality = checks.realised_metrics(task.type, y, scores, task.threshold) if len(y) else None
    reference = pd.read_parquet(pkg.path(REFERENCE_ROWS))
    for column in text_columns(pkg.schema):  # free text is monitored by its length, as the log is read
        reference[column] = text_lengths(reference[column])
    return Released(
        settings=settings,
        version=f"{pkg.name} {pkg.version}",
        schema=pkg.schema,
        reference=reference,
        scores=scores,
        classes=classes,
        quality={m: round(v, 6) for m, v in quality.items()} if quality else None,
    )


def monitor_package(
    package_path: Path,
    log_db: str,
    since: str | None = None,
    until: str | None = None,
    report: Path | None = None,
    json_out: Path | None = None,
    params_path: Path | None = None,
    progress: Reporter = SILENT,
) -> dict[str, Any]:
    """Monitor the logged traffic of a released package (see :func:`graft.api.monitor`)."""
    import tempfile

    import yaml

    from graft.core.safeload import load_yaml
    from graft.monitoring import report as reporting
    from graft.release.reference import schema_columns, text_columns

    progress.step(f"verifying the package {package_path}")
    with tempfile.TemporaryDirectory(prefix="graft-monitor-") as tmp:
        released = open_released(Path(package_path), Path(tmp))
    settings = released.settings
    if params_path is None:
        source = f"{released.version}: settings.json monitor"
        params = parse_params(settings.monitor or None, source, required=False)
    else:
        source = str(params_path)
        try:
            chosen = load_yaml(Path(params_path).read_bytes(), source) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ParamsError(f"{source}: cannot be read ({exc.__class__.__name__})") from None
        if not isinstance(chosen, dict):
            raise ParamsError(f"{source}: expected a mapping at the top level")
        params = parse_params(chosen.get("monitor"), source)
    params.check_task(released.task, source)
    groups = params.fairness.group_columns
    groups = list(settings.fairness.columns) if groups is None else groups
    unknown = [c for c in groups if c not in released.schema["properties"]]
    if unknown:
        raise ParamsError(
            f"{source}: fairness group column(s) {', '.join(unknown)} are not inputs of the model "
            f"(inputs: {', '.join(released.schema['properties'])})"
        )
    numeric, categorical = schema_columns(released.schema)
    spec = {"numeric": numeric + text_columns(released.schema), "categorical": categorical, "onehot": {}}
    threshold = settings.task.threshold
    progress.step("reading the prediction log")
    window = read_window(log_db, since, until, released.layout())
    progress.step(f"checking {len(window.predictions)} predictions: inputs, outputs, feedback, fairness")
    result = monitor(
        window,
        released.reference,
        released.scores,
        released.schema,
        spec,
        params,
        threshold,
        released.version,
        task=released.task,
        classes=released.classes,
        group_columns=groups,
        reference_quality=released.quality,
    )
    result["outputs_written"] = []
    if report is not None:
        progress.step(f"writing the report {report}")
        images = reporting.make_plots(
            result, released.reference, window.predictions, released.scores, threshold, released.classes
        )
        result["outputs_written"] += [str(p) for p in reporting.write_report(Path(report), result, images)]
    if json_out is not None:
        result["outputs_written"].append(str(reporting.write_json(Path(json_out), result)))
    return result
