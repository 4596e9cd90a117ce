"""Releases of the second project (regression, `dvc add` data, results under eval/, scripts run as
files): release, models, check-repro, reproduce, the served regression model and `graft monitor`
on its log, all read through the project layer; nothing in graft names the project's files or
columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graft import api
from graft.serving.model import ServingModel
from tests.conftest import git
from tests.integration import second
from tests.integration.conftest import ServerProcess, second_copy
from tests.releasing import graft

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
TAG = "diabetes-progression@v1.0.0"


@pytest.fixture(scope="module")
def released(
    tmp_path_factory: pytest.TempPathFactory, module_env: None, second_template: Path
) -> Iterator[Path]:
    """The second project with graft.yaml (init, then what init cannot know) released as v1.0.0."""
    root = second.configure(second_copy(second_template, tmp_path_factory.mktemp("second-release")))
    graft(root, "release", "--out", "dist")
    yield root


def test_release_tags_the_artifact_and_models_lists_its_metrics(released):
    assert git(released, "tag", "-l") == TAG
    listed = json.loads(graft(released, "models", "--format", "json").stdout)
    metrics = json.loads((released / "eval" / "metrics.json").read_text())
    assert [m["tag"] for m in listed] == [TAG]
    assert listed[0]["metrics"] == {k: metrics[k] for k in ("rmse", "mae")}


def test_the_package_serves_the_regression_its_pipeline_scored(released, tmp_path):
    archive = released / "dist" / "diabetes-progression-1.0.0.tar.gz"
    loaded = api.open_package(archive, tmp_path / "unpacked")
    assert sorted(loaded.code()) == ["src/common.py", "src/serving.py"]
    assert loaded.model_file.name == "regressor.txt"
    model = ServingModel.from_package(loaded)
    assert (model.task, model.threshold) == ("regression", None)
    test = pd.read_parquet(released / "work" / "test.parquet")
    features = list(loaded.schema["properties"])
    records = test[features].to_dict(orient="records")
    got = model.predict_columns(model.validator.validate_records(records))
    want = pd.read_parquet(released / "eval" / "predictions.parquet")["predicted"].to_numpy()
    assert np.array_equal(got, want)
    assert model.outputs(got[:1]) == [{"prediction": want[0]}]
    reference = loaded.json("reference.json")
    assert reference["predictions"]["task"] == "regression"
    assert reference["rows"] == len(pd.read_parquet(released / "work" / "train.parquet"))


def test_check_repro_compares_the_declared_metrics_at_their_own_path(released):
    assert graft(released, "check-repro").returncode == 0
    metrics = released / "eval" / "metrics.json"
    original = metrics.read_text()
    try:
        metrics.write_text(original.replace('"rows"', '"rows_scored"'))
        done = graft(released, "check-repro", check=False)
        assert done.returncode == 1 and "eval/metrics.json" in done.stderr
    finally:
        metrics.write_text(original)


def test_reproduce_restores_dvc_add_data_and_matches(released):
    """One reproduction (the pipeline re-run in a worktree is the expensive part): its JSON says
    it reproduced, check by check; the text rendering of the same result is the release story's."""
    before = git(released, "status", "--porcelain", "--untracked-files=all")
    report = json.loads(graft(released, "reproduce", TAG, "--format", "json").stdout)
    assert (report["tag"], report["reproduced"]) == (TAG, True)
    assert [c["item"] for c in report["checks"] if not c["match"]] == []
    items = {c["item"] for c in report["checks"]}
    assert {"models/regressor.txt", "eval/metrics.json:rmse", "eval/validation.json:valid_rmse"} <= items
    assert "package:code/src/serving.py" in items
    assert git(released, "status", "--porcelain", "--untracked-files=all") == before  # dist/ only
    assert len(git(released, "worktree", "list").splitlines()) == 1


def test_the_served_release_is_monitored_on_its_log(released, tmp_path):
    """The story's end: serve the release, replay the test split with its outcomes, monitor the log
    (no monitor settings in graft.yaml: the documented defaults, no bound on a metric); then the
    same window against a params file that bounds RMSE below what was realised."""
    archive = released / "dist" / "diabetes-progression-1.0.0.tar.gz"
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    server = ServerProcess(archive, log, tmp_path).start()
    try:
        test = released / "work" / "test.parquet"
        done = graft(released, "replay", str(test), "--url", server.url)
        rows = len(pd.read_parquet(test))
        assert f"replayed {rows} rows" in done.stdout
    finally:
        assert server.stop() in (0, -15, 143)  # SIGTERM: a graceful stop commits every logged row
    report = tmp_path / "monitor.html"
    monitored = graft(released, "monitor", "--package", str(archive), "--log-db", log, "-o", str(report))
    assert "diabetes-progression 1.0.0: " in monitored.stdout and "verdict: no alerts" in monitored.stdout
    result = json.loads(
        graft(released, "monitor", "--package", str(archive), "--log-db", log, "--format", "json").stdout
    )
    metrics = json.loads((released / "eval" / "metrics.json").read_text())
    assert (result["task"], result["window"]["predictions"], result["exit_code"]) == ("regression", rows, 0)
    assert result["feedback"]["rmse"] == pytest.approx(metrics["rmse"], abs=1e-4)
    assert result["feedback"]["r2"] == pytest.approx(metrics["r2"], abs=1e-4)
    assert "<td>RMSE</td>" in report.read_text() and "Fairness" not in report.read_text()
    bounds = tmp_path / "params.yaml"
    bounds.write_text(f"monitor:\n  feedback:\n    max_rmse: {metrics['rmse'] - 1:.2f}\n")
    strict = graft(
        released, "monitor", "--package", str(archive), "--log-db", log, "--params", str(bounds), check=False
    )
    assert strict.returncode == 1
    assert f"ALERT realised_quality: realised RMSE {result['feedback']['rmse']:.4f} > " in strict.stdout
