"""The whole pipeline under DVC in a fresh copy of the project (no DVC cache): reproducible
outputs, the committed dvc.lock reproduced, and the usual DVC commands working on it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import copy_project, git, isolate_git_env, run

pytestmark = pytest.mark.slow

STAGES = ("ingest", "validate", "featurize", "train", "evaluate", "gate")
OUTPUTS = (
    "models/model.txt",
    "metrics/train.json",
    "metrics/metrics.json",
    "metrics/fairness.json",
    "metrics/gate.json",
    "metrics/predictions.parquet",
    "metrics/plots/roc.csv",
    "metrics/plots/importance.csv",
    "data/features/train.parquet",
    "data/features/spec.json",
    "reports/validation.json",
    "dvc.lock",
)


def digests(project: Path) -> dict[str, str]:
    return {p: hashlib.sha256((project / p).read_bytes()).hexdigest() for p in OUTPUTS}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two forced runs of the whole pipeline in a fresh copy without a DVC cache."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("home"))
        project = copy_project(tmp_path_factory.mktemp("fresh") / "project", with_cache=False)
        assert not (project / "models/model.txt").exists()
        first = run(project, "dvc", "repro", "--force")
        assert first.returncode == 0, first.stdout + first.stderr
        after_first = digests(project)
        status_after_first = git(project, "status", "--porcelain")
        second = run(project, "dvc", "repro", "--force")
        assert second.returncode == 0, second.stdout + second.stderr
        yield {
            "project": project,
            "first": first,
            "after_first": after_first,
            "status_after_first": status_after_first,
            "after_second": digests(project),
        }


def test_every_stage_ran(fresh):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in fresh["first"].stdout


def test_forced_runs_are_byte_identical(fresh):
    assert fresh["after_second"] == fresh["after_first"]


def test_a_fresh_clone_reproduces_the_committed_lock_and_metrics(fresh):
    """dvc.lock, metrics, plots, predictions and the validation report equal the committed ones."""
    assert fresh["status_after_first"] == ""
    assert git(fresh["project"], "status", "--porcelain") == ""


def test_dvc_status_is_clean_and_a_noop_repro_runs_nothing(fresh):
    status = run(fresh["project"], "dvc", "status")
    assert status.returncode == 0
    assert "Data and pipelines are up to date." in status.stdout
    noop = run(fresh["project"], "dvc", "repro")
    assert noop.returncode == 0
    assert "Running stage" not in noop.stdout
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in noop.stdout


def test_dvc_metrics_show_json(fresh):
    proc = run(fresh["project"], "dvc", "metrics", "show", "--json")
    assert proc.returncode == 0, proc.stderr
    [revision] = json.loads(proc.stdout).values()  # the workspace (keyed "" or "workspace")
    shown = revision["data"]
    on_disk = json.loads((fresh["project"] / "metrics/metrics.json").read_text(encoding="utf-8"))
    metrics = shown["metrics/metrics.json"]["data"]
    assert metrics == on_disk
    assert metrics["roc_auc"] >= 0.926
    assert shown["metrics/gate.json"]["data"]["passed"] is True
    assert shown["reports/validation.json"]["data"]["passed"] is True


def test_dvc_plots_show_writes_html(fresh, tmp_path):
    out = tmp_path / "plots"
    proc = run(fresh["project"], "dvc", "plots", "show", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    for title in ("ROC curve (test split)", "Confusion matrix (threshold 0.5)", "Feature importance (gain)"):
        assert title in html


def test_dvc_params_diff_shows_a_changed_train_param(fresh):
    params = fresh["project"] / "params.yaml"
    original = params.read_text(encoding="utf-8")
    try:
        params.write_text(original.replace("num_leaves: 31", "num_leaves: 63"), encoding="utf-8")
        proc = run(fresh["project"], "dvc", "params", "diff", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {
            "params.yaml": {"train.num_leaves": {"old": 31, "new": 63, "diff": 32}}
        }
        status = run(fresh["project"], "dvc", "status").stdout
        assert "train:" in status and "modified:" in status and "featurize:" not in status
    finally:
        params.write_text(original, encoding="utf-8")
