"""Model releases as Git tags in GTO's format, the rule that picks the next version, and the
release itself (package, upload to the package store, tag, push) in an order that can be re-run.

Tag format (the one GTO's ``gto register`` writes, so ``gto show`` lists graft's releases):
an *annotated* tag ``<model>@v<MAJOR>.<MINOR>.<PATCH>`` on the released commit, where
``<model>`` is the release name (graft.yaml ``package.name``, else the model artifact's name in
dvc.yaml). The annotation's first line is GTO's default message (``Registering artifact <model>
version v<X.Y.Z>``); the lines after it say why the version was bumped and give the release
archive's SHA-256 (which `graft reproduce` checks and `graft fetch`/`serve --stage` verify
downloads against) and the digest of the package's contents (which the next release compares).
Which versions exist, are deregistered or deprecated, and what stage each is in is read with
GTO's whole tag grammar (:mod:`graft.release.registry`).

Version rule (``--bump auto``), comparing HEAD with the highest *active* released version
(a version deregistered with ``gto deprecate MODEL vX.Y.Z`` is neither a base nor reused: the
next number skips every version ever tagged); everything is read through the project layer
from Git objects, so it needs neither checkout nor archive:

* **major**: the input schema became stricter: a record the released model accepted could be
  refused (a column removed or newly required, a type or category dropped, a range narrowed).
  Each commit's schema is its own serving adapter's ``input_schema(params)``, loaded from that
  commit's Git objects (graft.release.adapter).
* **minor**: the model changed: the md5 dvc.lock records for the model artifact's path differs.
* **patch**: anything else (docs, code, parameters that leave the model as it was).

The first release is ``1.0.0`` (``auto``/``major``), ``0.1.0`` (``minor``) or ``0.0.1`` (``patch``).

Releasing (:func:`release`) builds the package first, then uploads it to the package store (the
DVC remote, :mod:`graft.release.store`; without one, or with ``--no-upload``, it keeps it in the
checkout's ``.graft/packages/`` instead, where ``serve``/``monitor``/``fetch --stage`` look
first), then creates the tag and pushes it: the tag, the only
public and irreversible step, comes last. With ``--bump auto``, nothing is released when the
package's contents (every file but the model card, which names the version; the input schema
is one of them) equal the base release's. Run again on a commit that is already released, it
completes the release instead of refusing: it rebuilds the package (deterministic, so its
SHA-256 must equal the tag's), uploads it if the store lacks it and pushes the tag if the
remote lacks it. A commit whose version was deregistered is not released again.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from graft.core.results import CommitSha, Result
from graft.release.bump import (
    bump_version,
    next_free_version,
    next_version,
    parse_tag,
    schema_at,
    schema_breaks,
    tag_name,
    withdrawn_at,
)
from graft.release.releases import (
    BUMPS,
    Bump,
    ModelVersion,
    NextVersion,
    Release,
    ReleaseError,
    Status,
    find_release,
    headline_columns,
    list_releases,
    model_versions,
    registered_releases,
    release_of,
)
from graft.release.store import keep_local
from graft.release.tagging import create_tag, ensure_pushed, push_tag, remote_tag, signature, tag_message

if TYPE_CHECKING:
    from graft.release.store import PackageStore

__all__ = [
    "BUMPS",
    "Bump",
    "ModelVersion",
    "NextVersion",
    "Release",
    "ReleaseError",
    "ReleaseResult",
    "Status",
    "bump_version",
    "create_tag",
    "ensure_pushed",
    "find_release",
    "headline_columns",
    "list_releases",
    "model_versions",
    "next_free_version",
    "next_version",
    "parse_tag",
    "push_tag",
    "registered_releases",
    "release",
    "release_of",
    "remote_tag",
    "schema_at",
    "schema_breaks",
    "signature",
    "tag_message",
    "tag_name",
]


@dataclass(frozen=True)
class ReleaseResult:
    """What `graft release` did. ``status``: *released* (a new version), *completed* (HEAD was
    already released: what was missing is done), *unchanged* (auto bump, package contents equal
    to the base release's: nothing released), *withdrawn* (HEAD's version is deregistered: not
    released again), *planned* (dry run)."""

    status: Status
    plan: NextVersion | None
    tag: str | None
    version: str | None
    reason: str
    archive: Path | None = None
    archive_sha256: str | None = None
    tagged: bool = False
    pushed: bool = False
    uploaded: str | None = None  # where the package was uploaded by this run
    stored: str | None = None  # where the package store holds it (uploaded now or before)
    notes: tuple[str, ...] = ()
    kept: Path | None = None  # no package store: the checkout's own copy (.graft/packages/)

    @property
    def released(self) -> bool:
        return self.status in ("released", "completed")


class ReleaseSummary(Result):
    """What `graft release` did (or, with --dry-run, would do)."""

    status: Status
    """released: a new version; completed: HEAD was already released and what was missing is
    done; unchanged: the package's contents equal the base release's, nothing released;
    withdrawn: HEAD's version is deregistered; planned: a dry run."""
    tag: str | None
    """The version's tag (null when nothing is released)."""
    model: str | None
    """the release name (package.name, else the model artifact's name; null: withdrawn)"""
    version: str | None
    """the version, X.Y.Z without the v (null: unchanged)"""
    bump: Literal["major", "minor", "patch", "none"] | None
    """the part bumped (--bump, or auto's choice); none: HEAD was already released (null: withdrawn)"""
    reason: str
    """why that bump, or why nothing was released"""
    previous: str | None
    """The previous release's tag."""
    commit: CommitSha | None
    """the commit released, HEAD (null: withdrawn)"""
    dry_run: bool
    """nothing was built, tagged or pushed (--dry-run)"""
    archive: str | None
    """the package archive built (null: a dry run, unchanged or withdrawn)"""
    archive_sha256: str | None
    """its SHA-256, written in the tag's annotation (null when no archive)"""
    uploaded: str | None
    """Where this run uploaded the package (the package store)."""
    stored: str | None
    """Where the package store holds the package (uploaded now or before)."""
    notes: list[str]
    """why the package was not uploaded to a package store (empty: a store was used, or a dry run)"""
    kept: str | None
    """No package store (no default DVC remote, or --no-upload): the package's copy in the
    checkout's .graft/packages/, where serve/monitor/fetch --stage find it."""
    tagged: bool
    """this run created the tag (false when completing a release, or nothing is released)"""
    pushed: bool
    """this run pushed the tag (false: no --push, or the remote had it)"""
    remote: str | None
    """The remote the tag was pushed to (null when not pushed)."""

    @classmethod
    def of(cls, result: ReleaseResult, dry_run: bool, remote: str) -> ReleaseSummary:
        plan = result.plan
        return cls(
            status=result.status,
            tag=result.tag,
            model=plan.model if plan is not None else None,
            version=result.version,
            bump=plan.bump if plan is not None else None,
            reason=result.reason,
            previous=plan.previous.tag if plan is not None and plan.previous else None,
            commit=plan.commit if plan is not None else None,
            dry_run=dry_run,
            archive=None if result.archive is None else str(result.archive),
            archive_sha256=result.archive_sha256,
            uploaded=result.uploaded,
            stored=result.stored,
            notes=list(result.notes),
            kept=None if result.kept is None else str(result.kept),
            tagged=result.tagged,
            pushed=result.pushed,
            remote=remote if result.pushed else None,
        )


def _build(root: Path, out_dir: Path, version: str) -> tuple[Path, str, str]:
    """Build the package in a scratch folder inside ``out_dir``: (path, archive sha256, contents sha256).
    The caller moves it into ``out_dir`` (same filesystem) or lets it go."""
    from graft.release.package import contents_sha256, package

    scratch = Path(tempfile.mkdtemp(prefix=".graft-release-", dir=out_dir))
    try:
        built = package(root, scratch, version=version, allow_dirty=False)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return built.path, built.sha256, contents_sha256(built.files)


def _keep(built: Path, out_dir: Path) -> Path:
    final = out_dir / built.name
    built.replace(final)
    return final


def _store(root: Path, upload: bool | None) -> tuple[PackageStore | None, list[str]]:
    """The package store to upload to (None: not uploading) and a note saying why not."""
    from graft.release.store import open_store

    if upload is False:
        return None, ["package not uploaded (--no-upload)"]
    store = open_store(root)
    if store is None:
        if upload:
            raise ReleaseError(
                "--upload: the project has no default DVC remote to keep packages in "
                "(`dvc remote add -d NAME URL`)"
            )
        return None, ["no default DVC remote: package not uploaded to a package store"]
    return store, []


def _complete(
    root: Path,
    existing: Release,
    out_dir: Path,
    dry_run: bool,
    push: bool,
    remote: str,
    upload: bool | None,
) -> ReleaseResult:
    """HEAD is already released: finish what a failed run left undone (see the module docstring)."""
    plan = NextVersion(existing.model, existing.version, "none", "already released", None, existing.commit)
    reason = f"commit {existing.commit[:8]} is already released as {existing.tag}"
    if dry_run:
        return ReleaseResult("planned", plan, existing.tag, existing.version, reason)
    expected, name = existing.archive_sha256, existing.archive_name
    if expected is None or name is None:
        raise ReleaseError(
            f"{existing.tag} records no package checksum (it was not made by `graft release`): "
            "there is no release to complete"
        )
    store, notes = _store(root, upload)
    out_dir.mkdir(parents=True, exist_ok=True)
    built, sha, _ = _build(root, out_dir, existing.version)
    try:
        if sha != expected:
            raise ReleaseError(
                f"the package rebuilt from {existing.tag} has SHA-256 {sha}, the tag records {expected}: "
                "the release cannot be completed from this checkout (`graft reproduce "
                f"{existing.tag}` names what differs)"
            )
        archive = _keep(built, out_dir)
    finally:
        shutil.rmtree(built.parent, ignore_errors=True)
    uploaded = stored = None
    kept = None
    if store is not None:
        if store.exists(existing.model, name):
            stored = store.where(existing.model, name)
        else:
            uploaded = stored = store.upload(archive, existing.model)
    else:
        kept = keep_local(root, archive)
    pushed = ensure_pushed(root, existing.tag, remote) if push else False
    return ReleaseResult(
        "completed",
        plan,
        existing.tag,
        existing.version,
        reason,
        archive,
        sha,
        tagged=False,
        pushed=pushed,
        uploaded=uploaded,
        stored=stored,
        notes=tuple(notes),
        kept=kept,
    )


def _package_new(
    root: Path, out_dir: Path, plan: NextVersion, bump: str
) -> tuple[Path, str, str] | ReleaseResult:
    """The package of ``plan``'s version kept in ``out_dir``: (archive, its SHA-256, its contents'
    SHA-256); or, with ``bump`` auto and the same contents as the previous release, the
    "unchanged" result, leaving nothing behind (not even ``out_dir`` when this created it)."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    built, sha, contents = _build(root, out_dir, plan.version)
    try:
        previous = plan.previous
        if bump == "auto" and previous is not None and previous.contents_sha256 == contents:
            if created:
                shutil.rmtree(built.parent, ignore_errors=True)
                out_dir.rmdir()
            reason = f"package contents and input schema unchanged since {previous.tag}: nothing to release"
            return ReleaseResult("unchanged", plan, None, None, reason)
        archive = _keep(built, out_dir)
    finally:
        shutil.rmtree(built.parent, ignore_errors=True)
    return archive, sha, contents


def release(
    root: Path,
    out_dir: Path,
    bump: str = "auto",
    dry_run: bool = False,
    push: bool = False,
    remote: str = "origin",
    upload: bool | None = None,
) -> ReleaseResult:
    """Release HEAD: version, package, upload to the package store, tag, push the tag.

    ``upload``: None uploads when the project has a default DVC remote (the package store),
    True requires one, False never uploads. See the module docstring for re-runs.
    """
    from graft.project import Project
    from graft.release.artifact import release_name

    root = Path(root).resolve()
    out_dir = Path(out_dir).resolve()
    project = Project.find(root)
    head = project.resolve("HEAD")
    model = release_name(project.at(head))
    releases = registered_releases(project.repo, model)
    existing = [r for r in releases if r.commit == head.sha and r.status != "deregistered"]
    if existing:
        return _complete(root, existing[0], out_dir, dry_run, push, remote, upload)
    withdrawn = withdrawn_at(releases, head.sha)
    if withdrawn is not None:
        reason = (
            f"commit {head.short} was released as {withdrawn.tag}, which is deregistered: "
            "a withdrawn version is not released again"
        )
        return ReleaseResult("withdrawn", None, withdrawn.tag, withdrawn.version, reason)
    plan = next_version(root, bump)
    if dry_run:
        return ReleaseResult("planned", plan, plan.tag, plan.version, plan.reason)
    store, notes = _store(root, upload)
    packaged = _package_new(root, out_dir, plan, bump)
    if isinstance(packaged, ReleaseResult):
        return packaged
    archive, sha, contents = packaged
    uploaded = store.upload(archive, model) if store is not None else None
    # without a package store the package stays where serve/monitor/fetch --stage look first
    kept = keep_local(root, archive) if store is None else None
    create_tag(root, plan, tag_message(plan, archive.name, sha, contents))
    pushed = ensure_pushed(root, plan.tag, remote) if push else False
    return ReleaseResult(
        "released",
        plan,
        plan.tag,
        plan.version,
        plan.reason,
        archive,
        sha,
        tagged=True,
        pushed=pushed,
        uploaded=uploaded,
        stored=uploaded,
        notes=tuple(notes),
        kept=kept,
    )
