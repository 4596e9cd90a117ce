"""`graft check-repro`: after `dvc repro`, do the committed results still match the commit?

CI runs the pipeline on a clean checkout; if the reproduced ``dvc.lock`` or any result file the
project declares differs from what HEAD committed, the committed results were not produced by
the committed code, data and parameters. The files compared (:func:`result_paths`) are read
through the project layer: ``dvc.lock``, every metrics and plots file ``dvc.yaml`` declares (as
DVC lists them: top-level ``metrics:``/``plots:`` and each stage's ``metrics``/``plots``
outputs), graft.yaml's headline metrics, fairness and predictions files. Files are compared
byte for byte against HEAD's Git objects (no checkout, no index); a differing file is named,
with the differing entries of ``dvc.lock`` (stage, output/dependency, md5) and the differing
keys of JSON/YAML metrics.

A result kept in DVC's cache (a file output or a file inside a directory output, recorded in
``dvc.lock``, not in Git) is judged by hashes instead: HEAD's ``dvc.lock`` md5 for it against
the working tree's ``dvc.lock``, and the working tree's file against the working ``dvc.lock``
(what `dvc repro` recorded); a difference names the stage, the output and the file (and the
differing keys when both versions are in the local cache).

:func:`working_metrics` is `graft metrics`: the working tree's metrics and whether they hold
graft.yaml's gate thresholds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from graft.core.errors import DataError, GraftError, UsageError
from graft.core.results import Result
from graft.core.safeload import load
from graft.project.dvccache import Output, outputs_of
from graft.project.dvcfile import uncached_outputs
from graft.project.lock import LOCK_FILE, Lock, flatten
from graft.project.source import GitSource

if TYPE_CHECKING:
    from graft.project import Project
    from graft.project.view import View


@dataclass(frozen=True)
class Difference:
    path: str
    status: str  # "changed" | "missing" (committed, not in the working tree) | "new" (not committed)
    details: list[str] = field(default_factory=list)


class DifferenceEntry(Result):
    """One file that differs from HEAD."""

    path: str
    """the file, from the project root"""
    status: Literal["changed", "missing", "new"]
    """changed: its bytes (or DVC hash) differ from HEAD's; missing: committed (or recorded at HEAD), not
    in the working tree; new: in the working tree, not committed"""
    details: list[str]
    """Differing dvc.lock entries or JSON keys, 'key: old -> new'."""


class CheckReproResult(Result):
    """What `graft check-repro` compared."""

    reproduced: bool
    """True: every compared file matches HEAD (exit 0); false: exit 1."""
    paths: list[str] | None
    """The PATHs given, relative to the project root; null: the defaults."""
    differences: list[DifferenceEntry]
    """every differing file (empty: reproduced)"""

    @classmethod
    def of(cls, paths: list[str] | None, differences: list[Difference]) -> CheckReproResult:
        return cls(
            reproduced=not differences,
            paths=paths,
            differences=[
                DifferenceEntry(path=d.path, status=d.status, details=list(d.details)) for d in differences
            ],
        )


class MetricsResult(Result):
    """What `graft metrics` shows."""

    metrics: dict[str, Any]
    """The working tree's headline metrics, nested keys dotted."""
    gate: bool | None
    """The pipeline's gate verdict; null: not run."""


def result_paths(view: View) -> list[str]:
    """dvc.lock and every result file the project declares, in a stable order without repeats."""
    settings = view.settings
    pipeline = view.pipeline
    extra = [settings.metrics.file, settings.fairness.file, settings.predictions.path]
    paths = [LOCK_FILE, *pipeline.metrics, *pipeline.plots, *(p for p in extra if p)]
    return list(dict.fromkeys(p.strip("/") for p in paths))


def _work_files(project: Project, path: str) -> dict[str, bytes]:
    target = project.root / path
    try:
        if target.is_file():
            return {path: target.read_bytes()}
        if not target.is_dir():
            return {}
    except OSError:  # a name too long for the file system, a folder that cannot be read: not there
        return {}
    repo = project.repo
    prefix = project.root.relative_to(Path(repo.workdir).resolve()) if repo.workdir else Path()
    out = {}
    for file in sorted(p for p in target.rglob("*") if p.is_file()):
        rel = file.relative_to(project.root).as_posix()
        if not repo.path_is_ignored((prefix / rel).as_posix()):
            out[rel] = file.read_bytes()
    return out


def _changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    details = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, "(absent)"), after.get(key, "(absent)")
        if old != new:
            details.append(f"{key}: {old} -> {new}")
    return details


def _document(data: bytes, path: str) -> dict[str, Any]:
    value = load(data, path)
    if not isinstance(value, Mapping):
        raise ValueError("not a mapping")
    return flatten(value)


def explain(path: str, old: bytes, new: bytes) -> list[str]:
    """What differs inside a file, for the formats graft understands; empty otherwise."""
    try:
        if path.rsplit("/", 1)[-1] == LOCK_FILE:
            return _changed_keys(Lock.parse(old, path).entries(), Lock.parse(new, path).entries())
        if path.endswith((".json", ".yaml", ".yml")):
            return _changed_keys(_document(old, path), _document(new, path))
    except (ValueError, DataError, yaml.YAMLError):
        return ["unreadable"]
    return []


def check_repro(root: Path, paths: Sequence[str] | None = None, rev: str = "HEAD") -> list[Difference]:
    """Every result file whose working-tree bytes differ from ``rev``'s (empty: reproduced).

    ``paths`` limits the check to those files or folders; by default (None or none given)
    :func:`result_paths` of the working tree (so a result newly declared but not committed shows
    as "new"). A named path that is in neither (a typo) is a usage error, never a pass with
    nothing compared.
    """
    from graft.project import Project

    project = Project.find(root)
    committed_view = project.at(rev)
    named = bool(paths)
    if not paths:
        paths = list(dict.fromkeys([*result_paths(project.work()), *result_paths(committed_view)]))
    source = committed_view.source
    if not isinstance(source, GitSource):  # Project.at always reads Git objects
        raise TypeError("check_repro needs a committed revision")
    work = project.work()
    uncached = uncached_outputs(work.document("dvc.yaml"))  # cache: false outputs are Git's
    work_outputs = [o for o in outputs_of(work.lock.stages) if o.path not in uncached]
    differences: list[Difference] = []
    nowhere: list[str] = []
    for path in paths:
        path = path.strip("/")
        cached = _cached_differences(project, source, work_outputs, path)
        differences.extend(d for d in cached.values() if d is not None)
        committed = source.git_files_under(path)
        present = {k: v for k, v in _work_files(project, path).items() if k not in cached}
        if named and not (cached or committed or present):
            nowhere.append(path)
        for name in sorted(set(committed) | set(present)):
            if name in cached:
                continue
            if name not in present:
                differences.append(Difference(name, "missing"))
            elif name not in committed:
                differences.append(Difference(name, "new"))
            elif committed[name] != present[name]:
                differences.append(Difference(name, "changed", explain(name, committed[name], present[name])))
    if nowhere:
        shown = ", ".join(repr(p if len(p) <= 80 else p[:77] + "...") for p in nowhere)
        raise UsageError(
            f"{shown}: no such file or folder at {rev} or in the working tree (nothing to compare)"
        )
    return differences


def _md5(data: bytes, legacy: bool) -> str:
    if legacy:  # DVC 2's md5-dos2unix: text files hashed with CRLF as LF
        from dvc_data.hashfile.hash import dos2unix
        from dvc_data.hashfile.istextfile import istextblock

        data = dos2unix(data) if istextblock(data[:8192]) else data
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _cached_differences(
    project: Project, source: GitSource, work_outputs: list[Output], path: str
) -> dict[str, Difference | None]:
    """Files at or below ``path`` that either dvc.lock records as DVC outputs, judged by hash:
    name -> its difference (None: it matches). Files in Git are left to the byte comparison."""
    cache = project.dvc
    if cache is None:
        return {}
    in_git = source.exists_in_git
    committed = {n: f for n, f in cache.under(source.dvc_outputs(path), path).items() if not in_git(n)}
    current = {n: f for n, f in cache.under(work_outputs, path).items() if not in_git(n)}
    out: dict[str, Difference | None] = {}
    for name in sorted(set(committed) | set(current)):
        before, after = committed.get(name), current.get(name)
        if after is None:
            label = f"stage {before.output.stage}, output {before.output.path}" if before else ""
            note = f"{label}: recorded at HEAD, not in the working dvc.lock"
            out[name] = Difference(name, "missing", [note])
            continue
        label = f"stage {after.output.stage}, output {after.output.path}"
        if before is None:
            out[name] = Difference(name, "new", [f"{label}: in the working dvc.lock, not recorded at HEAD"])
            continue
        details: list[str] = []
        status = "changed"
        if before.oid != after.oid:
            was, now = before.oid or "(manifest not local)", after.oid or "(manifest not local)"
            details.append(f"{label}: md5 {was} at HEAD, {now} in the working dvc.lock")
            old, new = cache.read(before), cache.read(after)
            if old is not None and new is not None:
                details.extend(explain(name, old, new))
        file = project.root / name
        if after.oid is not None:  # a file (a directory whose manifest is not local has none)
            try:
                data = file.read_bytes()
            except OSError:
                status = "missing"
                details.append(f"{label}: not in the working tree (run `dvc checkout`)")
            else:
                if _md5(data, after.output.legacy) != after.oid:
                    details.append(f"{label}: the working tree's file is not what dvc.lock records")
        out[name] = Difference(name, status, details) if details else None
    return out


class MetricsMissing(GraftError):
    pass


def working_metrics(root: Path) -> dict[str, Any]:
    """The working tree's metrics and whether they hold graft.yaml's gate thresholds.

    ``gate`` is None when no thresholds are configured; a threshold on a metric that is absent
    or not a number fails it.
    """
    from graft.project import Project

    view = Project.find(root).work()
    metrics = view.metrics()
    if metrics is None:
        declared = view.settings.metrics.file or "none declared in dvc.yaml"
        raise MetricsMissing(f"no metrics yet (headline metrics file: {declared}): run `dvc repro`")
    bounds = view.settings.gate.thresholds
    gate = (
        all(bound.violation(metrics.get(metric)) is None for metric, bound in bounds.items())
        if bounds
        else None
    )
    return {"metrics": metrics, "gate": gate}
