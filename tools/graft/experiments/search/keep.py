"""The end of a search: its best trials kept as ``exp/NAME-tNNN`` branches.

The best ``keep`` trials of :func:`~graft.experiments.search.objectives.ranked` (feasible ones
only; with several objectives the front's best by the first objective) become branches through
the normal experiment path (:func:`graft.experiments.batch.run_many` with branches), every stage
restored from the run cache; each kept trial records its objective as the search measured it and
as the branch's run measured it again. A branch kept by an earlier run is kept as it is when it
holds the trial's params; one with other params is a :class:`GraftError` naming it, and nothing
is run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.experiments import branches
from graft.experiments.batch import run_many
from graft.experiments.overrides import Assignment
from graft.experiments.paramfiles import BaseParams
from graft.experiments.search.objectives import Goals, is_number, ranked
from graft.experiments.search.study import trial_name


@dataclass(frozen=True)
class Kept:
    number: int
    branch: str
    sha: str | None
    value: float
    rerun_value: float | None
    existed: bool = False
    error: str | None = None


def keep_best(
    root: Path,
    study: Any,
    name: str,
    goals: Goals,
    keep: int,
    base: str,
    cluster: str | None,
    git_remote: str | None,
    executor: Any,
    jobs: int,
) -> list[Kept]:
    """The best ``keep`` trials of :func:`ranked` (feasible ones only; with several objectives
    the front's best by the first objective) as ``exp/NAME-tNNN`` branches (existing ones with
    the same params kept)."""
    objective = goals.first
    repo = gitrepo.open_repo(root)
    out: list[Kept] = []
    todo = []
    for trial in ranked(study)[:keep]:
        branch_name = trial_name(name, trial.number)
        overrides = trial.user_attrs.get("overrides") or {}
        branch = gitrepo.EXP_PREFIX + branch_name
        if gitrepo.branch_exists(repo, branch):
            tip = gitrepo.resolve(repo, f"refs/heads/{branch}")
            expected = _params_with(root, base, overrides)
            if any(gitrepo.read_file(tip.commit, f) != text for f, text in expected.items()):
                raise GraftError(
                    f"branch '{branch}' exists but its params differ from trial {trial.number}'s; "
                    "delete or rename it, then run the search again to keep the trial"
                )
            out.append(Kept(trial.number, branch, tip.sha, float(trial.values[0]), None, existed=True))
        else:
            todo.append((trial, branch_name, overrides))
    if not todo:
        return out
    experiments = [(n, [Assignment(k, v) for k, v in o.items()]) for _, n, o in todo]
    plan = branches.make_plan(
        root, experiments, base, run=True, cluster=cluster is not None, git_remote=git_remote
    )
    outcomes = run_many(plan, jobs, executor=executor)
    for (trial, _, _), outcome in zip(todo, outcomes, strict=True):
        if outcome.result is None:
            out.append(
                Kept(
                    trial.number, outcome.spec.branch, None, float(trial.values[0]), None, error=outcome.error
                )
            )
            continue
        again = outcome.result.metrics.get(objective.key)
        out.append(
            Kept(
                trial.number,
                outcome.spec.branch,
                outcome.result.sha,
                float(trial.values[0]),
                float(again) if is_number(again) else None,
            )
        )
    return out


def _params_with(root: Path, base: str, overrides: Mapping[str, str]) -> dict[str, bytes]:
    """The content of each params file a trial's overrides edit, as its branch must hold it."""
    params = BaseParams.at(root, gitrepo.resolve(gitrepo.open_repo(root), base), base)
    checked = params.plan([Assignment(k, v) for k, v in overrides.items()])
    return {f: text.encode("utf-8") for f, text in params.contents(checked).items()}
