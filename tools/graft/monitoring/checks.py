"""Output drift, realised quality from feedback, and fairness over a window of the log, per task.

The window is one frame (see :mod:`graft.monitoring.logreader`): one row per served record
with the input columns, what the model predicted (:func:`output_columns`: binary ``proba``;
multiclass ``proba:0`` ... ``proba:k-1``, one per class in the order of the task's labels;
regression ``prediction``), and, for records that received feedback, ``outcome`` (binary 0/1,
multiclass the class index, regression the observed value; NaN without feedback) and
``feedback_delay_s``. Every function returns plain dicts; tests report raw p-values, which
:mod:`graft.monitoring.run` adjusts with the window's others.

Per task:

* output drift: binary, the probability distribution (KS / normed Wasserstein) and the
  positive rate (:func:`output_drift`); multiclass, the predicted-class distribution against
  the reference's, with the counts test the categorical inputs use (rare classes pooled,
  chi-squared or Fisher's exact test; Jensen-Shannon distance for large windows); regression,
  the prediction distribution against the reference predictions with the numeric inputs'
  statistic (:func:`task_output_drift`);
* realised metrics (:data:`REALISED_METRICS`): binary ROC AUC, accuracy, log loss; multiclass
  accuracy, macro F1, log loss; regression RMSE, MAE, R² (:func:`realised_metrics`), computed
  as scikit-learn does (the scorers of :mod:`graft.compare.scorers`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from graft.monitoring.drift import (
    CategoricalReference,
    DriftConfig,
    FeatureDrift,
    NumericReference,
    categorical_drift,
    numeric_drift,
)
from graft.monitoring.significance import gap_exceeds_pvalue, rate_change_pvalue, wasserstein

REALISED_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy", "log_loss"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "accuracy": "accuracy",
    "log_loss": "log loss",
    "macro_f1": "macro F1",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}
TEST_METHODS = ("ks", "chi2", "fisher_exact")


def output_columns(task: str, classes: int = 0) -> tuple[str, ...]:
    """The window's columns of what the model predicted (see the module docstring)."""
    if task == "binary":
        return ("proba",)
    if task == "multiclass":
        return tuple(f"proba:{i}" for i in range(classes))
    return ("prediction",)


def predicted(frame: pd.DataFrame, task: str, classes: int = 0) -> np.ndarray:
    """The window's predictions as the task's metrics take them: a probability (binary), an
    (records, classes) probability matrix (multiclass) or a value (regression)."""
    columns = output_columns(task, classes)
    if task == "multiclass":
        return np.column_stack([frame[c].to_numpy(dtype=float) for c in columns]).reshape(len(frame), classes)
    return frame[columns[0]].to_numpy(dtype=float)


def _r(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def output_drift(
    proba: np.ndarray,
    reference_proba: np.ndarray,
    threshold: float,
    config: DriftConfig,
    max_rate_change: float,
) -> dict[str, Any]:
    """Prediction distribution and positive rate against the released model's test predictions.

    ``score`` is the raw KS p-value (windows up to ``small_window`` rows) or the normed
    Wasserstein distance; ``rate_p_value`` tests "the positive rate moved by more than
    ``max_rate_change``". Both are None below ``min_window`` rows.
    """
    n = len(proba)
    rate = float((proba >= threshold).mean()) if n else None
    ref_rate = float((reference_proba >= threshold).mean())
    enough = n >= config.min_window
    small = n <= config.small_window
    score: float | None = None
    if enough and small:
        score = float(stats.ks_2samp(reference_proba, proba).pvalue)
    elif enough:
        spread = float(np.std(reference_proba)) or 1.0
        score = wasserstein(reference_proba, proba) / spread
    positives = int((proba >= threshold).sum())
    return {
        "rows": n,
        "method": ("ks" if small else "wasserstein_normed") if enough else "none",
        "score": _r(score),
        "threshold": config.p_value if small else config.distance_threshold,
        "mean_proba": _r(proba.mean()) if n else None,
        "reference_mean_proba": _r(reference_proba.mean()),
        "positive_rate": _r(rate),
        "reference_positive_rate": _r(ref_rate),
        "positive_rate_change": _r(rate - ref_rate) if rate is not None else None,
        "max_rate_change": max_rate_change,
        "rate_p_value": rate_change_pvalue(positives, n, ref_rate, max_rate_change) if enough else None,
    }


def _distribution(drift: FeatureDrift) -> dict[str, Any]:
    return {
        "rows": drift.current_rows,
        "method": drift.method,
        "score": _r(drift.score),
        "threshold": drift.threshold,
        "psi": _r(drift.psi),
        "rate_p_value": None,
    }


def class_output_drift(
    proba: np.ndarray, reference_proba: np.ndarray, classes: list[str], config: DriftConfig
) -> dict[str, Any]:
    """The predicted-class distribution (arg-max class) against the reference predictions'.

    The counts test of the categorical inputs for small windows, Jensen-Shannon beyond
    ``small_window`` rows; ``score`` is the raw p-value (or the distance), None below
    ``min_window`` rows.
    """
    k = len(classes)
    chosen = proba.argmax(axis=1) if len(proba) else np.array([], dtype=np.int64)
    ref_chosen = reference_proba.argmax(axis=1)
    ref_counts = np.bincount(ref_chosen, minlength=k)
    reference = CategoricalReference({c: int(n) for c, n in zip(classes, ref_counts, strict=True)}, 0.0)
    names = pd.Index(list(classes))
    current = pd.Series(pd.Categorical.from_codes(chosen.astype(np.int64), categories=names))
    out = _distribution(categorical_drift("predicted class", reference, current, config))
    counts = np.bincount(chosen, minlength=k)
    n = len(chosen)
    out.update(
        of="predicted-class distribution",
        predicted_share={c: _r(counts[i] / n) if n else None for i, c in enumerate(classes)},
        reference_predicted_share={c: _r(ref_counts[i] / len(ref_chosen)) for i, c in enumerate(classes)},
        mean_probability={c: _r(proba[:, i].mean()) if n else None for i, c in enumerate(classes)},
        reference_mean_probability={c: _r(reference_proba[:, i].mean()) for i, c in enumerate(classes)},
    )
    return out


def value_output_drift(
    prediction: np.ndarray, reference_prediction: np.ndarray, config: DriftConfig
) -> dict[str, Any]:
    """The prediction distribution against the reference predictions, with the numeric inputs'
    statistic (KS, or the counts test around a point mass; normed Wasserstein when large)."""
    reference = NumericReference.build(pd.Series(reference_prediction, dtype=float))
    out = _distribution(numeric_drift("prediction", reference, prediction, config))
    n = len(prediction)
    out.update(
        of="prediction distribution",
        mean=_r(prediction.mean()) if n else None,
        reference_mean=_r(reference_prediction.mean()),
        median=_r(np.median(prediction)) if n else None,
        reference_median=_r(np.median(reference_prediction)),
        std=_r(prediction.std()) if n else None,
        reference_std=_r(reference_prediction.std()),
    )
    return out


def task_output_drift(
    frame: pd.DataFrame,
    reference_scores: np.ndarray,
    task: str,
    classes: list[str],
    threshold: float,
    config: DriftConfig,
    max_rate_change: float,
) -> dict[str, Any]:
    """Output drift as the task defines it (see the module docstring)."""
    current = predicted(frame, task, len(classes))
    if task == "binary":
        return output_drift(current, reference_scores, threshold, config, max_rate_change)
    if task == "multiclass":
        return class_output_drift(current, np.asarray(reference_scores, dtype=float), classes, config)
    return value_output_drift(current, np.asarray(reference_scores, dtype=float), config)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the normalised Mann-Whitney U statistic (ties count one half), from the
    distinct scores: memory grows with the labelled rows, a few bytes each."""
    values, inverse = np.unique(p, return_inverse=True)
    positives = np.bincount(inverse, weights=y, minlength=len(values))
    negatives = np.bincount(inverse, minlength=len(values)) - positives
    below = np.cumsum(negatives) - negatives  # negatives scored strictly lower
    return float(np.sum(positives * (below + 0.5 * negatives)) / (positives.sum() * negatives.sum()))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def realised_metrics(task: str, y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The task's realised metrics (:data:`REALISED_METRICS`) of outcomes ``y`` and predictions
    ``p`` (binary: 0/1 and the positive class's probability; multiclass: class indices and an
    (n, classes) probability matrix; regression: values), each as scikit-learn computes it."""
    if task == "binary":
        return {
            "roc_auc": roc_auc(y, p),
            "accuracy": float(np.mean((p >= threshold) == (y == 1))),
            "log_loss": log_loss(y, p),
        }
    from graft.compare.scorers import scorer

    scores = scorer(task, y, p, threshold)
    everyone = np.ones((1, len(y)))
    return {m: float(scores.score(m, everyone)[0]) for m in REALISED_METRICS[task]}


def enough_outcomes(task: str, y: np.ndarray, min_rows: int) -> bool:
    """The small-window caution: ``min_rows`` outcomes, and the spread the metrics need (binary:
    both outcomes, for ROC AUC; regression: outcomes that are not all equal, for R²)."""
    if len(y) < min_rows:
        return False
    if task == "binary":
        return bool(0 < y.sum() < len(y))
    if task == "regression":
        return bool(np.ptp(y) > 0)
    return True


def realised_quality(
    predictions: pd.DataFrame,
    threshold: float,
    min_rows: int,
    task: str = "binary",
    classes: int = 0,
) -> dict[str, Any]:
    """Realised metrics over the window's records that received an outcome (``classes``: how
    many a multiclass model has)."""
    outcome = predictions["outcome"].to_numpy(dtype=float)
    labelled = ~np.isnan(outcome)
    y = outcome[labelled]
    p = predicted(predictions, task, classes)[labelled]
    if task == "multiclass":
        y = y.astype(np.int64)
    enough = enough_outcomes(task, y, min_rows)
    values = realised_metrics(task, y, p, threshold) if enough else {}
    delays = predictions["feedback_delay_s"].to_numpy(dtype=float)[labelled]
    delays = delays[~np.isnan(delays)]
    n_predictions = len(predictions)
    return {
        "rows_with_feedback": len(y),
        "coverage": _r(len(y) / n_predictions) if n_predictions else None,
        "delay_seconds": {
            "median": _r(np.median(delays)) if len(delays) else None,
            "p90": _r(np.quantile(delays, 0.9)) if len(delays) else None,
        },
        "enough_feedback": bool(enough),
        "min_rows": min_rows,
        "metrics": list(REALISED_METRICS[task]),
        **{m: _r(values[m]) if enough else None for m in REALISED_METRICS[task]},
    }


def group_rates(
    predictions: pd.DataFrame,
    column: str,
    threshold: float,
    min_rows: int,
    max_parity_gap: float = 1.0,
    max_odds_gap: float = 1.0,
) -> dict[str, Any]:
    """Selection rate per group, and TPR/FPR where feedback exists; with the two gap summaries.

    Groups (or labelled subsets) smaller than ``min_rows`` are reported but left out of the gaps.
    Each gap comes with the p-value of "the gap is at most its bound" (see
    :func:`graft.monitoring.significance.gap_exceeds_pvalue`), so a small group's noise alone
    does not alert.
    """
    column_values = predictions[column]
    if not isinstance(column_values.dtype, pd.CategoricalDtype):
        column_values = column_values.astype("category")
    codes = column_values.cat.codes.to_numpy()  # small integers, -1 for missing
    names = [*column_values.cat.categories, None]  # None: missing
    sel = predictions["proba"].to_numpy(dtype=float) >= threshold
    outcome = predictions["outcome"].to_numpy(dtype=float)
    is_pos, is_neg = outcome == 1, outcome == 0
    groups: dict[str, Any] = {}
    counts_for: dict[str, list[tuple[int, int]]] = {"sel": [], "tpr": [], "fpr": []}
    present = [int(c) for c in np.unique(codes)]
    for code in sorted(present, key=lambda c: (c < 0, str(names[c]))):
        mask = codes == code
        count, selected = int(mask.sum()), int((sel & mask).sum())
        pos, neg = int((is_pos & mask).sum()), int((is_neg & mask).sum())
        true_pos, false_pos = int((sel & is_pos & mask).sum()), int((sel & is_neg & mask).sum())
        groups[str(names[code]) if code >= 0 else "nan"] = {
            "count": count,
            "selection_rate": _r(selected / count),
            "labelled": pos + neg,
            "tpr": _r(true_pos / pos) if pos else None,
            "fpr": _r(false_pos / neg) if neg else None,
            "in_gaps": count >= min_rows,
            "in_odds_gaps": pos >= min_rows and neg >= min_rows,
        }
        if count >= min_rows:
            counts_for["sel"].append((selected, count))
        if pos >= min_rows and neg >= min_rows:
            counts_for["tpr"].append((true_pos, pos))
            counts_for["fpr"].append((false_pos, neg))
    rates = [g["selection_rate"] for g in groups.values() if g["in_gaps"]]
    tprs = [g["tpr"] for g in groups.values() if g["in_odds_gaps"]]
    fprs = [g["fpr"] for g in groups.values() if g["in_odds_gaps"]]
    eod = max((max(v) - min(v)) for v in (tprs, fprs)) if len(tprs) > 1 and len(fprs) > 1 else None
    tpr_p, fpr_p = (gap_exceeds_pvalue(counts_for[key], max_odds_gap) for key in ("tpr", "fpr"))
    # the larger of two gaps: Bonferroni over the TPR and FPR tests
    odds_p = None if tpr_p is None or fpr_p is None else min(1.0, 2 * min(tpr_p, fpr_p))
    return {
        "groups": groups,
        "demographic_parity_difference": _r(max(rates) - min(rates)) if len(rates) > 1 else None,
        "equalized_odds_difference": _r(eod),
        "demographic_parity_p_value": gap_exceeds_pvalue(counts_for["sel"], max_parity_gap),
        "equalized_odds_p_value": odds_p,
    }


def group_metrics(
    predictions: pd.DataFrame, column: str, task: str, classes: int, threshold: float, min_rows: int
) -> dict[str, Any]:
    """Per group of ``column``: predictions, outcomes and the task's realised metrics (multiclass
    and regression; binary models get :func:`group_rates`), with each metric's largest gap
    between the groups that have ``min_rows`` outcomes (and the spread the metric needs).

    Reported, not alerted on: no bound for these gaps is established as the binary ones are.
    """
    column_values = predictions[column]
    if not isinstance(column_values.dtype, pd.CategoricalDtype):
        column_values = column_values.astype("category")
    codes = column_values.cat.codes.to_numpy()
    names = [*column_values.cat.categories, None]
    outcome = predictions["outcome"].to_numpy(dtype=float)
    labelled = ~np.isnan(outcome)
    scores = predicted(predictions, task, classes)
    groups: dict[str, Any] = {}
    for code in sorted((int(c) for c in np.unique(codes)), key=lambda c: (c < 0, str(names[c]))):
        mask = codes == code
        rows = mask & labelled
        y = outcome[rows].astype(np.int64) if task == "multiclass" else outcome[rows]
        judged = enough_outcomes(task, y, min_rows)
        values = realised_metrics(task, y, scores[rows], threshold) if judged else {}
        groups[str(names[code]) if code >= 0 else "nan"] = {
            "count": int(mask.sum()),
            "labelled": int(rows.sum()),
            "in_gaps": judged,
            **{m: _r(values[m]) if judged else None for m in REALISED_METRICS[task]},
        }
    gaps: dict[str, float | None] = {}
    for metric in REALISED_METRICS[task]:
        values_in_gaps = [g[metric] for g in groups.values() if g["in_gaps"] and g[metric] is not None]
        gaps[f"{metric}_gap"] = (
            _r(max(values_in_gaps) - min(values_in_gaps)) if len(values_in_gaps) > 1 else None
        )
    return {"groups": groups, "metrics": list(REALISED_METRICS[task]), **gaps}
