"""What a branch did since it left its base: its commits and the pipeline stages it changed.

* :func:`commits_since_fork`: the commits reachable from the head but not from the base (the
  fork point excluded), newest first, at most ``limit`` of them;
* :func:`changed_stages`: the ``dvc.lock`` stages whose entries (command, dependencies, outputs,
  params) differ between the base and the head, each with the entries that differ.

Both read Git objects only (no checkout, no DVC).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.project.lock import Lock


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: str
    time: int  # seconds since the epoch (the commit's time)
    summary: str  # the message's first line
    message: str


@dataclass(frozen=True)
class StageChange:
    stage: str
    status: str  # added | removed | changed
    entries: tuple[str, ...]  # "kind path" / "cmd" / "param key" entries that differ


@dataclass(frozen=True)
class History:
    base: str
    head: str
    fork: str | None  # the merge base's sha (None: no common ancestor)
    commits: tuple[CommitInfo, ...]
    truncated: bool  # more commits than the limit
    stages: tuple[StageChange, ...]


def _stage_entries(lock: Lock, stage: str) -> dict[str, Any]:
    prefix = f"{stage}: "
    return {k[len(prefix) :]: v for k, v in lock.entries().items() if k.startswith(prefix)}


def changed_stages(base: Lock, head: Lock) -> list[StageChange]:
    """The stages whose lock entries differ, in the head's order, then the removed ones."""
    out = []
    names = list(dict.fromkeys([*map(str, head.stages), *map(str, base.stages)]))
    for stage in names:
        if stage not in base.stages:
            out.append(StageChange(stage, "added", tuple(_stage_entries(head, stage))))
        elif stage not in head.stages:
            out.append(StageChange(stage, "removed", tuple(_stage_entries(base, stage))))
        else:
            b, h = _stage_entries(base, stage), _stage_entries(head, stage)
            differ = tuple(k for k in dict.fromkeys([*h, *b]) if b.get(k) != h.get(k))
            if differ:
                out.append(StageChange(stage, "changed", differ))
    return out


def commits_since_fork(repo: Any, base: Any, head: Any, limit: int) -> tuple[list[CommitInfo], bool]:
    """Commits of ``head`` not in ``base`` (pygit2 commits), newest first, at most ``limit``."""
    import pygit2

    walker = repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    walker.hide(base.id)
    out: list[CommitInfo] = []
    for commit in walker:
        if len(out) == limit:
            return out, True
        message = commit.message or ""
        out.append(
            CommitInfo(
                str(commit.id),
                commit.author.name,
                int(commit.commit_time),
                message.strip().splitlines()[0] if message.strip() else "",
                message.strip(),
            )
        )
    return out, False


def history(root: str | Path, base: str, head: str, limit: int) -> History:
    """The commits and changed stages of ``head`` since it forked from ``base``."""
    from graft.core import gitrepo
    from graft.project import Project

    project = Project.find(root)
    base_rev, head_rev = project.resolve(base), project.resolve(head)
    fork = gitrepo.merge_base(project.repo, head_rev.commit, base_rev.commit)
    commits, truncated = commits_since_fork(project.repo, base_rev.commit, head_rev.commit, limit)
    stages = changed_stages(project.at(base_rev).lock, project.at(head_rev).lock)
    return History(
        base, head, None if fork is None else str(fork.id), tuple(commits), truncated, tuple(stages)
    )
