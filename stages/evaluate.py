"""Stage `evaluate`: the model on the official test split.

Writes headline metrics, per-group fairness metrics (fairlearn's MetricFrame), the test-set
predictions (kept in Git so any two revisions can be compared without retraining) and the
data behind the plots declared in dvc.yaml.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from pydantic import Field
from sklearn import metrics as skm

from stages import models, paths
from stages.common import Section, load_params
from stages.errors import run_stage
from stages.fsio import write_json, write_parquet, write_text
from stages.schema import LABELS, ROW_ID, TARGET

METRICS = paths.METRICS
FAIRNESS = paths.FAIRNESS
PREDICTIONS = paths.PREDICTIONS
PLOTS = paths.PLOTS
DIGITS = 6
CURVE_POINTS = 201


class EvaluateParams(Section):
    threshold: float = Field(gt=0, lt=1)
    group_columns: list[str]
    calibration_bins: int = Field(ge=2)
    importance_type: str = Field(pattern="^(gain|split)$")


def r(value: float) -> float | None:
    value = float(value)
    return round(value, DIGITS) if np.isfinite(value) else None


def headline_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = (proba >= threshold).astype(int)
    return {
        "roc_auc": r(skm.roc_auc_score(y, proba)),
        "pr_auc": r(skm.average_precision_score(y, proba)),
        "log_loss": r(skm.log_loss(y, proba, labels=[0, 1])),
        "accuracy": r(skm.accuracy_score(y, pred)),
        "precision": r(skm.precision_score(y, pred, zero_division=0)),
        "recall": r(skm.recall_score(y, pred, zero_division=0)),
        "f1": r(skm.f1_score(y, pred, zero_division=0)),
        "brier": r(skm.brier_score_loss(y, proba)),
        "test_rows": len(y),
        "threshold": threshold,
    }


def _auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    return float(skm.roc_auc_score(y_true, y_score)) if len(np.unique(y_true)) == 2 else float("nan")


def group_metrics(
    y: np.ndarray, proba: np.ndarray, groups: pd.Series, threshold: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-group rates plus the two gap summaries for one sensitive column."""
    pred = (proba >= threshold).astype(int)
    frame = MetricFrame(
        metrics={
            "count": lambda yt, yp: len(yt),
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=groups.to_numpy(),
    )
    auc = MetricFrame(metrics=_auc, y_true=y, y_pred=proba, sensitive_features=groups.to_numpy())
    per_group = {
        str(g): {
            "count": int(row["count"]),
            "selection_rate": r(row["selection_rate"]),
            "tpr": r(row["tpr"]),
            "fpr": r(row["fpr"]),
            "roc_auc": r(auc.by_group[g]),
        }
        for g, row in frame.by_group.iterrows()
    }
    gaps = {
        "demographic_parity_difference": r(demographic_parity_difference(y, pred, sensitive_features=groups)),
        "equalized_odds_difference": r(equalized_odds_difference(y, pred, sensitive_features=groups)),
    }
    return per_group, gaps


def thin(*arrays: np.ndarray, points: int = CURVE_POINTS) -> list[np.ndarray]:
    """Keep at most ``points`` evenly spaced points of a curve (ends included) for plotting."""
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))
    return [np.round(a[keep], DIGITS) for a in arrays]


def curves(y: np.ndarray, proba: np.ndarray, bins: int) -> dict[str, pd.DataFrame]:
    fpr, tpr = thin(*skm.roc_curve(y, proba)[:2])
    precision, recall = thin(*skm.precision_recall_curve(y, proba)[:2])
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1]), 0, bins - 1)
    calib = [
        {
            "bin": b,
            "mean_predicted": r(proba[which == b].mean()),
            "fraction_positive": r(y[which == b].mean()),
            "count": int((which == b).sum()),
        }
        for b in range(bins)
        if (which == b).any()
    ]
    return {
        "roc": pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        "precision_recall": pd.DataFrame({"recall": recall, "precision": precision}),
        "calibration": pd.DataFrame(calib),
    }


def confusion_rows(
    y: np.ndarray, proba: np.ndarray, threshold: float, labels: tuple[str, str]
) -> pd.DataFrame:
    names = np.array(labels)
    return pd.DataFrame({"actual": names[y], "predicted": names[(proba >= threshold).astype(int)]})


def importance(model: models.Bundle, kind: str) -> pd.DataFrame:
    values = model.importance(kind)
    frame = pd.DataFrame({"feature": model.names, kind: np.round(values.astype(float), 3)})
    return frame.sort_values([kind, "feature"], ascending=[False, True], ignore_index=True)


def predict(model: models.Bundle, test: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    return model.predict(test[spec["features"]].to_numpy(dtype=np.float64))


def evaluate(
    test: pd.DataFrame, raw: pd.DataFrame, model: models.Bundle, spec: dict[str, Any], params: EvaluateParams
) -> dict[str, Any]:
    y = test[TARGET].to_numpy()
    proba = predict(model, test, spec)
    groups = raw.set_index(ROW_ID).loc[test[ROW_ID]]
    headline = headline_metrics(y, proba, params.threshold)
    fairness_detail, fairness_gaps = {}, {}
    for column in params.group_columns:
        fairness_detail[column], fairness_gaps[column] = group_metrics(
            y, proba, groups[column].astype(str).reset_index(drop=True), params.threshold
        )
    return {
        "metrics": {**headline, "fairness": fairness_gaps},
        "fairness": fairness_detail,
        "predictions": pd.DataFrame({ROW_ID: test[ROW_ID].to_numpy(), TARGET: y, "proba": proba}),
        "plots": {
            **curves(y, proba, params.calibration_bins),
            "confusion": confusion_rows(y, proba, params.threshold, LABELS),
            "importance": importance(model, params.importance_type),
        },
    }


def main() -> None:
    params = load_params("evaluate", EvaluateParams)
    spec = json.loads(paths.FEATURE_SPEC.read_text(encoding="utf-8"))
    model = models.load(paths.MODEL.read_bytes())
    test = pd.read_parquet(paths.features_split("test"))
    raw = pd.read_parquet(paths.VALIDATED, columns=[ROW_ID, *params.group_columns])
    result = evaluate(test, raw, model, spec, params)
    write_json(METRICS, result["metrics"])
    write_json(FAIRNESS, result["fairness"])
    write_parquet(PREDICTIONS, result["predictions"])
    for name, frame in result["plots"].items():
        write_text(PLOTS / f"{name}.csv", frame.to_csv(index=False, lineterminator="\n"))


if __name__ == "__main__":
    run_stage(main, "evaluate")
