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

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import pygit2

from graft.core import gitrepo
from graft.core.errors import GitError, GraftError
from graft.release.registry import ArtifactState, VersionState
from graft.release.store import keep_local
from graft.release.tags import TAGS_PREFIX, SemVer, Step, parse_version_tag, version_key, version_tag

if TYPE_CHECKING:
    from graft.project.view import View
    from graft.release.store import PackageStore

Bump = Literal["auto", "major", "minor", "patch"]
BUMPS: tuple[str, ...] = ("auto", "major", "minor", "patch")
SHA_LINE = re.compile(r"^package: (?P<file>\S+) sha256:(?P<sha>[0-9a-f]{64})$", re.MULTILINE)
CONTENTS_LINE = re.compile(r"^contents: sha256:(?P<sha>[0-9a-f]{64})$", re.MULTILINE)
Status = Literal["released", "completed", "unchanged", "withdrawn", "planned"]


class ReleaseError(GraftError):
    pass


@dataclass(frozen=True)
class Release:
    """One released version: the tag, what it points at, who made it when, and its state in the
    registry (the stages it is the version of; ``status``: active, deregistered, deprecated
    (the whole model is), or unregistered (only stage tags name its commit))."""

    tag: str
    model: str
    version: str  # without the "v" (or the commit sha of an unregistered version)
    commit: str
    tagger: str
    time: int
    message: str
    stages: tuple[str, ...] = ()
    status: str = "active"

    @property
    def key(self) -> tuple[int, SemVer | None, str]:
        return version_key(f"v{self.version}")

    @property
    def archive_sha256(self) -> str | None:
        found = SHA_LINE.search(self.message)
        return found["sha"] if found else None

    @property
    def archive_name(self) -> str | None:
        found = SHA_LINE.search(self.message)
        return found["file"] if found else None

    @property
    def contents_sha256(self) -> str | None:
        found = CONTENTS_LINE.search(self.message)
        return found["sha"] if found else None


@dataclass(frozen=True)
class NextVersion:
    model: str
    version: str
    bump: str
    reason: str
    previous: Release | None
    commit: str

    @property
    def tag(self) -> str:
        return tag_name(self.model, self.version)


@dataclass(frozen=True)
class ModelVersion:
    """A release with its headline metrics (graft.yaml ``metrics.headline`` at the tag's commit)."""

    release: Release
    metrics: dict[str, Any] = field(default_factory=dict)


def headline_columns(versions: list[ModelVersion]) -> list[str]:
    """Every headline metric the versions report, in first-seen order (a table's columns)."""
    return list(dict.fromkeys(k for v in versions for k in v.metrics))


# --- names --------------------------------------------------------------------------------


def tag_name(model: str, version: str) -> str:
    """The registration tag of ``version`` (see :func:`graft.release.tags.version_tag`)."""
    return version_tag(model, version)


parse_tag = parse_version_tag


def bump_version(previous: str | None, bump: str) -> str:
    """The version after ``previous`` (``1.2.3``; None: nothing released yet) by ``bump``."""
    kind = cast(Step, bump)
    return (SemVer.first(kind) if previous is None else SemVer.of(previous).bump(kind)).number


def next_free_version(previous: str | None, bump: str, taken: set[str]) -> str:
    """``bump_version``, bumped again past every version already tagged (a deregistered version's
    number is never given to another model)."""
    taken_keys = {SemVer.of(t) for t in taken}
    version = bump_version(previous, bump)
    while SemVer.of(version) in taken_keys:
        version = bump_version(version, bump)
    return version


# --- reading releases ---------------------------------------------------------------------


def release_of(state: ArtifactState, version: VersionState) -> Release:
    """A registry version as a :class:`Release` (its tag, state and stages)."""
    event = version.registration
    if event is None:  # only stage tags name this commit
        events = [e for st in version.stage_events.values() for e in st.events]
        event = max(events, key=lambda e: e.order)
    if not version.registered:
        status = "unregistered"
    elif not version.active:
        status = "deregistered"
    else:
        status = "active" if state.active else "deprecated"
    name = version.version[1:] if version.registered else version.version
    return Release(
        tag=event.tag,
        model=state.name,
        version=name,
        commit=version.commit,
        tagger=f"{event.tagger} <{event.tagger_email}>",
        time=event.time,
        message=event.message,
        stages=tuple(version.stages),
        status=status,
    )


def list_releases(
    repo: pygit2.Repository, model: str | None = None, include_inactive: bool = False
) -> list[Release]:
    """Released versions (optionally of one model), per model highest version first: what
    ``gto show`` lists, or with ``include_inactive`` also deregistered versions and the versions
    of deprecated models (``gto show --deprecated``)."""
    from graft.release.registry import registry

    found: list[Release] = []
    for name, state in sorted(registry(repo).items()):
        if model is not None and name != model:
            continue
        found += [release_of(state, v) for v in state.version_list(include_inactive)]
    return found


def registered_releases(repo: pygit2.Repository, model: str) -> list[Release]:
    """Every version of ``model`` ever registered, whatever its state, highest first."""
    return [r for r in list_releases(repo, model, include_inactive=True) if r.status != "unregistered"]


def find_release(repo: pygit2.Repository, tag: str) -> Release:
    """A release by its registration tag (deregistered ones included: they can still be reproduced)."""
    parsed = parse_tag(tag)
    if parsed is None:
        raise ReleaseError(f"'{tag}' is not a release tag (expected <model>@vX.Y.Z)")
    for release in registered_releases(repo, parsed[0]):
        if release.tag == tag or release.version == parsed[1]:
            return release
    raise ReleaseError(f"no release tag '{tag}' in this repository (fetch tags with `git fetch --tags`)")


def headline_of(view: View) -> dict[str, Any]:
    """The headline metrics of a view: graft.yaml ``metrics.headline``, else the task's metrics."""
    metrics = view.metrics() or {}
    wanted = view.settings.metrics.headline or list(view.settings.task_metrics)
    return {k: metrics[k] for k in wanted if k in metrics}


def model_versions(
    root: Path, model: str | None = None, include_inactive: bool = False
) -> list[ModelVersion]:
    """Released versions with their stages and headline metrics, read from each version's commit
    (``include_inactive``: deregistered versions and deprecated models too, marked)."""
    from graft.project import Project

    project = Project.find(root)
    out = []
    for release in list_releases(project.repo, model, include_inactive):
        try:
            metrics = headline_of(project.at(release.commit))
        except GraftError:  # an unreadable file at an old tag: list the version without metrics
            metrics = {}
        out.append(ModelVersion(release, metrics))
    return out


# --- the version rule ---------------------------------------------------------------------


def schema_at(view: View) -> dict[str, Any]:
    """The input schema a view's package would carry: its own adapter's ``input_schema(params)``."""
    from graft.release.artifact import load_adapter

    adapter = load_adapter(view)
    try:
        return adapter.input_schema(view.params)
    finally:
        adapter.close()


def _types(prop: Mapping[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def schema_breaks(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a record valid under ``old`` could be refused by ``new`` (empty: compatible)."""
    reasons = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for column in sorted(set(old_props) - set(new_props)):
        reasons.append(f"column '{column}' removed")
    for column in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        reasons.append(f"column '{column}' now required")
    for column in sorted(set(old_props) & set(new_props)):
        before, after = old_props[column], new_props[column]
        if not _types(before) <= _types(after):
            reasons.append(f"column '{column}' type narrowed")
        if "enum" in after and "enum" not in before:
            reasons.append(f"column '{column}' restricted to categories")
        elif "enum" in after and not set(map(str, before["enum"])) <= set(map(str, after["enum"])):
            reasons.append(f"column '{column}' lost categories")
        if after.get("minimum", float("-inf")) > before.get("minimum", float("-inf")):
            reasons.append(f"column '{column}' minimum raised")
        if after.get("maximum", float("inf")) < before.get("maximum", float("inf")):
            reasons.append(f"column '{column}' maximum lowered")
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        reasons.append("extra fields no longer allowed")
    return reasons


def _withdrawn_at(releases: list[Release], commit: str) -> Release | None:
    """The deregistered release at ``commit`` when no active one is there."""
    at_commit = [r for r in releases if r.commit == commit]
    if any(r.status != "deregistered" for r in at_commit):
        return None
    return at_commit[0] if at_commit else None


def next_version(root: Path, bump: str = "auto", rev: str = "HEAD") -> NextVersion:
    """The version the next release of ``rev`` gets, and why (see the module docstring)."""
    from graft.project import Project
    from graft.release.artifact import model_artifact, release_name

    if bump not in BUMPS:
        raise ReleaseError(f"--bump must be one of {', '.join(BUMPS)} (got '{bump}')")
    project = Project.find(root)
    head = project.resolve(rev)
    head_view = project.at(head)
    model = release_name(head_view)
    releases = registered_releases(project.repo, model)
    for release in releases:
        if release.commit == head.sha and release.status != "deregistered":
            raise ReleaseError(f"commit {head.short} is already released as '{release.tag}'")
    withdrawn = _withdrawn_at(releases, head.sha)
    if withdrawn is not None:
        raise ReleaseError(
            f"commit {head.short} was released as '{withdrawn.tag}' and that version is deregistered: "
            "a withdrawn commit is not released again (commit the fix, then release)"
        )
    # the base: the highest version still registered (deregistered versions are skipped)
    active = [r for r in releases if r.status != "deregistered"]
    previous = max(active, key=lambda r: r.key) if active else None
    taken = {r.version for r in releases}
    skipped = sorted(
        (r for r in releases if r.status == "deregistered" and (previous is None or r.key > previous.key)),
        key=lambda r: r.key,
    )
    note = f"; deregistered: {', '.join(r.tag for r in skipped)}" if skipped else ""

    def plan(chosen: str, reason: str) -> NextVersion:
        version = next_free_version(previous.version if previous else None, chosen, taken)
        return NextVersion(model, version, chosen, reason + note, previous, head.sha)

    if previous is None:
        chosen = "major" if bump == "auto" else bump
        return plan(chosen, "first release" if not releases else "first active release")
    if bump != "auto":
        return plan(bump, f"--bump {bump}")
    old_view = project.at(previous.commit)
    try:
        old_schema = schema_at(old_view)
    except GraftError as exc:
        raise ReleaseError(
            f"cannot compare input schemas with {previous.tag}: {exc}; choose the bump with "
            "--bump major|minor|patch"
        ) from None
    breaks = schema_breaks(old_schema, schema_at(head_view))
    if breaks:
        chosen, reason = "major", "input schema changed incompatibly: " + "; ".join(breaks)
    else:
        path = model_artifact(head_view).path
        old_md5, new_md5 = old_view.lock.md5(model_artifact(old_view).path), head_view.lock.md5(path)
        if old_md5 != new_md5:
            chosen, reason = "minor", f"model changed ({path} md5 {old_md5} -> {new_md5})"
        else:
            chosen, reason = "patch", "model and input schema unchanged"
    return plan(chosen, reason)


# --- writing releases ---------------------------------------------------------------------


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """The tagger: GIT_COMMITTER_NAME/EMAIL when set (CI), else user.name/user.email."""
    name, email = os.environ.get("GIT_COMMITTER_NAME"), os.environ.get("GIT_COMMITTER_EMAIL")
    if name and email:
        return pygit2.Signature(name, email)
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        raise GitError(
            "no Git identity to sign the tag: set user.name and user.email "
            "(or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL)"
        ) from None


def tag_message(plan: NextVersion, archive_name: str, archive_sha256: str, contents_sha256: str) -> str:
    from graft.core.templating import render

    return render(
        "release_tag.txt.j2",
        plan=plan,
        archive_name=archive_name,
        archive_sha256=archive_sha256,
        contents_sha256=contents_sha256,
    )


def create_tag(root: Path, plan: NextVersion, message: str) -> str:
    repo = gitrepo.open_repo(root)
    ref = f"{TAGS_PREFIX}{plan.tag}"
    if ref in repo.references:
        raise ReleaseError(f"tag '{plan.tag}' already exists")
    repo.create_tag(
        plan.tag, pygit2.Oid(hex=plan.commit), pygit2.enums.ObjectType.COMMIT, signature(repo), message
    )
    return plan.tag


def push_tag(root: Path, tag: str, remote: str = "origin") -> None:
    """``git push <remote> refs/tags/<tag>`` (the Git CLI, so credential helpers apply)."""
    done = subprocess.run(
        ["git", "push", "--quiet", remote, f"{TAGS_PREFIX}{tag}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        detail = gitrepo.failure_reason(done.stderr) or f"exit {done.returncode}"
        raise GitError(f"could not push tag '{tag}' to '{remote}': {detail}")


def remote_tag(root: Path, tag: str, remote: str = "origin") -> str | None:
    """The object id ``remote`` has for ``refs/tags/<tag>``, or None when it has no such tag."""
    listed = gitrepo.git(root, "ls-remote", "--tags", remote, f"{TAGS_PREFIX}{tag}")
    for line in listed.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"{TAGS_PREFIX}{tag}":
            return sha
    return None


def ensure_pushed(root: Path, tag: str, remote: str) -> bool:
    """Push ``tag`` unless ``remote`` already has it; True when this call pushed it. A remote
    holding a *different* tag of that name is an error (someone else released this version)."""
    local = str(gitrepo.open_repo(root).references[f"{TAGS_PREFIX}{tag}"].target)
    there = remote_tag(root, tag, remote)
    if there == local:
        return False
    if there is not None:
        raise ReleaseError(
            f"'{remote}' has a different tag '{tag}' ({there[:8]}, here {local[:8]}): fetch it with "
            f"`git fetch --tags {remote}` and look at who released what"
        )
    push_tag(root, tag, remote)
    return True


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
    withdrawn = _withdrawn_at(releases, head.sha)
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
