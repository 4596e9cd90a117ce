"""`graft check-repro`: working tree vs HEAD for dvc.lock and metrics/, with what differs."""

import json

import pytest
import yaml

from graft.cli import main
from graft.release.check import check_repro
from tests.conftest import git

LOCK = {
    "schema": "2.0",
    "stages": {
        "train": {
            "cmd": "python -m stages.train",
            "deps": [{"path": "data/features/train.parquet", "md5": "1" * 32}],
            "params": {"params.yaml": {"train": {"learning_rate": 0.03}}},
            "outs": [{"path": "models/model.txt", "md5": "a" * 32}],
        }
    },
}


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "metrics" / "plots").mkdir(parents=True)
    (root / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    (root / "metrics" / "metrics.json").write_text(
        json.dumps({"roc_auc": 0.9, "fairness": {"sex": {"dp": 0.1}}})
    )
    (root / "metrics" / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
    (root / ".gitignore").write_text("metrics/*.tmp\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "results")
    return root


def test_identical_results_pass(repo, capsys):
    (repo / "metrics" / "scratch.tmp").write_text("ignored by git")
    assert check_repro(repo) == []
    assert main(["check-repro", "-C", str(repo)]) == 0
    assert "match HEAD" in capsys.readouterr().out


def test_changed_metric_names_the_file_and_keys(repo, capsys):
    (repo / "metrics" / "metrics.json").write_text(
        json.dumps({"roc_auc": 0.8, "fairness": {"sex": {"dp": 0.1}}})
    )
    [diff] = check_repro(repo)
    assert (diff.path, diff.status, diff.details) == (
        "metrics/metrics.json",
        "changed",
        ["roc_auc: 0.9 -> 0.8"],
    )
    assert main(["check-repro", "-C", str(repo)]) == 1
    captured = capsys.readouterr()
    assert "roc_auc: 0.9 -> 0.8" in captured.out
    assert "metrics/metrics.json" in captured.err


def test_changed_lock_names_stage_and_output(repo):
    lock = json.loads(json.dumps(LOCK))
    lock["stages"]["train"]["outs"][0]["md5"] = "b" * 32
    lock["stages"]["train"]["params"]["params.yaml"]["train"]["learning_rate"] = 0.05
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    [diff] = check_repro(repo)
    assert diff.path == "dvc.lock"
    assert f"train: out models/model.txt: {'a' * 32} -> {'b' * 32}" in diff.details
    assert "train: param params.yaml:train.learning_rate: 0.03 -> 0.05" in diff.details


def test_missing_and_new_files_are_reported(repo):
    (repo / "metrics" / "plots" / "roc.csv").unlink()
    (repo / "metrics" / "extra.json").write_text("{}")
    (repo / "metrics" / "plots" / "roc.csv.bak").write_bytes(b"x")
    found = {(d.path, d.status) for d in check_repro(repo)}
    assert found == {
        ("metrics/plots/roc.csv", "missing"),
        ("metrics/extra.json", "new"),
        ("metrics/plots/roc.csv.bak", "new"),
    }


def test_explicit_paths_limit_the_check(repo):
    (repo / "metrics" / "metrics.json").write_text("{}")
    assert check_repro(repo, ["dvc.lock"]) == []
    assert [d.path for d in check_repro(repo, ["metrics/metrics.json"])] == ["metrics/metrics.json"]
