"""The hypothesis tests behind the monitor's alerts, valid for the counts a window has.

* :func:`holm` adjusts the p-values of all the tests run on one window (Holm 1979), so the
  chance that an undrifted window raises any test-based alert stays at or below the chosen
  rate however many features are tested and however they depend on each other.
* :func:`counts_test` compares a window's category (or bin) counts with the reference's:
  categories expected fewer than 5 times in the window are pooled, then chi-squared on the
  2 x k table, or Fisher's exact test when two bins remain; ``None`` when fewer than two
  bins remain (the window cannot tell the categories apart).
* :func:`rate_change_pvalue` tests whether a rate (missing values, positive predictions)
  moved by more than a minimum effect from its reference value, with exact binomial tails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_EXPECTED = 5.0  # Cochran's rule for the chi-squared approximation


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (reject where adjusted < alpha)."""
    m = len(p_values)
    order = np.argsort(np.asarray(p_values, dtype=float), kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[index])))
        adjusted[index] = running
    return [float(a) for a in adjusted]


@dataclass(frozen=True)
class CountsTest:
    p_value: float
    method: str  # chi2 | fisher_exact
    bins: int  # bins tested after pooling
    pooled: int  # categories pooled because they were expected fewer than 5 times


def counts_test(reference: np.ndarray, current: np.ndarray) -> CountsTest | None:
    """Two-sample test of aligned counts; rare categories pooled first (see the module docstring)."""
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    n, total = current.sum(), reference.sum() + current.sum()
    if n == 0 or reference.sum() == 0:
        return None
    expected = n * (reference + current) / total
    present = (reference + current) > 0
    rare = present & (expected < MIN_EXPECTED)
    keep = [int(i) for i in np.flatnonzero(present & ~rare)]
    pool_ref, pool_cur = float(reference[rare].sum()), float(current[rare].sum())
    pooled = int(rare.sum())
    keep.sort(key=lambda i: expected[i])
    # a pool still expected fewer than 5 times joins the smallest category while more than two remain
    while pooled and n * (pool_ref + pool_cur) / total < MIN_EXPECTED and len(keep) > 1:
        i = keep.pop(0)
        pool_ref += reference[i]
        pool_cur += current[i]
        pooled += 1
    ref_bins = [reference[i] for i in keep] + ([pool_ref] if pooled else [])
    cur_bins = [current[i] for i in keep] + ([pool_cur] if pooled else [])
    if len(ref_bins) < 2:
        return None
    table = np.array([ref_bins, cur_bins])
    if len(ref_bins) == 2:
        p = float(stats.fisher_exact(table).pvalue)
        return CountsTest(min(p, 1.0), "fisher_exact", 2, pooled)
    p = float(stats.chi2_contingency(table, correction=False).pvalue)
    return CountsTest(p, "chi2", len(ref_bins), pooled)


def rate_change_pvalue(count: int, n: int, reference_rate: float, min_effect: float) -> float:
    """p-value of "the rate moved by no more than ``min_effect`` from ``reference_rate``".

    ``count`` of ``n`` window rows have the property. The null is the interval
    ``|rate - reference_rate| <= min_effect``; each side is tested at its boundary with the
    exact binomial tail and the smaller tail is doubled (conservative when ``min_effect`` > 0).
    """
    if n == 0:
        return 1.0
    upper, lower = reference_rate + min_effect, reference_rate - min_effect
    p_up = float(stats.binom.sf(count - 1, n, upper)) if upper < 1 else 1.0
    p_down = float(stats.binom.cdf(count, n, lower)) if lower > 0 else 1.0
    return min(1.0, 2 * min(p_up, p_down))


def gap_exceeds_pvalue(rates: list[tuple[int, int]], bound: float) -> float | None:
    """p-value of "no two groups' rates differ by more than ``bound``".

    ``rates`` holds (count with the property, rows) per group. Each ordered pair is tested
    one-sided with the Agresti-Caffo adjustment (one success and one failure added to each
    group, which keeps the level for small groups and rates near 0 or 1); the smallest p-value
    is multiplied by the number of ordered pairs (Bonferroni). None with fewer than two groups.
    """
    k = len(rates)
    if k < 2:
        return None
    smallest = 1.0
    for i, (x1, n1) in enumerate(rates):
        for j, (x2, n2) in enumerate(rates):
            if i == j:
                continue
            p1, p2 = (x1 + 1) / (n1 + 2), (x2 + 1) / (n2 + 2)
            se = float(np.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2)))
            smallest = min(smallest, float(stats.norm.sf((p1 - p2 - bound) / se)))
    return min(1.0, smallest * k * (k - 1))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """1-D Wasserstein distance, as :func:`scipy.stats.wasserstein_distance` computes it, from the
    two samples' distinct values and counts (memory grows with distinct values, not rows)."""
    ref_values, ref_counts = np.unique(reference, return_counts=True)
    cur_values, cur_counts = np.unique(current, return_counts=True)
    grid = np.union1d(ref_values, cur_values)
    ref_cdf = np.zeros(len(grid))
    ref_cdf[np.searchsorted(grid, ref_values)] = ref_counts
    cur_cdf = np.zeros(len(grid))
    cur_cdf[np.searchsorted(grid, cur_values)] = cur_counts
    gaps = np.abs(np.cumsum(ref_cdf) / len(reference) - np.cumsum(cur_cdf) / len(current))
    return float(np.sum(gaps[:-1] * np.diff(grid)))
