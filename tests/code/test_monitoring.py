"""Monitoring statistics and the log reader, on synthetic data whose truth is known."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError
from scipy import stats

from graft.cli.common import dump_json
from graft.monitoring import EXIT_NO_DATA, checks, logreader, report
from graft.monitoring.drift import (
    INSUFFICIENT,
    CategoricalReference,
    DriftConfig,
    NumericReference,
    Reference,
    categorical_drift,
    dataset_drift,
    decide,
    feature_drift,
    numeric_drift,
    psi_numeric,
)
from graft.monitoring.logreader import LogLayout, read_window
from graft.monitoring.results import MonitorResult
from graft.monitoring.run import Window, exit_code, monitor, parse_params
from graft.monitoring.significance import counts_test, gap_exceeds_pvalue, holm, rate_change_pvalue
from graft.serving.predlog import SQLiteBackend
from tests.conftest import ROOT
from tests.schemas import validate

CONFIG = DriftConfig()


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def alone(result):
    """A feature judged on its own (a family of one test: adjusted p = raw p)."""
    test_p = result.score if result.is_test else None
    return decide(result, test_p, result.missing_p_value, CONFIG)


def num(name, ref, cur, config=CONFIG):
    return numeric_drift(name, NumericReference.build(pd.Series(ref)), np.asarray(cur, dtype=float), config)


def cat(name, ref, cur, config=CONFIG):
    return categorical_drift(name, CategoricalReference.build(pd.Series(ref)), pd.Series(cur), config)


# --- the tests themselves ----------------------------------------------------------------------


def test_holm_adjusts_step_down_and_keeps_the_order():
    # sorted: 0.01*4 = 0.04; 0.03*3 = 0.09; 0.04*2 = 0.08 -> 0.09 (monotone); 0.5*1
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.9, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_counts_test_pools_rare_categories_then_chi_squared():
    ref = np.array([5000, 3000, 1990, 5, 5])
    cur = np.array([30, 15, 5, 0, 0])
    test = counts_test(ref, cur)
    # the two rare categories (expected 0.02 each) pool; the pool (still < 5) joins the smallest
    expected = stats.chi2_contingency(np.array([[5000, 3000, 2000], [30, 15, 5]]), correction=False)
    assert (test.method, test.bins, test.pooled) == ("chi2", 3, 3)
    assert test.p_value == pytest.approx(expected.pvalue)


def test_counts_test_uses_fishers_exact_test_when_two_bins_remain():
    test = counts_test(np.array([9000, 1000]), np.array([40, 10]))
    assert test.method == "fisher_exact"
    assert test.p_value == pytest.approx(stats.fisher_exact([[9000, 1000], [40, 10]]).pvalue)
    assert counts_test(np.array([9990, 10]), np.array([50, 0])) is not None  # exact: any counts
    assert counts_test(np.array([100]), np.array([50])) is None  # one category: nothing to test


def test_counts_test_keeps_its_level_where_plain_chi_squared_does_not(rng):
    """30 categories, 27 of them rare, windows of 50: pooled test ~5% false alarms, plain ~10%."""
    shares = np.r_[0.5, 0.2, 0.1, np.full(27, 0.2 / 27)]
    ref = rng.multinomial(30000, shares)
    pooled = plain = 0
    for _ in range(1000):
        cur = rng.multinomial(50, shares)
        pooled += counts_test(ref, cur).p_value < 0.05
        keep = (ref + cur) > 0
        plain += stats.chi2_contingency(np.array([ref[keep], cur[keep]]), correction=False).pvalue < 0.05
    assert pooled / 1000 <= 0.065
    assert plain / 1000 >= 0.08


def test_rate_change_test_has_a_minimum_effect():
    # 4 of 50 missing against 5% in training: a move of 0.03, below the 0.05 minimum effect
    assert rate_change_pvalue(4, 50, 0.05, 0.05) == 1.0
    # 20 of 50 (0.4): far beyond 0.05 + 0.05; p = 2 * P(X >= 20 | n=50, p=0.10)
    assert rate_change_pvalue(20, 50, 0.05, 0.05) == pytest.approx(2 * stats.binom.sf(19, 50, 0.10))
    assert rate_change_pvalue(20, 50, 0.05, 0.05) < 1e-6
    # a drop: 0 of 400 positives against 0.3 with a minimum effect of 0.1
    assert rate_change_pvalue(0, 400, 0.3, 0.1) == pytest.approx(2 * stats.binom.cdf(0, 400, 0.2))
    assert rate_change_pvalue(0, 0, 0.3, 0.1) == 1.0


def test_gap_test_needs_evidence_beyond_the_bound():
    # gap 0.5 - 0.1 = 0.4 > 0.25 with 1000 rows per group: clear
    assert gap_exceeds_pvalue([(500, 1000), (100, 1000)], 0.25) < 1e-6
    # the same gap in groups of 30: not enough evidence that it exceeds 0.25
    assert gap_exceeds_pvalue([(15, 30), (3, 30)], 0.25) > 0.05
    assert gap_exceeds_pvalue([(15, 30)], 0.25) is None


# --- per-feature drift ---------------------------------------------------------------------------


def test_small_numeric_window_uses_ks_and_matches_scipy(rng):
    ref, cur = rng.normal(40, 10, 5000), rng.normal(40, 10, 500)
    result = alone(num("age", ref, cur))
    assert result.method == "ks"
    assert result.threshold == 0.05
    assert result.score == pytest.approx(stats.ks_2samp(ref, cur).pvalue)
    assert not result.drifted


def test_shifted_numeric_small_window_drifts(rng):
    result = alone(num("age", rng.normal(40, 10, 5000), rng.normal(46, 10, 500)))
    assert result.drifted and result.score < 1e-6


def test_large_numeric_window_uses_normed_wasserstein(rng):
    ref, cur = rng.normal(0, 2, 5000), rng.normal(0.5, 2, 5000)  # shift of 0.25 reference std
    result = alone(num("x", ref, cur))
    assert result.method == "wasserstein_normed"
    assert result.score == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref))
    assert 0.2 < result.score < 0.3
    assert result.drifted and result.p_adjusted is None


def test_identical_distribution_large_window_does_not_drift(rng):
    assert not alone(num("x", rng.normal(0, 1, 20000), rng.normal(0, 1, 5000))).drifted


def test_categorical_small_window_counts_test(rng):
    ref = rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])
    same = alone(cat("c", ref, rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2])))
    assert same.method == "chi2" and not same.drifted
    moved = alone(cat("c", ref, rng.choice(["a", "b", "c"], 800, p=[0.2, 0.3, 0.5])))
    assert moved.drifted and moved.score < 1e-6


def test_new_categories_are_reported_and_drift_only_when_material(rng):
    ref = rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])
    one = alone(cat("c", ref, ["a"] * 400 + ["b"] * 240 + ["c"] * 159 + ["zzz"]))
    assert one.new_categories == {"zzz": 1}
    assert not one.drifted  # a single row of a new category is not a moved distribution
    many = alone(cat("c", ref, list(rng.choice(["a", "b", "c"], 560)) + ["zzz"] * 240))
    assert many.new_categories == {"zzz": 240}
    assert many.drifted and many.score < 1e-10


def test_categorical_large_window_jensen_shannon():
    result = alone(cat("c", ["a"] * 5000 + ["b"] * 5000, ["a"] * 4500 + ["b"] * 500))
    assert result.method == "jensen_shannon"
    # JS distance (natural log) between (0.5, 0.5) and (0.9, 0.1)
    m = np.array([0.7, 0.3])
    kl = lambda p, q: float(np.sum(p * np.log(p / q)))  # noqa: E731
    expected = np.sqrt(0.5 * kl(np.array([0.5, 0.5]), m) + 0.5 * kl(np.array([0.9, 0.1]), m))
    assert result.score == pytest.approx(expected)
    assert result.drifted


def test_missing_rate_is_tested_on_its_own_with_a_minimum_effect():
    ref = ["a", "b", None, "a"] * 500  # 25% missing
    moved = alone(cat("c", ref, ["a", None, None, None] * 500))
    assert (moved.reference_missing_rate, moved.current_missing_rate) == (0.25, 0.75)
    assert moved.missing_alert and moved.missing_p_value < 1e-10
    assert moved.drifted  # the values present moved too: all "a"
    # 50 rows, 14 missing (0.28): a move of 0.03, below the 0.05 minimum effect
    small = alone(cat("c", ref, ["a", "b"] * 18 + [None] * 14))
    assert not small.missing_alert and small.missing_p_value == 1.0


def test_psi_is_zero_for_same_sample_and_grows_with_shift(rng):
    ref = rng.normal(0, 1, 10000)
    assert psi_numeric(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(ref, ref + 0.1) < psi_numeric(ref, ref + 0.5) < psi_numeric(ref, ref + 1.0)


def point_mass_sample(rng, n):
    """Like a capital-gain column: 92% zeros, the rest spread over a wide range."""
    values = np.round(rng.lognormal(8, 1, n))
    return np.where(rng.random(n) < 0.92, 0.0, values)


def test_point_mass_is_detected_from_the_data_and_binned_apart(rng):
    ref = NumericReference.build(pd.Series(point_mass_sample(rng, 20000)))
    assert ref.point_mass == 0.0
    assert len(ref.counts) == 10  # the point mass + 9 quantile bins of the other values
    assert ref.counts[0] / ref.counts.sum() == pytest.approx(0.92, abs=0.01)
    assert ref.bin_labels()[0] == "= 0"
    no_mass = NumericReference.build(pd.Series(rng.normal(0, 1, 5000)))
    assert no_mass.point_mass is None and len(no_mass.counts) == 10
    # quantile bins alone collapse: every decile edge of such a column is 0
    assert len(np.unique(np.quantile(ref.values, np.linspace(0, 1, 11)[1:-1]))) == 1


@pytest.mark.parametrize("rows", [50, 200, 1000, 5000])
def test_moving_30_percent_of_a_point_mass_column_to_a_large_value_alerts(rng, rows):
    reference = point_mass_sample(rng, 20000)
    calm = alone(num("gain", reference, point_mass_sample(rng, rows)))
    assert not calm.drifted
    moved = point_mass_sample(rng, rows)
    moved[rng.random(rows) < 0.3] = 15024.0
    result = alone(num("gain", reference, moved))
    assert result.drifted
    assert result.psi >= 0.1  # quantile bins alone gave PSI 0 here
    assert result.point_mass["reference_share"] == pytest.approx(0.92, abs=0.01)
    assert result.point_mass["current_share"] < 0.75
    if rows <= CONFIG.small_window:
        assert result.method in ("chi2", "fisher_exact")


def test_below_the_minimum_window_a_feature_has_insufficient_data(rng):
    result = alone(num("x", rng.normal(0, 1, 5000), rng.normal(5, 1, 49)))
    assert result.status == INSUFFICIENT and result.score is None and not result.drifted
    assert result.missing_p_value is None and not result.missing_alert


def test_dataset_drift_share_counts_judged_features(rng):
    ref = pd.DataFrame(
        {"x": rng.normal(0, 1, 3000), "y": rng.normal(0, 1, 3000), "c": ["a", "b", "c"] * 1000}
    )
    cur = pd.DataFrame(
        {"x": rng.normal(3, 1, 3000), "y": rng.normal(0, 1, 3000), "c": ["a", "b", "c"] * 1000}
    )
    results = [alone(r) for r in feature_drift(ref, cur, ["x", "y"], ["c"], CONFIG)]
    summary = dataset_drift(results, CONFIG)
    assert summary["drifted_features"] == ["x"]
    assert summary["share"] == pytest.approx(1 / 3)
    assert summary["judged_features"] == 3
    assert not summary["drifted"]


# --- outputs, feedback, fairness -----------------------------------------------------------------


def test_output_drift_and_positive_rate_test(rng):
    ref = rng.beta(2, 5, 16000)
    moved = checks.output_drift(ref[:5000] + 0.3, ref, 0.5, CONFIG, 0.1)
    assert moved["method"] == "wasserstein_normed"
    assert moved["positive_rate"] > moved["reference_positive_rate"] + 0.1
    assert moved["rate_p_value"] < 1e-10
    calm = checks.output_drift(ref[:5000], ref, 0.5, CONFIG, 0.1)
    assert calm["rate_p_value"] == 1.0
    small = checks.output_drift(ref[:300], ref, 0.5, CONFIG, 0.1)
    assert small["method"] == "ks" and small["score"] == pytest.approx(
        stats.ks_2samp(ref, ref[:300]).pvalue, abs=1e-6
    )
    tiny = checks.output_drift(ref[:10], ref, 0.5, CONFIG, 0.1)
    assert tiny["method"] == "none" and tiny["score"] is None and tiny["rate_p_value"] is None


def window_frame(n: int, rng, labelled: int | None = None) -> pd.DataFrame:
    y = rng.integers(0, 2, n)
    proba = np.clip(y * 0.6 + rng.uniform(0, 0.4, n), 0, 1)
    outcome = y.astype(float)
    if labelled is not None:
        outcome[labelled:] = np.nan
    return pd.DataFrame(
        {
            "proba": proba,
            "sex": np.where(np.arange(n) % 2, "Male", "Female"),
            "outcome": outcome,
            "feedback_delay_s": np.where(np.isnan(outcome), np.nan, 300.0),
        }
    )


def test_realised_quality_counts_labelled_predictions(rng):
    frame = window_frame(1000, rng, labelled=400)
    quality = checks.realised_quality(frame, 0.5, min_rows=200)
    assert quality["rows_with_feedback"] == 400
    assert quality["coverage"] == 0.4
    assert quality["delay_seconds"]["median"] == 300.0
    assert quality["roc_auc"] == 1.0  # positives all score >= 0.6, negatives <= 0.4
    assert quality["accuracy"] == 1.0
    few = checks.realised_quality(window_frame(100, rng), 0.5, min_rows=200)
    assert not few["enough_feedback"] and few["roc_auc"] is None


def test_group_rates_gaps_small_groups_and_gap_tests():
    frame = pd.DataFrame(
        {
            "proba": [0.9] * 100 + [0.1] * 100 + [0.9] * 50 + [0.1] * 50,
            "sex": ["Male"] * 200 + ["Female"] * 100,
            "race": ["White"] * 290 + ["Other"] * 10,
            "outcome": [1.0] * 100 + [0.0] * 100 + [1.0] * 50 + [0.0] * 50,
        }
    )
    sex = checks.group_rates(frame, "sex", 0.5, min_rows=30, max_parity_gap=0.25, max_odds_gap=0.25)
    assert sex["groups"]["Male"]["selection_rate"] == 0.5
    assert sex["groups"]["Female"]["selection_rate"] == 0.5
    assert sex["groups"]["Female"]["tpr"] == 1.0 and sex["groups"]["Female"]["fpr"] == 0.0
    assert sex["demographic_parity_difference"] == 0.0
    assert sex["equalized_odds_difference"] == 0.0
    assert sex["demographic_parity_p_value"] == 1.0
    race = checks.group_rates(frame, "race", 0.5, min_rows=30)
    assert race["groups"]["Other"]["in_gaps"] is False
    assert race["demographic_parity_difference"] is None  # only one group is large enough
    assert race["demographic_parity_p_value"] is None


# --- one window, end to end (synthetic package) --------------------------------------------------

SPEC = {"numeric": ["x", "gain"], "categorical": ["c", "sex"], "onehot": [], "positive_label": "yes"}
SCHEMA = {
    "properties": {
        "x": {"type": "number", "minimum": -100, "maximum": 100},
        "gain": {"type": "integer", "minimum": 0, "maximum": 99999},
        "c": {"enum": ["a", "b", "c", None], "type": ["string", "null"]},
        "sex": {"enum": ["Female", "Male"], "type": "string"},
    }
}


def synthetic_frame(rng, n: int) -> pd.DataFrame:
    c = rng.choice(np.array(["a", "b", "c"], dtype=object), n, p=[0.5, 0.3, 0.2])
    c[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "gain": point_mass_sample(rng, n),
            "c": c,
            "sex": rng.choice(np.array(["Female", "Male"], dtype=object), n),
        }
    )


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(11)
    reference = synthetic_frame(rng, 20000)
    reference_proba = rng.beta(2, 5, 10000)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["monitor"]
    raw["fairness"]["group_columns"] = ["sex"]
    params = parse_params(raw, "params.yaml")
    profile = Reference.build(reference, SPEC["numeric"], SPEC["categorical"])
    return reference, reference_proba, params, profile


def run_window(synthetic, frame: pd.DataFrame, **window) -> dict:
    _, reference_proba, params, profile = synthetic
    return monitor(Window(frame, **window), profile, reference_proba, SCHEMA, SPEC, params, 0.5, "m 1.0")


def calm_window(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = synthetic_frame(rng, n)
    return frame.assign(proba=rng.beta(2, 5, n), outcome=np.nan, feedback_delay_s=np.nan)


def test_undrifted_synthetic_windows_rarely_alert(synthetic):
    """Holm over the window's ~11 tests: few undrifted windows alert, at any size (the reference
    project's test split is measured in tests/integration/test_monitor.py)."""
    for n in (50, 200, 1000):
        alerts = sum(run_window(synthetic, calm_window(n, seed))["alert"] for seed in range(40))
        assert alerts <= 3, (n, alerts)


def test_a_drifted_synthetic_window_alerts_on_the_feature(synthetic):
    frame = calm_window(200, 1)
    frame.loc[frame.index[:60], "gain"] = 15024.0
    result = run_window(synthetic, frame)
    assert result["status"] == "alert" and exit_code(result) == 1
    assert [a["feature"] for a in result["alerts"] if a["kind"] == "feature_drift"] == ["gain"]
    gain = next(f for f in result["inputs"]["features"] if f["feature"] == "gain")
    assert gain["p_adjusted"] >= gain["score"] and gain["p_adjusted"] < 0.05
    assert result["inputs"]["tests_in_family"] == 4 + 4 + 2 + 1  # 4 features, 4 missing, outputs, parity


def test_an_empty_window_is_no_data_with_its_own_exit_code(synthetic):
    result = run_window(synthetic, calm_window(0, 1), since="2026-01-01T00:00:00Z")
    assert result["status"] == "no_data" and not result["alert"]
    assert exit_code(result) == EXIT_NO_DATA == result["exit_code"] == 4
    assert result["verdict"] == "insufficient data: no predictions in the window"


def test_below_the_minimum_window_nothing_is_judged(synthetic):
    frame = calm_window(49, 2)
    frame["x"] = 50.0  # a huge shift, but 49 rows are below min_window
    result = run_window(synthetic, frame)
    assert result["status"] == "no_data" and exit_code(result) == EXIT_NO_DATA
    assert result["verdict"] == "insufficient data: 49 prediction(s), fewer than 50"
    assert "inputs" not in result


def test_unreadable_rows_alert_even_when_nothing_else_can_be_judged(synthetic):
    unreadable = {"inputs are not valid JSON": {"rows": 2, "examples": ["r1", "r2"]}}
    result = run_window(synthetic, calm_window(0, 1), unreadable=unreadable)
    assert result["alert"] and exit_code(result) == 1
    assert result["window"]["unreadable_rows"] == 2
    assert result["alerts"] == [
        {
            "kind": "unreadable_rows",
            "detail": "2 log row(s) skipped: inputs are not valid JSON (e.g. request r1, r2)",
        }
    ]


def printed(result: dict, written: list[str]) -> dict:
    """What `graft monitor --format json` prints for ``result``: its model's dump, as JSON."""
    return json.loads(dump_json(MonitorResult.of(result, written).model_dump(mode="json")))


def test_the_printed_document_is_the_whole_result_and_matches_its_schema(synthetic):
    frame = calm_window(300, 3)
    frame.loc[frame.index[:90], "gain"] = 15024.0
    frame["outcome"] = (np.random.default_rng(4).random(300) < frame["proba"]).astype(float)
    unreadable = {"inputs are not valid JSON": {"rows": 1, "examples": ["r9"]}}
    judged = run_window(synthetic, frame, unreadable=unreadable)
    empty = run_window(synthetic, calm_window(0, 1), since="2026-01-01T00:00:00Z")
    for result in (judged, empty):
        document = printed(result, ["r.md"])
        validate(document, "monitor")
        # every key and value of the result, nothing added or lost (NaN printed as null)
        assert document == json.loads(dump_json({**result, "outputs_written": ["r.md"]}))
    document = printed(judged, [])
    assert {a["kind"] for a in document["alerts"]} >= {"feature_drift", "unreadable_rows"}
    sex = document["fairness"]["sex"]
    assert set(sex["groups"]) == {"Female", "Male"} and "demographic_parity_p_adjusted" in sex
    assert document["feedback"]["rows_with_feedback"] == 300 and "roc_auc" in document["feedback"]
    assert set(printed(empty, [])) == {
        *("model_version", "task", "window", "unreadable", "alerts", "alert", "status", "verdict"),
        *("exit_code", "outputs_written"),
    }  # nothing judged: no inputs, outputs, feedback, fairness or insufficient_data


def test_a_result_key_the_model_does_not_know_is_refused_by_name(synthetic):
    result = run_window(synthetic, calm_window(200, 5))
    result["outputs"] = {**result["outputs"], "spread": 1.0}
    with pytest.raises(ValidationError, match=r"outputs\.binary\.spread\n  Extra inputs are not permitted"):
        MonitorResult.of(result, [])


def test_reports_render_every_outcome(synthetic, tmp_path):
    results = {
        "drift": run_window(synthetic, calm_window(300, 3).assign(x=3.0)),
        "empty": run_window(synthetic, calm_window(0, 1)),
        "unreadable": run_window(
            synthetic, calm_window(10, 1), unreadable={"x": {"rows": 1, "examples": ["r9"]}}
        ),
    }
    for name, result in results.items():
        md = report.write_report(tmp_path / f"{name}.md", result, {})[-1].read_text()
        html = report.write_report(tmp_path / f"{name}.html", result, {})[-1].read_text()
        assert result["verdict"] in md and result["verdict"] in html
    assert "**Verdict: NO DATA**" in (tmp_path / "empty.md").read_text()
    assert "exits with status 4" in (tmp_path / "empty.md").read_text()
    assert "| x | 1 | r9 |" in (tmp_path / "unreadable.md").read_text()
    drift_md = (tmp_path / "drift.md").read_text()
    assert "`gain` has a point mass at 0: " in drift_md
    assert "| x | numeric | ks |" in drift_md


def test_point_mass_features_are_plotted_as_share_plus_bins(synthetic):
    reference, reference_proba, *_ = synthetic
    frame = calm_window(300, 4)
    result = run_window(synthetic, frame)
    images = report.make_plots(result, reference, frame, reference_proba, 0.5)
    assert set(images) == {"features", "drift", "predictions", "fairness"}
    assert all(data.startswith(b"\x89PNG") for data in images.values())


# --- the log reader --------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, tzinfo=UTC)
LAYOUT = LogLayout(numeric=("x",), categorical=("c",), positive_label="yes")


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def prediction(request_id: str, seconds: float, inputs, proba) -> tuple:
    body = inputs if isinstance(inputs, str | bytes) else json.dumps(inputs)
    outputs = proba if isinstance(proba, str) else json.dumps({"probability": proba, "label": ["x"] * 9})
    return (request_id, at(seconds), "m 1.0", 1, body, outputs)


def write_log(path: Path, predictions: list[tuple], feedback: list[tuple]) -> str:
    backend = SQLiteBackend(path)
    conn = backend.connect()
    backend.create_schema(conn)
    conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?)", predictions)
    conn.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)", feedback)
    conn.close()
    return f"sqlite:///{path}"


def feedback(fid: str, request_id: str, index: int | None, seconds: float, outcome: str) -> tuple:
    return (fid, request_id, index, at(seconds), outcome, None)


def test_reader_counts_feedback_of_the_window_only(tmp_path):
    url = write_log(
        tmp_path / "log.db",
        [
            prediction("before", -10, [{"x": 1, "c": "a"}], [0.9]),
            prediction("r1", 0, [{"x": 2, "c": "b"}], [0.8]),
            prediction("r2", 1, [{"x": 3, "c": "a"}, {"x": 4}], [0.2, 0.6]),
            prediction("after", 100, [{"x": 5, "c": "c"}], [0.1]),
        ],
        [
            feedback("f0", "before", 0, 5, "yes"),
            feedback("f1", "r1", 0, 60, "no"),
            feedback("f2", "r1", 0, 120, "yes"),  # a correction: the last word wins
            feedback("f3", "r2", None, 30, "no"),  # the whole batch
            feedback("f4", "r2", 1, 90, "yes"),  # then record 1 on its own
            feedback("f5", "after", 0, 200, "yes"),
        ],
    )
    window = read_window(url, at(0), at(100), LAYOUT)
    frame = window.predictions
    assert window.feedback_events == 4  # f1..f4: not the feedback of requests outside the window
    assert frame["x"].tolist() == [2.0, 3.0, 4.0]
    assert frame["c"].astype(object).where(frame["c"].notna(), None).tolist() == ["b", "a", None]
    assert frame["proba"].tolist() == [0.8, 0.2, 0.6]
    assert frame["outcome"].tolist() == [1.0, 0.0, 1.0]
    assert frame["feedback_delay_s"].tolist() == [120.0, 29.0, 89.0]
    assert window.unreadable == {} and window.model_versions == {"m 1.0": 3}


def test_reader_skips_and_counts_rows_it_cannot_read(tmp_path):
    good = [{"x": 1, "c": "a"}]
    url = write_log(
        tmp_path / "log.db",
        [
            prediction("ok", 0, good, [0.5]),
            prediction("utf16", 1, json.dumps(good).encode("utf-16"), [0.5]),
            prediction("bom", 2, b"\xef\xbb\xbf" + json.dumps(good).encode(), [0.5]),
            prediction("latin1", 3, '[{"x": 1, "c": "caf\xe9"}]'.encode("latin-1"), [0.5]),
            prediction("object", 4, {"x": 1}, [0.5]),
            prediction("empty", 5, [], []),
            prediction("nested", 6, [[1, 2]], [0.5]),
            prediction("no-proba", 7, good, '{"label": ["x"]}'),
            prediction("short", 8, good + good, [0.5]),
            prediction("range", 9, good, [1.5]),
            prediction("outputs", 10, good, "not json"),
            prediction("types", 11, [{"x": "12", "c": 7}, {"x": [1], "c": {"k": 1}}], [0.1, 0.2]),
        ],
        [feedback("f1", "ok", 3, 20, "yes")],
    )
    window = read_window(url, None, None, LAYOUT)
    reasons = {reason: (info["rows"], info["examples"]) for reason, info in window.unreadable.items()}
    assert reasons == {
        "inputs are not valid JSON": (3, ["utf16", "bom", "latin1"]),
        "inputs are not a non-empty JSON array of records": (3, ["object", "empty", "nested"]),
        "outputs do not hold one probability per input record": (2, ["no-proba", "short"]),
        "a probability is not a number between 0 and 1": (1, ["range"]),
        "outputs are not valid JSON": (1, ["outputs"]),
        "feedback names a record index its request does not have": (1, ["ok"]),
    }
    frame = window.predictions
    assert len(frame) == 3  # "ok" and the two records of "types"
    assert frame["x"].isna().tolist() == [False, True, True]
    assert window.not_numbers == {"x": 2}
    assert list(frame["c"].astype(str)) == ["a", "7", '{"k":1}']  # kept, so the schema check names them


def test_reader_skips_null_json_in_a_log_without_constraints(tmp_path):
    path = tmp_path / "loose.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE predictions (request_id, created_at, model_version, n_records, inputs, outputs)"
    )
    conn.execute("CREATE TABLE feedback (feedback_id, request_id, record_index, created_at, outcome, action)")
    conn.executemany(
        "INSERT INTO predictions VALUES (?, ?, 'm', 1, ?, ?)",
        [("null-in", at(0), None, '{"probability": [0.5]}'), ("null-out", at(1), '[{"x": 1}]', None)]
        + [(f"ok{i}", at(2 + i), '[{"x": 1}]', '{"probability": [0.5]}') for i in range(3)],
    )
    conn.commit()
    conn.close()
    window = read_window(f"sqlite:///{path}", None, None, LAYOUT)
    assert len(window.predictions) == 3
    assert window.unreadable == {
        "inputs are not valid JSON": {"rows": 1, "examples": ["null-in"]},
        "outputs are not valid JSON": {"rows": 1, "examples": ["null-out"]},
    }
    assert window.predictions["c"].isna().all()  # a categorical column never present: all missing


def test_reader_streams_in_chunks_with_the_same_result(tmp_path, monkeypatch):
    """Batches of two or three rows cut requests with several feedback events in two."""
    rng = np.random.default_rng(3)
    rows, fb = [], []
    for i in range(60):
        n = int(rng.integers(1, 4))
        records = [{"x": float(rng.normal()), "c": str(rng.choice(["a", "b", "c"]))} for _ in range(n)]
        rows.append(prediction(f"r{i:02d}", i, records, [float(p) for p in rng.random(n)]))
        if i % 3 == 0:
            fb.append(feedback(f"f{i}", f"r{i:02d}", None, i + 5, "yes" if i % 2 else "no"))
        if i % 4 == 0:  # corrections of the first record: the request has several rows
            fb.append(feedback(f"g{i}", f"r{i:02d}", 0, i + 6, "yes"))
            fb.append(feedback(f"h{i}", f"r{i:02d}", 0, i + 7, "no"))
    url = write_log(tmp_path / "log.db", rows, fb)
    whole = read_window(url, None, None, LAYOUT)
    monkeypatch.setattr(logreader, "CHUNK_ROWS", 3)
    monkeypatch.setattr(logreader, "FIRST_FETCH", 2)
    chunked = read_window(url, None, None, LAYOUT)
    pd.testing.assert_frame_equal(chunked.predictions, whole.predictions)
    assert chunked.feedback_events == whole.feedback_events == len(fb)
    frame = whole.predictions
    assert len(frame) == sum(len(json.loads(r[4])) for r in rows)
    labelled = {i for i in range(60) if i % 3 == 0 or i % 4 == 0}
    firsts = np.cumsum([0] + [len(json.loads(r[4])) for r in rows])[:-1]
    assert int(frame["outcome"].notna().sum()) == sum(
        len(json.loads(rows[i][4])) if i % 3 == 0 else 1 for i in labelled
    )
    assert (frame["outcome"].to_numpy()[firsts[[i for i in range(60) if i % 4 == 0]]] == 0).all()  # "no" last


def test_reader_fast_and_careful_paths_agree(tmp_path, monkeypatch):
    """Arrow's one-pass parse (normal chunks) and the per-row parse (chunks with a bad row)."""
    rng = np.random.default_rng(4)
    rows = [
        prediction(
            f"r{i:02d}",
            i,
            [{"x": int(rng.integers(0, 9)), "c": str(rng.choice(["a", "b"]))} for _ in range(1 + i % 3)],
            [round(float(p), 4) for p in rng.random(1 + i % 3)],
        )
        for i in range(40)
    ]
    rows[5] = prediction("r05", 5, [{"x": 1.5, "extra": [1]}], [0.25])  # an unexpected field: careful path
    url = write_log(tmp_path / "log.db", rows, [feedback("f1", "r02", 2, 9, "yes")])

    def careful(*args):
        raise AssertionError("the careful path was taken")

    monkeypatch.setattr(logreader, "CHUNK_ROWS", 5)  # r05 is alone in the second chunk
    with monkeypatch.context() as m:
        m.setattr(logreader, "parse_slow", careful)
        with pytest.raises(AssertionError, match="careful path"):
            read_window(url, None, None, LAYOUT)
    fast = read_window(url, None, None, LAYOUT)
    monkeypatch.setattr(logreader, "parse_fast", lambda *args: None)
    slow = read_window(url, None, None, LAYOUT)
    pd.testing.assert_frame_equal(fast.predictions, slow.predictions)
    assert fast.feedback_events == slow.feedback_events == 1
    assert fast.predictions["outcome"].notna().sum() == 1


def test_reader_of_an_empty_window_and_missing_log(tmp_path):
    url = write_log(tmp_path / "log.db", [prediction("r1", 0, [{"x": 1}], [0.5])], [])
    window = read_window(url, at(10), None, LAYOUT)
    assert len(window.predictions) == 0 and list(window.predictions.columns) == [
        "x",
        "c",
        "proba",
        "outcome",
        "feedback_delay_s",
    ]
    from graft.monitoring.logreader import LogReadError

    with pytest.raises(LogReadError, match=r"sqlite:///nope\.db: no such prediction log"):
        read_window("sqlite:///nope.db", None, None, LAYOUT)
    broken = tmp_path / "broken.db"
    sqlite3.connect(broken).execute("CREATE TABLE other (x)").connection.close()
    with pytest.raises(LogReadError, match=r"cannot read the prediction log .*no such table"):
        read_window(f"sqlite:///{broken}", None, None, LAYOUT)


def test_layout_comes_from_the_package_schema_and_spec():
    layout = LogLayout.from_package(SCHEMA, SPEC)
    assert layout == LogLayout(numeric=("x", "gain"), categorical=("c", "sex"), positive_label="yes")


def test_window_times_accept_iso_and_durations():
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
