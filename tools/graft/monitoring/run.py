"""Assemble one monitoring result (inputs, outputs, feedback, fairness), its alerts and exit code.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graft.core.errors import ParamsError
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
from graft.monitoring.significance import holm

DEFAULT_MIN_WINDOW = 50  # packages released before `monitor.min_window` existed get this


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
    min_window: int = Field(default=DEFAULT_MIN_WINDOW, ge=1)
    drift: DriftParams
    outputs: OutputParams
    feedback: FeedbackParams
    fairness: FairnessParams

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
    """One window of the log: a row per served record (see :mod:`graft.monitoring.logreader`)."""

    predictions: pd.DataFrame  # input columns, proba, outcome (0/1, NaN), feedback_delay_s
    since: str | None = None
    until: str | None = None
    feedback_events: int = 0  # feedback rows naming the window's requests
    unreadable: dict[str, dict[str, Any]] = field(default_factory=dict)  # reason -> rows, examples
    not_numbers: dict[str, int] = field(default_factory=dict)  # column -> values that are not numbers
    model_versions: dict[str, int] = field(default_factory=dict)  # version -> records


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
            bad = int((numbers.notna() & ((numbers < prop["minimum"]) | (numbers > prop["maximum"]))).sum())
            if (not_numbers or {}).get(column):
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
            f"ks p {_p(outputs['score'])}, Holm-adjusted {_p(outputs['p_adjusted'])}"
            if outputs["method"] == "ks"
            else f"{outputs['method']} {outputs['score']}"
        )
        alerts.append(_alert("output_drift", f"prediction distribution moved: {how}"))
    if outputs.get("rate_alert"):
        detail = (
            f"positive rate {outputs['positive_rate']:.3f} vs {outputs['reference_positive_rate']:.3f} "
            f"on the test set (moved by more than {p.max_positive_rate_change}: "
            f"Holm-adjusted p {_p(outputs['rate_p_adjusted'])})"
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
    if outputs["method"] == "ks" and outputs["score"] is not None:
        family.append(("output", 0, outputs["score"]))
    if outputs["rate_p_value"] is not None:
        family.append(("rate", 0, outputs["rate_p_value"]))
    for column, rates in fairness.items():
        for gap in FAIRNESS_GAPS:
            if rates[f"{gap}_p_value"] is not None:
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
    elif outputs["method"] == "ks":
        outputs["drifted"] = outputs["p_adjusted"] < config.p_value
    else:
        outputs["drifted"] = outputs["score"] >= config.distance_threshold
    outputs.setdefault("status", "drift" if outputs["drifted"] else "ok")
    rate_p = outputs["rate_p_adjusted"]
    outputs["rate_alert"] = rate_p is not None and rate_p < config.p_value
    for column, rates in fairness.items():
        for gap in FAIRNESS_GAPS:
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
) -> dict[str, Any]:
    """Everything the report shows, plus the alerts that make `graft monitor` exit 1."""
    preds = window.predictions
    n = len(preds)
    unreadable_rows = sum(info["rows"] for info in window.unreadable.values())
    result: dict[str, Any] = {
        "model_version": model_version,
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
    proba = preds["proba"].to_numpy(dtype=float)
    raw_outputs = checks.output_drift(
        proba, reference_proba, threshold, config, params.outputs.max_positive_rate_change
    )
    fp = params.fairness
    fairness = {
        column: checks.group_rates(
            preds,
            column,
            threshold,
            fp.min_group_rows,
            fp.max_demographic_parity_difference,
            fp.max_equalized_odds_difference,
        )
        for column in fp.group_columns
    }
    features, outputs, family = adjust(raw, raw_outputs, fairness, config)
    dataset = dataset_drift(features, config)
    quality = checks.realised_quality(preds, threshold, params.feedback.min_rows)
    alerts = [
        *early,
        *input_alerts(features, dataset, params.drift),
        *output_alerts(outputs, params.outputs),
        *quality_alerts(quality, params.feedback),
        *(
            a
            for column, rates in fairness.items()
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
        fairness=fairness,
        insufficient_data=insufficient,
        alerts=alerts,
        alert=bool(alerts),
        status="alert" if alerts else "ok",
        verdict=f"{len(alerts)} alert(s)" if alerts else "no alerts",
    )
    result["exit_code"] = exit_code(result)
    return result
