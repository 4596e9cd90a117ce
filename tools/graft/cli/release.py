"""`graft release`: next version, package, upload, GTO-format tag at HEAD (and push it)."""

from __future__ import annotations

import argparse
from typing import Any

from graft import api
from graft.cli.common import Ui, add_format, add_offline, path_arg


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
    parser.add_argument("--out", type=path_arg, help="package folder (default: dist/ at the project root)")
    parser.add_argument(
        "--outputs",
        type=path_arg,
        metavar="FILE",
        help="append status=, tag=, version=, package= lines to FILE (e.g. $GITHUB_OUTPUT)",
    )
    parser.add_argument(
        "--summary",
        type=path_arg,
        metavar="FILE",
        help="append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)",
    )
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def _lines(result: Any, dry_run: bool, remote: str) -> list[str]:
    plan = result.plan
    lines = []
    if result.status in ("unchanged", "withdrawn"):
        lines.append(f"no release: {result.reason}")
    elif result.status == "completed" or (plan is not None and plan.bump == "none"):
        what = "a run would complete it" if dry_run else "completing it"
        lines.append(f"{result.tag}  ({result.reason}; {what})")
    elif plan is not None:
        previous = plan.previous.tag if plan.previous else "none"
        lines.append(f"{plan.tag}  ({plan.bump}: {plan.reason}; previous: {previous})")
    if result.archive is not None:
        lines.append(f"{result.archive}  sha256:{result.archive_sha256}")
    if result.uploaded:
        lines.append(f"uploaded to {result.uploaded}")
    elif result.stored:
        lines.append(f"already in the package store: {result.stored}")
    if result.kept is not None:
        lines.append(f"kept in {result.kept} (serve/monitor/fetch --stage find it in this checkout)")
    lines.extend(f"note: {note}" for note in result.notes)
    if result.tagged:
        pushed = f", pushed to {remote}" if result.pushed else ""
        lines.append(f"tagged {plan.commit[:8] if plan else ''} as {result.tag}{pushed}")
    elif result.pushed:
        lines.append(f"pushed {result.tag} to {remote}")
    return lines


def run(args: argparse.Namespace, ui: Ui) -> int:
    from graft.core.templating import render

    out = (args.out if args.out is not None else ui.root / "dist").resolve()  # JSON paths are absolute
    with ui.progress() as progress:
        if not args.dry_run:
            progress.step("building the release package")
        result = api.release(
            ui.root,
            out,
            bump=args.bump,
            dry_run=args.dry_run,
            push=args.push,
            remote=args.remote,
            upload=args.upload,
        )
    if ui.json_mode:
        from graft.release.versions import ReleaseSummary

        ui.json(ReleaseSummary.of(result, args.dry_run, args.remote))
    else:
        for line in _lines(result, args.dry_run, args.remote):
            ui.out(line)
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
