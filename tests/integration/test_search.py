"""`graft exp search` on the real pipeline: trials stop at the validation objective's stage, the
study resumes, a second study with the same seed makes the same trials, the best are kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, git
from tests.integration.conftest import checked_out_project, repo_state

pytestmark = pytest.mark.slow

SPACE = ["--param", "train.num_leaves=int:8..64:log", "--param", "train.learning_rate=float:0.1..0.3:log"]
OBJECTIVE = "metrics/train.json:valid_log_loss"


def graft(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "graft"), *args], cwd=cwd, capture_output=True, text=True, check=False)


def shown(root: Path, name: str) -> dict:
    proc = graft(root, "exp", "search", "show", name, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def repo(module_env, tmp_path_factory) -> Path:
    return checked_out_project(tmp_path_factory.mktemp("search") / "project")


@pytest.fixture(scope="module")
def first(repo):
    """Two trials, then resumed to three; the best one kept."""
    started = graft(repo, "exp", "search", "s", "--trials", "2", *SPACE, "--seed", "3", "--keep", "1")
    resumed = graft(repo, "exp", "search", "s", "--trials", "3", "--seed", "3", "--keep", "1")
    return started, resumed


def test_search_runs_and_resumes(repo, first):
    started, resumed = first
    assert started.returncode == 0, started.stderr
    assert started.stderr.splitlines()[0].startswith(
        "search s: new, 2 trial(s) in all, 2 at a time; study: sqlite:"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines()[0].startswith(
        "search s: resuming (2 trial(s) in the study), 3 trial(s)"
    )
    doc = shown(repo, "s")
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2]
    assert all(t["state"] == "complete" and isinstance(t["value"], float) for t in doc["trials"])
    assert doc["objective"] == OBJECTIVE and doc["direction"] == "lower"
    assert doc["config"]["space"] == [
        "train.num_leaves=int:8..64:log",
        "train.learning_rate=float:0.1..0.3:log",
    ]
    assert (doc["config"]["seed"], doc["config"]["batch"]) == (3, 2)
    best = min(doc["trials"], key=lambda t: t["value"])
    assert doc["best"] == best["number"]


def test_trials_never_reach_the_test_split(repo, first):
    for trial in shown(repo, "s")["trials"]:
        assert set(trial["stages"]) == {"ingest", "validate", "featurize", "train"}, trial["stages"]
        assert trial["stages"]["train"] == "ran"


def test_the_best_trial_is_kept_as_a_branch(repo, first):
    doc = shown(repo, "s")
    best = next(t for t in doc["trials"] if t["number"] == doc["best"])
    branch = f"exp/s-t{best['number']:03d}"
    assert best["branch"] == branch
    assert [t["branch"] for t in doc["trials"] if t["number"] != doc["best"]] == [None, None]
    params = yaml.safe_load(git(repo, "show", f"{branch}:params.yaml"))["train"]
    assert params["num_leaves"] == best["params"]["train.num_leaves"]
    assert params["learning_rate"] == best["params"]["train.learning_rate"]
    train = json.loads(git(repo, "show", f"{branch}:metrics/train.json"))
    assert train["valid_log_loss"] == best["value"]
    # the kept branch ran the whole pipeline (test metrics included), restoring train
    assert git(repo, "diff", "--name-only", "main", branch).count("metrics/metrics.json") == 1
    assert f"kept {branch} at " in first[0].stdout + first[1].stdout


def test_same_seed_gives_the_same_trials(repo, first):
    again = graft(repo, "exp", "search", "t", "--trials", "3", *SPACE, "--seed", "3", "--keep", "0")
    assert again.returncode == 0, again.stderr
    a, b = shown(repo, "s")["trials"], shown(repo, "t")["trials"]
    assert [(t["params"], t["value"]) for t in a] == [(t["params"], t["value"]) for t in b]
    # same params, same code: every trial's train stage came from the run cache
    assert all(t["stages"]["train"] == "restored" for t in b)


def test_show_table(repo, first):
    proc = graft(repo, "exp", "search", "show", "s")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"search s: {OBJECTIVE} (lower is better); study: sqlite:")
    assert lines[1].split() == [
        "trial",
        "state",
        OBJECTIVE,
        "train.num_leaves",
        "train.learning_rate",
        "seconds",
        "branch",
    ]
    assert len(lines) == 5 and sum("*" in line.split()[0] for line in lines[2:]) == 1


def test_refusals_change_nothing(repo, first):
    before = repo_state(repo)
    cases = [
        (["s", "--trials", "4", "--seed", "4"], 2, "search 's' was started with --seed 3, not 4"),
        (["u", "--trials", "2"], 2, "search 'u' is new: give its space with --param or --space"),
        (["u", "--param", "train.num_levs=int:1..4"], 1, "no key 'train.num_levs' in params.yaml"),
        (["show", "nothing"], 1, "no search 'nothing' here"),
        (["u", "--trials", "0", *SPACE], 2, "--trials must be at least 1 (got 0)"),
    ]
    for args, code, message in cases:
        proc = graft(repo, "exp", "search", *args)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (repo / ".graft" / "search" / "u.db").exists()
    after = repo_state(repo)
    assert {k: v for k, v in after.items() if k != "files"} == {
        k: v for k, v in before.items() if k != "files"
    }
