"""Paired bootstrap of metric differences between two models scored on the same test rows.

Everything is vectorised with numpy. A bootstrap resample is represented by the multiplicity
of each test row (a weight vector from ``bincount``), so a whole block of resamples is one
``(resamples, rows)`` weight matrix; the same matrix is applied to the base and the head model
(paired: rows are resampled jointly). Each task type has a scorer that turns a weight matrix
into one metric value per resample; at weight 1 for every row each equals scikit-learn's metric
on the full sample:

* binary (``y`` 0/1, ``p`` = probability of the positive class): ``roc_auc`` (the rank
  statistic on weights: scores sorted once, tied scores grouped, every resample's AUC a
  cumulative sum over the groups, exact mid-rank ties), ``log_loss``, ``accuracy`` (at the
  decision threshold), ``brier``;
* multiclass (``y`` = class index, ``p`` = one probability column per class): ``log_loss``,
  ``accuracy`` (arg-max class), ``macro_f1`` (mean F1 over the classes present in the
  resample's labels or predictions, as scikit-learn averages);
* regression (``y`` = target, ``p`` = prediction): ``rmse``, ``mae``, ``r2``.

Which metrics a report shows is the task's choice (``Settings.task_metrics``); this module
only knows how to compute them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

EPS = float(np.finfo(np.float64).eps)  # probability clipping for log loss, as scikit-learn


@dataclass(frozen=True)
class Interval:
    """Base and head point values, their difference and its bootstrap confidence interval."""

    metric: str
    base: float
    head: float
    delta: float
    low: float
    high: float
    level: float
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


class Scorer(Protocol):
    def score(self, metric: str, weights: np.ndarray) -> np.ndarray: ...


def _mean(weights: np.ndarray, per_row: np.ndarray) -> np.ndarray:
    return weights @ per_row / weights.sum(axis=1)


class BinaryScorer:
    """Per-row losses and the sorted-score layout of one binary classifier's probabilities."""

    metrics = ("roc_auc", "log_loss", "accuracy", "brier")

    def __init__(self, y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> None:
        y = np.asarray(y).astype(np.int64)
        p = np.asarray(p, dtype=np.float64)
        self.order = np.argsort(p, kind="mergesort")
        sorted_p = p[self.order]
        self.y_sorted = y[self.order].astype(np.float64)
        self.starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
        clipped = np.clip(p, EPS, 1 - EPS)
        self.per_row = {
            "log_loss": -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)),
            "brier": (p - y) ** 2,
            "accuracy": ((p >= threshold).astype(np.int8) == y).astype(np.float64),
        }

    def auc(self, weights: np.ndarray) -> np.ndarray:
        w = weights[:, self.order]
        pos = np.add.reduceat(w * self.y_sorted, self.starts, axis=1)
        neg = np.add.reduceat(w * (1.0 - self.y_sorted), self.starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray:
        if metric == "roc_auc":
            return self.auc(weights)
        return _mean(weights, self.per_row[metric])


class MulticlassScorer:
    """One multiclass classifier: ``y`` class indices, ``p`` an ``(rows, classes)`` probability matrix."""

    metrics = ("log_loss", "accuracy", "macro_f1")

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        y = np.asarray(y).astype(np.int64)
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError("multiclass scores need one probability column per class")
        rows, classes = p.shape
        if len(y) and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"class indices must lie in 0..{classes - 1}")
        predicted = p.argmax(axis=1)
        picked = np.clip(p[np.arange(rows), y], EPS, 1 - EPS)
        self.per_row = {
            "log_loss": -np.log(picked),
            "accuracy": (predicted == y).astype(np.float64),
        }
        truth = np.eye(classes)[y]
        guess = np.eye(classes)[predicted]
        self.true_positive = truth * guess  # (rows, classes) indicators
        self.label_count = truth
        self.predicted_count = guess

    def macro_f1(self, weights: np.ndarray) -> np.ndarray:
        tp = weights @ self.true_positive
        support = weights @ self.label_count  # tp + fn
        predicted = weights @ self.predicted_count  # tp + fp
        denominator = support + predicted
        present = denominator > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(present, 2 * tp / np.where(present, denominator, 1), 0.0)
        return f1.sum(axis=1) / present.sum(axis=1)

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray:
        if metric == "macro_f1":
            return self.macro_f1(weights)
        return _mean(weights, self.per_row[metric])


class RegressionScorer:
    """One regressor: ``y`` the targets, ``p`` the predictions."""

    metrics = ("rmse", "mae", "r2")

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        error = p - y
        self.squared = error**2
        self.absolute = np.abs(error)
        centred = y - y.mean() if len(y) else y  # SS_tot is shift-invariant; centring keeps it exact
        self.y = centred
        self.y2 = centred**2

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray:
        if metric == "rmse":
            return np.sqrt(_mean(weights, self.squared))
        if metric == "mae":
            return _mean(weights, self.absolute)
        # r2 = 1 - SS_res / SS_tot, both weighted; SS_tot from weighted sums (no per-resample mean pass)
        total = weights.sum(axis=1)
        residual = weights @ self.squared
        spread = weights @ self.y2 - (weights @ self.y) ** 2 / total
        with np.errstate(invalid="ignore", divide="ignore"):
            return 1.0 - residual / np.where(spread > 0, spread, np.nan)


SCORERS: dict[str, type[BinaryScorer] | type[MulticlassScorer] | type[RegressionScorer]] = {
    "binary": BinaryScorer,
    "multiclass": MulticlassScorer,
    "regression": RegressionScorer,
}


def scorer(task: str, y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> Scorer:
    if task == "binary":
        return BinaryScorer(y, p, threshold)
    if task == "multiclass":
        return MulticlassScorer(y, p)
    if task == "regression":
        return RegressionScorer(y, p)
    raise ValueError(f"unknown task type {task!r} (expected one of {', '.join(SCORERS)})")


def rank_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the normalised Mann-Whitney U statistic (ties count one half)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    return float(BinaryScorer(y, p, 0.5).auc(np.ones((1, len(y))))[0])


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold (highest first), from (0, 0)."""
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(-p, kind="mergesort")
    scores, labels = p[order], y[order]
    last = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]
    tp = np.cumsum(labels)[last]
    fp = (last + 1) - tp
    positives, negatives = max(int(labels.sum()), 1), max(int(len(labels) - labels.sum()), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]


def resample_weights(rng: np.random.Generator, rows: int, count: int) -> np.ndarray:
    """``count`` bootstrap resamples of ``rows`` rows, as row multiplicities (count x rows)."""
    idx = rng.integers(0, rows, size=(count, rows))
    idx += (np.arange(count) * rows)[:, None]
    return np.bincount(idx.ravel(), minlength=count * rows).reshape(count, rows).astype(np.float64)


def paired_bootstrap(
    y: np.ndarray,
    base: np.ndarray,
    head: np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
    block: int = 100,
    task: str = "binary",
) -> dict[str, Interval]:
    """Percentile CI of ``metric(head) - metric(base)`` over joint resamples of the test rows.

    ``metrics``: the task's metrics to compute (default: all this module knows for ``task``).
    """
    y = np.asarray(y)
    if not (len(y) == len(base) == len(head)) or len(y) == 0:
        raise ValueError("labels and both prediction vectors need the same, non-zero length")
    if task not in SCORERS:
        raise ValueError(f"unknown task type {task!r} (expected one of {', '.join(SCORERS)})")
    known = SCORERS[task].metrics
    chosen = tuple(known if metrics is None else metrics)
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise ValueError(f"unknown {task} metrics: {unknown} (known: {', '.join(known)})")
    b = scorer(task, y, base, threshold)
    h = scorer(task, y, head, threshold)
    full = np.ones((1, len(y)))
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in chosen}
    done = 0
    while done < resamples:
        count = min(block, resamples - done)
        weights = resample_weights(rng, len(y), count)
        for m in chosen:
            diffs[m].append(h.score(m, weights) - b.score(m, weights))
        done += count
    alpha = (1 - level) / 2
    out: dict[str, Interval] = {}
    for m in chosen:
        d = np.concatenate(diffs[m])
        d = d[np.isfinite(d)]
        low, high = np.quantile(d, [alpha, 1 - alpha]) if len(d) else (np.nan, np.nan)
        base_value = float(b.score(m, full)[0])
        head_value = float(h.score(m, full)[0])
        out[m] = Interval(
            m, base_value, head_value, head_value - base_value, float(low), float(high), level, resamples
        )
    return out
