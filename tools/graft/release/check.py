"""`graft check-repro`: after `dvc repro`, do dvc.lock and metrics/ still match the commit?

CI runs the pipeline on a clean checkout; if the reproduced ``dvc.lock`` or any file under
``metrics/`` differs from what HEAD committed, the committed results were not produced by the
committed code, data and parameters. Files are compared byte for byte against HEAD's Git
objects (pygit2: no checkout, no index); a differing file is named, with the differing entries
of ``dvc.lock`` (stage, output/dependency, md5) and the differing keys of JSON metrics.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
import yaml

from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.project.metrics import DVC_LOCK, flatten

DEFAULT_PATHS = (DVC_LOCK, "metrics")


class ReproducibilityError(GraftError):
    pass


@dataclass(frozen=True)
class Difference:
    path: str
    status: str  # "changed" | "missing" (committed, not in the working tree) | "new" (not committed)
    details: list[str] = field(default_factory=list)


def _head_files(commit: pygit2.Commit, path: str) -> dict[str, bytes]:
    try:
        entry = commit.tree[path]
    except KeyError:
        return {}
    obj = entry.peel(pygit2.Tree) if entry.type_str == "tree" else entry.peel(pygit2.Blob)
    if isinstance(obj, pygit2.Blob):
        return {path: obj.data}
    out: dict[str, bytes] = {}
    stack = [(path, obj)]
    while stack:
        prefix, tree = stack.pop()
        for child in tree:
            name = f"{prefix}/{child.name}"
            if child.type_str == "tree":
                stack.append((name, child.peel(pygit2.Tree)))
            elif child.type_str == "blob":
                out[name] = child.peel(pygit2.Blob).data
    return out


def _work_files(repo: pygit2.Repository, root: Path, path: str) -> dict[str, bytes]:
    target = root / path
    if target.is_file():
        return {path: target.read_bytes()}
    if not target.is_dir():
        return {}
    out = {}
    for file in sorted(p for p in target.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if not repo.path_is_ignored(rel):
            out[rel] = file.read_bytes()
    return out


def lock_entries(data: bytes) -> dict[str, Any]:
    """dvc.lock as flat ``stage: kind path -> md5`` (plus params and cmd) for naming what differs."""
    lock = yaml.safe_load(data) or {}
    flat: dict[str, Any] = {}
    for stage, body in (lock.get("stages") or {}).items():
        flat[f"{stage}: cmd"] = body.get("cmd")
        for kind in ("deps", "outs"):
            for item in body.get(kind) or []:
                flat[f"{stage}: {kind[:-1]} {item.get('path')}"] = item.get("md5")
        for source, values in (body.get("params") or {}).items():
            for key, value in flatten(values or {}).items():
                flat[f"{stage}: param {source}:{key}"] = value
    return flat


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    details = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, "(absent)"), after.get(key, "(absent)")
        if old != new:
            details.append(f"{key}: {old} -> {new}")
    return details


def explain(path: str, old: bytes, new: bytes) -> list[str]:
    """What differs inside a file, for the formats graft understands; empty otherwise."""
    try:
        if path.endswith("dvc.lock"):
            return _changed_keys(lock_entries(old), lock_entries(new))
        if path.endswith(".json"):
            return _changed_keys(flatten(json.loads(old)), flatten(json.loads(new)))
    except (ValueError, yaml.YAMLError, AttributeError):
        return ["unreadable"]
    return []


def check_repro(root: Path, paths: Iterable[str] = DEFAULT_PATHS, rev: str = "HEAD") -> list[Difference]:
    """Every file under ``paths`` whose working-tree bytes differ from ``rev``'s (empty: reproduced)."""
    root = Path(root).resolve()
    repo = gitrepo.open_repo(root)
    commit = gitrepo.resolve(repo, rev).commit
    differences = []
    for path in paths:
        path = path.strip("/")
        committed, present = _head_files(commit, path), _work_files(repo, root, path)
        for name in sorted(set(committed) | set(present)):
            if name not in present:
                differences.append(Difference(name, "missing"))
            elif name not in committed:
                differences.append(Difference(name, "new"))
            elif committed[name] != present[name]:
                differences.append(Difference(name, "changed", explain(name, committed[name], present[name])))
    return differences
