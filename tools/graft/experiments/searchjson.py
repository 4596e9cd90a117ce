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


class ConfigJson(Result):
    """what the study was created with; a resumed search must match it"""

    space: list[str]
    """KEY=SPEC per dimension"""
    seed: int
    base: CommitSha
    objective: str
    direction: Direction
    batch: int
    """trials asked per round"""
    objectives: list[str]
    """KEY (DIRECTION) per objective"""
    constraints: list[str]

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
    value: Number
    params: dict[str, Any]


class KeptJson(Result):
    """One best trial kept as a branch."""

    number: int
    branch: Annotated[str, pattern("^exp/")]
    commit: CommitSha | None
    value: Number
    """the trial's objective"""
    rerun_value: Number | None
    """the objective the kept branch's full run gave"""
    existed: bool
    """the branch was already there (a resumed search)"""
    error: str | None


class TrialJson(Result):
    """One trial of the study."""

    number: int
    state: Literal["running", "waiting", "complete", "pruned", "fail"]
    value: Number | None
    params: dict[str, Any]
    seconds: Number | None
    branch: str | None
    error: str | None
    log: str | None
    stages: dict[str, Literal["ran", "restored", "unchanged"]]
    worker: str | None
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
    storage: str
    objective: ObjectiveJson
    config: ConfigJson
    ran: int
    """trials run by this command"""
    resumed: int
    """trials left running by an interrupted search, re-run"""
    best: BestJson | None
    front: Front
    kept: list[KeptJson]


class SearchShow(Result):
    """exp search show NAME"""

    name: str
    storage: str
    objective: ObjectiveJson
    config: ConfigJson | None
    best: BestJson | None
    objectives: list[str]
    """KEY (DIRECTION) per objective, the first one first"""
    constraints: list[str]
    """bounds a kept trial meets (KEY <= MAX, KEY >= MIN, MIN <= KEY <= MAX)"""
    front: Front
    trials: list[TrialJson]


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
