"""`graft reproduce TAG`: re-run a released pipeline from scratch and check it gives the same bytes.

The tag is checked out in a temporary Git worktree (the user's checkout is never touched); data
tracked with ``dvc add`` is restored there from the project's DVC cache, every stage re-runs
with ``dvc repro --force``, and the package is rebuilt with the tag's version. Everything
expected is read through the project layer at the tag's commit:

* ``dvc.lock``: the md5 of every output (compared with the reproduced lock, so folders count);
* every declared metrics file (dvc.yaml and graft.yaml), key by key;
* the release archive, when one is given or found in ``dist/``: the SHA-256 of every file in
  its manifest and of the archive itself;
* the tag annotation's ``package: ... sha256:...`` line: the archive's SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.core.errors import GraftError, Interrupted
from graft.core.progress import SILENT, Reporter
from graft.core.results import CommitSha, Result, Sha256
from graft.project.lock import LOCK_FILE, Lock, flatten

if TYPE_CHECKING:
    from graft.project.view import View

DIST = "dist"


class ReproduceError(GraftError):
    pass


@dataclass(frozen=True)
class Check:
    """One compared item: where the expectation comes from, expected and reproduced values."""

    item: str
    source: str
    expected: str
    got: str

    @property
    def match(self) -> bool:
        return self.expected == self.got


@dataclass(frozen=True)
class ReproduceResult:
    tag: str
    commit: str
    archive: Path | None
    rebuilt_sha256: str
    checks: list[Check]
    worktree: Path | None

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.match]


class CheckEntry(Result):
    """One compared item."""

    item: str
    """what was compared: an output path (dvc.lock), FILE:KEY (a metric), package:FILE, the archive"""
    source: str
    """where the expectation comes from: dvc.lock md5, tag metrics, release archive sha256 or tag
    annotation sha256"""
    expected: str
    """the value at the tag (an md5 or SHA-256, or a metric's repr; "missing" or None when absent)"""
    got: str
    """the reproduced value, in the same form"""
    match: bool
    """expected equals got"""


class ReproduceSummary(Result):
    """What `graft reproduce` compared."""

    tag: str
    """the release tag reproduced, MODEL@vX.Y.Z"""
    commit: CommitSha
    """the commit it points at"""
    archive: str | None
    """the release archive compared (given, or found in dist/; null: none, so no package checks)"""
    rebuilt_sha256: Sha256
    """the SHA-256 of the package rebuilt from the reproduced outputs"""
    reproduced: bool
    """False: exit 1."""
    worktree: str | None
    """Kept with --keep."""
    checks: list[CheckEntry]
    """dvc.lock outputs, then metrics keys, then the archive's files and the archive itself"""

    @classmethod
    def of(cls, result: ReproduceResult) -> ReproduceSummary:
        return cls(
            tag=result.tag,
            commit=result.commit,
            archive=str(result.archive) if result.archive else None,
            rebuilt_sha256=result.rebuilt_sha256,
            reproduced=not result.mismatches,
            worktree=None if result.worktree is None else str(result.worktree),
            checks=[
                CheckEntry(item=c.item, source=c.source, expected=c.expected, got=c.got, match=c.match)
                for c in result.checks
            ],
        )


# --- running the tag's pipeline ------------------------------------------------------------------


def run_pipeline(root: Path, worktree: Path, log: Path) -> None:
    """Restore ``dvc add``-ed data from the project's DVC cache, then ``dvc repro --force``."""
    from graft.core.worktree import (
        PipelineFailed,
        dvc_cache_dir,
        dvc_command,
        pipeline_env,
        prepare_dvc,
        run_logged,
    )

    env = pipeline_env(worktree)
    try:
        prepare_dvc(root, worktree, dvc_cache_dir(root), log, env)
    except PipelineFailed as exc:
        raise ReproduceError(f"{exc} (log: {log})") from None
    code = run_logged(dvc_command("repro", "--force"), worktree, log, env)
    if code != 0:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")]
        last = errors[0] if errors else next((ln for ln in reversed(lines) if not ln.startswith("[exit")), "")
        raise ReproduceError(f"`dvc repro --force` failed in the worktree of the tag: {last} (log: {log})")


# --- what is compared ------------------------------------------------------------------------------


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def lock_checks(tag_view: View, worktree: Path) -> list[Check]:
    """Every output md5 the tag's dvc.lock records against the reproduced run's."""
    expected = tag_view.lock.outputs
    if not expected:
        raise ReproduceError(f"{tag_view.source.where(LOCK_FILE)}: records no outputs")
    reproduced = Lock.parse((worktree / LOCK_FILE).read_bytes() if (worktree / LOCK_FILE).is_file() else None)
    got = reproduced.outputs
    checks = []
    for path, md5 in sorted(expected.items()):
        target = worktree / path
        value = got.get(path) or (md5_file(target) if target.is_file() else "missing")
        checks.append(Check(path, "dvc.lock md5", md5, value))
    return checks


def _metric_files(view: View) -> list[str]:
    files = [*view.pipeline.metrics]
    if view.settings.metrics.file:
        files.append(view.settings.metrics.file)
    return list(dict.fromkeys(files))


def _flat(view: View, path: str) -> dict[str, Any]:
    document = view.document(path, mapping=False)
    return flatten(document) if isinstance(document, Mapping) else {}


def metric_checks(tag_view: View, reproduced: View) -> list[Check]:
    """Every key of every declared metrics file at the tag against the reproduced file's."""
    checks = []
    for path in _metric_files(tag_view):
        expected, got = _flat(tag_view, path), _flat(reproduced, path)
        checks += [
            Check(f"{path}:{key}", "tag metrics", repr(expected.get(key)), repr(got.get(key)))
            for key in sorted(set(expected) | set(got))
        ]
    return checks


@dataclass(frozen=True)
class Released:
    """What a release archive holds, read (and checked) before anything is rebuilt."""

    archive: Path
    files: dict[str, str]
    manifest_sha256: str
    sha256: str


def read_released(archive: Path) -> Released:
    """Check and read ``archive`` (every member, as ``graft serve`` does) before the pipeline runs."""
    from graft.release.package import MANIFEST, load_package, sha256_bytes
    from graft.release.store import file_sha256

    with tempfile.TemporaryDirectory(prefix="graft-released-") as tmp:
        released = load_package(archive, Path(tmp))
        manifest_sha = sha256_bytes(released.path(MANIFEST).read_bytes())
        return Released(archive, dict(released.manifest["files"]), manifest_sha, file_sha256(archive))


def package_checks(released: Released, rebuilt_files: dict[str, str], rebuilt_sha: str) -> list[Check]:
    from graft.release.package import MANIFEST

    expected = released.files
    source = "release archive sha256"
    names = sorted((set(expected) | set(rebuilt_files)) - {MANIFEST})
    checks = [
        Check(f"package:{n}", source, expected.get(n, "missing"), rebuilt_files.get(n, "missing"))
        for n in names
    ]
    checks.append(
        Check(f"package:{MANIFEST}", source, released.manifest_sha256, rebuilt_files.get(MANIFEST, "missing"))
    )
    checks.append(Check(f"archive {released.archive.name}", source, released.sha256, rebuilt_sha))
    return checks


def default_archive(root: Path, model: str, version: str) -> Path | None:
    candidate = root / DIST / f"{model}-{version}.tar.gz"
    return candidate if candidate.is_file() else None


@contextlib.contextmanager
def _removed_when_interrupted(log: Path) -> Iterator[None]:
    """A signal (Interrupted) leaves no log behind; a failure keeps it (its error names it)."""
    try:
        yield
    except Interrupted:
        log.unlink(missing_ok=True)
        raise


def reproduce(
    root: Path, tag: str, archive: Path | None = None, keep: bool = False, progress: Reporter = SILENT
) -> ReproduceResult:
    """Re-run the tagged pipeline in a temporary worktree and compare everything it produced."""
    from graft.core import limits
    from graft.core.worktree import temporary_worktree
    from graft.project import Project
    from graft.release.archive import read_member
    from graft.release.package import MANIFEST, package, sha256_bytes
    from graft.release.releases import find_release

    project = Project.find(root)
    release = find_release(project.repo, tag)
    tag_view = project.at(release.tag)
    if archive is not None and not Path(archive).is_file():
        raise ReproduceError(f"{archive}: no such release archive")
    archive = (
        Path(archive)
        if archive is not None
        else default_archive(project.root, release.model, release.version)
    )

    released = read_released(archive) if archive is not None else None
    git_root = Path(project.repo.workdir or project.root).resolve()
    prefix = f"graft-reproduce-{release.model}-{release.version}"
    fd, name = tempfile.mkstemp(prefix=f"{prefix}-", suffix=".log")
    os.close(fd)
    log = Path(name)
    progress.step(f"checking out {release.tag} ({release.commit[:8]}) in a temporary worktree")
    with (
        _removed_when_interrupted(log),
        temporary_worktree(git_root, release.commit, prefix, keep=keep) as checkout,
    ):
        worktree = checkout / project.root.relative_to(git_root)  # the DVC project in the checkout
        progress.step(f"running dvc repro --force (log: {log})")
        run_pipeline(project.root, worktree, log)  # on failure the log stays, named in the error
        progress.step("rebuilding the package")
        rebuilt = package(worktree, checkout.parent / DIST, version=release.version, allow_dirty=True)
        manifest_bytes = read_member(rebuilt.path, MANIFEST, limits.MANIFEST_BYTES.value())
        rebuilt_files = dict(json.loads(manifest_bytes)["files"])
        rebuilt_files[MANIFEST] = sha256_bytes(manifest_bytes)
        progress.step("comparing the outputs")
        reproduced = Project(worktree).work()
        checks = lock_checks(tag_view, worktree) + metric_checks(tag_view, reproduced)
    if released is not None:
        checks += package_checks(released, rebuilt_files, rebuilt.sha256)
    if release.archive_sha256 is not None:
        checks.append(
            Check("archive (tag annotation)", "tag annotation sha256", release.archive_sha256, rebuilt.sha256)
        )
    if not keep:
        log.unlink(missing_ok=True)
    return ReproduceResult(
        release.tag, release.commit, archive, rebuilt.sha256, checks, worktree if keep else None
    )
