"""`graft release`: next version, package, GTO-format tag at HEAD (and push it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bump",
        choices=["auto", "major", "minor", "patch"],
        default="auto",
        help="auto: major if the input schema got stricter, minor if the model changed, else patch",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the next version and why; change nothing"
    )
    parser.add_argument("--push", action="store_true", help="push the new tag to --remote")
    parser.add_argument("--remote", default="origin", help="remote to push the tag to (default: origin)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="package folder (default: dist/)")
    parser.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="append tag=, version=, package= lines to FILE (e.g. $GITHUB_OUTPUT)",
    )
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = api.release(
        args.root, args.out, bump=args.bump, dry_run=args.dry_run, push=args.push, remote=args.remote
    )
    plan = result.plan
    previous = plan.previous.tag if plan.previous else "none"
    print(f"{plan.tag}  ({plan.bump}: {plan.reason}; previous: {previous})")
    if result.archive is not None:
        print(f"{result.archive}  sha256:{result.archive_sha256}")
    if result.tagged:
        print(
            f"tagged {plan.commit[:8]} as {plan.tag}"
            + (f", pushed to {args.remote}" if result.pushed else "")
        )
    if args.outputs is not None and not args.dry_run:
        with args.outputs.open("a", encoding="utf-8") as handle:
            handle.write(f"tag={plan.tag}\nversion={plan.version}\npackage={result.archive}\n")
    return 0
