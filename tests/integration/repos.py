"""Throwaway project repositories with experiment branches committed straight from Python.

No training: a branch is main's tree with some files replaced (metrics, params, predictions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
import yaml

from tests.gitobjects import commit_files

SIG = pygit2.Signature("graft tests", "tests@graft.invalid", 1_700_000_000, 0)


def read_json(repo: pygit2.Repository, path: str, rev: str = "main") -> Any:
    return json.loads(repo.revparse_single(rev).peel(pygit2.Commit).tree[path].data)


def read_yaml(repo: pygit2.Repository, path: str, rev: str = "main") -> Any:
    return yaml.safe_load(repo.revparse_single(rev).peel(pygit2.Commit).tree[path].data)


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def branch(
    root: Path,
    name: str,
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    files: dict[str, bytes | None] | None = None,
    parent: str = "main",
) -> str:
    """Commit a variant of ``parent`` as branch ``name``: dotted overrides of metrics/params."""
    repo = pygit2.Repository(str(root))
    out: dict[str, bytes | None] = dict(files or {})
    if metrics:
        data = read_json(repo, "metrics/metrics.json", parent)
        for key, value in metrics.items():
            set_dotted(data, key, value)
        out["metrics/metrics.json"] = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    if params:
        data = read_yaml(repo, "params.yaml", parent)
        for key, value in params.items():
            set_dotted(data, key, value)
        out["params.yaml"] = yaml.safe_dump(data, sort_keys=False).encode()
    parent_commit = repo.revparse_single(parent).peel(pygit2.Commit)
    commit = commit_files(repo, name, out, f"experiment {name}", parent=parent_commit, signature=SIG)
    return str(commit.id)
