"""``graft exp search show NAME``: every trial of a study, read without changing it.

:func:`show` opens the study (a search that does not exist is a :class:`GraftError` naming its
file or storage; nothing is created) and returns a :class:`Summary`: per trial its state,
objectives, constraint violations and feasibility, params, seconds, worker, stages and the
branch it was kept as (if it exists); the best trial, and with several objectives the Pareto
front, best first (:func:`~graft.experiments.search.objectives.ranked`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.experiments import branches
from graft.experiments.search.objectives import feasible, ranked, signs, violations
from graft.experiments.search.study import (
    Config,
    check_study_name,
    default_storage,
    open_study,
    stored_config,
    study_file,
    trial_name,
)


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str
    value: float | None  # the first objective
    params: dict[str, Any]
    seconds: float | None
    branch: str | None
    error: str | None
    log: str | None
    stages: dict[str, str] = field(default_factory=dict)
    worker: str | None = None
    values: tuple[float, ...] | None = None  # every objective, in order
    violations: tuple[float, ...] | None = None  # per constraint (<= 0: met); None: not measured
    feasible: bool | None = None  # None: no constraints, or not complete


@dataclass(frozen=True)
class Summary:
    name: str
    storage: str
    objective: str
    direction: str
    config: Config | None
    rows: tuple[TrialRow, ...]
    best_number: int | None
    objectives: tuple[str, ...] = ()  # "key (direction)"
    constraints: tuple[str, ...] = ()
    front: tuple[int, ...] = ()  # several objectives: the Pareto front's trials, best first


def show(cwd: str | Path, name: str, storage: str | None = None) -> Summary:
    """Every trial of search ``name``: state, objectives, feasibility, params, seconds, kept branch;
    the best trial, and with several objectives the Pareto front."""
    from graft.core.extras import require

    check_study_name(name)
    require("optuna", "graft exp search", "search")
    _, root = branches.project_root(cwd)
    url = storage or default_storage(root, name)
    if storage is None and not study_file(root, name).is_file():
        raise GraftError(f"no search '{name}' here ({study_file(root, name)} does not exist)")
    study = open_study(url, name, None, create=False)
    config = stored_config(study)
    repo = gitrepo.open_repo(root)
    constrained = bool(config.constraints) if config else False
    rows = tuple(_row(t, name, repo, constrained) for t in study.get_trials(deepcopy=False))
    front = ranked(study)
    directions = ["lower" if s > 0 else "higher" for s in signs(study)]
    return Summary(
        name,
        url,
        config.objective if config else "?",
        config.direction if config else directions[0],
        config,
        rows,
        front[0].number if front else None,
        config.objectives if config else (),
        config.constraints if config else (),
        tuple(t.number for t in front) if len(directions) > 1 else (),
    )


def _row(t: Any, name: str, repo: Any, constrained: bool) -> TrialRow:
    """One trial as ``show`` lists it (``branch``: its kept branch, if that exists)."""
    branch = gitrepo.EXP_PREFIX + trial_name(name, t.number)
    measured = violations(t)
    complete = t.values is not None
    return TrialRow(
        t.number,
        t.state.name.lower(),
        t.values[0] if complete else None,
        dict(t.params),
        t.user_attrs.get("seconds"),
        branch if gitrepo.branch_exists(repo, branch) else None,
        t.user_attrs.get("error"),
        t.user_attrs.get("log"),
        dict(t.user_attrs.get("stages") or {}),
        t.user_attrs.get("worker"),
        tuple(t.values) if complete else None,
        tuple(measured) if measured is not None else None,
        feasible(t) if constrained and complete else None,
    )
