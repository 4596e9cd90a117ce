"""Paired bootstrap of metric differences between two models scored on the same test rows.

Everything is vectorised with numpy. A bootstrap resample is represented by the multiplicity
of each test row (a weight vector from ``bincount``), so a whole block of resamples is one
``(resamples, rows)`` weight matrix; the same matrix is applied to the base and the head model
(paired: rows are resampled jointly). ROC AUC is the rank (Mann-Whitney) statistic computed on
weights: scores are sorted once per model, tied scores are grouped, and every resample's AUC is
a cumulative sum over the groups — no per-resample sort, exact mid-rank tie handling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("roc_auc", "log_loss", "accuracy", "brier")
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


class _Scorer:
    """Per-row losses and the sorted-score layout of one model's predictions."""

    def __init__(self, y: np.ndarray, p: np.ndarray, threshold: float) -> None:
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
        return weights @ self.per_row[metric] / weights.sum(axis=1)


def rank_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the normalised Mann-Whitney U statistic (ties count one half)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    return float(_Scorer(y, p, 0.5).auc(np.ones((1, len(y))))[0])


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
    metrics: tuple[str, ...] = METRICS,
    block: int = 100,
) -> dict[str, Interval]:
    """Percentile CI of ``metric(head) - metric(base)`` over joint resamples of the test rows."""
    y = np.asarray(y).astype(np.int64)
    if not (len(y) == len(base) == len(head)) or len(y) == 0:
        raise ValueError("labels and both prediction vectors need the same, non-zero length")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics: {sorted(unknown)}")
    b = _Scorer(y, np.asarray(base, dtype=np.float64), threshold)
    h = _Scorer(y, np.asarray(head, dtype=np.float64), threshold)
    full = np.ones((1, len(y)))
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    done = 0
    while done < resamples:
        count = min(block, resamples - done)
        weights = resample_weights(rng, len(y), count)
        for m in metrics:
            diffs[m].append(h.score(m, weights) - b.score(m, weights))
        done += count
    alpha = (1 - level) / 2
    out: dict[str, Interval] = {}
    for m in metrics:
        d = np.concatenate(diffs[m])
        d = d[np.isfinite(d)]
        low, high = np.quantile(d, [alpha, 1 - alpha]) if len(d) else (np.nan, np.nan)
        base_value = float(b.score(m, full)[0])
        head_value = float(h.score(m, full)[0])
        out[m] = Interval(
            m, base_value, head_value, head_value - base_value, float(low), float(high), level, resamples
        )
    return out
