"""A search's trials: asked from the study in rounds, run by the experiment executors, told back.

Trials are asked in rounds of ``batch`` (the parallelism the study was created with, stored in
it, :func:`slots`): every trial of a round is asked from the same history, and trial ``n``
samples with seed ``seed + n``. A search is therefore reproducible (same seed and batch, same
trials) and an interrupted one resumes exactly where it was: trials left running are re-run
with their own params, then new rounds follow (:func:`drive`). Each trial is told as soon as it
finishes, so an interruption loses only the running ones.

Each trial is an experiment without a branch (a temporary worktree, its metrics read back,
through :func:`graft.experiments.batch.run_many`) that reproduces the pipeline only up to the
stages writing the objectives and constraints (:func:`trial_plan`): nothing of the test split
is computed while choosing, and no test-split gate can fail a trial. On a cluster its outputs
and run-cache entries go to the DVC remote. A run without a finite number for an objective or a
constraint is a failed trial, its error stored with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from graft.experiments import branches
from graft.experiments.batch import run_many
from graft.experiments.overrides import Assignment
from graft.experiments.paramfiles import BaseParams
from graft.experiments.search.objectives import Goals, feasible, is_number, ranked
from graft.experiments.search.space import Dimension
from graft.experiments.search.study import Config, trial_name


@dataclass(frozen=True)
class TrialEvent:
    """A finished trial, for progress display."""

    number: int
    ok: bool
    value: float | None
    error: str | None
    done: int
    total: int
    best_number: int | None
    best_value: float | None
    feasible: bool | None = None  # None: the search has no constraints


def trial_plan(root: Path, base: str, cluster: bool, git_remote: str | None, goals: Goals) -> branches.Plan:
    """The plan every trial runs under: no branch, the pipeline only up to ``goals.stages``."""
    plan = branches.make_plan(
        root, [], base, run=True, cluster=cluster, git_remote=git_remote, branches=False
    )
    # a trial runs the pipeline only up to the stages writing the objectives and constraints:
    # nothing of the test split is computed (nor can a test-split gate fail a trial) while choosing
    return replace(plan, targets=goals.stages)


def slots(executor: Any, jobs: int) -> int:
    """Trials per round: the cluster's workers, else ``jobs``."""
    client = getattr(executor, "client", None)
    if client is None:
        return jobs
    return max(1, len(client.scheduler_info().get("workers", {})))


def _sampler(seed: int, number: int) -> Any:
    import optuna

    # TPE reads each finished trial's constraints: infeasible trials rank below feasible ones
    return optuna.samplers.TPESampler(seed=seed + number)


def drive(
    study: Any,
    plan: branches.Plan,
    executor: Any,
    dims: Sequence[Dimension],
    config: Config,
    goals: Goals,
    trials: int,
    files: BaseParams,
    name: str,
    progress: Callable[[TrialEvent], None] | None,
) -> tuple[int, int]:
    """Rounds of ``config.batch`` trials until the study holds ``trials``; returns (ran, resumed)."""
    from optuna.trial import Trial, TrialState

    distributions = {d.key: d.distribution() for d in dims}
    by_key = {d.key: d for d in dims}
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    pending: list[tuple[Any, dict[str, Any]]] = [(Trial(study, t._trial_id), dict(t.params)) for t in stale]
    resumed = len(pending)
    ran = 0
    running: dict[str, Any] = {}  # trial name -> trial, this round

    def told(event: branches.Progress) -> None:
        # each trial is told as soon as it finishes: an interruption loses only running ones
        nonlocal ran
        if event.event != "finished" or event.outcome is None:
            return
        trial = running[event.spec.name]
        _tell(study, trial, event.outcome, goals)
        ran += 1
        if progress is not None:
            progress(_event(study, trial.number, trials))

    while True:
        if pending:
            batch, pending = pending, []
        else:
            remaining = trials - len(study.get_trials(deepcopy=False))
            if remaining <= 0:
                break
            batch = []
            for _ in range(min(config.batch, remaining)):
                study.sampler = _sampler(config.seed, len(study.get_trials(deepcopy=False)))
                trial = study.ask(distributions)
                batch.append((trial, dict(trial.params)))
        specs = []
        for trial, params in batch:
            assignments = [Assignment(k, by_key[k].raw(v)) for k, v in params.items()]
            overrides = files.plan(assignments)
            trial.set_user_attr("overrides", {a.key: a.raw for a in assignments})
            specs.append(branches.Spec(trial_name(name, trial.number), tuple(overrides)))
        running.clear()
        running.update({spec.name: trial for spec, (trial, _) in zip(specs, batch, strict=True)})
        run_many(replace(plan, specs=tuple(specs)), executor=executor, progress=told)
    return ran, resumed


def _event(study: Any, number: int, total: int) -> TrialEvent:
    from optuna.trial import TrialState

    frozen = study.get_trials(deepcopy=False)
    trial = frozen[number]
    front = ranked(study)
    best = front[0] if front else None
    ok = trial.state == TrialState.COMPLETE
    return TrialEvent(
        number,
        ok,
        trial.values[0] if ok else None,
        None if ok else trial.user_attrs.get("error"),
        sum(1 for t in frozen if t.state != TrialState.RUNNING),
        total,
        best.number if best else None,
        best.values[0] if best else None,
        feasible(trial) if ok and trial.constraints else None,
    )


def _tell(study: Any, trial: Any, outcome: branches.Outcome, goals: Goals) -> None:
    from optuna.trial import TrialState

    result = outcome.result
    trial.set_user_attr("seconds", round(outcome.seconds, 2))
    if result is not None:
        trial.set_user_attr("stages", dict(result.stages))
        if result.worker:
            trial.set_user_attr("worker", result.worker)
        wanted = [o.key for o in goals.objectives] + [c.key for c in goals.constraints]
        values = {k: result.metrics.get(k) for k in wanted}
        missing = next((k for k, v in values.items() if not is_number(v)), None)
        if missing is None:
            for c in goals.constraints:  # the sampler steers away from infeasible trials
                trial.set_constraint(c.key, c.violation(float(values[c.key] or 0.0)))
            study.tell(trial, [float(values[o.key] or 0.0) for o in goals.objectives])
            return
        trial.set_user_attr("error", f"the run has no numeric '{missing}' (got {values[missing]!r})")
    else:
        trial.set_user_attr("error", outcome.error or "failed")
        if outcome.log is not None:
            trial.set_user_attr("log", str(outcome.log))
    study.tell(trial, state=TrialState.FAIL)
