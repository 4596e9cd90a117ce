"""`graft gate` and `graft exp list` staleness on throwaway repositories (Git only, no pipeline run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graft.cli import main
from tests.conftest import git

pytestmark = pytest.mark.slow


def commit_edit(root: Path, path: str, edit, message: str) -> None:
    target = root / path
    target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    git(root, "commit", "-q", "-am", message)


def shift_metric(name: str, delta: float):
    def edit(text: str) -> str:
        data = json.loads(text)
        data[name] = round(data[name] + delta, 6)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    return edit


def gate(root: Path, monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    monkeypatch.chdir(root)
    code = main(["gate", *argv])
    return code, capsys.readouterr().out


def test_gate_passes_on_an_unchanged_head_with_a_table(project, monkeypatch, capsys):
    code, out = gate(project, monkeypatch, capsys, "--base", "main")
    assert code == 0
    assert out.startswith("gate passed: head HEAD")
    assert any(line.split()[0] == "roc_auc" for line in out.splitlines()[2:])


def test_gate_fails_on_a_regression_beyond_tolerance(project, monkeypatch, capsys):
    base = json.loads((project / "metrics/metrics.json").read_text())
    git(project, "switch", "-q", "-c", "worse")
    commit_edit(project, "metrics/metrics.json", shift_metric("roc_auc", -0.0015), "within tolerance")
    assert gate(project, monkeypatch, capsys, "--base", "main")[0] == 0
    commit_edit(project, "metrics/metrics.json", shift_metric("log_loss", +0.003), "worse log loss")
    code, out = gate(project, monkeypatch, capsys, "--base", "main", "--head", "worse")
    assert code == 1
    (line,) = [line for line in out.splitlines() if "FAIL" in line and "log_loss" in line]
    assert f"head {base['log_loss'] + 0.003:.6g}" in line and f"base {base['log_loss']:.6g}" in line
    assert "lower is better, tolerance 0.002" in line
    assert not any("FAIL roc_auc" in line for line in out.splitlines())


def test_gate_fails_on_an_absolute_threshold_of_the_head(project, monkeypatch, capsys):
    git(project, "switch", "-q", "-c", "strict")
    commit_edit(
        project, "params.yaml", lambda t: t.replace("roc_auc: {min: 0.926}", "roc_auc: {min: 0.99}"), "strict"
    )
    code, out = gate(project, monkeypatch, capsys, "--base", "main")
    assert code == 1
    assert "FAIL roc_auc:" in out and "below the minimum 0.99" in out
    # the base's own params do not matter: swap roles and the gate passes
    assert gate(project, monkeypatch, capsys, "--base", "strict", "--head", "main")[0] == 0


def test_gate_reads_commits_unless_asked_for_the_working_tree(project, monkeypatch, capsys):
    metrics = project / "metrics/metrics.json"
    original = metrics.read_text()
    metrics.write_text(shift_metric("roc_auc", -0.05)(original))
    try:
        assert gate(project, monkeypatch, capsys, "--base", "main")[0] == 0
        code, out = gate(project, monkeypatch, capsys, "--base", "main", "--working-tree")
        assert code == 1 and "head working tree" in out and "FAIL roc_auc" in out
    finally:
        metrics.write_text(original)


def test_gate_errors_name_the_revision(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["gate", "--base", "nope"]) == 3
    assert "unknown revision 'nope'" in capsys.readouterr().err
    assert main(["gate"]) == 2


def test_list_flags_what_moved_on_main(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["exp", "new", "a", "--no-run", "--set", "train.num_leaves=63"]) == 0
    fork = git(project, "rev-parse", "--short=8", "main")

    def listed() -> dict:
        capsys.readouterr()
        assert main(["exp", "list", "--format", "json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        return row

    row = listed()
    assert row["branch"] == "exp/a" and row["base"] == fork and (row["ahead"], row["behind"]) == (1, 0)
    assert row["stale"] == {"data": False, "code": False, "params": False}
    assert row["changes"] == {"train.num_leaves": 63}
    assert row["metrics"]["roc_auc"] == json.loads((project / "metrics/metrics.json").read_text())["roc_auc"]

    commit_edit(project, "params.yaml", lambda t: t.replace("  cat_smooth: 50.0", "  cat_smooth: 40.0"), "p")
    assert listed()["stale"] == {"data": False, "code": False, "params": True}
    commit_edit(project, "stages/train.py", lambda t: t + "\n# touched\n", "code")
    commit_edit(
        project,
        "dvc.lock",
        lambda t: t.replace(
            "path: data/raw/adult.data.gz\n      hash: md5\n      md5: ",
            "path: data/raw/adult.data.gz\n      hash: md5\n      md5: 0",
            1,
        ),
        "data",
    )
    row = listed()
    assert row["stale"] == {"data": True, "code": True, "params": True}
    assert (row["ahead"], row["behind"], row["base"]) == (1, 3, fork)
    capsys.readouterr()
    assert main(["exp", "list"]) == 0
    assert "data,code,params" in capsys.readouterr().out
