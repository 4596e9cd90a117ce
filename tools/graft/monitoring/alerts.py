"""The alert rules: which result of a window's checks raises an alert (input drift, schema
violations, output drift, realised quality beyond its bounds, fairness gaps, unreadable log
rows), each as ``{"kind", "detail", ...}``, and the exit code they imply."""

from __future__ import annotations

from typing import Any

from graft.monitoring import EXIT_NO_DATA, checks
from graft.monitoring.drift import (
    FeatureDrift,
)
from graft.monitoring.params import DriftParams, FairnessParams, FeedbackParams, OutputParams
from graft.monitoring.window import Window

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


def exit_code(result: dict[str, Any]) -> int:
    """1 when an alert fired (graft's "check failed"), else :data:`EXIT_NO_DATA` when nothing
    was judged, else 0."""
    if result["alert"]:
        return 1
    return EXIT_NO_DATA if result["status"] == "no_data" else 0
