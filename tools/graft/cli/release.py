"""`graft release`: next version, package, upload, GTO-format tag at HEAD (and push it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bump",
        choices=["auto", "major", "minor", "patch"],
        default="auto",
        help="auto: major if the input schema got stricter, minor if the model changed, else patch "
        "(nothing when the package's contents are unchanged)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the next version and why; change nothing"
    )
    parser.add_argument("--push", action="store_true", help="push the new tag to --remote")
    parser.add_argument("--remote", default="origin", help="remote to push the tag to (default: origin)")
    parser.add_argument(
        "--upload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="upload the package to the package store, the default DVC remote (default: when one is set)",
    )
    parser.add_argument("--out", type=Path, default=Path("dist"), help="package folder (default: dist/)")
    parser.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="append status=, tag=, version=, package= lines to FILE (e.g. $GITHUB_OUTPUT)",
    )
    parser.add_argument(
        "--summary", type=Path, metavar="FILE", help="append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)"
    )
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from graft.core.templating import render

    result = api.release(
        args.root,
        args.out,
        bump=args.bump,
        dry_run=args.dry_run,
        push=args.push,
        remote=args.remote,
        upload=args.upload,
    )
    plan = result.plan
    if result.status in ("unchanged", "withdrawn"):
        print(f"no release: {result.reason}")
    elif result.status == "completed" or (plan is not None and plan.bump == "none"):
        what = "a run would complete it" if args.dry_run else "completing it"
        print(f"{result.tag}  ({result.reason}; {what})")
    elif plan is not None:
        previous = plan.previous.tag if plan.previous else "none"
        print(f"{plan.tag}  ({plan.bump}: {plan.reason}; previous: {previous})")
    if result.archive is not None:
        print(f"{result.archive}  sha256:{result.archive_sha256}")
    if result.uploaded:
        print(f"uploaded to {result.uploaded}")
    elif result.stored:
        print(f"already in the package store: {result.stored}")
    for note in result.notes:
        print(f"note: {note}")
    if result.tagged:
        print(f"tagged {result.plan.commit[:8] if result.plan else ''} as {result.tag}")
    if result.pushed:
        print(f"pushed {result.tag} to {args.remote}")
    if args.outputs is not None and not args.dry_run:
        with args.outputs.open("a", encoding="utf-8") as handle:
            handle.write(
                f"status={result.status}\ntag={result.tag or ''}\nversion={result.version or ''}\n"
                f"package={result.archive or ''}\n"
            )
    if args.summary is not None and not args.dry_run:
        with args.summary.open("a", encoding="utf-8") as handle:
            handle.write(render("release_summary.md.j2", result=result))
    return 0
