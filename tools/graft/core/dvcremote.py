"""A project's DVC remote: which one a commit names, whether it answers, and pushing one run.

* :func:`default_remote` reads the default remote from ``.dvc/config`` *as committed* (Git
  objects): a machine that only has the commit (a cluster worker) sees exactly that, never
  the user's ``config.local``.
* :func:`check_reachable` opens the remote the way DVC does (credentials from the environment,
  ``~/.aws``, DVC's global config) and checks it answers and its bucket or folder exists.
* :func:`push_run` makes the remote hold everything a worktree's ``dvc.lock`` names, however
  its stages were obtained (run, restored, or found in a long-lived worker's own cache): every
  output of every stage (``cache: false`` ones included) and the run-cache entry of every
  stage, so that ``dvc pull`` of the commit works anywhere and any other machine's ``dvc repro
  --pull`` restores those stages instead of re-running them. One batched existence check
  finds what the remote lacks; only that is sent, and :class:`PushReport` says how much.
  ``dvc push --run-cache`` does not do this: it leaves out the ``cache: false`` outputs
  its entries name (a fresh clone then re-runs the stage) and re-sends every entry of the
  local cache on each push. DVC also records no entry at all for a stage with a
  ``cache: false`` output other than a metric or plot (Git-kept predictions, say); the
  entry is recorded here, from the up-to-date stage, with those outputs copied to the cache.

The last two run in a separate process (``python -m graft.core.dvcremote check|push-run``,
inside a worktree), like every other DVC command graft runs: DVC's repository object is not
meant to be shared by threads, and its output lands in the run's log.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.core.errors import GraftError

CONFIG_FILE = ".dvc/config"


@dataclass(frozen=True)
class Remote:
    """A DVC remote as committed: its name, URL and other settings (``endpointurl``, ...)."""

    name: str
    url: str
    options: dict[str, str]


def parse_config(text: str) -> dict[str, Any]:
    """``.dvc/config`` (ConfigObj INI, as DVC writes it) as nested dicts."""
    from configobj import ConfigObj, ConfigObjError

    try:
        parsed = ConfigObj(text.splitlines(), interpolation=False, list_values=False)
    except ConfigObjError as exc:
        raise GraftError(f"{CONFIG_FILE}: cannot be parsed ({' '.join(str(exc).split())})") from None
    return parsed.dict()


def remotes(config: dict[str, Any]) -> dict[str, Remote]:
    out: dict[str, Remote] = {}
    for section, values in config.items():
        words = section.split(None, 1)
        if len(words) == 2 and words[0] == "remote" and isinstance(values, dict):
            name = words[1].strip().strip('"')
            options = {str(k): str(v) for k, v in values.items() if k != "url"}
            out[name] = Remote(name, str(values.get("url", "")), options)
    return out


def default_remote(config_text: str | None) -> Remote | None:
    """The remote ``core.remote`` names in a committed ``.dvc/config``, or None."""
    if not config_text:
        return None
    config = parse_config(config_text)
    name = str((config.get("core") or {}).get("remote") or "")
    return remotes(config).get(name) if name else None


# DVC's remote filesystems that live in a plugin distribution (dvc-s3 is module dvc_s3)
PLUGINS = ("s3", "gs", "azure", "ssh", "oss", "gdrive", "hdfs", "webdav", "http")
_SCHEMES = {"webdavs": "webdav", "https": "http", "webhdfs": "hdfs"}


def check_plugin(remote: Remote) -> None:
    """Raise the one-line MissingDependency when ``remote`` needs a DVC plugin not installed here."""
    import importlib.util

    scheme = remote.url.split("://", 1)[0] if "://" in remote.url else ""
    protocol = _SCHEMES.get(scheme, scheme)
    if protocol in PLUGINS and importlib.util.find_spec(f"dvc_{protocol}") is None:
        from graft.core.extras import dvc_plugin

        raise dvc_plugin(protocol, f"'{remote.name}' ({remote.url})")


# ---------------------------------------------------------------------------------------------
# inside a worktree (separate process)


def _remote_odbs(repo: Any) -> tuple[Any, Any]:
    """The default remote's object store and its run-cache root (DVC's legacy layout)."""
    from dvc.config import NoRemoteError

    try:
        odb = repo.cloud.get_remote_odb(None, "push")
        legacy = repo.cloud.get_remote_odb(None, "push --run-cache", hash_name="md5-dos2unix")
    except NoRemoteError:
        raise GraftError("no default DVC remote is configured (core.remote)") from None
    except ImportError as exc:  # DVC: "s3 is supported, but requires 'dvc-s3' to be installed"
        plugin = re.search(r"requires '(dvc-([\w-]+))'", str(exc))
        if plugin is None:
            raise
        from graft.core.extras import dvc_plugin

        name = repo.config["core"].get("remote")
        url = str(repo.config["remote"].get(name, {}).get("url", name))
        raise dvc_plugin(plugin.group(2), f"'{name}' ({url})") from None
    return odb, legacy


def check_reachable(root: Path) -> str:
    """Whether the default remote of the DVC project at ``root`` answers; returns its URL."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        _, legacy = _remote_odbs(repo)
        fs, path = legacy.fs, legacy.path
        url = str(repo.config["remote"][name]["url"])
        top = path if fs.protocol == "local" else path.split("/", 1)[0]
        try:
            if fs.protocol == "local":
                # created on the first push; its parent folder must be there (a mounted share)
                found = fs.exists(path) or fs.exists(fs.parent(path))
            else:
                # created on the first push; its bucket must exist
                found = fs.exists(path) or fs.exists(top)
        except Exception as exc:  # any transport error means "cannot reach"
            raise GraftError(
                f"DVC remote '{name}' ({url}) cannot be reached: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())}"
            ) from None
        if not found:
            raise GraftError(f"DVC remote '{name}' ({url}): '{top}' does not exist")
        return url


@dataclass(frozen=True)
class PushReport:
    """What :func:`push_run` found and sent: the objects and run-cache entries a commit's
    dvc.lock names, and how many of each were missing on the remote (uploaded now)."""

    objects: int
    entries: int
    uploaded_objects: int
    uploaded_entries: int
    checked: int  # paths looked up on the remote, in one batched existence check

    def line(self) -> str:
        return (
            f"{REPORT_PREFIX} {self.uploaded_objects} of {self.objects} output object(s) and "
            f"{self.uploaded_entries} of {self.entries} run-cache entr(y/ies) uploaded "
            f"({self.checked} path(s) checked on the remote in one batch)"
        )


REPORT_PREFIX = "DVC remote:"
_REPORT = re.compile(
    rf"^{REPORT_PREFIX} (\d+) of (\d+) output object\(s\) and (\d+) of (\d+) run-cache "
    r"entr\(y/ies\) uploaded \((\d+) path\(s\) checked"
)


def parse_report(text: str) -> PushReport | None:
    """The last :meth:`PushReport.line` in ``text`` (a run's log), or None."""
    found = None
    for line in text.splitlines():
        match = _REPORT.match(line.strip())
        if match:
            up_objects, objects, up_entries, entries, checked = (int(g) for g in match.groups())
            found = PushReport(objects, entries, up_objects, up_entries, checked)
    return found


def _objects_of(out: Any) -> list[Any]:
    """The hash infos an output needs in a store: itself and, for a directory, every file in it."""
    from dvc_data.hashfile.tree import Tree

    found = [out.hash_info]
    if out.hash_info.isdir:
        try:
            tree = Tree.load(out.cache, out.hash_info)
        except (OSError, ValueError) as exc:  # the .dir object is missing or unreadable here
            raise GraftError(
                f"output {out.def_path}: its directory listing {out.hash_info.value} is not in this "
                f"machine's DVC cache ({type(exc).__name__})"
            ) from None
        found = [entry for _, _, entry in tree if entry is not None] + found  # the listing last
    return found


def push_run(root: Path, targets: Sequence[str] = ()) -> PushReport:
    """Make the default remote hold every output and run-cache entry the worktree's dvc.lock names
    (of ``targets`` and the stages upstream of them; default: every stage).

    However the stages were obtained (run, restored from a run cache, unchanged), every object
    of every output (``cache: false`` ones included) and every stage's run-cache entry is
    looked up on the remote in one batched existence check; only what is missing is uploaded
    (file objects, then directory listings, then run-cache entries, so a present entry implies
    present outputs). Something missing both here and there is an error naming the output.
    """
    from dvc.cachemgr import LEGACY_HASH_NAMES
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        odb, legacy = _remote_odbs(repo)

        def stores(hash_name: str) -> tuple[Any, Any]:
            """(this machine's cache, the remote) of objects hashed with ``hash_name``."""
            old = hash_name in LEGACY_HASH_NAMES
            return (repo.cache.legacy, legacy) if old else (repo.cache.local, odb)

        objects, entries = _collect(repo, legacy, targets)
        wanted = [stores(name)[1].oid_to_path(oid) for name, oid in objects]
        wanted += [remote for _, remote in entries]
        try:
            present = odb.fs.exists(wanted) if wanted else []
        except Exception as exc:  # any transport error: one line naming the remote
            raise GraftError(
                f"the DVC remote cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())})"
            ) from None
        there = dict(zip(wanted, present, strict=True))
        missing = [(name, oid) for name, oid in objects if not there[stores(name)[1].oid_to_path(oid)]]
        for name, oid in missing:
            if not stores(name)[0].exists(oid):
                raise GraftError(
                    f"output {objects[(name, oid)]}: object {oid} is neither in this machine's DVC cache "
                    "nor on the DVC remote (run its stage again, or push it from where it was made)"
                )
        # files first, then directory listings, then run-cache entries: what is there is complete
        for listings in (False, True):
            for hash_name in dict.fromkeys(name for name, _ in missing):
                oids = [oid for name, oid in missing if name == hash_name]
                oids = [oid for oid in oids if oid.endswith(".dir") is listings]
                if oids:
                    _upload(*stores(hash_name), oids)
        sent = [(local, remote) for local, remote in entries if not there[remote]]
        _upload_entries(legacy, sent)
        return PushReport(len(objects), len(entries), len(missing), len(sent), len(wanted))


def _collect(
    repo: Any, legacy: Any, targets: Sequence[str]
) -> tuple[dict[tuple[str, str], str], list[tuple[str, str]]]:
    """What the stages of ``targets`` (default: every stage) name: every object of their outputs,
    (hash name, oid) -> the output naming it, and every run-cache entry, (local path, path on the
    ``legacy`` remote); an entry DVC did not record for an unchanged stage is recorded first."""
    from dvc.stage.cache import _can_hash, _get_cache_hash, _get_stage_hash
    from dvc.stage.serialize import to_single_stage_lockfile

    objects: dict[tuple[str, str], str] = {}
    entries: list[tuple[str, str]] = []
    with repo.lock:  # DVC reads the stages' state under its repository lock
        chosen = _stages(repo, targets) if targets else repo.index.stages
        for stage in chosen:
            outs = [out for out in stage.outs if out.hash_info]
            if stage.cmd and _can_hash(stage):
                key = _get_stage_hash(stage)
                value = _get_cache_hash(to_single_stage_lockfile(stage))
                local = repo.stage_cache._get_cache_path(key, value)
                incomplete = not Path(local).is_file() or any(
                    not out.cache.exists(out.hash_info.value) for out in outs
                )
                if incomplete and not stage.changed():
                    # DVC records no entry for a stage with a `cache: false` output that is not a
                    # metric or plot (here: Git-kept predictions); record it, outputs included
                    repo.stage_cache.save(stage)
                if Path(local).is_file():
                    entries.append((local, legacy.fs.join(legacy.path, "runs", key[:2], key, value)))
            for out in outs:
                for info in _objects_of(out):
                    objects.setdefault((info.name, info.value), out.def_path)
    return objects, entries


def _upload_entries(legacy: Any, sent: Sequence[tuple[str, str]]) -> None:
    """Upload run-cache entries (local path, remote path) to the ``legacy`` remote."""
    for local, remote in sent:
        try:
            legacy.fs.makedirs(legacy.fs.parent(remote), exist_ok=True)
            legacy.fs.put_file(local, remote)
        except Exception as exc:  # any transport error: one line naming the entry
            raise GraftError(
                f"run-cache entry {remote} could not be uploaded to the DVC remote "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"
            ) from None


def _stages(repo: Any, targets: Sequence[str]) -> list[Any]:
    """The stages of ``targets`` and every stage upstream of them, once each."""
    from dvc.exceptions import DvcException

    found: dict[str, Any] = {}
    for target in targets:
        try:
            stages = repo.stage.collect(target, with_deps=True)
        except DvcException as exc:
            raise GraftError(f"stage '{target}': {' '.join(str(exc).split())}") from None
        found.update((stage.addressing, stage) for stage in stages)
    return list(found.values())


def _upload(cache: Any, remote: Any, oids: list[str]) -> None:
    failures: list[str] = []
    remote.add(
        [cache.oid_to_path(oid) for oid in oids],
        cache.fs,
        oids,
        check_exists=False,
        on_error=lambda oid, exc: failures.append(f"{oid}: {type(exc).__name__}: {exc}"),
    )
    if failures:
        raise GraftError(
            f"{len(failures)} output object(s) could not be uploaded to the DVC remote "
            f"(first: {' '.join(failures[0].split())[:300]})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graft.core.dvcremote")
    parser.add_argument("action", choices=("check", "push-run"))
    parser.add_argument("root", nargs="?", default=".")
    parser.add_argument("--target", action="append", default=[], help="a stage (with its upstream)")
    args = parser.parse_args(argv)
    try:
        if args.action == "check":
            print(f"DVC remote reachable: {check_reachable(Path(args.root))}")
        else:
            print(push_run(Path(args.root), args.target).line())
    except GraftError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
