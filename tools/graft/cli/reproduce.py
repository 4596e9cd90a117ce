"""`graft reproduce TAG`: re-run a release in a temporary worktree and verify every output.

Exit 0 when every output matches, 1 (a check that failed) naming each mismatch.
"""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_format, add_offline, path_arg
from graft.core.errors import CheckFailed


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tag", help="release tag, e.g. <model>@v1.0.0")
    parser.add_argument(
        "--package",
        type=path_arg,
        help="the release archive to verify against (default: dist/<model>-<version>.tar.gz if present)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary worktree for inspection")
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def _short(value: str) -> str:
    return value if len(value) <= 20 else f"{value[:16]}…"


def run(args: argparse.Namespace, ui: Ui) -> int:
    from graft.core.texttable import format_table

    with ui.progress() as progress:
        result = api.reproduce(ui.root, args.tag, archive=args.package, keep=args.keep, progress=progress)
    if ui.json_mode:
        from graft.release.reproduce import ReproduceSummary

        ui.json(ReproduceSummary.of(result))
    else:
        rows = [
            [c.item, c.source, _short(c.expected), _short(c.got), "yes" if c.match else "NO"]
            for c in result.checks
        ]
        ui.out(format_table(["file", "expected from", "expected", "got", "match"], rows))
        against = f"release archive {result.archive}" if result.archive else "the tag's dvc.lock and metrics"
        ui.out(f"\n{result.tag} ({result.commit[:8]}) checked against {against}")
        if result.worktree is not None:
            ui.out(f"worktree kept at {result.worktree}")
    if result.mismatches:
        names = ", ".join(c.item for c in result.mismatches)
        raise CheckFailed(f"{result.tag} did not reproduce: {names}")
    if not ui.json_mode:
        ui.out(f"verdict: {result.tag} reproduced ({len(result.checks)} checks match)")
    return 0
