"""`graft release`: next version, package, GTO-format tag at HEAD (and push it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graft import api
from graft.cli.common import Ui, add_format


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
    parser.add_argument("--out", type=Path, help="package folder (default: dist/ at the project root)")
    parser.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="append tag=, version=, package= lines to FILE (e.g. $GITHUB_OUTPUT)",
    )
    add_format(parser)
    parser.set_defaults(handler=run)


def to_json(result: Any, dry_run: bool, remote: str) -> dict[str, Any]:
    plan = result.plan
    return {
        "tag": plan.tag,
        "model": plan.model,
        "version": plan.version,
        "bump": plan.bump,
        "reason": plan.reason,
        "previous": plan.previous.tag if plan.previous else None,
        "commit": plan.commit,
        "dry_run": dry_run,
        "archive": None if result.archive is None else str(result.archive),
        "archive_sha256": result.archive_sha256,
        "tagged": result.tagged,
        "pushed": result.pushed,
        "remote": remote if result.pushed else None,
    }


def run(args: argparse.Namespace, ui: Ui) -> int:
    out = (args.out if args.out is not None else ui.root / "dist").resolve()  # JSON paths are absolute
    with ui.progress() as progress:
        if not args.dry_run:
            progress.step("building the release package")
        result = api.release(
            ui.root, out, bump=args.bump, dry_run=args.dry_run, push=args.push, remote=args.remote
        )
    plan = result.plan
    if ui.json_mode:
        ui.json(to_json(result, args.dry_run, args.remote))
    else:
        previous = plan.previous.tag if plan.previous else "none"
        ui.out(f"{plan.tag}  ({plan.bump}: {plan.reason}; previous: {previous})")
        if result.archive is not None:
            ui.out(f"{result.archive}  sha256:{result.archive_sha256}")
        if result.tagged:
            pushed = f", pushed to {args.remote}" if result.pushed else ""
            ui.out(f"tagged {plan.commit[:8]} as {plan.tag}{pushed}")
    if args.outputs is not None and not args.dry_run:
        with args.outputs.open("a", encoding="utf-8") as handle:
            handle.write(f"tag={plan.tag}\nversion={plan.version}\npackage={result.archive}\n")
    return 0
