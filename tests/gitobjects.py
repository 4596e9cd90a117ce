"""Commits built straight from Python objects (no checkout, no pipeline run), for tests and benchmarks."""

from __future__ import annotations

import pygit2


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
