"""Output drift, realised quality from feedback, and fairness over a window of the log.

Inputs are two frames (see :mod:`graft.monitoring.logreader`):
``predictions`` (request_id, ts, model_version, the raw input columns, proba, label) and
``feedback`` (request_id, ts, outcome 0/1). Every function returns plain dicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def _r(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def output_drift(
    proba: np.ndarray,
    reference_proba: np.ndarray,
    threshold: float,
    small_window: int,
    p_value: float,
    distance_threshold: float,
    max_rate_change: float,
) -> dict[str, Any]:
    """Prediction distribution and positive rate against the released model's test predictions."""
    if len(proba) == 0:
        return {"rows": 0, "drifted": False, "rate_alert": False}
    small = len(proba) <= small_window
    if small:
        score = float(stats.ks_2samp(reference_proba, proba).pvalue)
        drifted = score < p_value
    else:
        score = float(stats.wasserstein_distance(reference_proba, proba) / (np.std(reference_proba) or 1.0))
        drifted = score >= distance_threshold
    rate, ref_rate = float((proba >= threshold).mean()), float((reference_proba >= threshold).mean())
    return {
        "rows": len(proba),
        "method": "ks" if small else "wasserstein_normed",
        "score": _r(score),
        "threshold": p_value if small else distance_threshold,
        "drifted": bool(drifted),
        "mean_proba": _r(proba.mean()),
        "reference_mean_proba": _r(reference_proba.mean()),
        "positive_rate": _r(rate),
        "reference_positive_rate": _r(ref_rate),
        "positive_rate_change": _r(rate - ref_rate),
        "max_rate_change": max_rate_change,
        "rate_alert": abs(rate - ref_rate) > max_rate_change,
    }


def join_feedback(predictions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Predictions that received an outcome, with the outcome and the delay in seconds (last word wins)."""
    if feedback.empty:
        return predictions.iloc[0:0].assign(outcome=pd.Series(dtype=float), delay_s=pd.Series(dtype=float))
    last = feedback.dropna(subset=["outcome"]).sort_values("ts").drop_duplicates("request_id", keep="last")
    joined = predictions.merge(last[["request_id", "outcome", "ts"]], on="request_id", suffixes=("", "_fb"))
    joined["delay_s"] = (joined["ts_fb"] - joined["ts"]).dt.total_seconds()
    return joined.drop(columns=["ts_fb"])


def realised_quality(
    joined: pd.DataFrame, n_predictions: int, threshold: float, min_rows: int
) -> dict[str, Any]:
    from sklearn import metrics as skm

    y = joined["outcome"].to_numpy(dtype=int)
    p = joined["proba"].to_numpy(dtype=float)
    enough = len(y) >= min_rows and len(np.unique(y)) == 2
    delays = joined["delay_s"].to_numpy(dtype=float)
    return {
        "rows_with_feedback": len(y),
        "coverage": _r(len(y) / n_predictions) if n_predictions else None,
        "delay_seconds": {
            "median": _r(np.median(delays)) if len(delays) else None,
            "p90": _r(np.quantile(delays, 0.9)) if len(delays) else None,
        },
        "enough_feedback": bool(enough),
        "min_rows": min_rows,
        "roc_auc": _r(skm.roc_auc_score(y, p)) if enough else None,
        "accuracy": _r(skm.accuracy_score(y, p >= threshold)) if enough else None,
        "log_loss": _r(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])) if enough else None,
    }


def group_rates(
    predictions: pd.DataFrame, joined: pd.DataFrame, column: str, threshold: float, min_rows: int
) -> dict[str, Any]:
    """Selection rate per group, and TPR/FPR where feedback exists; with the two gap summaries.

    Groups (or labelled subsets) smaller than ``min_rows`` are reported but left out of the gaps.
    """
    groups: dict[str, Any] = {}
    pred = predictions.assign(sel=predictions["proba"] >= threshold)
    fb = joined.assign(sel=joined["proba"] >= threshold)
    for group, rows in pred.groupby(column, dropna=False, sort=True):
        labelled = fb[fb[column] == group]
        pos, neg = labelled[labelled["outcome"] == 1], labelled[labelled["outcome"] == 0]
        groups[str(group)] = {
            "count": len(rows),
            "selection_rate": _r(rows["sel"].mean()),
            "labelled": len(labelled),
            "tpr": _r(pos["sel"].mean()) if len(pos) else None,
            "fpr": _r(neg["sel"].mean()) if len(neg) else None,
            "in_gaps": len(rows) >= min_rows,
            "in_odds_gaps": len(pos) >= min_rows and len(neg) >= min_rows,
        }
    rates = [g["selection_rate"] for g in groups.values() if g["in_gaps"]]
    tprs = [g["tpr"] for g in groups.values() if g["in_odds_gaps"]]
    fprs = [g["fpr"] for g in groups.values() if g["in_odds_gaps"]]
    eod = max((max(v) - min(v)) for v in (tprs, fprs)) if len(tprs) > 1 and len(fprs) > 1 else None
    return {
        "groups": groups,
        "demographic_parity_difference": _r(max(rates) - min(rates)) if len(rates) > 1 else None,
        "equalized_odds_difference": _r(eod),
    }
