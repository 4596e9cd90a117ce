"""Monitoring of multiclass and regression models: realised metrics, output drift, the window's
assembly, the settings and the log reader, against values computed by hand or by scikit-learn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance
from sklearn import metrics as skm

from graft.cli.common import dump_json
from graft.core.errors import ParamsError, UsageError
from graft.monitoring import EXIT_NO_DATA, checks, logreader, report
from graft.monitoring.drift import DriftConfig, Reference
from graft.monitoring.logreader import LogLayout, read_window
from graft.monitoring.results import MonitorResult
from graft.monitoring.run import MonitorParams, Window, monitor, parse_params
from graft.monitoring.significance import counts_test
from graft.serving.predlog import SQLiteBackend
from tests.schemas import validate

CONFIG = DriftConfig()
CLASSES = ["setosa", "versicolor", "virginica"]


# --- realised metrics ------------------------------------------------------------------------------


def test_multiclass_realised_metrics_by_hand():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.1, 0.2, 0.7]])
    got = checks.realised_metrics("multiclass", y, p)
    assert got["accuracy"] == pytest.approx(3 / 4)  # the third record is predicted versicolor
    # F1 per class: setosa 1, versicolor 2*1/(1+2) = 2/3, virginica 2*1/(2+1) = 2/3
    assert got["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert got["log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.5) + np.log(0.3) + np.log(0.7)) / 4)


def test_multiclass_realised_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    p = rng.dirichlet([1, 2, 3], 500)
    y = np.array([rng.choice(3, p=row) for row in p])
    got = checks.realised_metrics("multiclass", y, p)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1)))
    assert got["macro_f1"] == pytest.approx(skm.f1_score(y, p.argmax(axis=1), average="macro"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]))


def test_regression_realised_metrics_by_hand_and_by_scikit_learn():
    y = np.array([3.0, 5.0, 7.0])
    p = np.array([4.0, 5.0, 5.0])
    got = checks.realised_metrics("regression", y, p)
    assert got["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert got["mae"] == pytest.approx((1 + 0 + 2) / 3)
    assert got["r2"] == pytest.approx(1 - 5 / 8)  # residuals 1+0+4, total (4+0+4)
    rng = np.random.default_rng(2)
    y = rng.normal(150, 70, 300)
    p = y + rng.normal(0, 40, 300)
    got = checks.realised_metrics("regression", y, p)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert got["r2"] == pytest.approx(skm.r2_score(y, p))


def multiclass_frame(n: int, rng, labelled: int | None = None) -> pd.DataFrame:
    p = rng.dirichlet([2, 2, 2], n)
    y = np.array([rng.choice(3, p=row) for row in p], dtype=float)
    if labelled is not None:
        y[labelled:] = np.nan
    frame = pd.DataFrame({f"proba:{i}": p[:, i] for i in range(3)})
    return frame.assign(outcome=y, feedback_delay_s=np.where(np.isnan(y), np.nan, 60.0))


def test_realised_quality_per_task_with_the_small_window_caution():
    rng = np.random.default_rng(3)
    frame = multiclass_frame(300, rng, labelled=120)
    quality = checks.realised_quality(frame, 0.5, min_rows=100, task="multiclass", classes=3)
    labelled = frame.iloc[:120]
    p = labelled[["proba:0", "proba:1", "proba:2"]].to_numpy()
    y = labelled["outcome"].to_numpy(dtype=int)
    assert quality["metrics"] == ["accuracy", "macro_f1", "log_loss"]
    assert quality["rows_with_feedback"] == 120 and quality["coverage"] == 0.4
    assert quality["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1)), abs=1e-6)
    assert quality["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]), abs=1e-6)
    few = checks.realised_quality(frame, 0.5, min_rows=200, task="multiclass", classes=3)
    assert not few["enough_feedback"] and few["macro_f1"] is None

    flat = pd.DataFrame({"prediction": [1.0, 2.0, 3.0] * 40, "outcome": 5.0, "feedback_delay_s": 1.0})
    constant = checks.realised_quality(flat, 0.5, min_rows=50, task="regression")
    assert not constant["enough_feedback"] and constant["r2"] is None  # R² needs outcomes that vary
    varied = checks.realised_quality(
        flat.assign(outcome=flat["prediction"] + 1), 0.5, min_rows=50, task="regression"
    )
    assert (varied["rmse"], varied["mae"], varied["metrics"]) == (1.0, 1.0, ["rmse", "mae", "r2"])


# --- output drift --------------------------------------------------------------------------------


def test_multiclass_output_drift_tests_the_predicted_class_counts():
    rng = np.random.default_rng(4)
    reference = rng.dirichlet([5, 3, 2], 2000)
    current = rng.dirichlet([2, 3, 5], 300)
    out = checks.class_output_drift(current, reference, CLASSES, CONFIG)
    ref_counts = np.bincount(reference.argmax(axis=1), minlength=3)
    cur_counts = np.bincount(current.argmax(axis=1), minlength=3)
    expected = counts_test(ref_counts, cur_counts)
    assert out["method"] == expected.method == "chi2"
    assert out["score"] == pytest.approx(
        stats.chi2_contingency(np.array([ref_counts, cur_counts]), correction=False).pvalue, abs=1e-6
    )
    assert out["predicted_share"] == {c: round(cur_counts[i] / 300, 6) for i, c in enumerate(CLASSES)}
    assert out["of"] == "predicted-class distribution" and out["rate_p_value"] is None
    large = rng.dirichlet([2, 3, 5], 5000)
    far = checks.class_output_drift(large, reference, CLASSES, CONFIG)
    large_counts = np.bincount(large.argmax(axis=1), minlength=3)
    assert far["method"] == "jensen_shannon"
    assert far["score"] == pytest.approx(
        distance.jensenshannon(ref_counts / ref_counts.sum(), large_counts / 5000), abs=1e-6
    )
    tiny = checks.class_output_drift(current[:10], reference, CLASSES, CONFIG)
    assert tiny["method"] == "none" and tiny["score"] is None


def test_regression_output_drift_uses_the_numeric_inputs_statistic():
    rng = np.random.default_rng(5)
    reference = rng.normal(150, 50, 3000)
    current = rng.normal(180, 50, 200)
    out = checks.value_output_drift(current, reference, CONFIG)
    assert out["method"] == "ks"
    assert out["score"] == pytest.approx(stats.ks_2samp(reference, current).pvalue, abs=1e-6)
    assert out["mean"] == pytest.approx(current.mean(), abs=1e-6)
    assert out["reference_mean"] == pytest.approx(reference.mean(), abs=1e-6)
    large = rng.normal(180, 50, 3000)
    far = checks.value_output_drift(large, reference, CONFIG)
    assert far["method"] == "wasserstein_normed"
    assert far["score"] == pytest.approx(stats.wasserstein_distance(reference, large) / reference.std(), 1e-6)


# --- one window, end to end ----------------------------------------------------------------------

SCHEMA = {
    "properties": {
        "x": {"type": "number", "minimum": -100, "maximum": 100},
        "site": {"enum": ["A", "B", None], "type": ["string", "null"]},
    }
}
SPEC = {"numeric": ["x"], "categorical": ["site"], "onehot": []}


def inputs(rng, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"x": rng.normal(shift, 1, n), "site": rng.choice(np.array(["A", "B"], dtype=object), n)}
    )


@pytest.fixture(scope="module")
def regression_setup():
    rng = np.random.default_rng(6)
    reference = inputs(rng, 3000)
    reference_pred = 100 + 30 * rng.normal(0, 1, 1000)
    return rng, Reference.build(reference, ["x"], ["site"]), reference_pred


def regression_window(rng, n: int, shift: float = 0.0, noise: float = 10.0) -> pd.DataFrame:
    frame = inputs(rng, n, shift)
    prediction = 100 + 30 * frame["x"].to_numpy()
    return frame.assign(
        prediction=prediction, outcome=prediction + rng.normal(0, noise, n), feedback_delay_s=30.0
    )


def run_regression(setup, frame: pd.DataFrame, params: MonitorParams, **extra) -> dict:
    _, profile, reference_pred = setup
    return monitor(
        Window(frame), profile, reference_pred, SCHEMA, SPEC, params, 0.5, "d 1.0", task="regression", **extra
    )


def test_an_undrifted_regression_window_is_ok_with_its_metrics(regression_setup):
    rng = regression_setup[0]
    params = parse_params({"feedback": {"max_rmse": 20, "min_r2": 0.5}}, "graft.yaml")
    result = run_regression(
        regression_setup, regression_window(rng, 400), params, reference_quality={"rmse": 9.8}
    )
    assert result["task"] == "regression" and result["status"] == "ok", result["alerts"]
    assert result["outputs"]["method"] == "ks" and not result["outputs"]["drifted"]
    feedback = result["feedback"]
    assert feedback["metrics"] == ["rmse", "mae", "r2"] and 8 < feedback["rmse"] < 12
    assert feedback["bounds"] == {"max_rmse": 20.0, "min_r2": 0.5}
    assert feedback["reference"] == {"rmse": 9.8}
    assert "fairness" not in result  # no sensitive column configured: no section
    assert result["inputs"]["tests_in_family"] == 2 + 2 + 1  # 2 features, 2 missing rates, outputs


def test_a_shifted_regression_window_alerts_on_inputs_outputs_and_quality(regression_setup):
    rng = regression_setup[0]
    params = parse_params({"feedback": {"max_rmse": 20, "min_r2": 0.5}}, "graft.yaml")
    result = run_regression(regression_setup, regression_window(rng, 400, shift=1.5, noise=40), params)
    kinds = [(a["kind"], a.get("feature") or a.get("metric")) for a in result["alerts"]]
    assert ("feature_drift", "x") in kinds and ("output_drift", None) in kinds
    assert ("realised_quality", "rmse") in kinds
    assert result["exit_code"] == 1
    drift = next(a for a in result["alerts"] if a["kind"] == "output_drift")
    assert drift["detail"].startswith("prediction distribution moved: ks p ")
    rmse = next(a for a in result["alerts"] if a.get("metric") == "rmse")
    assert rmse["detail"] == f"realised RMSE {result['feedback']['rmse']:.4f} > 20"


def test_a_multiclass_window_tests_predicted_classes_and_reports_groups():
    rng = np.random.default_rng(8)
    reference = Reference.build(inputs(rng, 2000), ["x"], ["site"])
    reference_proba = rng.dirichlet([3, 3, 3], 500)
    frame = multiclass_frame(300, rng).assign(**inputs(rng, 300))
    params = parse_params({"feedback": {"min_accuracy": 0.9}, "fairness": {"min_group_rows": 20}}, "x")
    args = (reference, reference_proba, SCHEMA, SPEC, params, 0.5, "iris 1.0")
    calm = monitor(Window(frame), *args, task="multiclass", classes=CLASSES, group_columns=["site"])
    assert calm["outputs"]["method"] == "chi2" and not calm["outputs"]["drifted"]
    assert [a["metric"] for a in calm["alerts"]] == ["accuracy"]  # random probabilities: accuracy ~ 0.5
    site = calm["fairness"]["site"]
    assert set(site["groups"]) == {"A", "B"} and site["metrics"] == ["accuracy", "macro_f1", "log_loss"]
    for name, group in site["groups"].items():
        rows = frame[frame["site"] == name]
        want = skm.accuracy_score(
            rows["outcome"].astype(int), rows[["proba:0", "proba:1", "proba:2"]].to_numpy().argmax(1)
        )
        assert group["accuracy"] == pytest.approx(want, abs=1e-6) and group["count"] == len(rows)
    assert site["accuracy_gap"] == pytest.approx(
        abs(site["groups"]["A"]["accuracy"] - site["groups"]["B"]["accuracy"]), abs=1e-6
    )
    skewed = frame.copy()
    skewed["proba:0"], skewed["proba:2"] = frame["proba:0"] * 0.2, frame["proba:2"] + frame["proba:0"] * 0.8
    moved = monitor(Window(skewed), *args, task="multiclass", classes=CLASSES, group_columns=[])
    drift = next(a for a in moved["alerts"] if a["kind"] == "output_drift")
    assert drift["detail"].startswith("predicted-class distribution moved: chi2 p ")
    assert moved["outputs"]["p_adjusted"] < 0.05 and "fairness" not in moved


def test_the_printed_documents_of_multiclass_and_regression_match_the_schema(regression_setup):
    rng = regression_setup[0]
    params = parse_params({"feedback": {"max_rmse": 20}, "fairness": {"min_group_rows": 20}}, "x")
    value = run_regression(
        regression_setup,
        regression_window(rng, 300),
        params,
        group_columns=["site"],
        reference_quality={"rmse": 9.0},
    )
    reference = Reference.build(inputs(rng, 2000), ["x"], ["site"])
    frame = multiclass_frame(300, rng).assign(**inputs(rng, 300))
    classes = monitor(
        Window(frame),
        reference,
        rng.dirichlet([3, 3, 3], 500),
        SCHEMA,
        SPEC,
        params,
        0.5,
        "iris 1.0",
        task="multiclass",
        classes=CLASSES,
        group_columns=["site"],
    )
    for result, of, gap in (
        (value, "prediction distribution", "rmse_gap"),
        (classes, "predicted-class distribution", "accuracy_gap"),
    ):
        document = json.loads(dump_json(MonitorResult.of(result, []).model_dump(mode="json")))
        validate(document, "monitor")
        assert document == json.loads(dump_json({**result, "outputs_written": []}))
        assert document["outputs"]["of"] == of and gap in document["fairness"]["site"]


def test_an_empty_window_of_any_task_is_no_data(regression_setup):
    empty = regression_window(regression_setup[0], 0)
    result = run_regression(regression_setup, empty, MonitorParams())
    assert result["status"] == "no_data" and result["exit_code"] == EXIT_NO_DATA


def test_reports_render_the_tasks_metrics_and_no_fairness_section(regression_setup, tmp_path):
    rng = regression_setup[0]
    params = parse_params({"feedback": {"max_rmse": 20}}, "graft.yaml")
    result = run_regression(
        regression_setup,
        regression_window(rng, 300),
        params,
        reference_quality={"rmse": 10.0, "mae": 8.0, "r2": 0.9},
    )
    md = report.write_report(tmp_path / "r.md", result, {})[-1].read_text()
    html = report.write_report(tmp_path / "r.html", result, {})[-1].read_text()
    assert f"| RMSE | {result['feedback']['rmse']:.4f} | 10.0000 | > 20.0 |" in md
    assert "| R² |" in md and "no bound set" in md and "ROC AUC" not in md
    assert "Prediction distribution against the release's test-set predictions: ks = " in md
    assert "Fairness" not in md and "Fairness" not in html
    assert "<td>RMSE</td>" in html


# --- settings ---------------------------------------------------------------------------------------


def test_monitor_settings_have_defaults_and_name_a_bad_key():
    defaults = parse_params(None, "pkg: settings.json monitor", required=False)
    assert (defaults.min_window, defaults.feedback.min_rows, defaults.drift.p_value) == (50, 50, 0.05)
    assert defaults.fairness.group_columns is None and defaults.feedback.bounds == {}
    with pytest.raises(ParamsError, match=r"^params\.yaml: missing section 'monitor'$"):
        parse_params(None, "params.yaml")
    with pytest.raises(ParamsError, match=r"'monitor\.feedback': unknown key 'min_auc': expected min_rows"):
        parse_params({"feedback": {"min_auc": 0.8}}, "graft.yaml")
    with pytest.raises(ParamsError, match=r"'monitor\.feedback': 'max_rmse' must be a number \(got 'x'\)"):
        parse_params({"feedback": {"max_rmse": "x"}}, "graft.yaml")
    binary = parse_params({"feedback": {"min_roc_auc": 0.85}}, "graft.yaml")
    binary.check_task("binary", "graft.yaml")
    message = r"graft\.yaml: 'monitor\.feedback\.min_roc_auc': a regression model's realised metrics are"
    with pytest.raises(ParamsError, match=message + " rmse, mae, r2$"):
        binary.check_task("regression", "graft.yaml")


# --- the log reader ----------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MULTI = LogLayout(("x",), ("site",), task="multiclass", classes=tuple(CLASSES))
REGRESSION = LogLayout(("x",), ("site",), task="regression")


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def write_log(path: Path, predictions: list[tuple], feedback: list[tuple]) -> str:
    backend = SQLiteBackend(path)
    conn = backend.connect()
    backend.create_schema(conn)
    conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?)", predictions)
    conn.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)", feedback)
    conn.close()
    return f"sqlite:///{path}"


def row(request_id: str, seconds: float, records: list | str, outputs: dict | str) -> tuple:
    body = records if isinstance(records, str) else json.dumps(records)
    out = outputs if isinstance(outputs, str) else json.dumps(outputs)
    return (request_id, at(seconds), "m 1", 1, body, out)


def fb(fid: str, request_id: str, index: int | None, seconds: float, outcome: str) -> tuple:
    return (fid, request_id, index, at(seconds), outcome, None)


def multiclass_log(tmp_path: Path, broken: bool) -> str:
    one = [{"x": 1.5, "site": "A"}]
    p = [0.7, 0.2, 0.1]
    rows = [
        row("r1", 0, one, {"probabilities": [p], "label": ["setosa"]}),
        row("r2", 1, one * 2, {"probabilities": [p, [0.1, 0.1, 0.8]], "label": ["setosa", "virginica"]}),
    ]
    if broken:
        rows += [
            row("two-classes", 2, one, {"probabilities": [[0.5, 0.5]], "label": ["setosa"]}),
            row("binary-shape", 3, one, {"probability": [0.5], "label": ["setosa"]}),
            row("flat", 4, one, {"probabilities": [0.5], "label": ["setosa"]}),
        ]
    feedback = [
        fb("f1", "r1", 0, 10, "versicolor"),
        fb("f2", "r2", None, 11, "virginica"),
        fb("f3", "r2", 0, 12, "Setosa"),  # not a label of the model: skipped, counted
    ]
    return write_log(tmp_path / f"multi{int(broken)}.db", rows, feedback)


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """Which parse each chunk took: Arrow's one pass ("fast") or row by row ("slow")."""
    taken: list[str] = []
    fast, slow = logreader.parse_fast, logreader.parse_slow

    def spy_fast(*args):
        parsed = fast(*args)
        taken.append("fast" if parsed is not None else "fast failed")
        return parsed

    def spy_slow(*args):
        taken.append("slow")
        return slow(*args)

    monkeypatch.setattr(logreader, "parse_fast", spy_fast)
    monkeypatch.setattr(logreader, "parse_slow", spy_slow)
    return taken


PATHS = {False: ["fast"], True: ["fast failed", "slow"]}


@pytest.mark.parametrize("broken", [False, True], ids=["one-pass", "row-by-row"])
def test_reader_of_a_multiclass_log(tmp_path, broken, parses):
    window = read_window(multiclass_log(tmp_path, broken), None, None, MULTI)
    frame = window.predictions
    assert list(frame.columns) == [
        "x",
        "site",
        "proba:0",
        "proba:1",
        "proba:2",
        "outcome",
        "feedback_delay_s",
    ]
    assert frame["proba:0"].tolist() == [0.7, 0.7, 0.1] and frame["proba:2"].tolist() == [0.1, 0.1, 0.8]
    assert frame["outcome"].tolist() == [1.0, 2.0, 2.0]  # class indices; f3 left the earlier word
    assert parses == PATHS[broken]
    reasons = {reason: info["examples"] for reason, info in window.unreadable.items()}
    expected = {"feedback outcome is not one of the model's labels": ["r2"]}
    if broken:
        expected |= {
            "a list of class probabilities does not hold one per class": ["two-classes"],
            "outputs do not hold one list of class probabilities per input record": ["binary-shape", "flat"],
        }
    assert reasons == expected


@pytest.mark.parametrize("broken", [False, True], ids=["one-pass", "row-by-row"])
def test_reader_of_a_regression_log(tmp_path, broken, parses):
    rows = [
        row("r1", 0, [{"x": 1, "site": "B"}], {"prediction": [151.5]}),
        row("r2", 1, [{"x": 2}, {"x": 3, "site": "A"}], {"prediction": [80, 120.25]}),
    ]
    if broken:
        rows += [
            row("text", 2, [{"x": 1}], {"prediction": ["151"]}),
            row("classifier", 3, [{"x": 1}], {"probability": [0.5]}),
        ]
    feedback = [fb("f1", "r1", None, 5, "160.5"), fb("f2", "r2", 1, 6, "99"), fb("f3", "r2", 0, 7, "high")]
    url = write_log(tmp_path / "reg.db", rows, feedback)
    window = read_window(url, None, None, REGRESSION)
    frame = window.predictions
    assert frame["prediction"].tolist() == [151.5, 80.0, 120.25]
    assert frame["outcome"].isna().tolist() == [False, True, False]
    assert frame["outcome"].tolist()[::2] == [160.5, 99.0]
    assert parses == PATHS[broken]
    reasons = {reason: info["examples"] for reason, info in window.unreadable.items()}
    expected = {"feedback outcome is not a finite number": ["r2"]}
    if broken:
        expected |= {
            "a prediction is not a finite number": ["text"],
            "outputs do not hold one prediction per input record": ["classifier"],
        }
    assert reasons == expected


def test_reader_layout_refuses_an_input_named_like_its_own_columns():
    with pytest.raises(UsageError, match=r"input column\(s\) prediction: the monitoring window uses"):
        LogLayout(("prediction",), (), task="regression")
    with pytest.raises(UsageError, match="a multiclass model needs its labels"):
        LogLayout(("x",), (), task="multiclass")
    assert logreader.BINARY.task == "binary"
