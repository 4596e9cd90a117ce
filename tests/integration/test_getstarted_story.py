"""The get-started-shaped project (tests/integration/getstarted.py) taken end to end as a new user
would, with the real CLI and DVC's own commands: init, exp new, exp grid, diff --all, report (its
declared plots written and linked), gate, exp list, check-repro, package, release, serve and a
prediction on free text over HTTP, replay, monitor; then a fresh clone with an empty DVC cache
whose diff, report and gate fetch from the DVC remote and give the same values.

It works in a byte copy of the session fixture (Git, DVC cache) with its own copy of the DVC
remote (`dvc remote modify --local`), so the other tests' repository and remote are untouched.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from tests.conftest import git
from tests.integration.conftest import GetStarted, ServerProcess
from tests.integration.getstarted import (
    BRANCHES,
    DATA,
    METRICS,
    PREDICTIONS,
    cache_objects,
    diff_metrics,
    dvc_metrics,
)
from tests.releasing import clone_tree, dvc, graft

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
MODEL = "text-classification"  # the artifact dvc.yaml declares
GRID = {"exp/grid-max_features-10": 10, "exp/grid-max_features-50": 50}
TEXT = "a great and lovely movie"


def _init(project: Path) -> dict[str, Any]:
    """`graft init` on the project as it is (graft.yaml removed first), then the settings a user
    adds by hand: the table of the predicted rows' inputs, the serving adapter, the reference rows."""
    (project / "graft.yaml").unlink()
    done = graft(project, "init")
    assert "package.model: text-classification (the model artifact in dvc.yaml)" in done.stderr
    written = yaml.safe_load((project / "graft.yaml").read_text())
    settings = dict(written)
    settings["predictions"] = {**written["predictions"], "inputs": DATA}  # the rows' raw text
    settings["package"] = {
        **written["package"],
        "adapter": "src/serving.py",
        "code": ["src/serving.py"],
        "reference": {"path": DATA, "id": "id"},
    }
    (project / "graft.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    git(project, "add", "graft.yaml")
    git(project, "commit", "-q", "-m", "graft settings: predictions, serving adapter")
    return written


def test_getstarted_project_end_to_end(getstarted: GetStarted, tmp_path: Path) -> None:
    project = clone_tree(getstarted.origin, tmp_path / "project")
    remote = tmp_path / "remote"
    shutil.copytree(getstarted.remote, remote)
    dvc(project, "remote", "modify", "--local", "storage", "url", str(remote))

    # init: the task, dvclive's test keys as the headline, a direction for every nested key
    written = _init(project)
    assert written["task"]["type"] == "binary"
    assert written["metrics"]["file"] == METRICS
    assert written["metrics"]["headline"] == ["roc_auc.test", "avg_prec.test"]
    assert {k: v["direction"] for k, v in written["metrics"]["rules"].items()} == {
        "avg_prec.train": "higher",
        "avg_prec.test": "higher",
        "roc_auc.train": "higher",
        "roc_auc.test": "higher",
    }
    assert written["package"]["model"] == MODEL
    # dvclive's predictions, found inside the DVC-cached eval/ directory, with their columns
    assert written["predictions"] == {"path": PREDICTIONS, "id": "id", "label": "label", "score": "score"}

    # experiments: one with --set, a grid of two points
    made = graft(project, "exp", "new", "try-c", "--set", "train.C=3.0")
    assert made.stdout.startswith("created exp/try-c at ")
    assert "stages: train ran, evaluate ran" in made.stdout
    grid = json.loads(
        graft(
            project, "exp", "grid", "--set", "featurize.max_features=10,50", "-j", "1", "--format", "json"
        ).stdout
    )
    assert sorted((p["branch"], p["ok"]) for p in grid) == sorted((b, True) for b in GRID)
    branches = ["exp/try-c", *GRID, *BRANCHES]
    for branch in ["exp/try-c", *GRID]:
        dvc_params = yaml.safe_load(git(project, "show", f"{branch}:params.yaml"))
        assert dvc_params["train"]["C"] == (3.0 if branch == "exp/try-c" else 1.0)
        assert dvc_params["featurize"]["max_features"] == GRID.get(branch, 200)

    # diff --all: every revision's DVC-cached metrics, as `dvc metrics show -a` reads them
    expected = dvc_metrics(project)
    assert sorted(expected) == sorted(["main", *branches])
    diffed = json.loads(graft(project, "diff", "--all", "--format", "json").stdout)
    assert [r["has_metrics"] for r in diffed["revisions"]] == [True] * len(expected)
    assert diff_metrics(diffed) == expected
    assert expected["exp/try-c"] != expected["main"]  # the experiments changed the results

    # report: the declared ROC plot written beside it and linked; the bootstrap over predictions
    report_path = tmp_path / "report" / "report.md"
    graft(project, "report", "--base", "main", "--head", "exp/try-c", "-o", str(report_path))
    report = report_path.read_text()
    assert "![ROC](report_plots/ROC.png)" in report
    assert (report_path.parent / "report_plots" / "ROC.png").read_bytes().startswith(b"\x89PNG")
    base, head = expected["main"]["roc_auc.test"], expected["exp/try-c"]["roc_auc.test"]
    assert f"| `roc_auc` (from predictions) | {base:.4f} | {head:.4f} |" in report

    # gate: try-c improves every metric; weak regresses
    gate = ["gate", "--base", "main", "--format", "json"]
    passed = graft(project, *gate, "--head", "exp/try-c", check=False)
    assert passed.returncode == 0, passed.stderr
    checks = {c["metric"]: c for c in json.loads(passed.stdout)["checks"] if c["kind"] == "regression"}
    assert {k: (c["base"], c["head"]) for k, c in checks.items()} == {
        k: (expected["main"][k], expected["exp/try-c"][k]) for k in expected["main"]
    }
    assert graft(project, *gate, "--head", "exp/weak", check=False).returncode == 1

    # exp list: every experiment with its headline metrics
    listed = json.loads(graft(project, "exp", "list", "--format", "json").stdout)
    assert {e["branch"]: e["metrics"]["roc_auc.test"] for e in listed} == {
        b: expected[b]["roc_auc.test"] for b in branches
    }

    # check-repro right after `dvc repro`: the DVC-cached outputs match dvc.lock
    assert "Data and pipelines are up to date." in dvc(project, "repro").stdout
    repro = graft(project, "check-repro", check=False)
    assert repro.returncode == 0, repro.stdout + repro.stderr

    # package: the scikit-learn flavour, the committed test predictions reproduced
    import sklearn

    packaged = json.loads(
        graft(project, "package", "--version", "1.0.0", "--out", "dist", "--format", "json").stdout
    )
    assert packaged["flavour"] == {
        "name": "sklearn",
        "framework": "scikit-learn",
        "version": sklearn.__version__,
    }
    test_rows = (pd.read_csv(project / DATA)["split"] == "test").sum()
    assert packaged["prediction_check"]["rows"] == test_rows
    assert packaged["prediction_check"]["max_abs_difference"] <= packaged["prediction_check"]["tolerance"]

    # release: tagged, the same bytes as the package, uploaded to the DVC remote's package store
    released = json.loads(
        graft(project, "release", "--out", str(tmp_path / "dist"), "--format", "json").stdout
    )
    assert (released["status"], released["tag"]) == ("released", f"{MODEL}@v1.0.0")
    assert released["archive_sha256"] == packaged["sha256"]
    assert released["uploaded"] == str(remote / "graft" / "packages" / MODEL / f"{MODEL}-1.0.0.tar.gz")
    assert git(project, "tag", "-l").split() == [f"{MODEL}@v1.0.0"]

    # serve and predict on free text; the served probability is the model's own
    model = pickle.loads((project / "model.pkl").read_bytes())
    want = float(model.predict_proba([TEXT])[0, 1])
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    server = ServerProcess(Path(released["archive"]), log, tmp_path).start()
    try:
        one = httpx.post(f"{server.url}/predict", json={"text": TEXT}, timeout=10)
        bad = httpx.post(f"{server.url}/predict", json={"text": 5}, timeout=10)
        replayed = graft(project, "replay", DATA, "--url", server.url, "--where", "split=test")
    finally:
        assert server.stop() == 143  # SIGTERM: a graceful stop (exit code 143) commits every logged row
    assert one.status_code == 200, one.text
    assert one.json()["predictions"][0]["probability"] == want > 0.5
    assert bad.status_code == 422 and "body.text: must be a string, got number" in bad.text
    assert f"replayed {test_rows} rows" in replayed.stdout

    # monitor the served log: the served test rows' quality is the one dvclive measured
    monitored = graft(
        project, "monitor", "--package", released["archive"], "--log-db", log, "--format", "json", check=False
    )
    result = json.loads(monitored.stdout)
    assert (result["window"]["predictions"], result["window"]["feedback"]) == (test_rows + 1, test_rows)
    assert result["feedback"]["roc_auc"] == pytest.approx(expected["main"]["roc_auc.test"], abs=1e-6)
    assert (monitored.returncode, result["alerts"]) == (0, [])

    # a fresh clone, empty DVC cache: the same values, fetched from the remote
    dvc(project, "push", "-a", "-q")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(project), fresh.name)
    for branch in branches:
        git(fresh, "branch", "-q", "--track", branch, f"origin/{branch}")
    dvc(fresh, "remote", "modify", "--local", "storage", "url", str(remote))
    assert len(cache_objects(fresh)) == 0
    again = json.loads(graft(fresh, "diff", "--all", "--format", "json").stdout)
    assert diff_metrics(again) == expected
    assert len(cache_objects(fresh)) > 0
    fresh_report = tmp_path / "fresh-report" / "report.md"
    graft(fresh, "report", "--base", "main", "--head", "exp/try-c", "-o", str(fresh_report))
    assert fresh_report.read_text() == report
    assert (fresh_report.parent / "report_plots" / "ROC.png").read_bytes() == (
        report_path.parent / "report_plots" / "ROC.png"
    ).read_bytes()
    fresh_gate = graft(fresh, *gate, "--head", "exp/try-c", check=False)
    assert (fresh_gate.returncode, fresh_gate.stdout) == (0, passed.stdout)
