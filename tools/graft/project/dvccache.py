"""Results kept in DVC's cache: a file a revision records in ``dvc.lock`` (or a ``.dvc`` file)
rather than in Git, read by its hash from the local DVC cache without starting DVC.

* Where: a file output, or a file inside a directory output (DVC's ``.dir`` manifest names its
  files' hashes). DVC 3's layout ``<cache>/files/md5/ab/cdef...`` and DVC 2's ``<cache>/ab/cdef...``
  (lock entries without ``hash: md5``); the cache folder is ``.dvc/cache`` unless DVC's config
  files (system, global, ``.dvc/config``, ``.dvc/config.local``) set ``[cache] dir``, as DVC
  resolves it.
* Fetching: objects missing locally are fetched from the project's default DVC remote through
  DVC's own API (``Repo.cloud.pull``, so every remote type DVC supports works), in one batch
  for every revision the command has opened (:meth:`DvcCache.fetch_for`), at most once per path
  and command: the missing ``.dir`` manifests in one batch, then the missing files in another
  (only the files read, not the rest of a directory output). ``--offline`` (:func:`offline`)
  skips that.
* A file that cannot be read says why (:meth:`DvcCache.reason`): "not in the local cache"
  (with the fetch error, if one was tried and failed).

Cost: a lookup parses the revision's ``dvc.lock`` once (cached by blob id) and reads one
object file (plus the directory's manifest, cached by hash): a few milliseconds per revision.
Bound: a ``.dir`` manifest is read up to ``GRAFT_LIMIT_DVC_DIR_MANIFEST_BYTES``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from graft.core import limits
from graft.project.dvcfile import join_posix
from graft.project.lock import LOCK_SCHEMAS

NOT_CACHED = "not in the local cache"
DVC_DIR = ".dvc"
_OFFLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("graft_dvc_offline", default=False)
_log = logging.getLogger("graft")


@contextlib.contextmanager
def offline(flag: bool = True) -> Iterator[None]:
    """While active, projects opened read DVC-cached results from the local cache only."""
    token = _OFFLINE.set(flag)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


def is_offline() -> bool:
    return _OFFLINE.get()


@dataclass(frozen=True)
class Output:
    """One output a revision records: its path (from the project root), hash and origin."""

    path: str
    oid: str  # md5 (a directory's ends with .dir)
    legacy: bool  # DVC 2's md5-dos2unix (no ``hash: md5`` in the entry)
    stage: str  # the stage that writes it, or the .dvc file that adds it

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(".dir")


@dataclass(frozen=True)
class Located:
    """Where a file of a revision lives in DVC's cache: the output holding it and its hash."""

    output: Output
    relpath: str  # inside a directory output ("" for a file output)
    oid: str | None  # the file's own hash; None while the directory's manifest is not local


def outputs_of(lock_stages: Mapping[str, Any], base: str = "") -> list[Output]:
    """The outputs a parsed ``dvc.lock`` (its ``stages``) records, paths from the project root."""
    out: list[Output] = []
    for stage, body in lock_stages.items():
        items = body.get("outs") if isinstance(body, Mapping) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping) or not item.get("md5") or not item.get("path"):
                continue
            path = join_posix(base, str(item["path"]))
            out.append(Output(path, str(item["md5"]), "hash" not in item, str(stage)))
    return out


def _scalar(text: str) -> str | None:
    """A plain or simply quoted YAML scalar; None for anything that needs a YAML parser."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1] and "\\" not in text:
        return text[1:-1]
    if not text or text[0] in "[]{}&*!|>'\"%@`#," or " #" in text:
        return None
    return text


def scan_lock_outputs(data: bytes, base: str = "") -> list[Output] | None:
    """The outputs of a dvc.lock as DVC writes it (block style, 2-space indents), read line by
    line: about 20x faster than a YAML parse. None when the file has anything else (then the
    caller parses it as YAML)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\t" in text or "\r" in text:
        return None
    out: list[Output] = []
    in_stages, stage, section = False, "", ""
    item: dict[str, str] | None = None

    def close() -> bool:
        if item is not None:
            if "path" not in item:
                return False
            if item.get("md5"):
                out.append(Output(join_posix(base, item["path"]), item["md5"], "hash" not in item, stage))
        return True

    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if indent == 0:
            if not close():
                return None
            item, section = None, ""
            in_stages = stripped.rstrip() == "stages:"
            key, _, value = stripped.partition(":")
            if not in_stages and (key != "schema" or _scalar(value) not in LOCK_SCHEMAS):
                return None  # a list, an unknown schema or key: Lock.parse says what is wrong
            continue
        if not in_stages:
            continue
        if indent == 2:
            if not close() or not stripped.rstrip().endswith(":"):
                return None
            item, section = None, ""
            name = _scalar(stripped.rstrip()[:-1])
            if name is None:
                return None
            stage = name
        elif indent == 4 and not stripped.startswith("- "):
            if not close():
                return None
            item = None
            section, _, rest = stripped.partition(":")
            if section == "outs" and rest.strip():  # flow style: leave it to YAML
                return None
        elif section != "outs":
            continue
        elif indent == 4:  # "- path: x" starts an output
            if not close():
                return None
            key, sep, value = stripped[2:].partition(": ")
            parsed = _scalar(value)
            if not sep or parsed is None:
                return None
            item = {key: parsed}
        elif indent == 6 and item is not None:
            key, sep, value = stripped.partition(": ")
            if key in ("path", "md5", "hash"):
                parsed = _scalar(value)
                if not sep or parsed is None:
                    return None
                item[key] = parsed
        else:
            return None
    return out if close() else None


def _config_files(root: Path) -> list[Path]:
    """DVC's config files, lowest precedence first: system, global, the project's, its local."""
    import os

    import platformdirs

    system = os.environ.get("DVC_SYSTEM_CONFIG_DIR") or platformdirs.site_config_dir("dvc", "iterative")
    user = os.environ.get("DVC_GLOBAL_CONFIG_DIR") or platformdirs.user_config_dir("dvc", "iterative")
    return [
        Path(system) / "config",
        Path(user) / "config",
        root / DVC_DIR / "config",
        root / DVC_DIR / "config.local",
    ]


def config_cache_dir(root: Path) -> Path:
    """``.dvc/cache``, or ``[cache] dir`` of DVC's config files (the most specific wins; a relative
    dir is relative to the file's folder), as DVC resolves it."""
    found: Path | None = None
    for config in _config_files(root):
        try:
            text = config.read_text(encoding="utf-8")
        except OSError:
            continue
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().strip("'\"").strip()
            elif section == "cache" and "=" in line:
                key, value = (s.strip() for s in line.split("=", 1))
                if key == "dir" and value:
                    found = (config.parent / value.strip("'\"")).resolve()
    return found or root / DVC_DIR / "cache"


class OutputsAt(Protocol):
    """A revision whose DVC outputs the cache can list (graft.project.source.GitSource)."""

    def dvc_outputs(self, path: str | None = None) -> list[Output]: ...


class DvcCache:
    """One project's DVC cache, shared by every revision a command opens."""

    def __init__(self, root: Path, offline: bool | None = None) -> None:
        self.root = root
        self.offline = is_offline() if offline is None else offline
        self.sources: list[OutputsAt] = []
        self._manifests: dict[str, dict[str, str] | None] = {}
        self._attempted: set[str] = set()
        self.outputs_by_blob: dict[str, list[Output]] = {}  # dvc.lock / .dvc blob id -> outputs
        self.uncached_by_blob: dict[str, frozenset[str]] = {}  # dvc.yaml blob -> cache: false outs
        self.fetch_error: str | None = None
        self.fetches = 0  # remote round trips made (one per batch)

    @property
    def cache_dir(self) -> Path:
        if not hasattr(self, "_cache_dir"):
            self._cache_dir = config_cache_dir(self.root)
        return self._cache_dir

    def object_path(self, oid: str, legacy: bool = False) -> Path:
        folder = self.cache_dir if legacy else self.cache_dir / "files" / "md5"
        return folder / oid[:2] / oid[2:]

    def has(self, oid: str, legacy: bool = False) -> bool:
        return self.object_path(oid, legacy).is_file()

    def read_object(self, oid: str, legacy: bool = False) -> bytes | None:
        try:
            return self.object_path(oid, legacy).read_bytes()
        except OSError:
            return None

    def manifest(self, oid: str, legacy: bool = False) -> dict[str, str] | None:
        """A directory output's files (relative path -> md5), None when its manifest is not local."""
        if oid in self._manifests and self._manifests[oid] is not None:
            return self._manifests[oid]
        path = self.object_path(oid, legacy)
        bound = limits.DVC_DIR_MANIFEST_BYTES.value()
        try:
            with path.open("rb") as handle:
                data = handle.read(bound + 1)
        except OSError:
            return None
        from graft.core.errors import DataError

        if len(data) > bound:
            raise DataError(
                f"{path}: DVC directory manifest larger than {bound} bytes "
                f"({limits.DVC_DIR_MANIFEST_BYTES.variable} raises the bound)"
            )
        try:
            entries = json.loads(data)
            files = {str(e["relpath"]).replace("\\", "/"): str(e["md5"]) for e in entries}
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise DataError(f"{path}: not a DVC directory manifest ({exc.__class__.__name__})") from None
        self._manifests[oid] = files
        return files

    # --- locating ---------------------------------------------------------------------------

    def locate(self, outputs: list[Output], path: str) -> Located | None:
        """The output holding ``path`` (a file), None when no output records it."""
        path = path.strip("/")
        for output in outputs:
            if output.path == path and not output.is_dir:
                return Located(output, "", output.oid)
        for output in outputs:
            if output.is_dir and path.startswith(f"{output.path}/"):
                relpath = path[len(output.path) + 1 :]
                files = self.manifest(output.oid, output.legacy)
                if files is None:
                    return Located(output, relpath, None)
                if relpath in files:
                    return Located(output, relpath, files[relpath])
                return None
        return None

    def under(self, outputs: list[Output], path: str) -> dict[str, Located]:
        """Every file at or below ``path`` that the outputs record -> where it lives."""
        path = path.strip("/")
        found: dict[str, Located] = {}
        for output in outputs:
            inside = output.path == path or output.path.startswith(f"{path}/") or not path
            holds = output.is_dir and path.startswith(f"{output.path}/")
            if not (inside or holds):
                continue
            if not output.is_dir:
                found[output.path] = Located(output, "", output.oid)
                continue
            files = self.manifest(output.oid, output.legacy)
            if files is None:
                found[output.path] = Located(output, "", None)
                continue
            for relpath, oid in files.items():
                full = f"{output.path}/{relpath}"
                if inside or full.startswith(f"{path}/") or full == path:
                    found[full] = Located(output, relpath, oid)
        return found

    def read(self, located: Located) -> bytes | None:
        if located.oid is None:
            return None
        return self.read_object(located.oid, located.output.legacy)

    def reason(self) -> str:
        """Why a recorded file could not be read."""
        if self.fetch_error:
            return f"{NOT_CACHED} (fetching from the DVC remote failed: {self.fetch_error})"
        if self.offline:
            return f"{NOT_CACHED} (--offline)"
        return NOT_CACHED

    # --- fetching ---------------------------------------------------------------------------

    def missing_for(self, path: str) -> tuple[set[tuple[str, bool]], set[tuple[str, bool]]]:
        """What every opened revision lacks to read ``path``: (directory manifests, file objects),
        each as (hash, legacy)."""
        manifests: set[tuple[str, bool]] = set()
        files: set[tuple[str, bool]] = set()
        for source in self.sources:
            located = self.locate(source.dvc_outputs(path), path)
            if located is None:
                continue
            if located.oid is None:
                manifests.add((located.output.oid, located.output.legacy))
            elif not self.has(located.oid, located.output.legacy):
                files.add((located.oid, located.output.legacy))
        return manifests, files

    def fetch_for(self, path: str) -> bool:
        """Fetch (once per path) what every opened revision needs to read ``path``: the missing
        directory manifests first, then the missing files. True: a fetch was tried."""
        if self.offline or path in self._attempted:
            return False
        self._attempted.add(path)
        manifests, files = self.missing_for(path)
        if manifests:
            self.fetch(manifests)
            files = self.missing_for(path)[1]
        if files:
            self.fetch(files)
        return bool(manifests or files)

    def fetch_outputs(self, outputs: list[Output], path: str) -> bool:
        """Fetch (once per output) the manifests of directory outputs missing locally, then their
        files at or below ``path``. True: a fetch was tried."""
        todo = {(o.oid, o.legacy) for o in outputs if f"oid:{o.oid}:{path}" not in self._attempted}
        self._attempted.update(f"oid:{oid}:{path}" for oid, _ in todo)
        if self.offline or not todo:
            return False
        self.fetch({t for t in todo if self.manifest(*t) is None})
        wanted = {
            (f.oid, f.output.legacy)
            for f in self.under(outputs, path).values()
            if f.oid is not None and not self.has(f.oid, f.output.legacy)
        }
        if wanted:
            self.fetch(wanted)
        return True

    def fetch(self, objects: set[tuple[str, bool]]) -> None:
        """One batch from the default DVC remote, through DVC's API; failures are remembered.

        DVC transfers a directory hash as its manifest only (its files are fetched by their own
        hashes), so a batch holds manifests or files, and callers fetch manifests first."""
        if not objects or self.fetch_error:
            return
        self.fetches += 1
        try:
            from dvc.repo import Repo
            from dvc_data.hashfile.hash_info import HashInfo

            infos = [HashInfo("md5-dos2unix" if legacy else "md5", oid) for oid, legacy in sorted(objects)]
            with Repo(str(self.root)) as repo:
                result = repo.cloud.pull(infos)
            failed = len(result.failed)
        except Exception as exc:  # any remote's error (auth, network, no remote) means: not fetched
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            self.fetch_error = message
            _log.warning("could not fetch DVC-cached results from the remote: %s", message)
            return
        if failed:
            _log.warning("%d DVC object(s) are not on the DVC remote either", failed)
