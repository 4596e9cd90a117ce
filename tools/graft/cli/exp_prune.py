"""`graft exp prune`: archive and delete merged or losing experiment branches (parse and render)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from graft import api
from graft.cli.common import Ui, add_format, add_main, duration
from graft.core.errors import GraftError
from graft.core.texttable import align_rows


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    prune = sub.add_parser(
        "prune",
        parents=parents,
        help="delete merged or losing exp/* branches, keeping their results under refs/graft/archive/",
    )
    prune.add_argument("names", nargs="*", metavar="NAME", help="branches to prune (NAME or exp/NAME)")
    prune.add_argument("--merged", action="store_true", help="only branches merged into --main")
    prune.add_argument(
        "--older-than",
        type=duration,
        metavar="DURATION",
        help="only branches whose tip is older than this (30d, 12h, 2w)",
    )
    prune.add_argument(
        "--remote", action="store_true", help="also on origin: archive there and delete its branches"
    )
    prune.add_argument("--force", action="store_true", help="also delete branches that are not merged")
    prune.add_argument(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="only list what would be deleted (the default); --no-dry-run deletes",
    )
    add_main(prune, "merges go to")
    add_format(prune)
    prune.set_defaults(handler=run)


def _age(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:.0f}d" if days >= 1 else f"{seconds / 3600:.0f}h"


def run(args: argparse.Namespace, ui: Ui) -> int:
    result = api.exp_prune(
        cwd=ui.root,
        names=args.names,
        merged=args.merged,
        older_than=args.older_than,
        remote="origin" if args.remote else None,
        force=args.force,
        dry_run=args.dry_run,
        main=args.main,
    )
    if ui.json_mode:
        from graft.experiments.prune import PruneSummary

        ui.json(PruneSummary.of(result))
    elif not result.candidates:
        ui.out("no experiment branch matches")
    else:
        now = time.time()
        verb = "would delete" if result.dry_run else "deleted"
        header = ["branch", "sha", "where", "merged", "age", "action", "why"]
        rows_txt = []
        for c in result.candidates:
            action = "FAILED" if c.branch in result.failed else verb if c.delete else "keep"
            merged = "yes" if c.merged else "no"
            rows_txt.append([c.branch, c.sha[:8], c.where, merged, _age(now - c.committed), action, c.reason])
        for line in align_rows([header, *rows_txt]):
            ui.out(line)
        if result.dry_run and any(c.delete for c in result.candidates):
            ui.out(
                "dry run: nothing deleted; run again with --no-dry-run to delete (tips are archived first)"
            )
        elif result.deleted:
            ui.out(f"archived as refs/graft/archive/exp/* and deleted: {', '.join(result.deleted)}")
    if result.failed:
        details = "; ".join(f"{b}: {m}" for b, m in result.failed.items())
        raise GraftError(f"{len(result.failed)} branch(es) could not be pruned: {details}")
    refusal = result.refusal()
    if refusal is not None:
        raise refusal
    return 0
