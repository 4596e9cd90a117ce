"""`graft exp search` on the real pipeline: trials stop at the validation objective's stage, the
study resumes, a second study with the same seed makes the same trials, the best are kept.

The searches run once (module fixtures) in the session's shared project; every test below checks
what they left. The refusals run no trial."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from graft.cli import main
from tests.conftest import BIN, git
from tests.integration.conftest import repo_state
from tests.schemas import validate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SPACE = ["--param", "train.num_leaves=int:8..64:log", "--param", "train.learning_rate=float:0.1..0.3:log"]
OBJECTIVE = "metrics/train.json:valid_log_loss"
DEFAULT_CONSTRAINTS = [
    "metrics/train.json:valid_fairness.race.demographic_parity_difference <= 0.25",
    "metrics/train.json:valid_fairness.sex.demographic_parity_difference <= 0.25",
    "metrics/train.json:valid_fairness.sex.equalized_odds_difference <= 0.15",
    "metrics/train.json:valid_log_loss <= 0.28",
    "metrics/train.json:valid_roc_auc >= 0.926",
]


def graft(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "graft"), *args], cwd=cwd, capture_output=True, text=True, check=False)


def shown(root: Path, name: str) -> dict:
    proc = graft(root, "exp", "search", "show", name, "--format", "json")
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads(proc.stdout)
    validate(doc, "exp-search")
    return doc


@pytest.fixture(scope="module")
def repo(module_env, shared) -> Path:
    return shared.root


@pytest.fixture(scope="module")
def first(repo):
    """One trial (none kept), then resumed to two (JSON) and the best one kept."""
    started = graft(repo, "exp", "search", "s", "--trials", "1", *SPACE, "--seed", "3", "--keep", "0")
    resumed = graft(
        repo, "exp", "search", "s", "--trials", "2", "--seed", "3", "--keep", "1", "--format", "json"
    )
    return started, resumed


def test_search_runs_and_resumes(repo, first):
    started, resumed = first
    assert started.returncode == 0, started.stderr
    progress = started.stderr.splitlines()
    assert progress[0].startswith("graft exp: search s: new, 1 trial(s) in all, 2 at a time; study: sqlite:")
    assert progress[1].startswith("[1/1] trial 0: ") and len(progress) == 2
    assert (resumed.returncode, resumed.stderr) == (0, "")  # JSON mode: nothing on stderr
    result = json.loads(resumed.stdout)
    validate(result, "exp-search")
    assert (result["ran"], result["resumed"]) == (1, 0)
    doc = shown(repo, "s")
    assert [t["number"] for t in doc["trials"]] == [0, 1]
    assert all(t["state"] == "complete" and isinstance(t["value"], float) for t in doc["trials"])
    assert doc["objective"] == {"key": OBJECTIVE, "direction": "lower"}
    assert (doc["constraints"], doc["front"]) == (DEFAULT_CONSTRAINTS, [])
    assert doc["config"]["space"] == [
        "train.num_leaves=int:8..64:log",
        "train.learning_rate=float:0.1..0.3:log",
    ]
    assert (doc["config"]["seed"], doc["config"]["batch"]) == (3, 2)
    best = min(doc["trials"], key=lambda t: t["value"])
    assert doc["best"] == {"number": best["number"], "value": best["value"], "params": best["params"]}
    assert result["best"] == doc["best"] and result["objective"] == doc["objective"]


def test_trials_never_reach_the_test_split(repo, first):
    for trial in shown(repo, "s")["trials"]:
        assert set(trial["stages"]) == {"ingest", "validate", "featurize", "train"}, trial["stages"]
        assert trial["stages"]["train"] == "ran"


def test_the_best_trial_is_kept_as_a_branch(repo, first):
    doc = shown(repo, "s")
    best = next(t for t in doc["trials"] if t["number"] == doc["best"]["number"])
    branch = f"exp/s-t{best['number']:03d}"
    assert best["branch"] == branch
    assert [t["branch"] for t in doc["trials"] if t["number"] != best["number"]] == [None]
    params = yaml.safe_load(git(repo, "show", f"{branch}:params.yaml"))["train"]
    assert params["num_leaves"] == best["params"]["train.num_leaves"]
    assert params["learning_rate"] == best["params"]["train.learning_rate"]
    train = json.loads(git(repo, "show", f"{branch}:metrics/train.json"))
    assert train["valid_log_loss"] == best["value"]
    # the kept branch ran the whole pipeline (test metrics included), restoring train
    assert git(repo, "diff", "--name-only", "main", branch).count("metrics/metrics.json") == 1
    (kept,) = json.loads(first[1].stdout)["kept"]
    assert (kept["branch"], kept["commit"], kept["error"]) == (branch, git(repo, "rev-parse", branch), None)
    # the kept branch's whole run reproduces the trial's objective exactly
    assert kept["value"] == kept["rerun_value"] == best["value"]
    assert first[0].stdout.startswith("search s: best trial ") and "kept" not in first[0].stdout


def test_same_seed_gives_the_same_trials(repo, first):
    again = graft(repo, "exp", "search", "t", "--trials", "1", *SPACE, "--seed", "3", "--keep", "0")
    assert again.returncode == 0, again.stderr
    a, b = shown(repo, "s")["trials"][:1], shown(repo, "t")["trials"]
    assert [(t["params"], t["value"]) for t in a] == [(t["params"], t["value"]) for t in b]
    # same params, same code: every trial's train stage came from the run cache
    assert all(t["stages"]["train"] == "restored" for t in b)


def test_show_table(repo, first):
    proc = graft(repo, "exp", "search", "show", "s")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"search s: {OBJECTIVE} (lower is better); study: sqlite:")
    # no search.constraints: the gate's bounds, each on its validation metric (valid_ + its name)
    assert lines[1] == "  constraints: " + "; ".join(DEFAULT_CONSTRAINTS)
    assert lines[2].split() == [
        "trial",
        "state",
        OBJECTIVE,
        "feasible",
        "train.num_leaves",
        "train.learning_rate",
        "seconds",
        "branch",
    ]
    assert len(lines) == 5 and sum("*" in line.split()[0] for line in lines[3:]) == 1
    assert [line.split()[3] for line in lines[3:]] == ["yes", "yes"]


def test_refusals_change_nothing(repo, first, monkeypatch, capsys):
    before = repo_state(repo)
    cases = [
        (["s", "--trials", "4", "--seed", "4"], 2, "search 's' was started with --seed 3, not 4"),
        (["u", "--trials", "2"], 2, "search 'u' is new: give its space with --param or --space"),
        (["u", "--param", "train.num_levs=int:1..4"], 3, "no key 'train.num_levs' in params.yaml"),
        (["show", "nothing"], 3, "no search 'nothing' here"),
        (["u", "--trials", "0", *SPACE], 2, "argument --trials: '0': expected a whole number from 1"),
        (["u", *SPACE, "--cluster", "somewhere"], 2, "--cluster somewhere: expected tcp://HOST:PORT"),
        (["show"], 2, "graft exp search show: give the search NAME"),
    ]
    monkeypatch.chdir(repo)
    for args, code, message in cases:  # in-process: no pipeline runs, so no need for a process
        got = main(["exp", "search", *args])
        out, err = capsys.readouterr()
        assert (got, out) == (code, ""), (args, err)
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (repo / ".graft" / "search" / "u.db").exists()
    after = repo_state(repo)
    assert {k: v for k, v in after.items() if k != "files"} == {
        k: v for k, v in before.items() if k != "files"
    }


# --- constraints and several objectives ------------------------------------------------------------
# Each study searches from a base whose graft.yaml only differs in its `search` section (a commit
# made beside main, the working tree untouched). `train.max_rounds` up to 40 at the base's learning
# rate never stops early, so `best_iteration` equals it: a bound on it cuts the space exactly.

ROUNDS = ["--param", "train.max_rounds=int:5..40"]


def base_with_search(root: Path, branch: str, section: str) -> None:
    """Branch ``branch``: main with graft.yaml's ``search`` section replaced by ``section``, and the
    pipeline's gate reduced to ``roc_auc >= 0.5`` (so a kept trial of a few rounds is committed)."""
    settings = git(root, "show", "main:graft.yaml")
    start = settings.index("\nsearch:\n") + 1
    settings = settings[:start] + section.strip("\n") + settings[settings.index("\n\n", start) :]
    params = git(root, "show", "main:params.yaml")
    start = params.index("\n  thresholds:\n") + 1
    params = params[:start] + "  thresholds: {roc_auc: {min: 0.5}}" + params[params.index("\n\n", start) :]
    env = {**os.environ, "GIT_INDEX_FILE": str(root / ".git" / f"index-{branch}")}
    subprocess.run(["git", "read-tree", "main"], cwd=root, env=env, check=True)
    for name, text in (("graft.yaml", settings), ("params.yaml", params)):
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=root,
            input=text,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        subprocess.run(
            ["git", "update-index", "--cacheinfo", f"100644,{blob},{name}"], cwd=root, env=env, check=True
        )
    tree = subprocess.run(
        ["git", "write-tree"], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    commit = git(root, "commit-tree", tree.stdout.strip(), "-p", "main", "-m", f"search settings: {branch}")
    git(root, "branch", "-f", branch, commit)
    Path(env["GIT_INDEX_FILE"]).unlink()


CAPPED = """
search:
  objective: metrics/train.json:valid_log_loss
  direction: lower
  constraints:
    metrics/train.json:best_iteration: {max: 22}
"""
TWO = """
search:
  objectives:
    - {metric: metrics/train.json:valid_log_loss, direction: lower}
    - {metric: metrics/train.json:best_iteration, direction: lower}
  constraints: {}
"""


@pytest.fixture(scope="module")
def capped(repo):
    """Four trials under a bound half the space breaks; every feasible one asked to be kept."""
    base_with_search(repo, "capped", CAPPED)
    proc = graft(
        repo, "exp", "search", "c", "--trials", "4", *ROUNDS, "--seed", "5", "--keep", "4", "--base", "capped"
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_a_constrained_search_never_keeps_an_infeasible_trial(repo, capped):
    doc = shown(repo, "c")
    assert doc["constraints"] == ["metrics/train.json:best_iteration <= 22.0"]
    trials = doc["trials"]
    rounds = {t["number"]: t["params"]["train.max_rounds"] for t in trials}
    infeasible = {n for n, r in rounds.items() if r > 22}
    assert 0 < len(infeasible) < len(trials), rounds  # the bound cut this study's trials
    for t in trials:
        assert t["state"] == "complete"
        assert t["violations"] == [rounds[t["number"]] - 22.0]
        assert t["feasible"] is (t["number"] not in infeasible)
        # kept: exactly the feasible trials (--keep 4 asked for all four)
        assert (t["branch"] is None) is (t["number"] in infeasible), t
    best = min((t for t in trials if t["feasible"]), key=lambda t: (t["value"], t["number"]))
    assert doc["best"]["number"] == best["number"]
    assert min(t["value"] for t in trials) < best["value"]  # the unconstrained best broke the bound
    table = graft(repo, "exp", "search", "show", "c").stdout.splitlines()
    assert table[1] == "  constraints: metrics/train.json:best_iteration <= 22.0"
    header = table[2].split()
    assert header[:4] == ["trial", "state", "metrics/train.json:valid_log_loss", "feasible"]
    marks = {int(line.split()[0].rstrip("*")): line.split()[3] for line in table[3:]}
    assert marks == {n: ("NO" if n in infeasible else "yes") for n in rounds}


def test_a_two_objective_front_is_the_non_dominated_set(repo):
    base_with_search(repo, "two", TWO)
    space = [*ROUNDS, "--param", "train.num_leaves=int:4..16"]
    proc = graft(
        repo, "exp", "search", "m", "--trials", "6", *space, "--seed", "2", "--keep", "0", "--base", "two"
    )
    assert proc.returncode == 0, proc.stderr
    doc = shown(repo, "m")
    assert doc["objectives"] == [
        "metrics/train.json:valid_log_loss (lower)",
        "metrics/train.json:best_iteration (lower)",
    ]
    points = {t["number"]: tuple(t["values"]) for t in doc["trials"]}
    assert all(t["values"][1] == t["params"]["train.max_rounds"] for t in doc["trials"])
    front = {
        n
        for n, p in points.items()
        if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points.values())
    }
    assert set(doc["front"]) == front and doc["front"] == sorted(front, key=lambda n: (points[n], n))
    assert [t["number"] for t in doc["trials"] if t["front"]] == sorted(front)
    assert doc["best"]["number"] == doc["front"][0]
    table = graft(repo, "exp", "search", "show", "m").stdout.splitlines()
    assert table[-1] == "Pareto front (*): trials " + ", ".join(str(n) for n in doc["front"])
    starred = {int(line.split()[0].rstrip("*")) for line in table[2:-1] if line.split()[0].endswith("*")}
    assert starred == front


def test_resuming_with_other_constraints_or_objectives_is_refused(repo, capped, monkeypatch, capsys):
    base_with_search(repo, "capped-30", CAPPED.replace("{max: 22}", "{max: 30}"))
    base_with_search(repo, "capped-higher", CAPPED.replace("direction: lower", "direction: higher"))
    before = repo_state(repo)
    monkeypatch.chdir(repo)
    cases = [
        (
            ["c", "--trials", "5", "--seed", "5", "--base", "capped-30"],
            "search 'c' was started with search.constraints metrics/train.json:best_iteration <= 22.0, "
            "not metrics/train.json:best_iteration <= 30.0",
        ),
        (
            ["c", "--trials", "5", "--seed", "5", "--base", "capped-higher"],
            "search 'c' was started with search.objectives metrics/train.json:valid_log_loss (lower), "
            "not metrics/train.json:valid_log_loss (higher)",
        ),
    ]
    for args, message in cases:
        got = main(["exp", "search", *args])
        out, err = capsys.readouterr()
        assert (got, out) == (2, ""), (args, err)
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert len(shown(repo, "c")["trials"]) == 4
    after = repo_state(repo)
    assert {k: v for k, v in after.items() if k != "files"} == {
        k: v for k, v in before.items() if k != "files"
    }
