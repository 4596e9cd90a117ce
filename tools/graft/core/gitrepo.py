"""Reading a project's files straight from Git objects (pygit2): no checkout, no DVC process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2

from graft.core.errors import GitError

EXP_PREFIX = "exp/"
# where `graft exp prune` keeps a deleted experiment branch's tip: refs/graft/archive/exp/NAME
ARCHIVE_PREFIX = "refs/graft/archive/"


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


def archive_ref(branch: str) -> str:
    return f"{ARCHIVE_PREFIX}{branch}"


def resolve(repo: pygit2.Repository, name: str) -> Revision:
    """Resolve a branch, tag, ``HEAD`` or sha to its commit; a clear error names the revision.

    A pruned experiment branch still resolves by its old name (``exp/NAME``), through the
    archive ref `graft exp prune` left (``refs/graft/archive/exp/NAME``).
    """
    try:
        obj = repo.revparse_single(name)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        archived = repo.references.get(archive_ref(name)) if name.startswith(EXP_PREFIX) else None
        if archived is None:
            raise GitError(f"unknown revision '{name}' (expected a branch, tag or commit)") from None
        commit = archived.peel(pygit2.Commit)
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


# --- plumbing through the git command line (worktrees, commits, pushes) ----------------------


def git(cwd: str | Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``git args`` in ``cwd`` and return its stdout; a failure raises GitError with git's message."""
    import subprocess

    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        reason = failure_reason(proc.stderr or proc.stdout) or f"exit status {proc.returncode}"
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {reason}")
    return proc.stdout.strip()


def failure_reason(output: str) -> str:
    """The line of git's output that says what went wrong: the first ``fatal:``/``error:`` line
    (git ends many of them with advice such as "and the repository exists."), else the last line."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else ""


def is_valid_branch_name(name: str) -> bool:
    """Whether ``name`` is a valid branch name (git check-ref-format rules, via libgit2)."""
    if not name or name.startswith("-") or name == "HEAD":
        return False
    return bool(pygit2.reference_is_valid_name(f"refs/heads/{name}"))


def branch_exists(repo: pygit2.Repository, name: str) -> bool:
    return repo.lookup_branch(name) is not None


def workdir_changes(root: str | Path) -> list[str]:
    """Paths with uncommitted changes in a checkout (tracked changes and untracked files).

    Read from ``git status --porcelain -z`` untrimmed: each entry is ``XY path`` (renames carry
    the old path as the next entry, skipped).
    """
    import subprocess

    proc = subprocess.run(
        ["git", "status", "--porcelain", "-z", "--untracked-files=normal"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(f"git status failed in {root}: {proc.stderr.decode(errors='replace').strip()}")
    entries = proc.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    paths: list[str] = []
    skip = False
    for entry in entries:
        if skip:
            skip = False
            continue
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        skip = entry[0] in "RC"
    return paths


def merge_base(repo: pygit2.Repository, a: pygit2.Commit, b: pygit2.Commit) -> pygit2.Commit | None:
    oid = repo.merge_base(a.id, b.id)
    return None if oid is None else repo[oid].peel(pygit2.Commit)


def ahead_behind(repo: pygit2.Repository, head: pygit2.Commit, base: pygit2.Commit) -> tuple[int, int]:
    """Commits ``head`` has that ``base`` lacks, and the other way round."""
    ahead, behind = repo.ahead_behind(head.id, base.id)
    return int(ahead), int(behind)


def tree_id(commit: pygit2.Commit, path: str) -> str | None:
    """The object id of a file or directory in ``commit`` (same id = same content), or None."""
    return blob_id(commit, path)
