"""Paired bootstrap of metric differences between two models scored on the same test rows.

A bootstrap resample is represented by the multiplicity of each test row (a weight vector from
``bincount``), so a whole block of resamples is one ``(resamples, rows)`` weight matrix; the same
matrix is applied to the base and the head model (paired: rows are resampled jointly), and each
task's scorer (:mod:`graft.compare.scorers`) turns it into one metric value per resample.
:func:`paired_bootstrap` returns an :class:`Interval` per metric: both point values, the
difference, its percentile interval and a two-sided p-value of "no difference".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graft.compare import DEFAULT_RESAMPLES
from graft.compare.scorers import SCORERS, Extras, Scorer, scorer


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
    p_value: float = float("nan")  # two-sided bootstrap p-value of "delta = 0"

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def resample_weights(rng: np.random.Generator, rows: int, count: int) -> np.ndarray:
    """``count`` bootstrap resamples of ``rows`` rows, as row multiplicities (count x rows)."""
    idx = rng.integers(0, rows, size=(count, rows))
    idx += (np.arange(count) * rows)[:, None]
    return np.bincount(idx.ravel(), minlength=count * rows).reshape(count, rows).astype(np.float64)


def _chosen(task: str, known: Sequence[str], metrics: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(known if metrics is None else metrics)
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise ValueError(f"unknown {task} metrics: {unknown} (known: {', '.join(known)})")
    return chosen


def _scorers(
    y: np.ndarray, base: np.ndarray, head: np.ndarray, task: str, extras: Extras
) -> tuple[Scorer, Scorer]:
    if not (len(y) == len(base) == len(head)) or len(y) == 0:
        raise ValueError("labels and both prediction vectors need the same, non-zero length")
    if task not in SCORERS:
        raise ValueError(f"unknown task type {task!r} (expected one of {', '.join(SCORERS)})")
    return scorer(task, y, base, extras=extras), scorer(task, y, head, extras=extras)


def resampled_differences(
    y: np.ndarray,
    base: np.ndarray,
    head: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    block: int = 100,
    task: str = "binary",
    extras: Extras | None = None,
) -> dict[str, np.ndarray]:
    """``metric(head) - metric(base)`` on each of ``resamples`` joint resamples of the rows.

    The resamples are drawn once per block (``resample_weights``, seeded) and every metric of
    both models is computed on the same weight matrix, so all metrics share the same resamples.
    """
    extras = extras or Extras()
    b, h = _scorers(np.asarray(y), base, head, task, extras)
    chosen = _chosen(task, b.names, metrics)
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in chosen}
    done = 0
    while done < resamples:
        count = min(block, resamples - done)
        weights = resample_weights(rng, len(y), count)
        values_b, values_h = b.block(weights, chosen), h.block(weights, chosen)
        for m in chosen:
            diffs[m].append(values_h[m] - values_b[m])
        done += count
    return {m: np.concatenate(d) for m, d in diffs.items()}


def paired_bootstrap(
    y: np.ndarray,
    base: np.ndarray,
    head: np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
    block: int = 100,
    task: str = "binary",
    extras: Extras | None = None,
) -> dict[str, Interval]:
    """Percentile CI of ``metric(head) - metric(base)`` over joint resamples of the test rows.

    ``metrics``: the metrics to compute (default: every one the task's scorer knows, with
    ``extras``: fairness gaps per group column, per-class metrics, error quantiles). Each
    interval carries its two-sided bootstrap p-value (for Holm's adjustment).
    """
    from graft.compare.verdicts import bootstrap_p

    extras = extras or Extras(threshold=threshold)
    y = np.asarray(y)
    diffs = resampled_differences(y, base, head, resamples, seed, metrics, block, task, extras)
    b, h = _scorers(y, base, head, task, extras)
    full = np.ones((1, len(y)))
    points_b, points_h = b.block(full, list(diffs)), h.block(full, list(diffs))
    alpha = (1 - level) / 2
    out: dict[str, Interval] = {}
    for m, d in diffs.items():
        finite = d[np.isfinite(d)]
        low, high = np.quantile(finite, [alpha, 1 - alpha]) if len(finite) else (np.nan, np.nan)
        base_value, head_value = float(points_b[m][0]), float(points_h[m][0])
        out[m] = Interval(
            m,
            base_value,
            head_value,
            head_value - base_value,
            float(low),
            float(high),
            level,
            resamples,
            bootstrap_p(finite),
        )
    return out
