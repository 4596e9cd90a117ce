"""Where a project's files are read from: a commit's Git objects or a working tree.

Both sources answer ``read(path) -> bytes | None`` (None: the file is not there) and
``blob_key(path)``, a cheap identity of a file's content used to parse each distinct file once
(a blob id for a commit; path, size and mtime for a working tree). ``label`` names the source in
error messages (``exp/a:params.yaml``, ``./params.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pygit2


class Source(Protocol):
    label: str

    def read(self, path: str) -> bytes | None: ...

    def blob_key(self, path: str) -> str | None: ...

    def exists(self, path: str) -> bool: ...

    def where(self, path: str) -> str: ...


class GitSource:
    """The files of one commit, read from Git objects (no checkout)."""

    def __init__(self, commit: pygit2.Commit, label: str) -> None:
        self.commit = commit
        self.label = label

    def _entry(self, path: str) -> pygit2.Object | None:
        try:
            return self.commit.tree[path.strip("/")]
        except (KeyError, ValueError):
            return None

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or entry.type_str != "blob":
            return None
        return entry.peel(pygit2.Blob).data

    def blob_key(self, path: str) -> str | None:
        entry = self._entry(path)
        return None if entry is None else str(entry.id)

    def exists(self, path: str) -> bool:
        return self._entry(path) is not None

    def where(self, path: str) -> str:
        return f"{self.label}:{path}"

    def paths_under(self, path: str) -> list[str]:
        """The files at or below ``path`` (a file or a folder), sorted; no file is read."""
        entry = self._entry(path)
        if entry is None:
            return []
        if entry.type_str == "blob":
            return [path.strip("/")]
        out: list[str] = []
        stack = [(path.strip("/"), entry.peel(pygit2.Tree))]
        while stack:
            prefix, tree = stack.pop()
            for child in tree:
                name = f"{prefix}/{child.name}"
                if child.type_str == "tree":
                    stack.append((name, child.peel(pygit2.Tree)))
                elif child.type_str == "blob":
                    out.append(name)
        return sorted(out)

    def files_under(self, path: str) -> dict[str, bytes]:
        """Every file at or below ``path`` (a file or a folder) -> its bytes."""
        entry = self._entry(path)
        if entry is None:
            return {}
        if entry.type_str == "blob":
            return {path.strip("/"): entry.peel(pygit2.Blob).data}
        out: dict[str, bytes] = {}
        stack = [(path.strip("/"), entry.peel(pygit2.Tree))]
        while stack:
            prefix, tree = stack.pop()
            for child in tree:
                name = f"{prefix}/{child.name}"
                if child.type_str == "tree":
                    stack.append((name, child.peel(pygit2.Tree)))
                elif child.type_str == "blob":
                    out[name] = child.peel(pygit2.Blob).data
        return out


class WorkSource:
    """The files of a working tree, as they are on disk now."""

    def __init__(self, root: Path, label: str = "working tree") -> None:
        self.root = Path(root)
        self.label = label

    def read(self, path: str) -> bytes | None:
        target = self.root / path
        try:
            return target.read_bytes() if target.is_file() else None
        except OSError:
            return None

    def blob_key(self, path: str) -> str | None:
        try:
            stat = (self.root / path).stat()
        except OSError:
            return None
        return f"work:{path}:{stat.st_size}:{stat.st_mtime_ns}"

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def where(self, path: str) -> str:
        return path

    def paths_under(self, path: str) -> list[str]:
        """The files at or below ``path`` (a file or a folder), sorted."""
        target = self.root / path
        if target.is_file():
            return [path.strip("/")]
        files = sorted(f for f in target.rglob("*") if f.is_file()) if target.is_dir() else []
        return [f.relative_to(self.root).as_posix() for f in files]
