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
from typing import Any

import numpy as np
import pandas as pd

from graft.monitoring import checks
from graft.monitoring.alerts import (
    FAIRNESS_GAPS,
    Alert,
    exit_code,
    fairness_alerts,
    input_alerts,
    output_alerts,
    quality_alerts,
    schema_alerts,
    unreadable_alerts,
)
from graft.monitoring.drift import (
    INSUFFICIENT,
    DriftConfig,
    FeatureDrift,
    Reference,
    dataset_drift,
    decide,
    feature_drift,
)
from graft.monitoring.params import MonitorParams, parse_params
from graft.monitoring.significance import holm
from graft.monitoring.window import Window

__all__ = [
    "Alert",
    "MonitorParams",
    "Window",
    "adjust",
    "exit_code",
    "monitor",
    "parse_params",
    "schema_violations",
]


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
    result = _window_summary(window, params, model_version, task)
    violations = schema_violations(preds, schema, window.not_numbers) if n else []
    early = [*unreadable_alerts(window), *schema_alerts(violations)]
    if n < params.min_window:
        what = f"{n} prediction(s), fewer than {params.min_window}" if n else "no predictions in the window"
        verdict = f"{len(early)} alert(s); {what}" if early else f"insufficient data: {what}"
        return _conclude(result, early, "no_data", verdict)
    config = params.drift_config()
    raw = _feature_drift(reference, preds, spec, config)
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
    fairness = _fairness(preds, columns, params, task, len(classes), threshold)
    features, outputs, family = adjust(raw, raw_outputs, fairness, config)
    dataset = dataset_drift(features, config)
    quality = _quality(preds, params, task, len(classes), threshold, reference_quality)
    alerts = [
        *early,
        *input_alerts(features, dataset, params.drift),
        *output_alerts(outputs, params.outputs),
        *quality_alerts(quality, params.feedback),
        *(
            a
            for c, rates in fairness.items()
            if task == "binary"
            for a in fairness_alerts(c, rates, fp, config.p_value)
        ),
    ]
    insufficient = [
        *(f.feature for f in features if f.status == INSUFFICIENT),
        *(["outputs"] if outputs["status"] == INSUFFICIENT else []),
        *([] if quality["enough_feedback"] else ["realised quality"]),
    ]
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
    result["insufficient_data"] = insufficient
    return _conclude(result, alerts, "ok", f"{len(alerts)} alert(s)" if alerts else "no alerts")


def _feature_drift(
    reference: pd.DataFrame | Reference, preds: pd.DataFrame, spec: dict[str, Any], config: DriftConfig
) -> list[FeatureDrift]:
    """Each input feature's raw drift against the reference (built from its rows when needed)."""
    numeric, categorical = list(spec["numeric"]), [*spec["categorical"], *spec["onehot"]]
    if isinstance(reference, pd.DataFrame):
        reference = Reference.build(reference, numeric, categorical)
    return feature_drift(reference, preds, numeric, categorical, config)


def _quality(
    preds: pd.DataFrame,
    params: MonitorParams,
    task: str,
    classes: int,
    threshold: float,
    reference_quality: dict[str, float] | None,
) -> dict[str, Any]:
    """The realised metrics from feedback, beside their values on the test predictions and bounds."""
    quality = checks.realised_quality(preds, threshold, params.feedback.min_rows, task, classes)
    quality["reference"] = reference_quality
    quality["bounds"] = {key: bound for key, (_, bound) in params.feedback.bounds.items()}
    return quality


def _window_summary(window: Window, params: MonitorParams, model_version: str, task: str) -> dict[str, Any]:
    """The head of a result: the model and what the window holds."""
    return {
        "model_version": model_version,
        "task": task,
        "window": {
            "since": window.since,
            "until": window.until,
            "predictions": len(window.predictions),
            "feedback": window.feedback_events,
            "unreadable_rows": sum(info["rows"] for info in window.unreadable.values()),
            "model_versions": dict(window.model_versions),
            "min_window": params.min_window,
        },
        "unreadable": window.unreadable,
    }


def _fairness(
    preds: pd.DataFrame, columns: list[str], params: MonitorParams, task: str, classes: int, threshold: float
) -> dict[str, dict[str, Any]]:
    """Per sensitive column: selection rates and gaps (binary) or the realised metrics per group."""
    fp = params.fairness
    return {
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
            else checks.group_metrics(preds, column, task, classes, threshold, fp.min_group_rows)
        )
        for column in columns
    }


def _conclude(result: dict[str, Any], alerts: list[Alert], quiet: str, verdict: str) -> dict[str, Any]:
    """The result's alerts, status (``alert``, else ``quiet``), verdict and exit code."""
    result.update(alerts=alerts, alert=bool(alerts), status="alert" if alerts else quiet, verdict=verdict)
    result["exit_code"] = exit_code(result)
    return result
