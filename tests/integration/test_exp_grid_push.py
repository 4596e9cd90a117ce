"""`graft exp grid` (parallel, with failing points) and `graft exp new --push` on a real project."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from graft import api
from graft.cli import main
from tests.conftest import git
from tests.integration.conftest import checked_out_project, dvc, repo_state
from tests.schemas import validate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(module_env, tmp_path_factory) -> Path:
    """A project with a bare Git remote `origin` and a local-directory default DVC remote."""
    base = tmp_path_factory.mktemp("exp-grid")
    root = checked_out_project(base / "project")
    git(base, "init", "-q", "--bare", "origin.git")
    git(root, "remote", "add", "origin", str(base / "origin.git"))
    (base / "dvc-remote").mkdir()
    dvc(root, "remote", "add", "-d", "local", str(base / "dvc-remote"))
    git(root, "commit", "-q", "-am", "DVC remote")
    return root


def test_push_sends_the_branch_and_its_data(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    # evaluate-only change: cheap to run, and dvc push must still send every output (model included)
    assert main(["exp", "new", "pushed", "--set", "evaluate.threshold=0.4", "--push"]) == 0
    out = capsys.readouterr().out
    assert "pushed exp/pushed" in out
    # an empty remote: everything the branch names is sent (a run-cache entry for each of the 6 stages)
    sent = re.search(
        r"DVC remote: uploaded (\d+) of (\d+) output object\(s\) and (\d+) of (\d+) run-cache", out
    )
    assert sent is not None, out
    objects, entries = int(sent[2]), int(sent[4])
    assert (int(sent[1]), int(sent[3])) == (objects, entries) and entries == 6
    remote = repo.parent / "origin.git"
    assert git(remote, "rev-parse", "refs/heads/exp/pushed") == git(repo, "rev-parse", "exp/pushed")
    lock = yaml.safe_load(git(repo, "show", "exp/pushed:dvc.lock"))
    (md5,) = [o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.txt"]
    assert (repo.parent / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1

    # the same point again (every stage from the run cache): the remote holds it all, nothing is sent
    assert (
        main(["exp", "new", "pushed-again", "--set", "evaluate.threshold=0.4", "--push", "--format", "json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    validate(result, "exp-new")
    assert result["uploaded"] == {
        "objects": objects,
        "objects_uploaded": 0,
        "run_cache": entries,
        "run_cache_uploaded": 0,
    }
    assert git(remote, "rev-parse", "refs/heads/exp/pushed-again") == result["commit"]


def test_grid_runs_in_parallel_and_reports_every_failure(repo):
    events = []
    outcomes = api.exp_grid(
        # num_leaves=1 is rejected by LightGBM in the train stage; the others only re-evaluate
        ["train.num_leaves=1,31", "evaluate.threshold=0.4,0.5"],
        jobs=2,
        cwd=repo,
        progress=events.append,
    )
    names = [o.spec.name for o in outcomes]
    assert names == [
        "grid-num_leaves-1-threshold-0.4",
        "grid-num_leaves-1-threshold-0.5",
        "grid-num_leaves-31-threshold-0.4",
        "grid-num_leaves-31-threshold-0.5",
    ]
    # two points were running at the same time
    kinds = [e.event for e in events]
    assert kinds.index("finished") >= 2
    assert kinds.count("started") == kinds.count("finished") == 4
    ok = {o.spec.name for o in outcomes if o.ok}
    assert ok == {"grid-num_leaves-31-threshold-0.4", "grid-num_leaves-31-threshold-0.5"}
    branches = set(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/exp/grid-*").split())
    assert branches == {f"exp/{n}" for n in ok}
    for o in outcomes:
        if not o.ok:
            assert o.log is not None and o.log.is_file() and "num_leaves" in o.log.read_text()
            assert str(o.log) in o.error
    params = yaml.safe_load(git(repo, "show", "exp/grid-num_leaves-31-threshold-0.4:params.yaml"))
    assert params["evaluate"]["threshold"] == 0.4
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert git(repo, "status", "--porcelain") == ""


def test_grid_cli_shows_progress_and_exits_3_on_failure(repo):
    proc = subprocess.run(
        [
            "graft",
            "exp",
            "grid",
            "--set",
            "train.num_leaves=1,31",
            "--set",
            "evaluate.threshold=0.4",
            "--prefix",
            "cli",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "graft exp: running 2 experiment(s), 2 at a time"
    finished = [line for line in lines if line.startswith("[")]
    assert len(finished) == 2 and all(line.endswith("s)") for line in finished)
    assert any("FAILED exp/cli-num_leaves-1-threshold-0.4" in line for line in finished)
    assert any("ok     exp/cli-num_leaves-31-threshold-0.4" in line for line in finished)
    assert "1 of 2 experiment(s) failed:" in proc.stderr and "[log: " in proc.stderr
    assert proc.stdout.startswith("exp/cli-num_leaves-31-threshold-0.4\t")


def test_grid_checks_every_point_before_creating_any(repo, monkeypatch, capsys):
    before = git(repo, "for-each-ref", "--format=%(refname)")
    monkeypatch.chdir(repo)
    code = main(["exp", "grid", "--set", "train.num_leaves=15,31", "--set", "train.seed=1,x"])
    assert code == 3 and "expected int" in capsys.readouterr().err
    assert git(repo, "for-each-ref", "--format=%(refname)") == before


def test_list_reports_real_experiments(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["exp", "list", "--format", "json"]) == 0

    rows = {r["branch"]: r for r in json.loads(capsys.readouterr().out)}
    row = rows["exp/pushed"]
    metrics = json.loads(git(repo, "show", "exp/pushed:metrics/metrics.json"))
    assert row["metrics"] == {"roc_auc": metrics["roc_auc"], "log_loss": metrics["log_loss"]}
    assert row["base"] == git(repo, "rev-parse", "--short=8", "main")
    assert (row["ahead"], row["behind"]) == (1, 0)
    assert row["stale"] == {"data": False, "code": False, "params": False}
    assert row["changes"] == {"evaluate.threshold": 0.4}
    assert main(["exp", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:5] == ["branch", "sha", "base", "ahead", "behind"]
    assert any(line.startswith("exp/pushed") and f"{metrics['roc_auc']:.4f}" in line for line in table)


def test_grid_dry_run_lists_checked_points_and_creates_nothing(repo):
    before = repo_state(repo)
    axes = ["--set", "train.num_leaves=15,31", "--set", "featurize.engineered=[a, b],[]"]
    proc = subprocess.run(
        ["graft", "exp", "grid", *axes, "--prefix", "wf", "--dry-run", "--format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    validate(json.loads(proc.stdout), "exp-grid")
    assert json.loads(proc.stdout) == [
        {
            "name": "wf-num_leaves-15-engineered-a_b",
            "sets": ["train.num_leaves=15", "featurize.engineered=[a, b]"],
        },
        {"name": "wf-num_leaves-15-engineered-_", "sets": ["train.num_leaves=15", "featurize.engineered=[]"]},
        {
            "name": "wf-num_leaves-31-engineered-a_b",
            "sets": ["train.num_leaves=31", "featurize.engineered=[a, b]"],
        },
        {"name": "wf-num_leaves-31-engineered-_", "sets": ["train.num_leaves=31", "featurize.engineered=[]"]},
    ]
    bad = subprocess.run(
        ["graft", "exp", "grid", "--set", "train.num_leaves=15,x", "--dry-run"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 3 and "expected int" in bad.stderr and bad.stdout == ""
    assert repo_state(repo) == before


def test_an_output_in_neither_the_cache_nor_the_remote_stops_the_push(repo, tmp_path):
    """Before anything is uploaded: one line naming the output (the branch would not be pushed)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (md5,) = [o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.txt"]
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    empty = tmp_path / "empty-remote"
    empty.mkdir()
    dvc(repo, "remote", "add", "--local", "-d", "empty", str(empty))
    aside = tmp_path / "model-object"
    cached.rename(aside)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "graft.core.dvcremote", "push-run"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        aside.rename(cached)
        dvc(repo, "remote", "remove", "--local", "empty")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"error: output models/model.txt: object {md5} is neither in this machine's DVC cache nor on "
        "the DVC remote (run its stage again, or push it from where it was made)\n"
    )
    assert list(empty.rglob("*")) == []  # checked first: nothing was uploaded
