"""`graft exp list`: the experiment branches with their base, staleness and headline metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import RootModel

from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.core.results import Result, pattern
from graft.project import DEFAULT_BASE, Project
from graft.project.dvcfile import DEFAULT_PARAMS as PARAMS_FILE
from graft.project.lock import is_code
from graft.project.view import View

# ---------------------------------------------------------------------------------------------
# listing


@dataclass(frozen=True)
class Stale:
    """What moved on main since the experiment branched (None: no common ancestor)."""

    data: bool | None
    code: bool | None
    params: bool | None


@dataclass(frozen=True)
class Info:
    branch: str
    sha: str
    base: str | None
    ahead: int
    behind: int
    stale: Stale
    metrics: dict[str, float | None]
    changes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why its files could not be read (the rest is then unknown)


ShortSha = Annotated[str, pattern(r"^[0-9a-f]{8}$")]


class StaleEntry(Result):
    """What moved on main since the experiment branched (null: no common ancestor, or unread)."""

    data: bool | None
    """the pipeline's data inputs (dvc.lock hashes) differ between --main and the fork point"""
    code: bool | None
    """dvc.yaml or a stage's code dependency differs between --main and the fork point"""
    params: bool | None
    """the params the stages read differ between --main and the fork point"""


class ListEntry(Result):
    """One experiment branch in `graft exp list`."""

    branch: str
    """the branch (exp/NAME)"""
    sha: ShortSha
    """its tip commit, abbreviated to 8 characters"""
    base: ShortSha | None
    """Fork point with --main."""
    ahead: int
    """commits on the branch not on --main"""
    behind: int
    """commits on --main not on the branch"""
    stale: StaleEntry
    """what moved on --main since the fork point"""
    metrics: dict[str, float | int | None]
    """Metric name (dotted for nested keys) -> value."""
    changes: dict[str, Any]
    """Params changed since the fork point."""
    error: str | None
    """Why the branch's files could not be read (stale, metrics and changes are then unknown);
    null when read."""


class ListResult(RootModel[list[ListEntry]]):
    """The experiment branches (exp/*)."""

    @classmethod
    def of(cls, infos: list[Info]) -> ListResult:
        return cls(
            [
                ListEntry(
                    branch=i.branch,
                    sha=i.sha,
                    base=i.base,
                    ahead=i.ahead,
                    behind=i.behind,
                    stale=StaleEntry(data=i.stale.data, code=i.stale.code, params=i.stale.params),
                    metrics=i.metrics,
                    changes=i.changes,
                    error=i.error,
                )
                for i in infos
            ]
        )


def pipeline_params(view: View) -> dict[str, Any]:
    """The params the pipeline's stages read (dvc.yaml ``params``), flattened; all when none listed."""
    declared = view.pipeline.params
    flat = view.all_params
    if not declared:
        return flat
    out: dict[str, Any] = {}
    for file, keys in declared.items():
        prefix = "" if file == PARAMS_FILE else f"{file}:"
        for key in keys:
            stem = f"{prefix}{key}" if key else prefix.rstrip(":")
            out.update({k: v for k, v in flat.items() if k == stem or k.startswith(f"{stem}.") or not key})
    return out


def headline_metrics(view: View) -> dict[str, float | None]:
    values = view.headline_metrics() or {}
    out: dict[str, float | None] = {}
    for name in view.settings.metrics.headline:
        value = values.get(name)
        out[name] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return out


def code_paths(view: View) -> set[str]:
    """dvc.yaml itself and the stages' dependencies that are code (not data, not stage outputs)."""
    produced = set(view.pipeline.outputs)
    deps = {d for stage in view.pipeline.stages.values() for d in stage.deps}
    return {"dvc.yaml"} | {d for d in deps - produced if is_code(d) or not view.lock.data_inputs.get(d)}


def stale_flags(main: View, fork: View) -> Stale:
    paths = code_paths(main) | code_paths(fork)
    code = any(main.source.blob_key(p) != fork.source.blob_key(p) for p in paths)
    return Stale(
        data=main.lock.data_inputs != fork.lock.data_inputs,
        code=code,
        params=pipeline_params(main) != pipeline_params(fork),
    )


def param_changes(tip: View, fork: View) -> dict[str, Any]:
    """Pipeline params whose value at the branch tip differs from the fork point."""
    now, then = pipeline_params(tip), pipeline_params(fork)
    return {k: v for k, v in now.items() if then.get(k, object()) != v}


def list_experiments(cwd: str | Path = ".", main: str = DEFAULT_BASE) -> list[Info]:
    project = Project.find(cwd)
    repo = project.repo
    main_rev = gitrepo.resolve(repo, main)
    main_view = project.at(main_rev)
    out: list[Info] = []
    for branch in gitrepo.branches(repo):
        tip_rev = gitrepo.resolve(repo, f"refs/heads/{branch}")
        tip = tip_rev.commit
        fork = gitrepo.merge_base(repo, tip, main_rev.commit)
        ahead, behind = gitrepo.ahead_behind(repo, tip, main_rev.commit)
        tip_view = project.at(gitrepo.Revision(branch, tip))  # named as listed
        stale = Stale(None, None, None)
        changes: dict[str, Any] = {}
        metrics: dict[str, float | None] = {}
        error = None
        try:  # one branch whose files cannot be read must not stop the listing
            if fork is not None:
                fork_view = project.at(gitrepo.Revision(str(fork.id), fork))
                stale = stale_flags(main_view, fork_view)
                changes = param_changes(tip_view, fork_view)
            metrics = headline_metrics(tip_view)
        except GraftError as exc:
            error = str(exc)
            stale, changes, metrics = Stale(None, None, None), {}, {}
            logging.getLogger("graft").warning("%s: listed without its results: %s", branch, error)
        out.append(
            Info(
                branch=branch,
                sha=str(tip.id)[:8],
                base=None if fork is None else str(fork.id)[:8],
                ahead=ahead,
                behind=behind,
                stale=stale,
                metrics=metrics,
                changes=changes,
                error=error,
            )
        )
    return out
