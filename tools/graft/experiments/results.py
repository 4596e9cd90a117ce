"""The JSON results of `graft exp new` and `graft exp grid` (graft.core.results), built from the
experiments' own types (:mod:`graft.experiments.model`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, RootModel

from graft.core.dvcremote import PushReport
from graft.core.results import CommitSha, Result, pattern
from graft.experiments import model

Count = Annotated[int, Field(ge=0)]


class BaseCommit(Result):
    """The revision the experiment branched from."""

    name: str
    """the base as given (--base)"""
    commit: CommitSha
    """its commit"""


class OverrideEntry(Result):
    """One changed parameter."""

    key: str
    """the parameter (dotted; FILE:KEY for a params file other than params.yaml)"""
    old: Any
    """its value at the base"""
    new: Any
    """the value set (--set), checked against the old value's type"""


class Uploaded(Result):
    """The DVC remote, checked before the branch was pushed: what it must hold and what it lacked
    (null: not pushed to a DVC remote)."""

    objects: Count
    """Output objects the commit's dvc.lock names."""
    objects_uploaded: Count
    """Of those, missing on the DVC remote and sent now."""
    run_cache: Count
    """Run-cache entries of its stages."""
    run_cache_uploaded: Count
    """Of those, missing on the DVC remote and sent now."""

    @classmethod
    def of(cls, report: PushReport | None) -> Uploaded | None:
        if report is None:
            return None
        return cls(
            objects=report.objects,
            objects_uploaded=report.uploaded_objects,
            run_cache=report.entries,
            run_cache_uploaded=report.uploaded_entries,
        )


class Experiment(Result):
    """One experiment branch created (`graft exp new`)."""

    name: str
    """the experiment name (the branch without exp/)"""
    branch: Annotated[str, pattern("^exp/")]
    """the branch created (exp/NAME)"""
    commit: CommitSha
    """the experiment commit on the branch"""
    base: BaseCommit
    """the revision it branched from"""
    overrides: list[OverrideEntry]
    """the parameters changed, in the order given"""
    ran: bool
    """Dvc repro ran (false with --no-run)."""
    pushed: bool
    """the branch was pushed to origin and its outputs to the DVC remote (--push, or a cluster worker)"""
    seconds: float
    """wall time to build it, rounded to milliseconds"""
    files: list[str]
    """Files the experiment commit changed."""
    stages: dict[str, Literal["ran", "restored", "unchanged"]]
    """What dvc repro did to each stage: ran, restored from the run cache, or unchanged (empty
    with --no-run)."""
    worker: str | None
    """HOST:PID of the cluster worker that ran it (null: run here)."""
    uploaded: Uploaded | None
    """what the DVC remote lacked and was sent (null: not pushed)"""

    @classmethod
    def of(cls, result: model.Result) -> Experiment:
        return cls(
            name=result.name,
            branch=result.branch,
            commit=result.sha,
            base=BaseCommit(name=result.base_name, commit=result.base_sha),
            overrides=[OverrideEntry(key=o.key, old=o.old, new=o.new) for o in result.overrides],
            ran=result.ran,
            pushed=result.pushed,
            seconds=round(result.seconds, 3),
            files=list(result.files),
            stages=dict(result.stages),
            worker=result.worker,
            uploaded=Uploaded.of(result.uploaded),
        )


class GridOutcome(Result):
    """How one grid point ended."""

    name: str
    """the point's experiment name (--prefix, then each key and value)"""
    branch: str
    """its branch (exp/NAME)"""
    ok: bool
    """the experiment was built (result set; false: error set)"""
    result: Experiment | None
    """the experiment built (null: it failed)"""
    error: str | None
    """why it failed (null: it succeeded)"""
    log: str | None
    """the file the failed run's output was kept in (null: none kept)"""
    seconds: float
    """wall time of the point, rounded to milliseconds"""

    @classmethod
    def of(cls, outcome: model.Outcome) -> GridOutcome:
        return cls(
            name=outcome.spec.name,
            branch=outcome.spec.branch,
            ok=outcome.ok,
            result=None if outcome.result is None else Experiment.of(outcome.result),
            error=outcome.error,
            log=None if outcome.log is None else str(outcome.log),
            seconds=round(outcome.seconds, 3),
        )


class GridPoint(Result):
    """--dry-run: one checked point."""

    name: str
    """the point's experiment name (--prefix, then each key and value)"""
    sets: list[str]
    """its assignments, KEY=VALUE as given"""


class GridRun(RootModel[list[GridOutcome]]):
    """One entry per grid point, in grid order; any failed point: exit 3."""


class GridCheck(RootModel[list[GridPoint]]):
    """--dry-run: every checked point, in grid order; nothing was created."""


class GridResult(RootModel[GridRun | GridCheck]):
    """What `graft exp grid` ran, or with --dry-run checked."""

    @classmethod
    def ran(cls, outcomes: list[model.Outcome]) -> GridResult:
        return cls(GridRun([GridOutcome.of(o) for o in outcomes]))

    @classmethod
    def checked(cls, points: list[tuple[str, list[str]]]) -> GridResult:
        return cls(GridCheck([GridPoint(name=name, sets=list(sets)) for name, sets in points]))
