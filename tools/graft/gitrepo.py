"""Reading a project's files straight from Git objects (pygit2): no checkout, no DVC process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2

from graft.errors import GitError

EXP_PREFIX = "exp/"


@dataclass(frozen=True)
class Revision:
    """A name the user gave (branch, tag, sha, HEAD) and the commit it resolves to."""

    name: str
    commit: pygit2.Commit

    @property
    def sha(self) -> str:
        return str(self.commit.id)

    @property
    def short(self) -> str:
        return self.sha[:8]


def open_repo(path: str | Path = ".") -> pygit2.Repository:
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise GitError(f"{Path(path).resolve()}: not inside a Git repository")
    return pygit2.Repository(found)


def resolve(repo: pygit2.Repository, name: str) -> Revision:
    """Resolve a branch, tag, ``HEAD`` or sha to its commit; a clear error names the revision."""
    try:
        obj = repo.revparse_single(name)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise GitError(f"unknown revision '{name}' (expected a branch, tag or commit)") from None
    return Revision(name, commit)


def read_file(commit: pygit2.Commit, path: str) -> bytes | None:
    """The bytes of ``path`` in ``commit``'s tree, or None when the file is not there."""
    try:
        entry = commit.tree[path]
    except KeyError:
        return None
    blob = entry.peel(pygit2.Blob) if hasattr(entry, "peel") else entry
    return blob.data if isinstance(blob, pygit2.Blob) else None


def blob_id(commit: pygit2.Commit, path: str) -> str | None:
    """The blob id of ``path`` in ``commit`` (cheap change detection), or None."""
    try:
        return str(commit.tree[path].id)
    except KeyError:
        return None


def branches(repo: pygit2.Repository, prefix: str = EXP_PREFIX) -> list[str]:
    """Local branch names starting with ``prefix``, sorted."""
    return sorted(b for b in repo.branches.local if b.startswith(prefix))
