"""`graft exp search`: space parsing and checks, and the rounds of trials (determinism, resuming)
driven by an in-process executor that scores params with a known function (no pipeline)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from graft.core import gitrepo
from graft.core.errors import ParamsError, UsageError
from graft.experiments import branches
from graft.experiments.paramfiles import BaseParams
from graft.experiments.search.objectives import Constraint, Goals, Objective, feasible, ranked
from graft.experiments.search.space import (
    Dimension,
    check_space,
    parse_dimension,
    parse_params,
    parse_space_file,
)
from graft.experiments.search.study import Config, check_study_name, reconcile
from graft.experiments.search.trials import drive as drive_trials
from tests.conftest import ROOT, git

PARAMS = (ROOT / "params.yaml").read_text(encoding="utf-8")
BASE = BaseParams.of_texts({"params.yaml": PARAMS})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("int:15..255:log", Dimension("k", "int", 15, 255, True)),
        ("float:0.01..0.3:log", Dimension("k", "float", 0.01, 0.3, True)),
        ("float:1e-3..1", Dimension("k", "float", 0.001, 1.0, False)),
        ("cat:native,unknown_category", Dimension("k", "cat", choices=("native", "unknown_category"))),
        ("cat:[a, b],[c]", Dimension("k", "cat", choices=("[a, b]", "[c]"))),
        ({"type": "int", "low": 2, "high": 9}, Dimension("k", "int", 2, 9, False)),
        ({"type": "float", "low": 0.1, "high": 1, "log": True}, Dimension("k", "float", 0.1, 1, True)),
        ({"type": "categorical", "choices": [0, 1, True]}, Dimension("k", "cat", choices=("0", "1", "true"))),
    ],
)
def test_dimensions_parse_from_text_and_mappings(spec, expected):
    assert parse_dimension("k", spec, "here") == expected


def test_canonical_text_round_trips():
    for text in ("int:15..255:log", "float:0.01..0.3", "cat:a,b"):
        assert parse_dimension("k", text, "here").text() == text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("int:1..x", "'x' is not an int"),
        ("int:1.5..4", "'1.5' is not an int"),
        ("float:0.3..0.1", "LOW must be below HIGH (got 0.3..0.1)"),
        ("float:0..1:log", "a log scale needs LOW > 0 (got 0)"),
        ("uniform:1..2", "is not int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,..."),
        ("cat:a,,b", "cat: needs comma-separated choices"),
        ("cat:a,a", "a choice is listed twice"),
        ({"type": "cat"}, "needs a non-empty 'choices' list"),
        ({"type": "int", "low": 1}, "needs 'low' and 'high'"),
        ({"type": "normal"}, "type must be int, float or cat (got 'normal')"),
    ],
)
def test_bad_dimensions_name_the_problem(spec, message):
    with pytest.raises(UsageError, match=r"^here: ") as info:
        parse_dimension("k", spec, "here")
    assert message in str(info.value)


def test_param_options_need_key_and_spec():
    assert parse_params(["train.num_leaves=int:8..64"])[0].key == "train.num_leaves"
    with pytest.raises(UsageError, match=re.escape("--param 'train.num_leaves': expected section.key=")):
        parse_params(["train.num_leaves"])


def test_space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        "train.num_leaves: int:8..64:log\ntrain.learning_rate: {type: float, low: 0.01, high: 0.3}\n"
    )
    dims = parse_space_file(path)
    assert [d.text() for d in dims] == ["int:8..64:log", "float:0.01..0.3"]
    path.write_text("- a\n")
    with pytest.raises(UsageError, match=r"space.yaml: expected a mapping of params keys"):
        parse_space_file(path)
    with pytest.raises(UsageError, match="cannot be read"):
        parse_space_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.num_levs=int:8..64", "no key 'train.num_levs' in params.yaml; keys at 'train': objective"),
        ("train.num_leaves=float:8..64", "expected int (like 31, the value in params.yaml), got float 8.0"),
        ("train.learning_rate=cat:0.1,fast", "expected float (like 0.03, the value in params.yaml), got str"),
        ("featurize.missing.policy=int:1..3", "expected str"),
    ],
)
def test_space_is_checked_against_params(text, message):
    with pytest.raises(ParamsError) as info:
        check_space(parse_params([text]), BASE)
    assert str(info.value).startswith(f"search space {text.split('=')[0]}=")
    assert message in str(info.value)


def test_int_range_may_feed_a_float_param_and_duplicates_are_refused():
    check_space(parse_params(["train.lambda_l2=int:0..5"]), BASE)
    with pytest.raises(UsageError, match=re.escape("key 'train.seed' given twice")):
        check_space(parse_params(["train.seed=int:1..3", "train.seed=int:1..4"]), BASE)


def test_sampled_values_become_yaml_text():
    assert Dimension("k", "int", 1, 9).raw(7) == "7"
    assert Dimension("k", "float", 0.1, 1).raw(0.25) == "0.25"
    assert Dimension("k", "cat", choices=("a", "b")).raw("b") == "b"


def test_study_names():
    check_study_name("tune-1.x")
    for bad in ("show", "-x", "a/b", ""):
        with pytest.raises(UsageError, match="not a valid search name"):
            check_study_name(bad)


# --- rounds of trials ---------------------------------------------------------------------------

DIMS = parse_params(["train.num_leaves=int:8..256:log", "train.learning_rate=float:0.01..0.3:log"])
OBJECTIVE = Objective("metrics/train.json:valid_loss", "lower", "train")


def score(overrides) -> float:
    values = {o.key: o.new for o in overrides}
    return (values["train.num_leaves"] - 40) ** 2 / 1000 + (values["train.learning_rate"] - 0.05) ** 2


def measures(overrides) -> dict[str, float]:
    """Two more metrics of a trial: its leaves (a constraint or a second objective) and a loss
    that falls as leaves rise (so the two objectives conflict)."""
    values = {o.key: o.new for o in overrides}
    leaves, rate = values["train.num_leaves"], values["train.learning_rate"]
    return {"m:leaves": float(leaves), "m:other": 1.0 / leaves + rate}


class Scoring:
    """An executor that 'runs' a trial by scoring its overrides; can die after ``die_after`` jobs."""

    description = "in-process"

    def __init__(self, die_after: int | None = None) -> None:
        self.die_after = die_after
        self.seen = 0

    def run(self, jobs, started, finished):
        out = []
        for index, job in enumerate(jobs):
            if self.die_after is not None and self.seen >= self.die_after:
                raise KeyboardInterrupt  # the driver is stopped mid-round
            self.seen += 1
            metrics = {OBJECTIVE.key: score(job.spec.overrides), **measures(job.spec.overrides)}
            result = branches.Result(
                job.spec.name, job.spec.branch, None, "main", job.base_sha, job.spec.overrides,
                True, False, 0.1, (), metrics,
            )  # fmt: skip
            outcome = branches.Outcome(job.spec, 0.1, result=result)
            finished(index, outcome)
            out.append(outcome)
        return out

    def close(self):
        pass


@pytest.fixture
def plan(tmp_path) -> branches.Plan:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "params.yaml").write_text(PARAMS)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "params")
    base = gitrepo.resolve(gitrepo.open_repo(root), "main")
    return branches.Plan(root, base, (), True, False, None, branches=False)


ONE = Goals((OBJECTIVE,))


def drive(plan, storage, name, trials, executor, seed=7, batch=2, goals=ONE):
    directions = [o.optuna_direction for o in goals.objectives]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions, load_if_exists=True)
    config = Config(
        tuple(f"{d.key}={d.text()}" for d in DIMS), seed, plan.base.sha, OBJECTIVE.key, "lower", batch
    )
    drive_trials(study, plan, executor, DIMS, config, goals, trials, BASE, name, None)
    return study


def trials_of(study):
    return [(t.number, t.state.name, t.params, t.value) for t in study.get_trials()]


def test_same_seed_same_trials_and_values(plan, tmp_path):
    storage = f"sqlite:///{tmp_path / 'a.db'}"
    first = drive(plan, storage, "one", 8, Scoring())
    second = drive(plan, storage, "two", 8, Scoring())
    assert trials_of(first) == trials_of(second)
    assert len({tuple(sorted(t.params.items())) for t in first.get_trials()}) == 8
    other = drive(plan, storage, "three", 8, Scoring(), seed=8)
    assert [t.params for t in other.get_trials()] != [t.params for t in first.get_trials()]


def test_an_interrupted_search_resumes_to_the_same_trials(plan, tmp_path):
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    whole = drive(plan, storage, "whole", 8, Scoring())
    with pytest.raises(KeyboardInterrupt):
        drive(plan, storage, "cut", 8, Scoring(die_after=5))  # round 3 asked, one trial told
    cut = optuna.load_study(storage=storage, study_name="cut")
    states = [t.state.name for t in cut.get_trials()]
    assert states == ["COMPLETE"] * 5 + ["RUNNING"]
    resumed = drive(plan, storage, "cut", 8, Scoring())
    assert trials_of(resumed) == trials_of(whole)


def test_more_trials_extend_a_finished_search(plan, tmp_path):
    storage = f"sqlite:///{tmp_path / 'c.db'}"
    whole = drive(plan, storage, "whole", 6, Scoring())
    drive(plan, storage, "grown", 4, Scoring())
    grown = drive(plan, storage, "grown", 6, Scoring())
    assert trials_of(grown) == trials_of(whole)


def test_reconcile_refuses_other_settings():
    stored = Config(("a=int:1..2",), 0, "abc", "m", "lower", 2)
    assert reconcile(stored, replace(stored, batch=4), True, "s") == stored
    with pytest.raises(UsageError, match="started with --seed 0, not 1"):
        reconcile(stored, replace(stored, seed=1), True, "s")
    with pytest.raises(UsageError, match=re.escape("started with search space a=int:1..2, not a=int:1..3")):
        reconcile(stored, replace(stored, space=("a=int:1..3",)), True, "s")
    assert reconcile(stored, replace(stored, space=()), False, "s") == stored


def test_plan_fixture_path_is_a_repo(plan):
    assert Path(plan.root, ".git").is_dir()


# --- constraints and several objectives -----------------------------------------------------------


def test_a_constrained_study_never_ranks_an_infeasible_trial(plan, tmp_path):
    # the unconstrained optimum has 40 leaves; at most 24 are allowed: about half the space is out
    limit = Constraint("m:leaves", max=24.0)
    goals = Goals((OBJECTIVE,), (limit,))
    study = drive(plan, f"sqlite:///{tmp_path / 'd.db'}", "limited", 16, Scoring(), goals=goals)
    trials = study.get_trials()
    infeasible = [t.number for t in trials if t.params["train.num_leaves"] > 24]
    assert 0 < len(infeasible) < len(trials)
    for t in trials:  # each trial carries its violation: leaves - 24
        assert t.constraints == {"m:leaves": t.params["train.num_leaves"] - 24.0}
        assert feasible(t) == (t.number not in infeasible)
    best_first = ranked(study)
    assert [t.number for t in best_first] == sorted(
        (t.number for t in trials if t.number not in infeasible), key=lambda n: (trials[n].value, n)
    )
    # the best feasible trial is worse than the best of all: the constraint did change the answer
    assert best_first[0].value > min(t.value for t in trials)


def test_a_two_objective_front_is_the_non_dominated_set(plan, tmp_path):
    other = Objective("m:other", "lower", "train")
    goals = Goals((OBJECTIVE, other))
    study = drive(plan, f"sqlite:///{tmp_path / 'e.db'}", "two", 16, Scoring(), goals=goals)
    points = {t.number: tuple(t.values) for t in study.get_trials()}
    front = {
        n
        for n, p in points.items()
        if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points.values())
    }
    best_first = ranked(study)
    assert {t.number for t in best_first} == front and 1 < len(front) < len(points)
    assert [t.number for t in best_first] == sorted(front, key=lambda n: (points[n], n))


def test_constraint_text_and_violation():
    assert Constraint("k", max=0.25).text() == "k <= 0.25"
    assert Constraint("k", min=0.9).text() == "k >= 0.9"
    assert Constraint("k", 0.1, 0.2).text() == "0.1 <= k <= 0.2"
    assert Constraint("k", 0.1, 0.2).violation(0.05) == pytest.approx(0.05)
    assert Constraint("k", 0.1, 0.2).violation(0.15) == pytest.approx(-0.05)
    assert Constraint("k", max=0.25).violation(0.3) == pytest.approx(0.05)


def test_reconcile_refuses_other_objectives_or_constraints():
    stored = Config(("a=int:1..2",), 0, "abc", "m", "lower", 2, ("m (lower)",), ("c <= 0.2",))
    with pytest.raises(UsageError) as err:
        reconcile(stored, replace(stored, constraints=("c <= 0.1",)), True, "s")
    assert str(err.value) == (
        "search 's' was started with search.constraints c <= 0.2, not c <= 0.1; resume it with the "
        "same settings or start a new search under another name"
    )
    with pytest.raises(UsageError, match=re.escape("with search.constraints c <= 0.2, not none;")):
        reconcile(stored, replace(stored, constraints=()), True, "s")
    with pytest.raises(UsageError, match=re.escape("search.objectives m (lower), not m (lower), n (higher)")):
        reconcile(stored, replace(stored, objectives=("m (lower)", "n (higher)")), True, "s")
