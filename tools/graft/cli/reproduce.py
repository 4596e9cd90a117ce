"""`graft reproduce TAG`: re-run a release in a temporary worktree and verify every output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graft import api
from graft.core.errors import GraftError


class NotReproduced(GraftError):
    pass


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tag", help="release tag, e.g. adult-income@v1.0.0")
    parser.add_argument(
        "--package",
        type=Path,
        help="the release archive to verify against (default: dist/<model>-<version>.tar.gz if present)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary worktree for inspection")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def _short(value: str) -> str:
    return value if len(value) <= 20 else f"{value[:16]}…"


def run(args: argparse.Namespace) -> int:
    from graft.core.texttable import format_table

    result = api.reproduce(args.root, args.tag, archive=args.package, keep=args.keep)
    if args.format == "json":
        payload = {
            "tag": result.tag,
            "commit": result.commit,
            "archive": str(result.archive) if result.archive else None,
            "rebuilt_sha256": result.rebuilt_sha256,
            "reproduced": not result.mismatches,
            "checks": [
                {"item": c.item, "source": c.source, "expected": c.expected, "got": c.got, "match": c.match}
                for c in result.checks
            ],
        }
        print(json.dumps(payload, indent=2))
    else:
        rows = [
            [c.item, c.source, _short(c.expected), _short(c.got), "yes" if c.match else "NO"]
            for c in result.checks
        ]
        print(format_table(["file", "expected from", "expected", "got", "match"], rows))
        against = f"release archive {result.archive}" if result.archive else "the tag's dvc.lock and metrics"
        print(f"\n{result.tag} ({result.commit[:8]}) checked against {against}")
        if result.worktree is not None:
            print(f"worktree kept at {result.worktree}")
    if result.mismatches:
        names = ", ".join(c.item for c in result.mismatches)
        raise NotReproduced(f"{result.tag} did not reproduce: {names}")
    if args.format == "table":
        print(f"verdict: {result.tag} reproduced ({len(result.checks)} checks match)")
    return 0
