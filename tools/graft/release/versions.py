"""Model releases as Git tags in GTO's format, and the rule that picks the next version.

Tag format (the one GTO's ``gto register`` writes, so ``gto show`` lists graft's releases):
an *annotated* tag ``<model>@v<MAJOR>.<MINOR>.<PATCH>`` on the released commit, where
``<model>`` is the release name (graft.yaml ``package.name``, else the model artifact's name in
dvc.yaml). The annotation's first line is GTO's default message (``Registering artifact <model>
version v<X.Y.Z>``); the lines after it say why the version was bumped and give the release
archive's SHA-256, which `graft reproduce` checks.

Version rule (``--bump auto``), comparing HEAD with the highest released version; everything is
read through the project layer from Git objects, so it needs neither checkout nor archive:

* **major**: the input schema became stricter: a record the released model accepted could be
  refused (a column removed or newly required, a type or category dropped, a range narrowed).
  Each commit's schema is its own serving adapter's ``input_schema(params)``, loaded from that
  commit's Git objects (graft.release.adapter).
* **minor**: the model changed: the md5 dvc.lock records for the model artifact's path differs.
* **patch**: anything else (docs, code, parameters that leave the model as it was).

The first release is ``1.0.0`` (``auto``/``major``), ``0.1.0`` (``minor``) or ``0.0.1`` (``patch``).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pygit2

from graft.core import gitrepo
from graft.core.errors import GitError, GraftError

if TYPE_CHECKING:
    from graft.project.view import View

Bump = Literal["auto", "major", "minor", "patch"]
BUMPS: tuple[str, ...] = ("auto", "major", "minor", "patch")
TAG_RE = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]*)@v(?P<version>(\d+)\.(\d+)\.(\d+))$")
TAGS_PREFIX = "refs/tags/"
SHA_LINE = re.compile(r"^package: (?P<file>\S+) sha256:(?P<sha>[0-9a-f]{64})$", re.MULTILINE)


class ReleaseError(GraftError):
    pass


@dataclass(frozen=True)
class Release:
    """One released version: the tag, what it points at, and who made it when."""

    tag: str
    model: str
    version: str
    commit: str
    tagger: str
    time: int
    message: str

    @property
    def key(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def archive_sha256(self) -> str | None:
        found = SHA_LINE.search(self.message)
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
    return f"{model}@v{version}"


def parse_version(version: str) -> tuple[int, int, int]:
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ReleaseError(f"version '{version}' is not of the form X.Y.Z")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def parse_tag(name: str) -> tuple[str, str] | None:
    """``adult-income@v1.2.3`` -> ``("adult-income", "1.2.3")``; None for any other tag."""
    found = TAG_RE.match(name)
    return (found["model"], found["version"]) if found else None


def bump_version(previous: str | None, bump: str) -> str:
    if previous is None:
        return {"major": "1.0.0", "minor": "0.1.0", "patch": "0.0.1"}[bump]
    major, minor, patch = parse_version(previous)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


# --- reading releases ---------------------------------------------------------------------


def list_releases(repo: pygit2.Repository, model: str | None = None) -> list[Release]:
    """Every GTO-format release tag (optionally of one model), highest version first."""
    found: list[Release] = []
    for ref in repo.references:
        if not ref.startswith(TAGS_PREFIX):
            continue
        name = ref[len(TAGS_PREFIX) :]
        parsed = parse_tag(name)
        if parsed is None or (model is not None and parsed[0] != model):
            continue
        obj = repo.revparse_single(ref)
        if isinstance(obj, pygit2.Tag):
            tagger = obj.tagger
            who, when, message = f"{tagger.name} <{tagger.email}>", int(tagger.time), obj.message or ""
        else:  # a lightweight tag: GTO ignores these, graft lists them with the commit's data
            commit = obj.peel(pygit2.Commit)
            who, when, message = commit.committer.name, int(commit.commit_time), ""
        commit_id = str(obj.peel(pygit2.Commit).id)
        found.append(Release(name, parsed[0], parsed[1], commit_id, who, when, message))
    return sorted(found, key=lambda r: (r.model, r.key), reverse=True)


def find_release(repo: pygit2.Repository, tag: str) -> Release:
    parsed = parse_tag(tag)
    if parsed is None:
        raise ReleaseError(f"'{tag}' is not a release tag (expected <model>@vX.Y.Z)")
    for release in list_releases(repo, parsed[0]):
        if release.tag == tag:
            return release
    raise ReleaseError(f"no release tag '{tag}' in this repository (fetch tags with `git fetch --tags`)")


def headline_of(view: View) -> dict[str, Any]:
    """The headline metrics of a view: graft.yaml ``metrics.headline``, else the task's metrics."""
    metrics = view.metrics() or {}
    wanted = view.settings.metrics.headline or list(view.settings.task_metrics)
    return {k: metrics[k] for k in wanted if k in metrics}


def model_versions(root: Path, model: str | None = None) -> list[ModelVersion]:
    """Released versions with their headline metrics, read from each tag's commit."""
    from graft.project import Project

    project = Project.find(root)
    out = []
    for release in list_releases(project.repo, model):
        try:
            metrics = headline_of(project.at(release.tag))
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
    releases = list_releases(project.repo, model)
    previous = releases[0] if releases else None
    for release in releases:
        if release.commit == head.sha:
            raise ReleaseError(f"commit {head.short} is already released as '{release.tag}'")
    if previous is None:
        chosen = "major" if bump == "auto" else bump
        return NextVersion(model, bump_version(None, chosen), chosen, "first release", None, head.sha)
    if bump != "auto":
        return NextVersion(
            model, bump_version(previous.version, bump), bump, f"--bump {bump}", previous, head.sha
        )
    old_view = project.at(previous.tag)
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
    return NextVersion(model, bump_version(previous.version, chosen), chosen, reason, previous, head.sha)


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


def tag_message(plan: NextVersion, archive_name: str, archive_sha256: str) -> str:
    from graft.core.templating import render

    return render(
        "release_tag.txt.j2",
        plan=plan,
        archive_name=archive_name,
        archive_sha256=archive_sha256,
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
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise GitError(f"could not push tag '{tag}' to '{remote}': {detail}")


@dataclass(frozen=True)
class ReleaseResult:
    plan: NextVersion
    archive: Path | None
    archive_sha256: str | None
    tagged: bool
    pushed: bool


def release(
    root: Path,
    out_dir: Path,
    bump: str = "auto",
    dry_run: bool = False,
    push: bool = False,
    remote: str = "origin",
) -> ReleaseResult:
    """Pick the next version, build its package, tag HEAD in GTO's format, optionally push the tag."""
    from graft.release.package import package

    root = Path(root).resolve()
    plan = next_version(root, bump)
    if dry_run:
        return ReleaseResult(plan, None, None, tagged=False, pushed=False)
    built = package(root, Path(out_dir), version=plan.version, allow_dirty=False)
    create_tag(root, plan, tag_message(plan, built.path.name, built.sha256))
    if push:
        push_tag(root, plan.tag, remote)
    return ReleaseResult(plan, built.path, built.sha256, tagged=True, pushed=push)
