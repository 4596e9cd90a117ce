"""Per-feature drift of a window against the training reference.

Each feature is judged on the values present; its missing rate is tested on its own.

* Windows of up to ``small_window`` rows (default 1,000) get a hypothesis test per feature:
  two-sample Kolmogorov-Smirnov for numeric features, and for categorical features (and
  numeric features with a point mass, below) a test of the counts that is valid for them
  (:func:`graft.monitoring.significance.counts_test`: rare categories pooled, chi-squared or
  Fisher's exact test). The p-values of all the window's tests are adjusted together with
  Holm's method in :mod:`graft.monitoring.run`; here they are raw.
* Larger windows get the distances the established tools use: Wasserstein distance normed by
  the reference standard deviation (numeric) and Jensen-Shannon distance (categorical), drift
  at >= ``distance_threshold``.
* Missing rate: an exact binomial test of "moved by more than ``max_missing_rate_change``".
* A window with fewer than ``min_window`` rows gets no test: "insufficient data".

Point masses: a numeric feature whose most common training value holds more than half of its
training values (:data:`POINT_MASS_SHARE`, detected from the reference, never by name) is
binned as that value plus quantile bins of the other values, so PSI, the counts test and the
plots see a shift of the rest (quantile bins of such a column would collapse into one).
PSI (over these bins, or categories) is reported beside every test as the size of the move.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from graft.monitoring.significance import counts_test, rate_change_pvalue, wasserstein

PSI_BINS = 10
EPS = 1e-4
POINT_MASS_SHARE = 0.5  # a value holding more than this share of the training values is a point mass
MISSING = "<missing>"

OK, DRIFT, INSUFFICIENT = "ok", "drift", "insufficient data"


@dataclass(frozen=True)
class DriftConfig:
    small_window: int = 1000
    p_value: float = 0.05
    distance_threshold: float = 0.1
    dataset_share: float = 0.5
    min_window: int = 50
    max_missing_rate_change: float = 0.05


# --- the reference, profiled once ------------------------------------------------------------


@dataclass(frozen=True)
class NumericReference:
    values: np.ndarray  # the non-missing training values, sorted (float64)
    missing_rate: float
    point_mass: float | None  # the value holding more than POINT_MASS_SHARE of the values, if any
    edges: np.ndarray  # quantile edges of the values other than the point mass
    counts: np.ndarray  # training values per bin (the point mass first when there is one)

    @classmethod
    def build(cls, column: pd.Series) -> NumericReference:
        values = np.sort(pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float))
        mass = None
        if len(values):
            uniques, counts = np.unique(values, return_counts=True)
            top = int(np.argmax(counts))
            if counts[top] > POINT_MASS_SHARE * len(values):
                mass = float(uniques[top])
        rest = values if mass is None else values[values != mass]
        bins = PSI_BINS if mass is None else PSI_BINS - 1
        edges = np.unique(np.quantile(rest, np.linspace(0, 1, bins + 1)[1:-1])) if len(rest) else np.array([])
        ref = cls(values, float(column.isna().mean()) if len(column) else 0.0, mass, edges, np.array([]))
        return cls(ref.values, ref.missing_rate, mass, edges, ref.bin_counts(values))

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        nbins = len(self.edges) + 1
        if self.point_mass is None:
            return np.bincount(np.searchsorted(self.edges, values, side="right"), minlength=nbins)
        at_mass = values == self.point_mass
        rest = np.bincount(np.searchsorted(self.edges, values[~at_mass], side="right"), minlength=nbins)
        return np.concatenate([[int(at_mass.sum())], rest])

    def bin_labels(self) -> list[str]:
        edges = [f"{e:g}" for e in self.edges]
        spans = [f"< {edges[0]}"] if edges else ["all"]
        spans += [f"[{a}, {b})" for a, b in itertools.pairwise(edges)]
        spans += [f">= {edges[-1]}"] if edges else []
        return ([f"= {self.point_mass:g}"] if self.point_mass is not None else []) + spans


@dataclass(frozen=True)
class CategoricalReference:
    counts: dict[str, int]  # training rows per category (missing values excluded)
    missing_rate: float

    @classmethod
    def build(cls, column: pd.Series) -> CategoricalReference:
        counts = column.dropna().astype(str).value_counts()
        return cls({str(k): int(v) for k, v in counts.items()}, float(column.isna().mean()))


@dataclass(frozen=True)
class Reference:
    """The training reference of each monitored feature, computed once per package."""

    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]

    @classmethod
    def build(cls, frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> Reference:
        return cls(
            {c: NumericReference.build(frame[c]) for c in numeric},
            {c: CategoricalReference.build(frame[c]) for c in categorical},
        )


# --- one feature ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    method: str  # ks | chi2 | fisher_exact | wasserstein_normed | jensen_shannon | none
    score: float | None  # raw p-value for tests, distance otherwise; None: insufficient data
    threshold: float
    psi: float | None
    reference_missing_rate: float
    current_missing_rate: float
    current_rows: int
    missing_p_value: float | None  # raw p-value of the missing-rate test
    status: str = OK  # ok | drift | insufficient data (set with the adjusted p-values)
    p_adjusted: float | None = None  # Holm-adjusted p-value of the distribution test
    missing_p_adjusted: float | None = None
    missing_alert: bool = False
    pooled_categories: int = 0  # categories pooled because they were expected < 5 times
    point_mass: dict[str, float | None] | None = None  # value, reference_share, current_share
    new_categories: dict[str, int] = field(default_factory=dict)  # never seen in training

    @property
    def drifted(self) -> bool:
        return self.status == DRIFT

    @property
    def is_test(self) -> bool:
        return self.method in ("ks", "chi2", "fisher_exact")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref_share = np.clip(ref_share, EPS, None)
    cur_share = np.clip(cur_share, EPS, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def psi_numeric(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of ``current`` against ``reference`` over the reference's bins (point mass aware)."""
    ref = NumericReference.build(pd.Series(reference))
    return psi_counts(ref.counts, ref.bin_counts(np.asarray(current, dtype=float)))


def psi_counts(reference: np.ndarray, current: np.ndarray) -> float:
    return _psi(reference / max(reference.sum(), 1), current / max(current.sum(), 1))


def missing_test(missing: int, rows: int, reference_rate: float, config: DriftConfig) -> float | None:
    """Raw p-value of "the missing rate moved by more than ``max_missing_rate_change``" (None:
    fewer than ``min_window`` rows)."""
    if rows < config.min_window:
        return None
    return rate_change_pvalue(missing, rows, reference_rate, config.max_missing_rate_change)


def numeric_drift(name: str, ref: NumericReference, current: np.ndarray, config: DriftConfig) -> FeatureDrift:
    current = np.asarray(current, dtype=float)
    present = current[~np.isnan(current)]
    rows, missing = len(current), int(len(current) - len(present))
    small = rows <= config.small_window
    counts = ref.bin_counts(present)
    point_mass = None
    if ref.point_mass is not None:
        point_mass = {
            "value": ref.point_mass,
            "reference_share": round(float(ref.counts[0] / max(ref.counts.sum(), 1)), 6),
            "current_share": round(float(counts[0] / len(present)), 6) if len(present) else None,
        }
    method, score, pooled = "none", None, 0
    if rows >= config.min_window and len(present) and len(ref.values):
        if not small:
            spread = float(np.std(ref.values)) or 1.0
            method, score = (
                "wasserstein_normed",
                wasserstein(ref.values, present) / spread,
            )
        elif ref.point_mass is None:
            method, score = "ks", float(stats.ks_2samp(ref.values, present).pvalue)
        else:
            test = counts_test(ref.counts, counts)
            if test is not None:
                method, score, pooled = test.method, test.p_value, test.pooled
    return FeatureDrift(
        feature=name,
        kind="numeric",
        method=method,
        score=score,
        threshold=config.distance_threshold if method == "wasserstein_normed" else config.p_value,
        psi=psi_counts(ref.counts, counts) if len(present) else None,
        reference_missing_rate=ref.missing_rate,
        current_missing_rate=missing / rows if rows else 0.0,
        current_rows=rows,
        missing_p_value=missing_test(missing, rows, ref.missing_rate, config),
        pooled_categories=pooled,
        point_mass=point_mass,
    )


def category_counts(
    ref: CategoricalReference, current: pd.Series
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aligned counts of the values present: the training categories first, then new ones."""
    seen = current.dropna()
    cur = (seen.astype(str) if not isinstance(seen.dtype, pd.CategoricalDtype) else seen).value_counts()
    return aligned_counts(ref, {str(k): int(v) for k, v in cur.items() if v})


def aligned_counts(
    ref: CategoricalReference, current: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``current`` (category -> rows) aligned with the reference's: its categories first, then new ones."""
    cur_counts = {k: v for k, v in current.items() if v}
    keys = list(ref.counts) + sorted(k for k in cur_counts if k not in ref.counts)
    return (
        np.array([ref.counts.get(k, 0) for k in keys], dtype=float),
        np.array([cur_counts.get(k, 0) for k in keys], dtype=float),
        keys,
    )


def categorical_drift(
    name: str, ref: CategoricalReference, current: pd.Series, config: DriftConfig
) -> FeatureDrift:
    return categorical_drift_counts(name, ref, category_counts(ref, current), len(current), config)


def categorical_drift_counts(
    name: str,
    ref: CategoricalReference,
    aligned: tuple[np.ndarray, np.ndarray, list[str]],
    rows: int,
    config: DriftConfig,
) -> FeatureDrift:
    """:func:`categorical_drift` from the window's counts (:func:`aligned_counts`) and its rows
    (missing ones included), for a window counted without holding its rows."""
    ref_counts, cur_counts, keys = aligned
    present = int(cur_counts.sum())
    missing = rows - present
    small = rows <= config.small_window
    method, score, pooled = "none", None, 0
    if rows >= config.min_window and present and ref_counts.sum():
        if not small:
            method = "jensen_shannon"
            score = float(distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / present))
        else:
            test = counts_test(ref_counts, cur_counts)
            if test is not None:
                method, score, pooled = test.method, test.p_value, test.pooled
    return FeatureDrift(
        feature=name,
        kind="categorical",
        method=method,
        score=score,
        threshold=config.distance_threshold if method == "jensen_shannon" else config.p_value,
        psi=psi_counts(ref_counts, cur_counts) if present else None,
        reference_missing_rate=ref.missing_rate,
        current_missing_rate=missing / rows if rows else 0.0,
        current_rows=rows,
        missing_p_value=missing_test(missing, rows, ref.missing_rate, config),
        pooled_categories=pooled,
        new_categories={k: int(c) for k, r, c in zip(keys, ref_counts, cur_counts, strict=True) if not r},
    )


def feature_drift(
    reference: Reference | pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    config: DriftConfig,
) -> list[FeatureDrift]:
    """Raw per-feature results (status not yet decided: see :func:`decide`)."""
    if isinstance(reference, pd.DataFrame):
        reference = Reference.build(reference, numeric, categorical)
    results = [
        numeric_drift(c, reference.numeric[c], pd.to_numeric(current[c]).to_numpy(dtype=float), config)
        for c in numeric
    ]
    results += [categorical_drift(c, reference.categorical[c], current[c], config) for c in categorical]
    return results


def decide(
    result: FeatureDrift, p_adjusted: float | None, missing_p_adjusted: float | None, config: DriftConfig
) -> FeatureDrift:
    """The feature's status once the window's p-values are adjusted together."""
    if result.score is None:
        status = INSUFFICIENT
    elif result.is_test:
        status = DRIFT if p_adjusted is not None and p_adjusted < config.p_value else OK
    else:
        status = DRIFT if result.score >= config.distance_threshold else OK
    missing_alert = missing_p_adjusted is not None and missing_p_adjusted < config.p_value
    return replace(
        result,
        status=status,
        p_adjusted=p_adjusted,
        missing_p_adjusted=missing_p_adjusted,
        missing_alert=missing_alert,
    )


def dataset_drift(results: list[FeatureDrift], config: DriftConfig) -> dict[str, Any]:
    """Dataset drift: the share of judged features that drifted reaches ``dataset_share``."""
    judged = [r for r in results if r.status != INSUFFICIENT]
    drifted = [r.feature for r in judged if r.drifted]
    share = len(drifted) / len(judged) if judged else 0.0
    return {
        "drifted_features": drifted,
        "judged_features": len(judged),
        "share": share,
        "threshold": config.dataset_share,
        "drifted": bool(judged) and share >= config.dataset_share,
    }
