"""Where a project's files are read from: a commit's Git objects or a working tree.

Both sources answer ``read(path) -> bytes | None`` (None: the file is not there) and
``blob_key(path)``, a cheap identity of a file's content used to parse each distinct file once
(a blob id for a commit; path, size and mtime for a working tree). ``label`` names the source in
error messages (``exp/a:params.yaml``, ``./params.yaml``).

A commit's file that is not in Git but recorded as a DVC output (in the commit's ``dvc.lock``
or a ``.dvc`` file; a file output or a file inside a directory output) is read from DVC's cache
by that hash (:mod:`graft.project.dvccache`), fetched from the DVC remote when missing; one that
cannot be read is None, and :meth:`GitSource.unreadable` says why ("not in the local cache").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

import pygit2

if TYPE_CHECKING:
    from graft.project.dvccache import DvcCache, Located, Output


class Source(Protocol):
    label: str

    def read(self, path: str) -> bytes | None: ...

    def blob_key(self, path: str) -> str | None: ...

    def exists(self, path: str) -> bool: ...

    def where(self, path: str) -> str: ...

    def unreadable(self, path: str) -> str | None: ...

    def dvc_files(self) -> list[str]: ...


DVC_YAML = "dvc.yaml"
_SKIP_DIRS = frozenset({".git", ".dvc", "node_modules", "__pycache__", ".venv"})
# subtree id -> the dvc.yaml paths below it (relative), shared by every commit of a process
_TREE_DVC_FILES: dict[str, tuple[str, ...]] = {}


DVCIGNORE = ".dvcignore"


def not_dvcignored(paths: list[str], read: Callable[[str], bytes | None]) -> list[str]:
    """The ``paths`` DVC reads: those no ``.dvcignore`` excludes (the root's, or one in a folder
    above the path, its patterns relative to that folder, with gitignore's rules). ``read``
    returns a ``.dvcignore``'s bytes, or None where there is none."""
    import pathspec

    specs: dict[str, pathspec.PathSpec | None] = {}

    def spec(folder: str) -> pathspec.PathSpec | None:
        if folder not in specs:
            data = read(f"{folder}/{DVCIGNORE}" if folder else DVCIGNORE)
            lines = data.decode("utf-8", "replace").splitlines() if data else []
            specs[folder] = pathspec.PathSpec.from_lines("gitwildmatch", lines) if lines else None
        return specs[folder]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        for depth in range(len(parts)):
            found = spec("/".join(parts[:depth]))
            if found is not None and found.match_file("/".join(parts[depth:])):
                return True
        return False

    return [path for path in paths if path == DVC_YAML or not ignored(path)]


def _tree_dvc_files(tree: pygit2.Tree) -> tuple[str, ...]:
    """Every dvc.yaml below ``tree`` (relative paths), memoised by subtree id: commits that share
    folders walk them once."""
    key = str(tree.id)
    if key not in _TREE_DVC_FILES:
        found: list[str] = []
        for child in tree:
            if child.type_str == "blob" and child.name == DVC_YAML:
                found.append(DVC_YAML)
            elif child.type_str == "tree" and child.name not in _SKIP_DIRS:
                found.extend(f"{child.name}/{p}" for p in _tree_dvc_files(child.peel(pygit2.Tree)))
        _TREE_DVC_FILES[key] = tuple(sorted(found, key=lambda p: (p.count("/"), p)))
    return _TREE_DVC_FILES[key]


class GitSource:
    """The files of one commit, read from Git objects (no checkout), and the DVC outputs the
    commit records, read from DVC's cache (``dvc`` None: Git objects only)."""

    def __init__(self, commit: pygit2.Commit, label: str, dvc: DvcCache | None = None) -> None:
        self.commit = commit
        self.label = label
        self.dvc = dvc
        self._outputs: list[Output] | None = None
        self._dvc_files: dict[str, tuple[Located | None, bytes | None]] = {}
        self._unreadable: dict[str, str] = {}
        if dvc is not None:
            dvc.sources.append(self)

    def _entry(self, path: str) -> pygit2.Object | None:
        try:
            return self.commit.tree[path.strip("/")]
        except (KeyError, ValueError):
            return None

    # --- DVC outputs ----------------------------------------------------------------------------

    def _outputs_in(self, path: str, base: str) -> list[Output]:
        """The outputs a dvc.lock or .dvc file of this commit records (parsed once per blob)."""
        entry = self._entry(path)
        if self.dvc is None or entry is None or entry.type_str != "blob":
            return []
        key = str(entry.id)
        if key not in self.dvc.outputs_by_blob:
            from graft.project.dvccache import outputs_of, scan_lock_outputs
            from graft.project.lock import Lock

            data = entry.peel(pygit2.Blob).data
            scanned = None if path.endswith(".dvc") else scan_lock_outputs(data, base)
            if scanned is not None:
                self.dvc.outputs_by_blob[key] = scanned
                return scanned
            if path.endswith(".dvc"):  # a .dvc file: its outs, named after the file
                stages: Mapping[str, Any] = {path: Lock.parse_document(data, self.where(path))}
            else:
                stages = Lock.parse(data, self.where(path)).stages
            self.dvc.outputs_by_blob[key] = outputs_of(stages, base)
        return self.dvc.outputs_by_blob[key]

    def dvc_files(self) -> list[str]:
        """Every dvc.yaml of this commit that no .dvcignore excludes, the root's first (DVC reads
        them all)."""
        return not_dvcignored(list(_tree_dvc_files(self.commit.tree)), self._git_blob)

    def _git_blob(self, path: str) -> bytes | None:
        entry = self._entry(path)
        return entry.peel(pygit2.Blob).data if entry is not None and entry.type_str == "blob" else None

    def _uncached(self, dvc_yaml: str = DVC_YAML) -> frozenset[str]:
        """The outputs a dvc.yaml of this commit declares ``cache: false`` (paths from the
        project root; parsed once per blob)."""
        entry = self._entry(dvc_yaml)
        if self.dvc is None or entry is None or entry.type_str != "blob":
            return frozenset()
        key = f"uncached:{dvc_yaml}:{entry.id}"
        if key not in self.dvc.uncached_by_blob:
            from graft.project.dvcfile import join_posix, uncached_outputs
            from graft.project.lock import Lock

            folder = dvc_yaml.rpartition("/")[0]
            document = Lock.parse_document(entry.peel(pygit2.Blob).data, self.where(dvc_yaml))
            found = uncached_outputs(document)
            self.dvc.uncached_by_blob[key] = frozenset(join_posix(folder, p) for p in found)
        return self.dvc.uncached_by_blob[key]

    def dvc_outputs(self, path: str | None = None) -> list[Output]:
        """The outputs this commit's dvc.lock records, plus those of .dvc files at or above ``path``."""
        if self.dvc is None:
            return []
        if self._outputs is None:
            from graft.project.lock import LOCK_FILE

            outputs: list[Output] = []
            for dvc_yaml in self.dvc_files() or [DVC_YAML]:  # each dvc.yaml's lock beside it
                folder = dvc_yaml.rpartition("/")[0]
                uncached = self._uncached(dvc_yaml)
                lock = f"{folder}/{LOCK_FILE}" if folder else LOCK_FILE
                outputs.extend(o for o in self._outputs_in(lock, folder) if o.path not in uncached)
            self._outputs = outputs
        if path is None:
            return self._outputs
        added: list[Output] = []
        for here in [PurePosixPath(path.strip("/")), *PurePosixPath(path.strip("/")).parents]:
            if str(here) != ".":
                parent = "" if str(here.parent) == "." else str(here.parent)
                added.extend(self._outputs_in(f"{here}.dvc", parent))
        return [*self._outputs, *added]

    def _dvc_file(self, path: str) -> tuple[Located | None, bytes | None]:
        """Where ``path`` lives in DVC's cache and its bytes (fetched once when missing)."""
        path = path.strip("/")
        if self.dvc is None:
            return None, None
        if path not in self._dvc_files:
            located = self.dvc.locate(self.dvc_outputs(path), path)
            data = None if located is None else self.dvc.read(located)
            if located is not None and data is None and self.dvc.fetch_for(path):
                located = self.dvc.locate(self.dvc_outputs(path), path)
                data = None if located is None else self.dvc.read(located)
            if located is not None and data is None:
                self._unreadable[path] = self.dvc.reason()
            self._dvc_files[path] = (located, data)
        return self._dvc_files[path]

    def dvc_object(self, path: str) -> tuple[Path, str] | None:
        """The file in DVC's local cache holding ``path`` and its md5, without reading it (for a
        file too large to hold in memory); fetched from the DVC remote when missing. None: not a
        DVC output of this commit, or not readable (:meth:`unreadable` says why)."""
        path = path.strip("/")
        if self.dvc is None or self._entry(path) is not None:
            return None
        located = self.dvc.locate(self.dvc_outputs(path), path)
        missing = located is not None and (
            located.oid is None or not self.dvc.has(located.oid, located.output.legacy)
        )
        if missing and self.dvc.fetch_for(path):
            located = self.dvc.locate(self.dvc_outputs(path), path)
        if located is None:
            return None
        if located.oid is None or not self.dvc.has(located.oid, located.output.legacy):
            self._unreadable[path] = self.dvc.reason()
            return None
        return self.dvc.object_path(located.oid, located.output.legacy), located.oid

    def unreadable(self, path: str) -> str | None:
        """Why a file this commit records as a DVC output could not be read (None: it could, or
        it is not a DVC output)."""
        if self._entry(path) is None:
            self._dvc_file(path)
        return self._unreadable.get(path.strip("/"))

    # --- files -------------------------------------------------------------------------------

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None:
            return self._dvc_file(path)[1]
        if entry.type_str != "blob":
            return None
        return entry.peel(pygit2.Blob).data

    def read_local(self, path: str) -> bytes | None:
        """Like :meth:`read`, but a DVC output only when it is in the local cache: never fetched
        (for optional inputs that are not worth a download, such as the reference rows)."""
        path = path.strip("/")
        if self._entry(path) is not None or path in self._dvc_files or self.dvc is None:
            return self.read(path)
        located = self.dvc.locate(self.dvc_outputs(path), path)
        return None if located is None else self.dvc.read(located)

    def blob_key(self, path: str) -> str | None:
        entry = self._entry(path)
        if entry is None:
            located, data = self._dvc_file(path)
            return None if located is None or data is None else f"dvc:{located.oid}"
        return str(entry.id)

    def exists(self, path: str) -> bool:
        """In Git, or recorded as a DVC output (readable or not: see :meth:`unreadable`)."""
        return self._entry(path) is not None or self._dvc_file(path)[0] is not None

    def is_dvc_output(self, path: str) -> bool:
        """Whether ``path`` is not in Git but a DVC output (or a file inside one) of this commit."""
        return self._entry(path) is None and self._dvc_file(path)[0] is not None

    def where(self, path: str) -> str:
        return f"{self.label}:{path}"

    def paths_under(self, path: str) -> list[str]:
        """The files at or below ``path`` (a file or a folder), sorted, from Git and from the DVC
        outputs recorded there (a directory output's listing is fetched when not local); no file
        is read."""
        return sorted(set(self._git_blobs_under(path)) | set(self._dvc_under(path)))

    def files_under(self, path: str) -> dict[str, bytes]:
        """Every file at or below ``path`` (a file or a folder) -> its bytes, from Git and from the
        DVC outputs recorded there (files that cannot be read are left out: :meth:`unreadable`)."""
        out = self.git_files_under(path)
        if self.dvc is None:
            return out
        for name, located in self._dvc_under(path).items():
            if name in out:
                continue
            data = self.dvc.read(located)
            if data is None and self.dvc.fetch_for(name):
                data = self.dvc.read(located)
            if data is None:
                self._unreadable[name] = self.dvc.reason()
            else:
                out[name] = data
        return out

    def _dvc_under(self, path: str) -> dict[str, Located]:
        """The files of the DVC outputs at or below ``path``, located in the cache (a directory
        output whose manifest is not local is fetched first)."""
        if self.dvc is None:
            return {}
        found = self.dvc.under(self.dvc_outputs(path), path)
        unlisted = [f.output for f in found.values() if f.oid is None]  # manifest not local
        if unlisted and self.dvc.fetch_outputs(unlisted, path):
            found = self.dvc.under(self.dvc_outputs(path), path)
        return found

    def exists_in_git(self, path: str) -> bool:
        return self._entry(path) is not None

    def git_files_under(self, path: str) -> dict[str, bytes]:
        """The files at or below ``path`` that are in Git (DVC outputs left out)."""
        return {name: blob.peel(pygit2.Blob).data for name, blob in self._git_blobs_under(path).items()}

    def _git_blobs_under(self, path: str) -> dict[str, pygit2.Object]:
        """The Git blobs at or below ``path`` (a file or a folder), by path; none is read."""
        entry = self._entry(path)
        if entry is None:
            return {}
        if entry.type_str == "blob":
            return {path.strip("/"): entry}
        out: dict[str, pygit2.Object] = {}
        stack = [(path.strip("/"), entry.peel(pygit2.Tree))]
        while stack:
            prefix, tree = stack.pop()
            for child in tree:
                name = f"{prefix}/{child.name}"
                if child.type_str == "tree":
                    stack.append((name, child.peel(pygit2.Tree)))
                elif child.type_str == "blob":
                    out[name] = child
        return out


class WorkSource:
    """The files of a working tree, as they are on disk now.

    A path that exists but is not a regular file or a folder (a FIFO, a socket, a device) is
    refused naming it, and so is one that resolves (through a symbolic link) outside the project
    root and outside the project's DVC cache folder (``.dvc/cache``, or ``[cache] dir`` of DVC's
    config: DVC's ``symlink``/``hardlink`` checkouts point there): graft reads the project's
    files only (:class:`~graft.core.errors.DataError`).
    """

    def __init__(self, root: Path, label: str = "working tree") -> None:
        self.root = Path(root)
        self.label = label
        self._allowed: tuple[Path, ...] | None = None

    def _inside(self) -> tuple[Path, ...]:
        """The folders a working-tree file may resolve into: the project and its DVC cache."""
        if self._allowed is None:
            from graft.project.dvccache import DVC_DIR, config_cache_dir

            root = self.root.resolve()
            cache = config_cache_dir(self.root).resolve() if (self.root / DVC_DIR).is_dir() else root
            self._allowed = (root, cache)
        return self._allowed

    def _checked(self, path: str) -> Path:
        """``root / path``, refused when it leaves the project or is not a file or folder."""
        import stat as st

        from graft.core.errors import DataError

        target = self.root / path
        try:
            mode = target.stat().st_mode
        except OSError:
            return target  # not there (or a dangling link): absent
        real = target.resolve()
        if not any(real == folder or real.is_relative_to(folder) for folder in self._inside()):
            raise DataError(
                f"{self.where(path)}: resolves to {real}, outside the project and its DVC cache; "
                "graft reads the project's own files only"
            )
        if not (st.S_ISREG(mode) or st.S_ISDIR(mode)):
            raise DataError(f"{self.where(path)}: not a regular file (a FIFO, socket or device)")
        return target

    def read(self, path: str) -> bytes | None:
        target = self._checked(path)
        try:
            return target.read_bytes() if target.is_file() else None
        except OSError:
            return None

    def blob_key(self, path: str) -> str | None:
        try:
            stat = self._checked(path).stat()
        except OSError:
            return None
        return f"work:{path}:{stat.st_size}:{stat.st_mtime_ns}"

    def exists(self, path: str) -> bool:
        return self._checked(path).exists()

    def where(self, path: str) -> str:
        return path

    def paths_under(self, path: str) -> list[str]:
        """The files at or below ``path`` (a file or a folder), sorted."""
        target = self._checked(path)
        if target.is_file():
            return [path.strip("/")]
        files = sorted(f for f in target.rglob("*") if f.is_file()) if target.is_dir() else []
        return [f.relative_to(self.root).as_posix() for f in files]

    def unreadable(self, path: str) -> str | None:
        return None

    def dvc_files(self) -> list[str]:
        """The root's dvc.yaml and every other dvc.yaml Git tracks in this working tree."""
        import pygit2 as git

        found = {DVC_YAML} if (self.root / DVC_YAML).is_file() else set()
        try:
            repo = git.Repository(str(self.root))
            prefix = Path(repo.workdir).resolve() if repo.workdir else self.root
            below = self.root.resolve().relative_to(prefix).as_posix()
            for entry in repo.index:
                if below != "." and not entry.path.startswith(f"{below}/"):
                    continue
                path = entry.path if below == "." else entry.path.removeprefix(f"{below}/")
                skipped = any(part in _SKIP_DIRS for part in path.split("/"))
                if path.endswith(f"/{DVC_YAML}") and not skipped and (self.root / path).is_file():
                    found.add(path)
        except (git.GitError, KeyError, ValueError):
            pass  # not a Git work tree: the root's dvc.yaml only
        return not_dvcignored(sorted(found, key=lambda p: (p.count("/"), p)), self.read)
