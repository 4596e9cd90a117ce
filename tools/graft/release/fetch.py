"""Resolve a model version by name or stage and fetch its verified package: what deploys and
monitoring by stage run on (`graft fetch`, `graft serve --model`, `graft monitor --model`).

1. **Resolve**: ``MODEL#STAGE`` (or ``--stage``) is the version in that stage, as ``gto show``
   shows it; ``MODEL@vX.Y.Z`` (or ``--version``) that version; ``MODEL`` or ``MODEL@latest`` the
   highest active version. The model defaults to the project's release name. A deregistered
   version, a deprecated model, an empty stage and a version without a package checksum (tagged
   by ``gto register``, not ``graft release``) are refused by name.
2. **Fetch**: the package is taken from the checkout's package folder ``.graft/packages/`` when
   a file there has the right SHA-256 (a release without a package store keeps its package
   there), else downloaded from the package store (the default DVC remote,
   :mod:`graft.release.store`) into it.
3. **Verify**: the archive's SHA-256 must equal the one in the release tag's annotation (the
   Git tag, not the store, is the trust root); a mismatch is refused and nothing is kept.
   Serving and monitoring then verify every file against the package manifest as usual.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import RootModel

from graft.core.errors import GraftError
from graft.core.results import CommitSha, Result, Sha256
from graft.release.registry import ModelRef, artifact_state, parse_ref
from graft.release.releases import Release, release_of
from graft.release.store import LOCAL_DIR, file_sha256, open_store

CACHE_DIR = LOCAL_DIR


class FetchError(GraftError):
    pass


class EmptyStage(FetchError):
    """No version is in the stage asked for (deploy and monitoring jobs end with a notice)."""


@dataclass(frozen=True)
class Resolved:
    ref: ModelRef
    release: Release
    stage: str | None


@dataclass(frozen=True)
class Fetched:
    resolved: Resolved
    path: Path
    sha256: str
    source: str  # "cache" or the store location it was downloaded from

    @property
    def release(self) -> Release:
        return self.resolved.release


class NotFound(Result):
    """--missing-ok and no version in the stage."""

    found: Literal[False]
    """false: nothing was fetched"""
    reason: str
    """why: no version in the stage asked for (the error's words)"""


class Found(Result):
    """The package fetched."""

    found: Literal[True]
    """true: the package was fetched and verified"""
    model: str
    """the model (default: the project's release name)"""
    version: str
    """the version resolved, X.Y.Z (without the v)"""
    tag: str
    """its release tag, MODEL@vX.Y.Z"""
    commit: CommitSha
    """the commit the release tag points at"""
    stage: str
    """Empty when resolved by version."""
    package: str
    """the package archive's path (in .graft/packages/, or --out)"""
    sha256: Sha256
    """the archive's SHA-256, equal to the release tag's annotation"""
    source: str
    """Cache, or the store location it was downloaded from."""


class FetchSummary(RootModel[NotFound | Found]):
    """What `graft fetch` fetched, or why nothing (with --missing-ok)."""

    @classmethod
    def found(cls, fetched: Fetched) -> FetchSummary:
        release = fetched.release
        return cls(
            Found(
                found=True,
                model=release.model,
                version=release.version,
                tag=release.tag,
                commit=release.commit,
                stage=fetched.resolved.stage or "",
                package=str(fetched.path),
                sha256=fetched.sha256,
                source=fetched.source,
            )
        )

    @classmethod
    def missing(cls, reason: str) -> FetchSummary:
        return cls(NotFound(found=False, reason=reason))


def resolve(root: Path, ref: ModelRef) -> Resolved:
    """The release ``ref`` names (see the module docstring)."""
    from graft.project import Project
    from graft.release.artifact import release_name
    from graft.release.promote import PromoteError, chosen_version

    project = Project.find(root)
    model = ref.model or release_name(project.work())
    state = artifact_state(project.repo, model)
    if ref.stage is not None:
        if not state.versions:
            raise EmptyStage(f"no version of '{model}' is in stage '{ref.stage}' ('{model}' has no versions)")
        if not state.active:  # gto show lists nothing of a deprecated model
            raise EmptyStage(f"no version of '{model}' is in stage '{ref.stage}' ('{model}' is deprecated)")
        if ref.stage not in state.in_stage:
            used = ", ".join(sorted(state.in_stage)) or "none"
            raise EmptyStage(f"no version of '{model}' is in stage '{ref.stage}' (stages in use: {used})")
    wanted = ref if (ref.stage or ref.version) else ModelRef(model, latest=True)
    try:
        version = chosen_version(state, wanted)
    except PromoteError as exc:
        raise FetchError(str(exc)) from None
    return Resolved(ref, release_of(state, version), ref.stage)


def fetch(root: Path, resolved: Resolved, out_dir: Path | None = None) -> Fetched:
    """The verified package of a resolved release, in ``out_dir`` (default: the project's cache)."""
    from graft.project import find_root

    release = resolved.release
    expected, name = release.archive_sha256, release.archive_name
    if expected is None or name is None:
        raise FetchError(
            f"{release.tag} records no package checksum in its annotation (registered by `gto register`, "
            "not released by `graft release`): there is no package to fetch"
        )
    project_root = find_root(root)
    cache = project_root / CACHE_DIR / name
    target = (Path(out_dir) / name) if out_dir is not None else cache
    if target.is_file() and file_sha256(target) == expected:
        return Fetched(resolved, target, expected, "cache")
    if target != cache and cache.is_file() and file_sha256(cache) == expected:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, target)
        return Fetched(resolved, target, expected, "cache")
    store = open_store(project_root)
    if store is None:
        raise FetchError(
            f"{name} is not in {CACHE_DIR}/ and the project has no default DVC remote to fetch it from "
            f"(without one, `graft release` keeps a package only in the {CACHE_DIR}/ of the checkout it "
            f"ran in: check out {release.commit[:8]} and run `graft release` to rebuild {release.tag} here)"
        )
    store.download(release.model, name, target, expected)
    return Fetched(resolved, target, expected, store.where(release.model, name))


def fetch_ref(
    root: Path,
    ref_text: str | None,
    version: str | None = None,
    stage: str | None = None,
    out_dir: Path | None = None,
) -> Fetched:
    """Parse, resolve and fetch in one call (what `graft fetch`, `serve --model` and `monitor
    --model` do). The package is also checked as an archive (graft.release.archive: every member,
    nothing written): one the tag vouches for but that is hostile is refused and removed."""
    from graft.release.archive import ArchiveError, check

    fetched = fetch(root, resolve(root, parse_ref(ref_text, version=version, stage=stage)), out_dir)
    try:
        check(fetched.path)
    except ArchiveError:
        fetched.path.unlink(missing_ok=True)
        raise
    return fetched
