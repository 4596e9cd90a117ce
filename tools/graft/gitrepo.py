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


def commit_files(
    repo: pygit2.Repository,
    branch: str,
    files: dict[str, bytes | None],
    message: str,
    parent: pygit2.Commit | None = None,
    signature: pygit2.Signature | None = None,
) -> pygit2.Commit:
    """Commit ``files`` (path -> bytes; None deletes) on top of ``parent`` as ``branch``, no checkout.

    The tree is ``parent``'s with the given files replaced; the branch ref is created or moved.
    Used to build experiment branches in tests and benchmarks without running the pipeline.
    """
    if parent is None:
        parent = repo.head.peel(pygit2.Commit)
    sig = signature or pygit2.Signature("graft", "graft@localhost")
    tree_id = _edit_tree(repo, parent.tree, files)
    oid = repo.create_commit(None, sig, sig, message, tree_id, [parent.id])
    repo.references.create(f"refs/heads/{branch}", oid, force=True)
    return repo.get(oid).peel(pygit2.Commit)


def _edit_tree(
    repo: pygit2.Repository, tree: pygit2.Tree | None, files: dict[str, bytes | None]
) -> pygit2.Oid:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    nested: dict[str, dict[str, bytes | None]] = {}
    for path, data in files.items():
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = data
        elif data is None:
            if builder.get(head) is not None:
                builder.remove(head)
        else:
            builder.insert(head, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    for name, sub in nested.items():
        entry = tree[name] if tree is not None and name in tree else None
        subtree = entry.peel(pygit2.Tree) if entry is not None and entry.type_str == "tree" else None
        builder.insert(name, _edit_tree(repo, subtree, sub), pygit2.enums.FileMode.TREE)
    return builder.write()


def branches(repo: pygit2.Repository, prefix: str = EXP_PREFIX) -> list[str]:
    """Local branch names starting with ``prefix``, sorted."""
    return sorted(b for b in repo.branches.local if b.startswith(prefix))
