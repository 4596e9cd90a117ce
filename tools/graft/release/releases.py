"""Reading releases: what a release tag says (:class:`Release`: version, commit, the package's
SHA-256 and contents digest from its annotation, status and stages, read with GTO's whole tag
grammar through :mod:`graft.release.registry`) and the list `graft models` shows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pygit2
from pydantic import RootModel

from graft.core.errors import GraftError
from graft.core.results import CommitSha, DateTime, Result
from graft.release.registry import ArtifactState, VersionState
from graft.release.tags import SemVer, version_key

if TYPE_CHECKING:
    from graft.project.view import View
from graft.release.tags import parse_version_tag, version_tag

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
        return version_tag(self.model, self.version)


@dataclass(frozen=True)
class ModelVersion:
    """A release with its headline metrics (graft.yaml ``metrics.headline`` at the tag's commit)."""

    release: Release
    metrics: dict[str, Any] = field(default_factory=dict)


class VersionEntry(Result):
    """One released version in `graft models`."""

    tag: str
    """``<model>@vX.Y.Z``; for an unregistered version, the stage tag that names its commit."""
    model: str
    """the model (the release name)"""
    version: str
    """``X.Y.Z``; for an unregistered version, its commit's sha."""
    stages: list[str]
    """The stages this version is the current one of (GTO stage tags)."""
    status: Literal["active", "deregistered", "deprecated", "unregistered"]
    """Deregistered versions and deprecated models appear only with --all; unregistered: only
    stage tags name the commit."""
    commit: CommitSha
    """the commit the version's tag points at"""
    tagger: str
    """who made the tag: NAME <EMAIL>"""
    created: DateTime
    """when the tag was made, UTC"""
    metrics: dict[str, float | int | None]
    """Metric name (dotted for nested keys) -> value."""

    @classmethod
    def of(cls, v: ModelVersion) -> VersionEntry:
        r = v.release
        return cls(
            tag=r.tag,
            model=r.model,
            version=r.version,
            stages=list(r.stages),
            status=r.status,
            commit=r.commit,
            tagger=r.tagger,
            created=datetime.fromtimestamp(r.time, UTC).isoformat(),
            metrics=v.metrics,
        )


class ModelsResult(RootModel[list[VersionEntry]]):
    """Released versions, highest first (active ones only unless --all)."""

    @classmethod
    def of(cls, versions: list[ModelVersion]) -> ModelsResult:
        return cls([VersionEntry.of(v) for v in versions])


def headline_columns(versions: list[ModelVersion]) -> list[str]:
    """Every headline metric the versions report, in first-seen order (a table's columns)."""
    return list(dict.fromkeys(k for v in versions for k in v.metrics))


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
    parsed = parse_version_tag(tag)
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
    from graft.release.tags import check_name

    if model is not None:
        check_name(model, "--model", artifact=True)
    project = Project.find(root)
    out = []
    for release in list_releases(project.repo, model, include_inactive):
        try:
            metrics = headline_of(project.at(release.commit))
        except GraftError:  # an unreadable file at an old tag: list the version without metrics
            metrics = {}
        out.append(ModelVersion(release, metrics))
    return out
