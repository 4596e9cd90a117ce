"""Per-feature drift tests with the defaults the established tools use.

Small windows (≤ ``small_window`` rows, default 1,000): two-sample Kolmogorov-Smirnov for
numeric features and chi-squared for categorical ones, drift at p < 0.05. Larger windows:
Wasserstein distance normed by the reference standard deviation (numeric) and Jensen-Shannon
distance (categorical), drift at ≥ 0.1. The population stability index is reported beside
them, and a dataset counts as drifted when the share of drifted features reaches 0.5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

PSI_BINS = 10
EPS = 1e-4


@dataclass(frozen=True)
class DriftConfig:
    small_window: int = 1000
    p_value: float = 0.05
    distance_threshold: float = 0.1
    dataset_share: float = 0.5


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    method: str  # ks | chi2 | wasserstein_normed | jensen_shannon
    score: float  # p-value for tests, distance otherwise
    threshold: float
    drifted: bool
    psi: float
    reference_missing_rate: float
    current_missing_rate: float
    current_rows: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI over the reference's quantile bins (open-ended outer bins)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return _psi(ref / ref.sum(), cur / cur.sum())


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref_share = np.clip(ref_share, EPS, None)
    cur_share = np.clip(cur_share, EPS, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def category_shares(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aligned category counts (missing values form their own category)."""
    ref = reference.astype(object).where(reference.notna(), "<missing>")
    cur = current.astype(object).where(current.notna(), "<missing>")
    keys = sorted(set(ref.unique()) | set(cur.unique()), key=str)
    ref_counts = ref.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    cur_counts = cur.value_counts().reindex(keys, fill_value=0).to_numpy(dtype=float)
    return ref_counts, cur_counts, [str(k) for k in keys]


def numeric_drift(name: str, reference: pd.Series, current: pd.Series, config: DriftConfig) -> FeatureDrift:
    ref = reference.dropna().to_numpy(dtype=float)
    cur = current.dropna().to_numpy(dtype=float)
    small = len(current) <= config.small_window
    if len(cur) == 0:
        score, drifted = (0.0, True) if small else (float("inf"), True)
    elif small:
        score = float(stats.ks_2samp(ref, cur).pvalue)
        drifted = score < config.p_value
    else:
        spread = float(np.std(ref)) or 1.0
        score = float(stats.wasserstein_distance(ref, cur) / spread)
        drifted = score >= config.distance_threshold
    return FeatureDrift(
        feature=name,
        kind="numeric",
        method="ks" if small else "wasserstein_normed",
        score=score,
        threshold=config.p_value if small else config.distance_threshold,
        drifted=bool(drifted),
        psi=psi_numeric(ref, cur) if len(cur) else float("inf"),
        reference_missing_rate=float(reference.isna().mean()),
        current_missing_rate=float(current.isna().mean()),
        current_rows=len(current),
    )


def categorical_drift(
    name: str, reference: pd.Series, current: pd.Series, config: DriftConfig
) -> FeatureDrift:
    ref_counts, cur_counts, _ = category_shares(reference, current)
    small = len(current) <= config.small_window
    if small:
        # goodness of fit of the current counts to the reference shares
        expected = ref_counts / ref_counts.sum() * cur_counts.sum()
        keep = expected > 0
        unseen = cur_counts[~keep].sum() > 0
        if unseen:
            score = 0.0  # a category never seen in the reference
        elif keep.sum() < 2:
            score = 1.0
        else:
            score = float(stats.chisquare(cur_counts[keep], expected[keep]).pvalue)
        drifted = score < config.p_value
    else:
        score = float(distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))
        drifted = score >= config.distance_threshold
    return FeatureDrift(
        feature=name,
        kind="categorical",
        method="chi2" if small else "jensen_shannon",
        score=score,
        threshold=config.p_value if small else config.distance_threshold,
        drifted=bool(drifted),
        psi=_psi(ref_counts / ref_counts.sum(), cur_counts / max(cur_counts.sum(), 1.0)),
        reference_missing_rate=float(reference.isna().mean()),
        current_missing_rate=float(current.isna().mean()),
        current_rows=len(current),
    )


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    config: DriftConfig,
) -> list[FeatureDrift]:
    results = [numeric_drift(c, reference[c], current[c], config) for c in numeric]
    results += [categorical_drift(c, reference[c], current[c], config) for c in categorical]
    return results


def dataset_drift(results: list[FeatureDrift], config: DriftConfig) -> dict[str, Any]:
    drifted = [r.feature for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    return {
        "drifted_features": drifted,
        "share": share,
        "threshold": config.dataset_share,
        "drifted": share >= config.dataset_share,
    }
