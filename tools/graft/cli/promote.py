"""`graft promote`: assign a stage to a released version with GTO's tag (parsing and rendering only)."""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_format


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        nargs="?",
        metavar="MODEL@vX.Y.Z",
        help="the version: MODEL@vX.Y.Z, MODEL#STAGE (the version in that stage) or MODEL with --version",
    )
    parser.add_argument("--stage", required=True, help="the stage to put it in (graft.yaml 'stages')")
    parser.add_argument("--version", dest="model_version", metavar="vX.Y.Z", help="the version to promote")
    parser.add_argument("--push", action="store_true", help="fetch the remote's tags first, push the new tag")
    parser.add_argument("--remote", default="origin", help="remote to push to (default: origin)")
    parser.add_argument("-m", "--message", help="tag annotation (default: GTO's)")
    add_format(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    result = api.promote(
        ui.root,
        args.ref,
        args.stage,
        version=args.model_version,
        push=args.push,
        remote=args.remote,
        message=args.message,
    )
    if ui.json_mode:
        from graft.release.promote import PromoteSummary

        ui.json(PromoteSummary.of(result))
        return 0
    if result.created:
        was = f"; was {result.replaced}" if result.replaced else ""
        ui.out(f"{result.model} {result.version} -> {result.stage} (tag {result.tag}{was})")
    else:
        ui.out(f"{result.model} {result.version} is already in {result.stage} (tag {result.tag}): no new tag")
    if result.pushed:
        ui.out(f"pushed {result.tag} to {args.remote}")
    return 0
