"""``graft exp search NAME``: run (or resume) a search until its study holds ``trials`` trials.

:func:`run_search` checks everything before any trial runs, in this order: the arguments (the
search's name, Optuna installed, the cluster's address, ``trials``, ``keep``, ``jobs``), then the
project at the base (every branch the search may keep is free here, and on the Git remote with a
cluster; the goals; the space given against the params files), then, holding the driver's lock,
the study's stored configuration against the one given (a new search needs a space). A new
study is created only once every check passed and the executor is open, with its batch (the
executor's slots) stored. Then :func:`~graft.experiments.search.trials.drive` runs the trials and
:func:`~graft.experiments.search.keep.keep_best` keeps the best ones as branches. Each step below
is one of these; nothing is written to the project before the checks pass but the storage's
folder and lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from graft.core import gitrepo
from graft.core.errors import UsageError
from graft.experiments import DEFAULT_KEEP, branches
from graft.experiments.batch import executing
from graft.experiments.paramfiles import BaseParams
from graft.experiments.search.keep import Kept, keep_best
from graft.experiments.search.objectives import Goals, Objective, goals_of, ranked
from graft.experiments.search.space import (
    Dimension,
    check_space,
    parse_params,
    parse_space_file,
    stored_dimensions,
)
from graft.experiments.search.study import (
    ATTR,
    Config,
    check_kept_names,
    check_study_name,
    default_storage,
    driver_lock,
    find_study,
    open_study,
    reconcile,
    stored_config,
    study_file,
)
from graft.experiments.search.trials import TrialEvent, drive, slots, trial_plan
from graft.project import Project
from graft.project.paths import SEARCH_DIR


@dataclass(frozen=True)
class SearchResult:
    name: str
    storage: str
    objective: Objective
    config: Config
    ran: int
    resumed: int
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)
    kept: tuple[Kept, ...] = ()
    goals: Goals | None = None
    front: tuple[int, ...] = ()  # the Pareto front's trials (feasible, non-dominated), best first


@dataclass(frozen=True)
class _Base:
    """The project at the search's base, checked: what every trial starts from."""

    root: Path
    revision: gitrepo.Revision
    goals: Goals
    params: BaseParams


def run_search(
    cwd: str | Path,
    name: str,
    trials: int,
    param_options: Sequence[str] = (),
    space: Path | None = None,
    seed: int = 0,
    jobs: int = 2,
    cluster: str | None = None,
    git_remote: str | None = None,
    storage: str | None = None,
    keep: int = DEFAULT_KEEP,
    base: str = branches.DEFAULT_BASE,
    progress: Callable[[TrialEvent], None] | None = None,
    planned: Callable[[str, int, int, str], None] | None = None,
) -> SearchResult:
    """Run (or resume) search ``name`` until it holds ``trials`` trials; keep the best ``keep``.
    Its space: the ``space`` file's dimensions, then the ``--param`` ``param_options``."""
    dimensions = parse_params(param_options)
    if space is not None:
        dimensions = parse_space_file(Path(space)) + dimensions
    _check_arguments(name, trials, keep, jobs, cluster)
    at = _at_base(cwd, name, trials, base, cluster, git_remote, dimensions)
    url = storage or default_storage(at.root, name)
    if storage is None:
        (at.root / SEARCH_DIR).mkdir(parents=True, exist_ok=True)
    with driver_lock(at.root, name, storage is not None):
        study = _existing_study(at.root, url, name, storage is not None)
        stored = stored_config(study) if study is not None else None
        config = _settled_config(stored, name, dimensions, seed, jobs, at)
        dims = stored_dimensions(config.space)
        check_space(dims, at.params)
        plan = trial_plan(at.root, base, cluster is not None, git_remote, at.goals)
        with executing(plan, jobs, cluster) as executor:
            if stored is None:  # created only now that every check passed
                config = replace(config, batch=slots(executor, jobs))
                study = _create_study(url, name, config, at.goals)
            assert study is not None  # found above (stored came from it) or just created
            if planned is not None:
                planned(url, len(study.trials), trials, executor.description)
            counts = drive(study, plan, executor, dims, config, at.goals, trials, at.params, name, progress)
            kept = keep_best(at.root, study, name, at.goals, keep, base, cluster, git_remote, executor, jobs)
    return _result(name, url, study, config, at.goals, counts, kept)


def _check_arguments(name: str, trials: int, keep: int, jobs: int, cluster: str | None) -> None:
    """The arguments alone, before the project is read."""
    from graft.core.extras import require
    from graft.experiments.executors import check_address, check_jobs

    check_study_name(name, trials)
    require("optuna", "graft exp search", "search")
    if cluster is not None:
        check_address(cluster)
    if trials < 1:
        raise UsageError(f"--trials must be at least 1 (got {trials})")
    if keep < 0:
        raise UsageError(f"--keep must be 0 or more (got {keep})")
    check_jobs(jobs)


def _at_base(
    cwd: str | Path,
    name: str,
    trials: int,
    base: str,
    cluster: str | None,
    git_remote: str | None,
    dimensions: Sequence[Dimension] | None,
) -> _Base:
    """The project at ``base``: the kept branches' names free, the goals and the space given valid there."""
    repo, root = branches.project_root(cwd)
    project = Project(root)
    revision = gitrepo.resolve(project.repo, base)
    if cluster is not None:
        remote = branches.remote_url(root, git_remote)
        heads = branches.remote_heads(root, remote)
        check_kept_names(repo, name, trials, heads, f" on the Git remote {remote}")
    else:
        check_kept_names(repo, name, trials, None, "")
    goals = goals_of(project, revision)
    params = BaseParams.at(root, revision, base)
    if dimensions:
        check_space(dimensions, params)
    return _Base(root, revision, goals, params)


def _existing_study(root: Path, url: str, name: str, storage_given: bool) -> Any:
    """The study ``name`` if the storage holds it, else None (the default storage's file is not created)."""
    exists = storage_given or study_file(root, name).is_file()
    return find_study(url, name) if exists else None


def _settled_config(
    stored: Config | None,
    name: str,
    dimensions: Sequence[Dimension] | None,
    seed: int,
    jobs: int,
    at: _Base,
) -> Config:
    """The configuration given now; a resumed study's own (which it must match, see :func:`reconcile`)."""
    objective = at.goals.first
    objectives, constraints = at.goals.texts()
    given = Config(
        tuple(f"{d.key}={d.text()}" for d in dimensions or ()),
        seed,
        at.revision.sha,
        objective.key,
        objective.direction,
        jobs,
        objectives,
        constraints,
    )
    if stored is None and not dimensions:
        raise UsageError(f"search '{name}' is new: give its space with --param or --space")
    return given if stored is None else reconcile(stored, given, bool(dimensions), name)


def _create_study(url: str, name: str, config: Config, goals: Goals) -> Any:
    """The study (created, or one graft did not configure loaded), holding ``config``."""
    directions = [o.optuna_direction for o in goals.objectives]
    study = open_study(url, name, directions, create=True)
    study.set_user_attr(ATTR, config.as_dict())
    return study


def _result(
    name: str,
    url: str,
    study: Any,
    config: Config,
    goals: Goals,
    counts: tuple[int, int],
    kept: Sequence[Kept],
) -> SearchResult:
    """The search's outcome: ``counts`` (trials ran, resumed), its best trial (with several
    objectives, the front's first) and the kept branches."""
    front = ranked(study)
    best = front[0] if front else None
    ran, resumed = counts
    return SearchResult(
        name,
        url,
        goals.first,
        config,
        ran,
        resumed,
        best.number if best else None,
        best.values[0] if best else None,
        dict(best.params) if best else {},
        tuple(kept),
        goals,
        tuple(t.number for t in front) if len(goals.objectives) > 1 else (),
    )
