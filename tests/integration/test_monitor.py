"""`graft replay` against a real `graft serve`, then `graft monitor` over the real prediction log.

One server and one SQLite log serve every scenario; each scenario is its own time window,
which also exercises --since/--until. The false-alarm rate is measured on the library function
directly (random undrifted windows of the test split), and the reader is checked on a real
PostgreSQL log against the same rows in SQLite.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graft import api
from graft.cli import main
from graft.monitoring import EXIT_NO_DATA
from tests.conftest import BIN

pytestmark = pytest.mark.slow
ROWS = 2000
SCENARIOS: dict[str, dict] = {
    "small_window": {"limit": 800},
    "shifted_age": {"shifts": ["age=+12"]},
    "category_mix": {"mixes": ["workclass=Self-emp-inc:0.4"]},
    "group_ratio": {"ratios": ["sex=Female:0.8"]},
    "label_relation": {"flip_labels": 0.4},
}


def stamp() -> str:
    time.sleep(0.02)
    return datetime.now(UTC).isoformat()


@pytest.fixture(scope="module")
def windows(server, model_package) -> dict[str, tuple[str, str]]:
    data = model_package.project / "data" / "validated" / "adult.parquet"
    out: dict[str, tuple[str, str]] = {}
    rejected: dict[str, int] = {}
    since = stamp()  # the baseline goes through the real command line, as a scheduled job would
    subprocess.run(
        [
            str(BIN / "graft"),
            "replay",
            str(data),
            "--url",
            server.url,
            "--where",
            "split=test",
            "--label",
            "income",
            "--limit",
            str(ROWS),
        ],
        check=True,
        capture_output=True,
    )
    out["baseline"] = (since, stamp())
    for name, drift in SCENARIOS.items():
        since = stamp()
        options = {"limit": ROWS, **drift}
        result = api.replay(
            data, server.url, where=["split=test"], label="income", batch_size=100, seed=3, **options
        )
        rejected[name] = result.rejected
        out[name] = (since, stamp())
    out["point_mass"] = replay_point_mass_shift(data, server.url)
    out["unreadable"] = unreadable_window(data, server)
    # ages above 78 shifted by 12 leave the schema's range: the server refuses them
    assert rejected == {
        "small_window": 0,
        "shifted_age": rejected["shifted_age"],
        "category_mix": 0,
        "group_ratio": 0,
        "label_relation": 0,
    }
    assert 0 < rejected["shifted_age"] < 0.05 * ROWS
    return out


def replay_point_mass_shift(data: Path, url: str) -> tuple[str, str]:
    """30% of the rows' first numeric point-mass column (found from the data) moved to a large value."""
    from graft.monitoring import replay as rp

    client = rp.Client(url, 30.0)
    served = client.served()
    rows = rp.load_rows(data, served, [("split", "test")], "income").iloc[:ROWS].reset_index(drop=True)
    column = next(
        c for c in rows.select_dtypes("number").columns if rows[c].value_counts(normalize=True).iloc[0] > 0.9
    )
    rows[column] = rows[column].where(np.random.default_rng(4).random(len(rows)) >= 0.3, 15024)
    since = stamp()
    try:
        result = rp.replay(rows, client, served, rp.Drift(), batch_size=100, seed=3)
    finally:
        client.close()
    assert result.rejected == 0
    return since, stamp()


UNREADABLE = {  # request id -> (inputs, outputs) as a broken writer might have logged them
    "utf16-inputs": (json.dumps([{"age": 30}]).encode("utf-16"), '{"probability": [0.5]}'),
    "object-inputs": ('{"age": 30}', '{"probability": [0.5]}'),
    "bad-probability": ('[{"age": 30}]', '{"probability": [7]}'),
}


def unreadable_window(data: Path, server) -> tuple[str, str]:
    """200 good requests and three rows no reader could use, written into the same log."""
    since = stamp()
    api.replay(data, server.url, where=["split=test"], label="income", limit=200, batch_size=1, seed=3)
    conn = sqlite3.connect(server.log_db.removeprefix("sqlite:///"), timeout=30)
    with conn:
        for request_id, (inputs, outputs) in UNREADABLE.items():
            now = datetime.now(UTC).isoformat()
            conn.execute(
                "INSERT INTO predictions VALUES (?, ?, ?, 1, ?, ?)",
                (request_id, now, "broken writer", inputs, outputs),
            )
    conn.close()
    return since, stamp()


def monitor(server, model_package, window: tuple[str, str], tmp_path: Path, report: str = "report.md"):
    out, js = tmp_path / report, tmp_path / "result.json"
    args = ["monitor", "--package", str(model_package.archive), "--log-db", server.log_db]
    args += ["--since", window[0], "--until", window[1], "-o", str(out), "--json", str(js)]
    code = main(args)
    return code, json.loads(js.read_text()), out


def drifted(result) -> set[str]:
    return {f["feature"] for f in result["inputs"]["features"] if f["drifted"]}


def alert_kinds(result) -> set[tuple[str, str]]:
    return {(a["kind"], a.get("feature") or a.get("metric") or "") for a in result["alerts"]}


def test_held_out_rows_raise_no_alert(server, model_package, windows, tmp_path, capsys):
    code, result, report = monitor(server, model_package, windows["baseline"], tmp_path)
    assert result["alerts"] == [], result["alerts"]
    assert code == 0
    assert result["window"]["predictions"] == ROWS
    assert result["window"]["feedback"] == ROWS  # this window's feedback, not the whole log's
    assert result["feedback"]["rows_with_feedback"] == ROWS
    assert result["feedback"]["coverage"] == 1.0
    assert result["feedback"]["roc_auc"] > 0.9
    assert result["inputs"]["features"][0]["method"] == "wasserstein_normed"
    assert abs(result["outputs"]["positive_rate_change"]) < 0.05
    text = report.read_text()
    assert "**Verdict: OK** (no alerts)" in text
    assert (report.parent / "report_files" / "features.png").stat().st_size > 10_000
    assert "verdict: no alerts" in capsys.readouterr().out


def test_small_window_uses_the_statistical_tests(server, model_package, windows, tmp_path):
    code, result, _ = monitor(server, model_package, windows["small_window"], tmp_path)
    features = result["inputs"]["features"]
    methods = {f["method"] for f in features}
    assert methods <= {"ks", "chi2", "fisher_exact"}
    # numeric features without a point mass: KS; the others test counts (rare categories pooled)
    assert {f["method"] for f in features if f["kind"] == "numeric" and not f["point_mass"]} == {"ks"}
    assert {f["feature"] for f in features if f["point_mass"]} == {"capital_gain", "capital_loss"}
    assert all(f["p_adjusted"] >= f["score"] for f in features)
    assert result["inputs"]["tests_in_family"] >= 2 * len(features)
    assert result["window"]["predictions"] == 800
    assert result["window"]["feedback"] == 800
    assert code == 0, result["alerts"]


def test_shifted_numeric_feature_is_flagged_on_that_feature(server, model_package, windows, tmp_path):
    code, result, report = monitor(server, model_package, windows["shifted_age"], tmp_path, "r.html")
    assert code == 1
    assert "age" in drifted(result)
    assert ("feature_drift", "age") in alert_kinds(result)
    assert not result["inputs"]["dataset"]["drifted"]
    html = report.read_text()
    assert "Verdict: ALERT" in html and "data:image/png;base64," in html


def test_changed_category_mix_is_flagged(server, model_package, windows, tmp_path):
    code, result, _ = monitor(server, model_package, windows["category_mix"], tmp_path)
    assert code == 1
    assert "workclass" in drifted(result)
    assert ("feature_drift", "workclass") in alert_kinds(result)
    assert "age" not in drifted(result)


def test_changed_group_ratio_is_flagged_on_the_group_column(server, model_package, windows, tmp_path):
    code, result, _ = monitor(server, model_package, windows["group_ratio"], tmp_path)
    assert code == 1
    assert "sex" in drifted(result)
    assert ("feature_drift", "sex") in alert_kinds(result)
    female = result["fairness"]["sex"]["groups"]["Female"]["count"]
    assert female == pytest.approx(0.8 * ROWS, abs=2)


def test_degraded_label_relation_is_flagged_on_realised_quality(server, model_package, windows, tmp_path):
    code, result, _ = monitor(server, model_package, windows["label_relation"], tmp_path)
    assert code == 1
    assert ("realised_quality", "roc_auc") in alert_kinds(result)
    assert result["feedback"]["roc_auc"] < 0.75
    assert not any(kind == "feature_drift" for kind, _ in alert_kinds(result))


def test_moved_point_mass_feature_is_flagged_and_plotted(server, model_package, windows, tmp_path):
    code, result, report = monitor(server, model_package, windows["point_mass"], tmp_path)
    assert code == 1
    assert ("feature_drift", "capital_gain") in alert_kinds(result)
    gain = next(f for f in result["inputs"]["features"] if f["feature"] == "capital_gain")
    assert gain["psi"] > 0.5 and gain["point_mass"]["value"] == 0
    assert gain["point_mass"]["reference_share"] > 0.9 > 0.7 > gain["point_mass"]["current_share"]
    assert "`capital_gain` has a point mass at 0: " in report.read_text()


def test_empty_window_exits_with_the_no_data_status(server, model_package, tmp_path, capsys):
    window = ("2100-01-01T00:00:00Z", "2100-01-02T00:00:00Z")
    code, result, report = monitor(server, model_package, window, tmp_path)
    assert code == EXIT_NO_DATA == 4
    assert result["status"] == "no_data" and result["alerts"] == []
    assert result["window"]["predictions"] == 0 and result["window"]["feedback"] == 0
    assert "**Verdict: NO DATA** (insufficient data: no predictions in the window)" in report.read_text()
    assert "verdict: insufficient data: no predictions in the window" in capsys.readouterr().out


def test_unreadable_rows_are_counted_and_reported_not_fatal(server, model_package, windows, tmp_path):
    code, result, report = monitor(server, model_package, windows["unreadable"], tmp_path)
    assert code == 1
    assert result["window"]["predictions"] == 200  # the readable rows are judged
    assert result["window"]["unreadable_rows"] == 3
    assert {reason: info["examples"] for reason, info in result["unreadable"].items()} == {
        "inputs are not valid JSON": ["utf16-inputs"],
        "inputs are not a non-empty JSON array of records": ["object-inputs"],
        "a probability is not a number between 0 and 1": ["bad-probability"],
    }
    assert {kind for kind, _ in alert_kinds(result)} == {"unreadable_rows"}
    assert "| inputs are not valid JSON | 1 | utf16-inputs |" in report.read_text()


def test_monitor_errors_name_what_is_wrong(server, model_package, tmp_path, capsys):
    assert main(["monitor", "--package", str(model_package.archive), "--log-db", "sqlite:///nope.db"]) == 3
    assert "sqlite:///nope.db: no such prediction log" in capsys.readouterr().err
    args = [
        "monitor",
        "--package",
        str(model_package.archive),
        "--log-db",
        server.log_db,
        "--since",
        "yesterday",
    ]
    assert main(args) == 2
    assert "argument --since: 'yesterday': expected an ISO 8601 time" in capsys.readouterr().err
    args = [
        "monitor",
        "--package",
        str(model_package.archive),
        "--log-db",
        server.log_db,
        "-o",
        str(tmp_path / "r.txt"),
    ]
    assert main(args) == 2
    assert "must end in .md or .html" in capsys.readouterr().err
    assert not (tmp_path / "r.txt").exists()


# --- false alarms: random undrifted windows through the monitor function -----------------------

WINDOWS_PER_SIZE = 100


@pytest.fixture(scope="module")
def released(model_package, tmp_path_factory):
    """The package's reference, test predictions, schema, spec and params; the test split's rows."""
    import yaml

    from graft.monitoring.drift import Reference
    from graft.monitoring.run import parse_params

    pkg = api.open_package(model_package.archive, tmp_path_factory.mktemp("pkg"))
    spec, schema = pkg.json("features.json"), pkg.json("schema.json")
    params = parse_params(yaml.safe_load(pkg.path("params.yaml").read_text())["monitor"], "params.yaml")
    reference = Reference.build(
        pd.read_parquet(pkg.path("reference.parquet")), spec["numeric"], spec["categorical"]
    )
    predictions = pd.read_parquet(pkg.path("test_predictions.parquet"))
    raw = pd.read_parquet(model_package.project / "data" / "validated" / "adult.parquet")
    test = raw[raw["split"] == "test"].merge(predictions, on="row_id", validate="one_to_one")
    frame = pd.DataFrame(
        {
            c: test[c].astype(float) if c in spec["numeric"] else test[c].astype("category")
            for c in schema["properties"]
        }
    ).assign(
        proba=test["proba"].to_numpy(),
        outcome=test["label"].to_numpy(dtype=float),  # every prediction labelled: realised metrics run too
        feedback_delay_s=60.0,
    )
    return reference, predictions["proba"].to_numpy(), schema, spec, params, frame


@pytest.mark.parametrize("size", [50, 200, 1000])
def test_undrifted_windows_alert_at_most_five_percent_of_the_time(released, size):
    from graft.monitoring.run import Window
    from graft.monitoring.run import monitor as run_monitor

    reference, reference_proba, schema, spec, params, frame = released
    rng = np.random.default_rng(size)
    alerted = []
    for _ in range(WINDOWS_PER_SIZE):
        window = frame.iloc[rng.choice(len(frame), size, replace=False)].reset_index(drop=True)
        result = run_monitor(Window(window), reference, reference_proba, schema, spec, params, 0.5, "v")
        assert result["status"] != "no_data"
        alerted.append([a["kind"] for a in result["alerts"]])
    share = sum(bool(a) for a in alerted) / WINDOWS_PER_SIZE
    print(f"windows of {size} undrifted rows: {share:.0%} of {WINDOWS_PER_SIZE} alerted")
    assert share <= 0.05, (share, [a for a in alerted if a])


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_monitor_reads_a_postgres_log_end_to_end(model_package, pg_database, start_server, tmp_path):
    server = start_server(pg_database)
    data = model_package.project / "data" / "validated" / "adult.parquet"
    since = stamp()
    api.replay(data, server.url, where=["split=test"], label="income", limit=300, batch_size=7, seed=3)
    window = (since, stamp())
    code, result, report = monitor(server, model_package, window, tmp_path)
    assert result["window"]["predictions"] == 300
    assert result["window"]["feedback"] == 300 and result["feedback"]["rows_with_feedback"] == 300
    assert result["unreadable"] == {}
    assert code == 0, result["alerts"]
    assert "**Verdict: OK**" in report.read_text()


def test_postgres_and_sqlite_logs_read_alike(pg_database, tmp_path):
    """The same rows (batches, corrections, a row of the wrong shape) through both backends."""
    from graft.monitoring.logreader import LogLayout, read_window
    from graft.serving.predlog import FeedbackRow, PostgresBackend, PredictionRow, SQLiteBackend

    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    rng = np.random.default_rng(5)
    predictions, feedback = [], []
    for i in range(120):
        n = 1 if i % 4 else 3
        records = [{"x": int(rng.integers(0, 90)), "c": str(rng.choice(["a", "b"]))} for _ in range(n)]
        if i % 10 == 0:
            del records[0]["c"]  # an omitted nullable field
        proba = [round(float(p), 6) for p in rng.random(n)]
        at = t0 + pd.Timedelta(seconds=i)
        predictions.append(
            PredictionRow(f"r{i:03d}", at, "m 1", n, json.dumps(records), json.dumps({"probability": proba}))
        )
        if i % 3 == 0:
            feedback.append(
                FeedbackRow(f"f{i}", f"r{i:03d}", None, at + pd.Timedelta(minutes=1), "yes", None)
            )
        if i % 6 == 0:  # a later correction of the first record
            later = at + pd.Timedelta(minutes=2)
            feedback.append(FeedbackRow(f"g{i}", f"r{i:03d}", 0, later, "no", None))
    predictions.append(PredictionRow("shape", t0, "m 1", 1, '{"x": 1}', '{"probability": [0.5]}'))
    sqlite = SQLiteBackend(tmp_path / "log.db")
    for backend in (sqlite, PostgresBackend(pg_database)):
        conn = backend.connect()
        backend.create_schema(conn)
        backend.write(conn, predictions, feedback)
        conn.close()
    layout = LogLayout(numeric=("x",), categorical=("c",), positive_label="yes")
    since, until = (t0 + pd.Timedelta(seconds=10)).isoformat(), (t0 + pd.Timedelta(seconds=100)).isoformat()
    lite = read_window(f"sqlite:///{tmp_path / 'log.db'}", None, None, layout)
    pg = read_window(pg_database, None, None, layout)
    assert (
        lite.unreadable
        == pg.unreadable
        == {"inputs are not a non-empty JSON array of records": {"rows": 1, "examples": ["shape"]}}
    )
    assert lite.feedback_events == pg.feedback_events == len(feedback)
    # the same records (PostgreSQL returns them in request-id order, SQLite in insertion order)
    pd.testing.assert_frame_equal(lite.predictions, pg.predictions, check_categorical=False)
    windowed = read_window(pg_database, since, until, layout)
    assert len(windowed.predictions) == sum(p.n_records for p in predictions[10:100])
    assert windowed.feedback_events == sum(1 for f in feedback if 10 <= int(f.request_id[1:]) < 100)
