"""`graft replay` against a real `graft serve`, then `graft monitor` over the real prediction log.

One server and one SQLite log serve every scenario; each scenario is its own time window,
which also exercises --since/--until.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graft import api
from graft.cli import main
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
    methods = {f["kind"]: f["method"] for f in result["inputs"]["features"]}
    assert methods == {"numeric": "ks", "categorical": "chi2"}
    assert result["window"]["predictions"] == 800
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
    assert "--since 'yesterday': expected an ISO 8601 time" in capsys.readouterr().err
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
