"""Options naming a released model instead of a package path (serve and monitor).

``--model MODEL[@vX.Y.Z|#STAGE]`` and/or ``--stage NAME`` resolves the version
(graft.release.fetch), fetches its package from the package store and verifies it against the
release tag; the command then runs on that package as if its path had been given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api
from graft.cli.common import Ui
from graft.core.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a released model instead of a package path")
    group.add_argument(
        "--model",
        metavar="MODEL[@vX.Y.Z|#STAGE]",
        help="resolve a released version (default model: the project's) and fetch its verified package",
    )
    group.add_argument("--stage", metavar="NAME", help="the version in this stage (e.g. prod)")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.model or args.stage)


def package_path(args: argparse.Namespace, given: Path | None, ui: Ui) -> Path:
    """The package to run on: ``given``, or the fetched package the model options name."""
    if given is not None:
        if wanted(args):
            raise UsageError("give either a package path or --model/--stage, not both")
        return given
    if not wanted(args):
        raise UsageError("give a package path, or name a released model with --model and/or --stage")
    fetched = api.fetch_package(ui.root, args.model, stage=args.stage)
    release = fetched.release
    stage = f" ({fetched.resolved.stage})" if fetched.resolved.stage else ""
    source = "local cache" if fetched.source == "cache" else fetched.source
    ui.message(
        f"graft: {release.model} v{release.version}{stage}: {fetched.path} from {source}, "
        f"sha256 {fetched.sha256[:12]}... matches {release.tag}"
    )
    return fetched.path
