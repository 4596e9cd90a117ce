"""`graft check-repro`: working tree vs HEAD for dvc.lock and every result file the project declares.

The synthetic project keeps its results where dvc.yaml says (``eval/``, ``plots/``), not under
``metrics/``: the files compared come from the project layer, not from a folder name.
"""

import json

import pytest
import yaml

from graft.cli import main
from graft.release.check import check_repro, result_paths, working_metrics
from tests.conftest import git

LOCK = {
    "schema": "2.0",
    "stages": {
        "train": {
            "cmd": "python src/train.py",
            "deps": [{"path": "data/source.csv", "md5": "1" * 32}],
            "params": {"params.yaml": {"train": {"alpha": 0.5}}},
            "outs": [{"path": "model/model.txt", "md5": "a" * 32}],
        }
    },
}
DVC_YAML = {
    "stages": {
        "train": {
            "cmd": "python src/train.py",
            "deps": ["data/source.csv"],
            "params": ["train"],
            "outs": ["model/model.txt", {"out/predictions.csv": {"cache": False}}],
            "metrics": [{"eval/scores.json": {"cache": False}}, {"eval/extra.yaml": {"cache": False}}],
            "plots": [{"eval/residuals.csv": {"cache": False}}],
        }
    },
    "plots": [{"Learning curve": {"x": "step", "y": {"plots/curve.csv": "loss"}}}],
    "artifacts": {"diabetes": {"path": "model/model.txt", "type": "model"}},
}
GRAFT_YAML = {
    "task": {"type": "regression"},
    "metrics": {"file": "eval/scores.json"},
    "predictions": {"path": "out/predictions.csv", "id": "id", "label": "y", "score": "pred"},
    "gate": {"thresholds": {"rmse": {"max": 60.0}, "r2": {"min": 0.4}}},
}
RESULTS = {
    "eval/scores.json": json.dumps({"rmse": 55.0, "r2": 0.45, "by_split": {"test": {"mae": 44.0}}}),
    "eval/extra.yaml": "calibration: {slope: 1.01}\n",
    "eval/residuals.csv": "id,residual\n1,0.5\n",
    "plots/curve.csv": "step,loss\n0,1.0\n1,0.5\n",
    "out/predictions.csv": "id,y,pred\n1,100,101\n",
}


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("")
    (root / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    (root / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    (root / "graft.yaml").write_text(yaml.safe_dump(GRAFT_YAML))
    (root / "params.yaml").write_text("train: {alpha: 0.5}\n")
    for path, text in RESULTS.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "notes").mkdir()
    (root / "notes" / "todo.md").write_text("not a result\n")
    (root / ".gitignore").write_text("*.tmp\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "results")
    return root


def test_the_files_compared_are_the_declared_results(repo):
    from graft.project import Project

    assert result_paths(Project(repo).work()) == [
        "dvc.lock",
        "eval/scores.json",
        "eval/extra.yaml",
        "plots/curve.csv",
        "eval/residuals.csv",
        "out/predictions.csv",
    ]


def test_identical_results_pass(repo, capsys):
    (repo / "eval" / "scratch.tmp").write_text("ignored by git")
    (repo / "notes" / "todo.md").write_text("edited, but not a result\n")
    assert check_repro(repo) == []
    assert main(["check-repro", "-C", str(repo)]) == 0
    assert "match HEAD" in capsys.readouterr().out


def test_a_changed_metrics_file_at_another_path_fails_naming_the_keys(repo, capsys):
    (repo / "eval" / "scores.json").write_text(
        json.dumps({"rmse": 54.0, "r2": 0.45, "by_split": {"test": {"mae": 43.5}}})
    )
    [diff] = check_repro(repo)
    assert (diff.path, diff.status, diff.details) == (
        "eval/scores.json",
        "changed",
        ["by_split.test.mae: 44.0 -> 43.5", "rmse: 55.0 -> 54.0"],
    )
    assert main(["check-repro", "-C", str(repo)]) == 1
    captured = capsys.readouterr()
    assert "rmse: 55.0 -> 54.0" in captured.out
    assert "eval/scores.json" in captured.err


@pytest.mark.parametrize(
    ("path", "text", "details"),
    [
        ("eval/extra.yaml", "calibration: {slope: 0.99}\n", ["calibration.slope: 1.01 -> 0.99"]),
        ("plots/curve.csv", "step,loss\n0,1.0\n1,0.4\n", []),
        ("eval/residuals.csv", "id,residual\n1,0.6\n", []),
        ("out/predictions.csv", "id,y,pred\n1,100,102\n", []),
    ],
)
def test_every_declared_result_counts(repo, path, text, details):
    (repo / path).write_text(text)
    assert [(d.path, d.status, d.details) for d in check_repro(repo)] == [(path, "changed", details)]


def test_changed_lock_names_stage_and_output(repo):
    lock = json.loads(json.dumps(LOCK))
    lock["stages"]["train"]["outs"][0]["md5"] = "b" * 32
    lock["stages"]["train"]["params"]["params.yaml"]["train"]["alpha"] = 0.7
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    [diff] = check_repro(repo)
    assert diff.path == "dvc.lock"
    assert f"train: out model/model.txt: {'a' * 32} -> {'b' * 32}" in diff.details
    assert "train: param params.yaml:train.alpha: 0.5 -> 0.7" in diff.details


def test_missing_and_newly_declared_results_are_reported(repo):
    (repo / "plots" / "curve.csv").unlink()
    declared = json.loads(json.dumps(DVC_YAML))
    declared["stages"]["train"]["metrics"].append({"eval/new.json": {"cache": False}})
    (repo / "dvc.yaml").write_text(yaml.safe_dump(declared))
    (repo / "eval" / "new.json").write_text("{}")
    found = {(d.path, d.status) for d in check_repro(repo)}
    assert found == {("plots/curve.csv", "missing"), ("eval/new.json", "new")}


def test_unreadable_metrics_say_so(repo):
    (repo / "eval" / "scores.json").write_text("{not json")
    [diff] = check_repro(repo)
    assert (diff.path, diff.details) == ("eval/scores.json", ["unreadable"])


def test_explicit_paths_limit_the_check(repo):
    (repo / "eval" / "scores.json").write_text("{}")
    assert check_repro(repo, ["dvc.lock"]) == []
    assert [d.path for d in check_repro(repo, ["eval"])] == ["eval/scores.json"]


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("eval/scroes.json", "'eval/scroes.json'"),  # a typo: it used to "match HEAD", nothing compared
        ("missing", "'missing'"),
        ("x" * 5000, "'" + "x" * 77 + "...'"),  # past the file system's name length: an OSError before
    ],
)
def test_a_named_path_that_is_nowhere_is_a_usage_error(repo, capsys, path, shown):
    assert main(["check-repro", "-C", str(repo), "eval/scores.json", path]) == 2
    err = capsys.readouterr().err
    nowhere = "no such file or folder at HEAD or in the working tree (nothing to compare)"
    assert err == f"graft: error: {shown}: {nowhere}\n"
    assert git(repo, "status", "--porcelain") == ""


def test_working_metrics_and_the_gate_thresholds(repo):
    summary = working_metrics(repo)
    assert summary["metrics"]["rmse"] == 55.0
    assert summary["metrics"]["eval/extra.yaml:calibration.slope"] == 1.01
    assert summary["gate"] is True
    (repo / "eval" / "scores.json").write_text(json.dumps({"rmse": 61.0}))
    assert working_metrics(repo)["gate"] is False  # rmse above its max, r2 missing
