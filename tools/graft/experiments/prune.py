"""`graft exp prune`: delete experiment branches that were merged or lost, keeping their results.

Which branches (``exp/*``; local ones, and with ``remote`` also the remote's):

* explicit names (``NAME`` or ``exp/NAME``; an unknown one is refused before anything happens),
  else every experiment branch;
* narrowed by ``merged`` (the tip is reachable from ``main``, or with ``remote`` from
  ``<remote>/main``) and ``older_than`` (the tip was committed longer ago than that: ``30d``,
  ``12h``, ``2w``); with neither and no names nothing is chosen (a usage error).

A chosen branch is kept, with the reason, when it is not merged and ``force`` is not given, is
checked out in a worktree, differs between here and the remote (pull or push first), or when
its archive ref already holds another commit. A branch named explicitly that is kept so when
deleting (not a dry run) is a refusal, as ``git branch -d`` refuses an unmerged branch:
:class:`NotPruned` (exit 1) names each one and why (``--force`` for an unmerged one), after the
other branches were pruned; branches chosen by ``merged``/``older_than`` alone are only listed.

Deleting a branch first points ``refs/graft/archive/exp/NAME`` at its tip, so its commits,
metrics and predictions stay in Git: ``graft diff exp/NAME`` and ``graft report`` still accept
the old name (graft.core.gitrepo resolves it through the archive). Then, with ``remote``, one
atomic push creates the archive ref on the remote and deletes the remote branch (leased on the
tip it was seen at, so a branch someone pushed to meanwhile is not deleted); then the local
branch is deleted. Nothing is deleted unless ``dry_run`` is False (the command's default is a
dry run that lists what would go). Archive refs are not fetched by ``git clone``; fetch them with
``git fetch origin 'refs/graft/archive/*:refs/graft/archive/*'``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pygit2

from graft.core import gitrepo
from graft.core.errors import CheckFailed, GitError, UsageError
from graft.core.results import CommitSha, Result
from graft.core.timespec import parse_duration as parse
from graft.experiments import names as names_
from graft.project import DEFAULT_BASE


class NotPruned(CheckFailed):
    """Branches named explicitly were kept (exit 1, like ``git branch -d`` on an unmerged branch)."""


@dataclass(frozen=True)
class Candidate:
    """One experiment branch, what pruning would do with it, and why."""

    branch: str
    sha: str
    local: bool
    remote_sha: str | None  # the remote's tip (None: not on the remote, or remote not asked)
    merged: bool
    committed: int  # the tip's commit time (seconds since the epoch)
    delete: bool
    reason: str
    named: bool = False  # chosen by name (not by --merged/--older-than alone)

    @property
    def archive(self) -> str:
        return gitrepo.archive_ref(self.branch)

    @property
    def where(self) -> str:
        return "+".join(w for w, on in (("local", self.local), ("remote", self.remote_sha)) if on)


@dataclass
class PruneResult:
    candidates: list[Candidate]
    dry_run: bool
    remote: str | None
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def refused(self) -> list[Candidate]:
        """Branches named explicitly that a deleting run kept (each with its reason)."""
        return [c for c in self.candidates if c.named and not c.delete and not self.dry_run]

    def refusal(self) -> NotPruned | None:
        """The error a deleting run that kept a named branch ends with (None: none was kept)."""
        kept = self.refused
        if not kept:
            return None
        reasons = "; ".join(f"{c.branch}: {c.reason}" for c in kept)
        return NotPruned(f"{len(kept)} branch(es) named to prune were kept: {reasons}")


class PrunedBranch(Result):
    """One experiment branch `graft exp prune` looked at."""

    branch: str
    """the branch (exp/NAME)"""
    sha: CommitSha
    """its tip (the local one when it is local)"""
    where: Literal["local", "remote", "local+remote"]
    """where the branch is: here, on origin (--remote), or both"""
    merged: bool
    """the tip is reachable from --main (with --remote, from origin/MAIN)"""
    committed: int
    """The tip's commit time, seconds since the epoch."""
    delete: bool
    """Whether pruning deletes it."""
    reason: str
    """why it is deleted or kept (e.g. "merged", "not merged into main: --force deletes it ...")"""
    archive: str
    """The ref its tip is archived under."""
    deleted: bool
    """it was deleted (false: kept, a dry run, or the deletion failed)"""
    error: str | None
    """why deleting it failed (null: not tried, or deleted)"""


class PruneSummary(Result):
    """What `graft exp prune` did (or, with --dry-run, would do)."""

    dry_run: bool
    """nothing was deleted: the branches are what pruning would do (the default; --no-dry-run deletes)"""
    branches: list[PrunedBranch]
    """every branch chosen (by name, --merged, --older-than), with what pruning does with it"""

    @classmethod
    def of(cls, result: PruneResult) -> PruneSummary:
        return cls(
            dry_run=result.dry_run,
            branches=[
                PrunedBranch(
                    branch=c.branch,
                    sha=c.sha,
                    where=c.where,
                    merged=c.merged,
                    committed=c.committed,
                    delete=c.delete,
                    reason=c.reason,
                    archive=c.archive,
                    deleted=c.branch in result.deleted,
                    error=result.failed.get(c.branch),
                )
                for c in result.candidates
            ],
        )


def parse_duration(text: str) -> int:
    """``--older-than``: whole seconds (:func:`graft.core.timespec.parse_duration`)."""
    return int(parse(text, "--older-than").total_seconds())


def _branch_name(name: str) -> str:
    return name if name.startswith(gitrepo.EXP_PREFIX) else f"{gitrepo.EXP_PREFIX}{name}"


def _checked_out(root: Path) -> set[str]:
    """Branches checked out in any worktree of the repository."""
    listed = gitrepo.git(root, "worktree", "list", "--porcelain")
    return {
        line.removeprefix("branch refs/heads/") for line in listed.splitlines() if line.startswith("branch ")
    }


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    obj = repo.get(sha)
    if obj is None:
        raise GitError(f"commit {sha[:8]} is not in this repository (fetch it first)")
    return obj.peel(pygit2.Commit)


def _merged_into(repo: pygit2.Repository, sha: str, bases: list[pygit2.Commit]) -> bool:
    oid = pygit2.Oid(hex=sha)
    return any(base.id == oid or repo.descendant_of(base.id, oid) for base in bases)


def _remote_branches(repo: pygit2.Repository, remote: str | None) -> dict[str, str]:
    """The remote's experiment branches (as last fetched) and their tips."""
    on_remote: dict[str, str] = {}
    if remote is not None:
        prefix = f"refs/remotes/{remote}/"
        for ref in repo.references:
            if ref.startswith(prefix + gitrepo.EXP_PREFIX):
                on_remote[ref[len(prefix) :]] = str(repo.references[ref].resolve().target)
    return on_remote


def _chosen(names: Sequence[str], known: list[str], remote: str | None) -> list[str]:
    """The branches named (each must exist here or on the remote), or every known one."""
    if not names:
        return known
    chosen = [_branch_name(n) for n in names]
    unknown = [b for b in chosen if b not in known]
    if unknown:
        where = f"here or on '{remote}'" if remote else "here (with --remote, the remote's too)"
        raise GitError(
            f"no experiment branch {', '.join(unknown)} {where}; branches: {', '.join(known) or 'none'}"
        )
    return list(dict.fromkeys(chosen))


def plan(
    root: Path,
    names: Sequence[str] = (),
    merged: bool = False,
    older_than: str | None = None,
    remote: str | None = None,
    force: bool = False,
    main: str = DEFAULT_BASE,
    now: float | None = None,
) -> list[Candidate]:
    """What pruning would do with each chosen branch (nothing is changed; with ``remote``, the
    remote's branches and archive refs are fetched first)."""
    if not names and not merged and older_than is None:
        raise UsageError("say which branches to prune: NAME..., --merged or --older-than DURATION")
    max_age = parse_duration(older_than) if older_than is not None else None
    for name in names:  # before anything is fetched or deleted
        names_.check_syntax(name.removeprefix(gitrepo.EXP_PREFIX), "experiment branch")
    repo = gitrepo.open_repo(root)
    if remote is not None:
        if remote not in repo.remotes.names():
            raise GitError(f"no remote '{remote}' to prune branches on (git remote add {remote} URL)")
        gitrepo.git(root, "fetch", "--quiet", "--prune", remote)
        gitrepo.git(root, "fetch", "--quiet", remote, f"+{gitrepo.ARCHIVE_PREFIX}*:{gitrepo.ARCHIVE_PREFIX}*")
    local = {b: str(repo.lookup_branch(b).target) for b in gitrepo.branches(repo)}
    on_remote = _remote_branches(repo, remote)
    chosen = _chosen(names, sorted(set(local) | set(on_remote)), remote)
    bases = [gitrepo.resolve(repo, main).commit]
    if remote is not None and f"refs/remotes/{remote}/{main}" in repo.references:
        bases.append(gitrepo.resolve(repo, f"refs/remotes/{remote}/{main}").commit)
    busy = _checked_out(root)
    clock = time.time() if now is None else now
    out: list[Candidate] = []
    for branch in chosen:
        sha = local.get(branch) or on_remote[branch]
        tip = _commit(repo, sha)
        is_merged = _merged_into(repo, sha, bases)
        committed = int(tip.commit_time)
        if merged and not is_merged:
            continue
        if max_age is not None and clock - committed < max_age:
            continue
        archived = repo.references.get(gitrepo.archive_ref(branch))
        remote_sha = on_remote.get(branch)
        archives = [r for r in repo.references if r.startswith(gitrepo.archive_ref(branch.split("/")[0]))]
        blocker = names_.clash(gitrepo.archive_ref(branch), archives)
        if branch in busy:
            delete, reason = False, "checked out in a worktree: switch branches first"
        elif branch in local and remote_sha is not None and remote_sha != sha:
            delete, reason = False, f"differs from {remote}/{branch} ({remote_sha[:8]}): pull or push first"
        elif blocker is not None and archived is None:
            target = gitrepo.archive_ref(branch)
            delete, reason = False, f"{blocker} is in the way of archiving it as {target}"
        elif archived is not None and str(archived.target) != sha:
            delete, reason = (
                False,
                f"{gitrepo.archive_ref(branch)} already archives {str(archived.target)[:8]}: "
                "rename the branch or delete that ref",
            )
        elif not is_merged and not force:
            delete, reason = False, f"not merged into {main}: --force deletes it (its results are archived)"
        else:
            delete, reason = True, "merged" if is_merged else "not merged (--force)"
        here, named = branch in local, bool(names)
        out.append(Candidate(branch, sha, here, remote_sha, is_merged, committed, delete, reason, named))
    return out


def prune(
    root: Path,
    names: Sequence[str] = (),
    merged: bool = False,
    older_than: str | None = None,
    remote: str | None = None,
    force: bool = False,
    dry_run: bool = True,
    main: str = DEFAULT_BASE,
    now: float | None = None,
) -> PruneResult:
    """Archive, then delete, the branches :func:`plan` marks for deletion (see the module docstring)."""
    root = Path(root)
    candidates = plan(root, names, merged, older_than, remote, force, main, now)
    result = PruneResult(candidates, dry_run, remote)
    if dry_run:
        return result
    for candidate in candidates:
        if not candidate.delete:
            continue
        try:
            _delete(root, candidate, remote)
        except GitError as exc:
            result.failed[candidate.branch] = str(exc)
        else:
            result.deleted.append(candidate.branch)
    return result


def _delete(root: Path, candidate: Candidate, remote: str | None) -> None:
    archive = candidate.archive
    repo = gitrepo.open_repo(root)
    if archive not in repo.references:
        # create only: an archive that appeared meanwhile is never overwritten
        gitrepo.git(root, "update-ref", archive, candidate.sha, "0" * 40)
    if remote is not None:
        refspecs = [f"{candidate.sha}:{archive}"]
        if candidate.remote_sha is not None:
            lease = f"--force-with-lease=refs/heads/{candidate.branch}:{candidate.remote_sha}"
            refspecs.append(f":refs/heads/{candidate.branch}")
            gitrepo.git(root, "push", "--quiet", "--atomic", lease, remote, *refspecs)
        else:
            gitrepo.git(root, "push", "--quiet", remote, *refspecs)
    if candidate.local:
        gitrepo.git(root, "branch", "--quiet", "-D", candidate.branch)
