"""A project trained with XGBoost (tests/integration/xgb_project) taken through package -> serve ->
predict -> monitor: graft records the flavour, reproduces the committed test predictions with
the packaged model, serves them bit for bit over HTTP and monitors the served log; nothing in
graft names XGBoost outside its flavour registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration import xgb
from tests.integration.conftest import ServerProcess
from tests.releasing import graft

pytestmark = pytest.mark.slow
ARCHIVE = "dist/tumour-class-1.0.0.tar.gz"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Iterator[Path]:
    """The XGBoost project built, its pipeline run and committed, then packaged as 1.0.0."""
    root = xgb.build(tmp_path_factory.mktemp("xgb") / "tumours")
    graft(root, "package", "--version", "1.0.0", "--out", "dist")
    yield root


def test_the_package_records_the_flavour_and_the_reproduced_predictions(project):
    import xgboost

    done = graft(project, "package", "--version", "1.0.0", "--out", "dist", "--format", "json")
    result = json.loads(done.stdout)
    test_rows = len(pd.read_parquet(project / "work" / "test.parquet"))
    assert result["flavour"] == {"name": "xgboost", "framework": "xgboost", "version": xgboost.__version__}
    assert result["prediction_check"] == {"rows": test_rows, "max_abs_difference": 0.0, "tolerance": 1e-6}
    assert result["path"] == str(project / ARCHIVE)
    text = graft(project, "package", "--version", "1.0.0", "--out", "dist").stdout
    assert (
        f"model: xgboost (xgboost {xgboost.__version__}); reproduces its {test_rows} test predictions" in text
    )


def test_served_over_http_then_monitored(project, tmp_path):
    archive = project / ARCHIVE
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    test = pd.read_parquet(project / "work" / "test.parquet")
    want = pd.read_parquet(project / "eval" / "predictions.parquet")["proba"].to_numpy()
    features = ["mean_radius", "mean_texture", "mean_smoothness", "worst_concavity", "worst_area"]
    records = test[features].to_dict(orient="records")
    server = ServerProcess(archive, log, tmp_path).start()
    try:
        info = httpx.get(f"{server.url}/metadata", timeout=10)
        one = httpx.post(f"{server.url}/predict", json=records[0], timeout=10)
        bad = httpx.post(f"{server.url}/predict", json={**records[0], "worst_area": "large"}, timeout=10)
        done = graft(project, "replay", "work/test.parquet", "--url", server.url)
    finally:
        assert server.stop() in (0, -15, 143)  # SIGTERM: a graceful stop commits every logged row
    assert info.status_code == 200 and info.json()["task"]["labels"] == ["benign", "malignant"]
    assert one.json()["predictions"][0]["probability"] == want[0]
    assert bad.status_code == 422 and "worst_area" in bad.text
    assert f"replayed {len(test)} rows" in done.stdout
    monitored = graft(
        project, "monitor", "--package", str(archive), "--log-db", log, "--format", "json", check=False
    )
    result = json.loads(monitored.stdout)
    metrics = json.loads((project / "eval" / "metrics.json").read_text())
    assert (result["task"], result["window"]["predictions"]) == ("binary", len(test) + 1)
    assert result["window"]["feedback"] == len(test)
    assert result["feedback"]["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert result["feedback"]["roc_auc"] == pytest.approx(metrics["roc_auc"], abs=1e-6)
    # the seeded test split's cells are less smooth than the training split's (KS p 0.003):
    # the one thing monitoring flags, as it should; outputs, quality and the schema are fine
    assert [(a["kind"], a.get("feature")) for a in result["alerts"]] == [("feature_drift", "mean_smoothness")]
    assert (monitored.returncode, result["exit_code"]) == (1, 1)
    drifted = [f["feature"] for f in result["inputs"]["features"] if f["drifted"]]
    assert drifted == ["mean_smoothness"] and result["inputs"]["schema_violations"] == []
    assert np.isfinite(want).all()
