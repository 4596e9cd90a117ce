"""Monitoring statistics on synthetic data whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from graft.monitoring import checks
from graft.monitoring.drift import (
    DriftConfig,
    categorical_drift,
    dataset_drift,
    feature_drift,
    numeric_drift,
    psi_numeric,
)

CONFIG = DriftConfig()


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_small_numeric_window_uses_ks_and_matches_scipy(rng):
    ref = pd.Series(rng.normal(40, 10, 5000))
    cur = pd.Series(rng.normal(40, 10, 500))
    result = numeric_drift("age", ref, cur, CONFIG)
    assert result.method == "ks"
    assert result.threshold == 0.05
    assert result.score == pytest.approx(stats.ks_2samp(ref, cur).pvalue)
    assert not result.drifted


def test_shifted_numeric_small_window_drifts(rng):
    ref = pd.Series(rng.normal(40, 10, 5000))
    result = numeric_drift("age", ref, pd.Series(rng.normal(46, 10, 500)), CONFIG)
    assert result.drifted and result.score < 1e-6


def test_large_numeric_window_uses_normed_wasserstein(rng):
    ref = pd.Series(rng.normal(0, 2, 5000))
    cur = pd.Series(rng.normal(0.5, 2, 5000))  # shift of 0.25 reference std
    result = numeric_drift("x", ref, cur, CONFIG)
    assert result.method == "wasserstein_normed"
    assert result.score == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref))
    assert 0.2 < result.score < 0.3
    assert result.drifted


def test_identical_distribution_large_window_does_not_drift(rng):
    ref = pd.Series(rng.normal(0, 1, 20000))
    assert not numeric_drift("x", ref, pd.Series(rng.normal(0, 1, 5000)), CONFIG).drifted


def test_categorical_small_window_chi2_and_unseen_category(rng):
    ref = pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]))
    same = categorical_drift("c", ref, pd.Series(rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2])), CONFIG)
    assert same.method == "chi2" and not same.drifted
    moved = categorical_drift(
        "c", ref, pd.Series(rng.choice(["a", "b", "c"], 800, p=[0.2, 0.3, 0.5])), CONFIG
    )
    assert moved.drifted and moved.score < 1e-6
    unseen = categorical_drift("c", ref, pd.Series(["a"] * 799 + ["zzz"]), CONFIG)
    assert unseen.drifted and unseen.score == 0.0


def test_categorical_large_window_jensen_shannon():
    ref = pd.Series(["a"] * 5000 + ["b"] * 5000)
    cur = pd.Series(["a"] * 4500 + ["b"] * 500)
    result = categorical_drift("c", ref, cur, CONFIG)
    assert result.method == "jensen_shannon"
    # JS distance (natural log) between (0.5, 0.5) and (0.9, 0.1)
    m = np.array([0.7, 0.3])
    kl = lambda p, q: float(np.sum(p * np.log(p / q)))  # noqa: E731
    expected = np.sqrt(0.5 * kl(np.array([0.5, 0.5]), m) + 0.5 * kl(np.array([0.9, 0.1]), m))
    assert result.score == pytest.approx(expected)
    assert result.drifted


def test_missing_values_are_a_category_and_rates_are_reported():
    ref = pd.Series(["a", "b", None, "a"] * 500)
    cur = pd.Series(["a", None, None, None] * 500)
    result = categorical_drift("c", ref, cur, CONFIG)
    assert result.reference_missing_rate == 0.25
    assert result.current_missing_rate == 0.75
    assert result.drifted


def test_psi_is_zero_for_same_sample_and_grows_with_shift(rng):
    ref = rng.normal(0, 1, 10000)
    assert psi_numeric(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(ref, ref + 0.1) < psi_numeric(ref, ref + 0.5) < psi_numeric(ref, ref + 1.0)


def test_dataset_drift_share(rng):
    ref = pd.DataFrame(
        {"x": rng.normal(0, 1, 3000), "y": rng.normal(0, 1, 3000), "c": ["a", "b", "c"] * 1000}
    )
    cur = pd.DataFrame(
        {"x": rng.normal(3, 1, 3000), "y": rng.normal(0, 1, 3000), "c": ["a", "b", "c"] * 1000}
    )
    results = feature_drift(ref, cur, ["x", "y"], ["c"], CONFIG)
    summary = dataset_drift(results, CONFIG)
    assert summary["drifted_features"] == ["x"]
    assert summary["share"] == pytest.approx(1 / 3)
    assert not summary["drifted"]


def test_output_drift_positive_rate_alert(rng):
    ref = rng.beta(2, 5, 16000)
    result = checks.output_drift(ref[:5000] + 0.3, ref, 0.5, 1000, 0.05, 0.1, 0.1)
    assert result["drifted"] and result["rate_alert"]
    assert result["positive_rate"] > result["reference_positive_rate"] + 0.1
    calm = checks.output_drift(ref[:5000], ref, 0.5, 1000, 0.05, 0.1, 0.1)
    assert not calm["drifted"] and not calm["rate_alert"]


def _log(n: int, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    ts = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="s")
    y = rng.integers(0, 2, n)
    proba = np.clip(y * 0.6 + rng.uniform(0, 0.4, n), 0, 1)
    preds = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": ts,
            "proba": proba,
            "sex": np.where(np.arange(n) % 2, "Male", "Female"),
        }
    )
    feedback = pd.DataFrame(
        {"request_id": preds["request_id"], "ts": ts + pd.Timedelta(minutes=5), "outcome": y}
    )
    return preds, feedback


def test_feedback_join_quality_coverage_and_delay(rng):
    preds, feedback = _log(1000, rng)
    joined = checks.join_feedback(preds, feedback.iloc[:400])
    quality = checks.realised_quality(joined, len(preds), 0.5, min_rows=200)
    assert quality["rows_with_feedback"] == 400
    assert quality["coverage"] == 0.4
    assert quality["delay_seconds"]["median"] == 300.0
    assert quality["roc_auc"] == 1.0  # positives all score >= 0.6, negatives <= 0.4
    assert quality["accuracy"] == 1.0


def test_feedback_last_word_wins_and_too_little_feedback(rng):
    preds, feedback = _log(100, rng)
    corrected = feedback.iloc[:1].assign(
        outcome=1 - feedback["outcome"].iloc[0], ts=feedback["ts"].iloc[0] + pd.Timedelta(hours=1)
    )
    joined = checks.join_feedback(preds, pd.concat([feedback, corrected]))
    assert len(joined) == 100
    assert joined.loc[joined.request_id == "r0", "outcome"].item() == corrected["outcome"].item()
    quality = checks.realised_quality(joined, 100, 0.5, min_rows=200)
    assert not quality["enough_feedback"] and quality["roc_auc"] is None


def test_group_rates_gaps_and_small_groups(rng):
    preds = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(300)],
            "proba": [0.9] * 100 + [0.1] * 100 + [0.9] * 50 + [0.1] * 50,
            "sex": ["Male"] * 200 + ["Female"] * 100,
            "race": ["White"] * 290 + ["Other"] * 10,
        }
    )
    joined = preds.assign(outcome=[1] * 100 + [0] * 100 + [1] * 50 + [0] * 50)
    sex = checks.group_rates(preds, joined, "sex", 0.5, min_rows=30)
    assert sex["groups"]["Male"]["selection_rate"] == 0.5
    assert sex["groups"]["Female"]["selection_rate"] == 0.5
    assert sex["demographic_parity_difference"] == 0.0
    assert sex["equalized_odds_difference"] == 0.0
    race = checks.group_rates(preds, joined, "race", 0.5, min_rows=30)
    assert race["groups"]["Other"]["in_gaps"] is False
    assert race["demographic_parity_difference"] is None  # only one group is large enough


def test_window_times_accept_iso_and_durations():
    from datetime import UTC, datetime

    from graft.core.errors import UsageError
    from graft.monitoring.logreader import parse_time

    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_time("24h", "--since", now) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_time("7d", "--since", now) == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_time("90m", "--since", now) == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    assert parse_time("2026-11-01T08:00:00", "--since") == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert parse_time(None, "--since") is None
    with pytest.raises(UsageError, match="--until 'soon': expected an ISO 8601 time"):
        parse_time("soon", "--until")
