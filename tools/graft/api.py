"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graft.checkrepro import Difference
    from graft.packaging import LoadedPackage, PackageResult
    from graft.releases import ModelVersion, NextVersion, ReleaseResult
    from graft.reproduce import ReproduceResult


def package(
    root: Path, out_dir: Path, version: str | None = None, allow_dirty: bool = False
) -> PackageResult:
    """Build the release archive of the current (up-to-date, committed) pipeline outputs."""
    from graft.packaging import package as build

    return build(Path(root), Path(out_dir), version=version, allow_dirty=allow_dirty)


def open_package(path: Path, workdir: Path | None = None) -> LoadedPackage:
    """Verify a package (archive or folder) against its manifest and open it."""
    from graft.packaging import load_package

    return load_package(Path(path), workdir)


def next_version(root: Path, bump: str = "auto") -> NextVersion:
    """The version the next release of HEAD gets (GTO tag ``<model>@vX.Y.Z``) and why."""
    from graft.releases import next_version as plan

    return plan(Path(root), bump)


def release(
    root: Path,
    out_dir: Path,
    bump: str = "auto",
    dry_run: bool = False,
    push: bool = False,
    remote: str = "origin",
) -> ReleaseResult:
    """Version, package and tag HEAD (and push the tag when asked)."""
    from graft.releases import release as run

    return run(Path(root), Path(out_dir), bump=bump, dry_run=dry_run, push=push, remote=remote)


def models(root: Path, model: str | None = None) -> list[ModelVersion]:
    """Released versions (GTO-format tags), highest first, with headline metrics from Git."""
    from graft.releases import model_versions

    return model_versions(Path(root), model)


def reproduce(root: Path, tag: str, archive: Path | None = None, keep: bool = False) -> ReproduceResult:
    """Re-run a release's pipeline in a temporary worktree and compare every output."""
    from graft.reproduce import reproduce as run

    return run(Path(root), tag, archive=archive, keep=keep)


def check_repro(root: Path, paths: list[str] | None = None) -> list[Difference]:
    """Files of dvc.lock and metrics/ whose working-tree bytes differ from HEAD."""
    from graft.checkrepro import DEFAULT_PATHS
    from graft.checkrepro import check_repro as run

    return run(Path(root), paths or DEFAULT_PATHS)
