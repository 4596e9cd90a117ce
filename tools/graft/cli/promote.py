"""`graft promote`: assign a stage to a released version with GTO's tag (parsing and rendering only)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graft import api


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
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = api.promote(
        args.root,
        args.ref,
        args.stage,
        version=args.model_version,
        push=args.push,
        remote=args.remote,
        message=args.message,
    )
    if args.format == "json":
        print(
            json.dumps(
                {
                    "model": result.model,
                    "version": result.version,
                    "stage": result.stage,
                    "tag": result.tag,
                    "created": result.created,
                    "pushed": result.pushed,
                    "replaced": result.replaced,
                },
                indent=2,
                sort_keys=True,
            )
        )
        return 0
    if result.created:
        was = f"; was {result.replaced}" if result.replaced else ""
        print(f"{result.model} {result.version} -> {result.stage} (tag {result.tag}{was})")
    else:
        print(f"{result.model} {result.version} is already in {result.stage} (tag {result.tag}): no new tag")
    if result.pushed:
        print(f"pushed {result.tag} to {args.remote}")
    return 0
