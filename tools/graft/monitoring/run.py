"""Assemble one monitoring result (inputs, outputs, feedback, fairness) and its alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graft.core.errors import ParamsError
from graft.monitoring import checks
from graft.monitoring.drift import DriftConfig, FeatureDrift, dataset_drift, feature_drift


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftParams(_Strict):
    small_window: int = Field(ge=1)
    p_value: float = Field(gt=0, lt=1)
    distance_threshold: float = Field(gt=0)
    dataset_share: float = Field(gt=0, le=1)
    feature_psi_alert: float = Field(gt=0)
    max_missing_rate_change: float = Field(ge=0)


class OutputParams(_Strict):
    max_positive_rate_change: float = Field(ge=0)


class FeedbackParams(_Strict):
    min_rows: int = Field(ge=1)
    min_roc_auc: float
    max_log_loss: float


class FairnessParams(_Strict):
    group_columns: list[str]
    max_demographic_parity_difference: float
    max_equalized_odds_difference: float
    min_group_rows: int = Field(ge=1)


class MonitorParams(_Strict):
    drift: DriftParams
    outputs: OutputParams
    feedback: FeedbackParams
    fairness: FairnessParams


def parse_params(raw: Any, source: str) -> MonitorParams:
    if raw is None:
        raise ParamsError(f"{source}: missing section 'monitor' (package built before monitoring existed?)")
    try:
        return MonitorParams.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(["monitor", *(str(p) for p in first["loc"])])
        raise ParamsError(f"{source}: '{key}': {first['msg']}") from None


@dataclass(frozen=True)
class Window:
    predictions: pd.DataFrame
    feedback: pd.DataFrame
    since: str | None
    until: str | None


def schema_violations(frame: pd.DataFrame, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Logged inputs that break the package's input schema (should be none: the server rejects them)."""
    out = []
    for column, prop in schema["properties"].items():
        if column not in frame:
            out.append({"column": column, "problem": "column absent from the log", "rows": len(frame)})
            continue
        values = frame[column]
        if "enum" in prop:
            allowed = {v for v in prop["enum"] if v is not None}
            bad = values.notna() & ~values.isin(allowed)
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & (
                numbers.isna() | (numbers < prop["minimum"]) | (numbers > prop["maximum"])
            )
        if int(bad.sum()):
            out.append({"column": column, "problem": "outside the schema", "rows": int(bad.sum())})
    return out


Alert = dict[str, Any]


def _alert(kind: str, detail: str, **extra: str) -> Alert:
    return {"kind": kind, "detail": detail, **extra}


def input_alerts(
    features: list[FeatureDrift], dataset: dict[str, Any], violations: list[dict[str, Any]], p: DriftParams
) -> list[Alert]:
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
        if f.drifted and f.psi >= p.feature_psi_alert:
            detail = f"{f.feature}: {f.method} {f.score:.4g} (threshold {f.threshold}), PSI {f.psi:.3f}"
            alerts.append(_alert("feature_drift", f"{detail} >= {p.feature_psi_alert}", feature=f.feature))
        if abs(f.current_missing_rate - f.reference_missing_rate) > p.max_missing_rate_change:
            now, before = f.current_missing_rate, f.reference_missing_rate
            detail = f"{f.feature}: missing rate {now:.3f}, {before:.3f} in training"
            alerts.append(_alert("missing_rate", detail, feature=f.feature))
    for v in violations:
        alerts.append(
            _alert("schema", f"{v['column']}: {v['rows']} row(s) {v['problem']}", feature=v["column"])
        )
    return alerts


def output_alerts(outputs: dict[str, Any], p: OutputParams) -> list[Alert]:
    alerts = []
    if outputs.get("drifted"):
        alerts.append(
            _alert("output_drift", f"prediction distribution moved: {outputs['method']} {outputs['score']}")
        )
    if outputs.get("rate_alert"):
        detail = (
            f"positive rate {outputs['positive_rate']:.3f} vs {outputs['reference_positive_rate']:.3f} "
            f"on the test set (max change {p.max_positive_rate_change})"
        )
        alerts.append(_alert("positive_rate", detail))
    return alerts


def quality_alerts(quality: dict[str, Any], p: FeedbackParams) -> list[Alert]:
    if not quality["enough_feedback"]:
        return []
    alerts = []
    if quality["roc_auc"] < p.min_roc_auc:
        alerts.append(
            _alert(
                "realised_quality",
                f"realised ROC AUC {quality['roc_auc']:.4f} < {p.min_roc_auc}",
                metric="roc_auc",
            )
        )
    if quality["log_loss"] > p.max_log_loss:
        alerts.append(
            _alert(
                "realised_quality",
                f"realised log loss {quality['log_loss']:.4f} > {p.max_log_loss}",
                metric="log_loss",
            )
        )
    return alerts


def fairness_alerts(column: str, rates: dict[str, Any], p: FairnessParams) -> list[Alert]:
    alerts = []
    for key, bound in (
        ("demographic_parity_difference", p.max_demographic_parity_difference),
        ("equalized_odds_difference", p.max_equalized_odds_difference),
    ):
        value = rates[key]
        if value is not None and value > bound:
            label = key.replace("_", " ").replace("difference", "gap")
            alerts.append(
                _alert("fairness", f"{column}: {label} {value:.3f} > {bound}", metric=f"{column}.{key}")
            )
    return alerts


def monitor(
    window: Window,
    reference: pd.DataFrame,
    reference_proba: np.ndarray,
    schema: dict[str, Any],
    spec: dict[str, Any],
    params: MonitorParams,
    threshold: float,
    model_version: str,
) -> dict[str, Any]:
    """Everything the report shows, plus the alerts that make `graft monitor` exit 1."""
    preds = window.predictions
    result: dict[str, Any] = {
        "model_version": model_version,
        "window": {
            "since": window.since,
            "until": window.until,
            "predictions": len(preds),
            "feedback": len(window.feedback),
        },
    }
    if preds.empty:
        result.update(alerts=[], alert=False, verdict="no predictions in the window")
        return result
    d = params.drift
    config = DriftConfig(d.small_window, d.p_value, d.distance_threshold, d.dataset_share)
    features = feature_drift(
        reference, preds, list(spec["numeric"]), [*spec["categorical"], *spec["onehot"]], config
    )
    dataset = dataset_drift(features, config)
    violations = schema_violations(preds, schema)
    proba = preds["proba"].to_numpy(dtype=float)
    outputs = checks.output_drift(
        proba,
        reference_proba,
        threshold,
        d.small_window,
        d.p_value,
        d.distance_threshold,
        params.outputs.max_positive_rate_change,
    )
    joined = checks.join_feedback(preds, window.feedback)
    quality = checks.realised_quality(joined, len(preds), threshold, params.feedback.min_rows)
    fairness = {
        column: checks.group_rates(preds, joined, column, threshold, params.fairness.min_group_rows)
        for column in params.fairness.group_columns
    }
    alerts = [
        *input_alerts(features, dataset, violations, d),
        *output_alerts(outputs, params.outputs),
        *quality_alerts(quality, params.feedback),
        *(a for column, rates in fairness.items() for a in fairness_alerts(column, rates, params.fairness)),
    ]
    result.update(
        inputs={
            "features": [f.as_dict() for f in features],
            "dataset": dataset,
            "schema_violations": violations,
        },
        outputs=outputs,
        feedback=quality,
        fairness=fairness,
        alerts=alerts,
        alert=bool(alerts),
        verdict=f"{len(alerts)} alert(s)" if alerts else "no alerts",
    )
    return result
