"""The JSON of `graft exp search` (graft.core.results): ``exp search NAME`` prints the search's
result (:class:`SearchRun`: the kept branches), ``exp search show NAME`` every trial of the study
(:class:`SearchShow`). Built from graft.experiments.search's own types."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from graft.core.results import CommitSha, Result, pattern
from graft.experiments.search.run import SearchResult
from graft.experiments.search.show import Summary
from graft.experiments.search.study import Config

Direction = Literal["lower", "higher"]
Number = float | int
Front = Annotated[
    list[int],
    Field(
        description="several objectives: the Pareto front's trials (feasible, non-dominated), best "
        "first by the first objective; one objective: empty"
    ),
]


class ObjectiveJson(Result):
    """The (first) objective."""

    key: str
    """the validation metric, as graft diff shows it"""
    direction: Direction
    """which way is better"""


class ConfigJson(Result):
    """what the study was created with; a resumed search must match it"""

    space: list[str]
    """KEY=SPEC per dimension"""
    seed: int
    """the TPE sampler's seed (--seed)"""
    base: CommitSha
    """the commit every trial starts from"""
    objective: str
    """the first objective's metric"""
    direction: Direction
    """which way the first objective is better"""
    batch: int
    """trials asked per round"""
    objectives: list[str]
    """KEY (DIRECTION) per objective"""
    constraints: list[str]
    """bounds a kept trial meets (KEY <= MAX, KEY >= MIN, MIN <= KEY <= MAX)"""

    @classmethod
    def of(cls, config: Config) -> ConfigJson:
        return cls(
            space=list(config.space),
            seed=config.seed,
            base=config.base,
            objective=config.objective,
            direction=config.direction,
            batch=config.batch,
            objectives=list(config.objectives),
            constraints=list(config.constraints),
        )


class BestJson(Result):
    """The best trial."""

    number: int
    """the trial's number in the study"""
    value: Number
    """its first objective"""
    params: dict[str, Any]
    """the sampled parameter -> value"""


class KeptJson(Result):
    """One best trial kept as a branch."""

    number: int
    """the trial's number in the study"""
    branch: Annotated[str, pattern("^exp/")]
    """the branch it is kept as (exp/NAME-tNNN)"""
    commit: CommitSha | None
    """the branch's tip (null: the full run failed, see error)"""
    value: Number
    """the trial's objective"""
    rerun_value: Number | None
    """the objective the kept branch's full run gave"""
    existed: bool
    """the branch was already there (a resumed search)"""
    error: str | None
    """why the full run failed (null: kept)"""


class TrialJson(Result):
    """One trial of the study."""

    number: int
    """the trial's number in the study, from 0"""
    state: Literal["running", "waiting", "complete", "pruned", "fail"]
    """the Optuna trial state, lower-case"""
    value: Number | None
    """its first objective (null: not complete)"""
    params: dict[str, Any]
    """the sampled parameter -> value"""
    seconds: Number | None
    """wall time of its run, rounded to 0.01 s (null: not finished)"""
    branch: str | None
    """the branch it is kept as (null: none exists)"""
    error: str | None
    """why it failed (null: it did not fail)"""
    log: str | None
    """the file its failed run's output was kept in (null: none kept)"""
    stages: dict[str, Literal["ran", "restored", "unchanged"]]
    """what dvc repro did to each stage: ran, restored from the run cache, or unchanged (empty: the run
    failed, or not finished)"""
    worker: str | None
    """HOST:PID of the cluster worker that ran it (null: run here)"""
    values: list[Number] | None
    """every objective's value, in order (null: not complete)"""
    violations: list[Number] | None
    """per constraint: value - max or min - value (<= 0: met); null: no constraints or not measured"""
    feasible: bool | None
    """every constraint met (null: no constraints, or not complete); an infeasible trial is never kept"""
    front: bool
    """on the Pareto front (several objectives)"""


class SearchRun(Result):
    """exp search NAME"""

    name: str
    """the search (its study)"""
    storage: str
    """the study's Optuna storage URL (default: sqlite:///ROOT/.graft/search/NAME.db)"""
    objective: ObjectiveJson
    """the first objective"""
    config: ConfigJson
    """what the study was created with"""
    ran: int
    """trials run by this command"""
    resumed: int
    """trials left running by an interrupted search, re-run"""
    best: BestJson | None
    """the best complete, feasible trial (several objectives: the Pareto front's first); null: none"""
    front: Front
    kept: list[KeptJson]
    """the best trials kept as branches, best first"""


class SearchShow(Result):
    """exp search show NAME"""

    name: str
    """the search (its study)"""
    storage: str
    """the study's Optuna storage URL"""
    objective: ObjectiveJson
    """the first objective (direction from the study when it has no graft config)"""
    config: ConfigJson | None
    """what the study was created with (null: a study graft did not create)"""
    best: BestJson | None
    """the best complete, feasible trial (several objectives: the Pareto front's first); null: none"""
    objectives: list[str]
    """KEY (DIRECTION) per objective, the first one first"""
    constraints: list[str]
    """bounds a kept trial meets (KEY <= MAX, KEY >= MIN, MIN <= KEY <= MAX)"""
    front: Front
    trials: list[TrialJson]
    """every trial of the study, by number"""


class SearchJson(RootModel[SearchRun | SearchShow]):
    """`exp search NAME`: the search's result (kept branches); `exp search show NAME`: every trial of
    the study. No completed trial, or a best trial that could not be kept: the document, then exit 3"""

    @classmethod
    def ran(cls, result: SearchResult) -> SearchJson:
        best = None
        if result.best_number is not None:
            best = BestJson(number=result.best_number, value=result.best_value, params=result.best_params)
        objective = result.objective
        return cls(
            SearchRun(
                name=result.name,
                storage=result.storage,
                objective=ObjectiveJson(key=objective.key, direction=objective.direction),
                config=ConfigJson.of(result.config),
                ran=result.ran,
                resumed=result.resumed,
                best=best,
                front=list(result.front),
                kept=[
                    KeptJson(
                        number=k.number,
                        branch=k.branch,
                        commit=k.sha,
                        value=k.value,
                        rerun_value=k.rerun_value,
                        existed=k.existed,
                        error=k.error,
                    )
                    for k in result.kept
                ],
            )
        )

    @classmethod
    def shown(cls, summary: Summary) -> SearchJson:
        best_row = next((r for r in summary.rows if r.number == summary.best_number), None)
        best = (
            None
            if best_row is None
            else BestJson(number=best_row.number, value=best_row.value, params=best_row.params)
        )
        return cls(
            SearchShow(
                name=summary.name,
                storage=summary.storage,
                objective=ObjectiveJson(key=summary.objective, direction=summary.direction),
                config=None if summary.config is None else ConfigJson.of(summary.config),
                best=best,
                objectives=list(summary.objectives),
                constraints=list(summary.constraints),
                front=list(summary.front),
                trials=[
                    TrialJson(
                        number=r.number,
                        state=r.state,
                        value=r.value,
                        params=r.params,
                        seconds=r.seconds,
                        branch=r.branch,
                        error=r.error,
                        log=r.log,
                        stages=r.stages,
                        worker=r.worker,
                        values=None if r.values is None else list(r.values),
                        violations=None if r.violations is None else list(r.violations),
                        feasible=r.feasible,
                        front=r.number in summary.front,
                    )
                    for r in summary.rows
                ],
            )
        )
