"""Output drift, realised quality from feedback, and fairness over a window of the log.

The window is one frame (see :mod:`graft.monitoring.logreader`): one row per served record
with the input columns, ``proba``, and, for records that received feedback, ``outcome`` (0/1;
NaN without feedback) and ``feedback_delay_s``. Every function returns plain dicts; tests
report raw p-values, which :mod:`graft.monitoring.run` adjusts with the window's others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from graft.monitoring.drift import DriftConfig
from graft.monitoring.significance import gap_exceeds_pvalue, rate_change_pvalue, wasserstein


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


def realised_quality(predictions: pd.DataFrame, threshold: float, min_rows: int) -> dict[str, Any]:
    """Realised metrics over the window's records that received an outcome."""
    outcome = predictions["outcome"].to_numpy(dtype=float)
    labelled = ~np.isnan(outcome)
    y = outcome[labelled]
    p = predictions["proba"].to_numpy(dtype=float)[labelled]
    enough = len(y) >= min_rows and 0 < y.sum() < len(y)
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
        "roc_auc": _r(roc_auc(y, p)) if enough else None,
        "accuracy": _r(np.mean((p >= threshold) == (y == 1))) if enough else None,
        "log_loss": _r(log_loss(y, p)) if enough else None,
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
