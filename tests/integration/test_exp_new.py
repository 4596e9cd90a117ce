"""`graft exp new` against a real Git + DVC project: success, refusals, run failures, --no-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graft.cli import main
from tests.conftest import git
from tests.integration.conftest import checked_out_project, file_hashes, repo_state

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(module_env, tmp_path_factory) -> Path:
    return checked_out_project(tmp_path_factory.mktemp("exp-new") / "project")


@pytest.fixture(scope="module")
def built(repo):
    """One real experiment, shared by the assertions below."""
    before = repo_state(repo)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo)
        code = main(["exp", "new", "leaves63", "--set", "train.num_leaves=63"])
    return code, before, repo_state(repo)


def run(repo: Path, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.chdir(repo)
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def show(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


def test_new_creates_the_branch_with_a_commit_listing_the_overrides(repo, built):
    code, _, _ = built
    assert code == 0
    assert git(repo, "branch", "--list", "exp/leaves63") != ""
    message = git(repo, "log", "-1", "--format=%B", "exp/leaves63")
    assert message.splitlines()[0] == "exp leaves63: train.num_leaves=63"
    assert "train.num_leaves: 31 -> 63" in message
    assert git(repo, "rev-parse", "exp/leaves63~1") == git(repo, "rev-parse", "main")


def test_new_changes_params_only_at_that_key_and_keeps_comments(repo, built):
    old, new = show(repo, "main", "params.yaml"), show(repo, "exp/leaves63", "params.yaml")
    # the value changes; its line's trailing comment and every other line stay
    assert new == old.replace("  num_leaves: 31    ", "  num_leaves: 63    ", 1)
    assert "  num_leaves: 63              # LightGBM, XGBoost\n" in new
    assert "# Parameters of the reference pipeline." in new
    assert yaml.safe_load(new)["train"]["num_leaves"] == 63


def test_new_commits_the_pipeline_results(repo, built):
    changed = set(git(repo, "diff", "--name-only", "main", "exp/leaves63").splitlines())
    assert {"params.yaml", "dvc.lock", "metrics/metrics.json", "metrics/train.json"} <= changed
    assert all(p in ("params.yaml", "dvc.lock") or p.startswith("metrics/") for p in changed)
    main_metrics = json.loads(show(repo, "main", "metrics/metrics.json"))
    exp_metrics = json.loads(show(repo, "exp/leaves63", "metrics/metrics.json"))
    assert main_metrics != exp_metrics
    lock = yaml.safe_load(show(repo, "exp/leaves63", "dvc.lock"))
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["num_leaves"] == 63


def test_new_never_touches_the_users_checkout(repo, built):
    _, before, after = built
    # status, HEAD, worktrees and every file (DVC outputs included) as before; refs: one more branch
    assert {k: v for k, v in after.items() if k != "branches"} == {
        k: v for k, v in before.items() if k != "branches"
    }
    new_ref = f"refs/heads/exp/leaves63 {git(repo, 'rev-parse', 'exp/leaves63')}"
    assert sorted(after["branches"].splitlines()) == sorted([*before["branches"].splitlines(), new_ref])
    assert "data/features/train.parquet" in after["files"] and "models/model.txt" in after["files"]
    assert git(repo, "status", "--porcelain") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert list((repo / ".graft" / "worktrees").iterdir()) == []
    assert list((repo / ".graft" / "logs").iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["exp", "new", "taken"], "already exists"),
        (["exp", "new", "bad..name"], "not a valid"),
        (["exp", "new", "trailing.lock"], "not a valid"),
        (["exp", "new", "x", "--set", "train.num_leafs=3"], "train.num_leafs"),
        (["exp", "new", "x", "--set", "train.num_leaves=3.5"], "expected int"),
        (["exp", "new", "x", "--set", "train.objective=[a]"], "expected str"),
        (["exp", "new", "x", "--set", "num_leaves"], "section.key=value"),
        (["exp", "new", "x", "--base", "no-such-rev"], "no-such-rev"),
        (["exp", "new", "x", "--push"], "origin"),
    ],
)
def test_refusals_change_nothing(repo, built, monkeypatch, capsys, argv, needle):
    if "refs/heads/exp/taken" not in git(repo, "for-each-ref", "--format=%(refname)"):
        git(repo, "branch", "exp/taken", "main")
    before = repo_state(repo)
    code, out, err = run(repo, monkeypatch, capsys, *argv)
    assert code in (2, 3)
    assert needle in err and len(err.strip().splitlines()) == 1 and out == ""
    assert repo_state(repo) == before


def _append_newline(path: Path) -> None:
    path.write_text(path.read_text() + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda root: _append_newline(root / "params.yaml"), "params.yaml"),
        # what `dvc exp run` leaves behind; the first porcelain line starts with a blank (" M")
        (lambda root: _append_newline(root / "dvc.lock"), "dvc.lock"),
        (lambda root: (root / "notes.txt").write_text("scratch\n", encoding="utf-8"), "notes.txt"),
    ],
    ids=["modified", "modified-dvc-lock", "untracked"],
)
def test_dirty_tree_is_refused(repo, built, monkeypatch, capsys, change, named):
    pristine = {p: (repo / p).read_bytes() for p in ["params.yaml", "dvc.lock"]}
    change(repo)
    try:
        before = repo_state(repo)
        code, _, err = run(repo, monkeypatch, capsys, "exp", "new", "dirty", "--set", "train.num_leaves=15")
        assert code == 3 and f"uncommitted changes ({named});" in err, err
        assert repo_state(repo) == before
    finally:
        for p, data in pristine.items():
            (repo / p).write_bytes(data)
        (repo / "notes.txt").unlink(missing_ok=True)
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        ("gate.thresholds.roc_auc.min=0.99", "below the minimum 0.99"),
        ("featurize.missing.policy=bogus", "featurize.missing.policy"),
    ],
    ids=["gate-breach", "value-rejected-by-stage"],
)
def test_run_failure_leaves_no_branch_and_keeps_the_log(repo, built, monkeypatch, capsys, sets, needle):
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    files = {k: v for k, v in file_hashes(repo).items() if not k.startswith(".graft/")}
    code, _, err = run(repo, monkeypatch, capsys, "exp", "new", "doomed", "--set", sets)
    assert code == 3
    assert needle in err and "no branch created" in err
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == refs
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert list((repo / ".graft" / "worktrees").iterdir()) == []
    log = Path(err.rsplit("log: ", 1)[1].strip())
    assert log.is_file() and log.parent == repo / ".graft" / "logs" and log.name.startswith("doomed-")
    assert needle in log.read_text()
    assert git(repo, "status", "--porcelain") == ""
    assert {k: v for k, v in file_hashes(repo).items() if not k.startswith(".graft/")} == files
    log.unlink()


def test_no_run_commits_only_params(repo, built, monkeypatch, capsys):
    code, out, _ = run(
        repo, monkeypatch, capsys, "exp", "new", "norun", "--no-run", "--set", "train.learning_rate=0.1"
    )
    assert code == 0 and "exp/norun" in out
    assert git(repo, "diff", "--name-only", "main", "exp/norun") == "params.yaml"
    assert "not run (--no-run)" in git(repo, "log", "-1", "--format=%B", "exp/norun")
