"""`graft exp new|grid|list|prune`: experiments as `exp/*` branches (parsing and rendering only)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from graft import api
from graft.core.texttable import align_rows


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exp_command", metavar="SUBCOMMAND")
    sub.required = True

    new = sub.add_parser("new", help="create exp/NAME from a base with params overrides and run it")
    new.add_argument("name", metavar="NAME", help="experiment name; the branch is exp/NAME")
    new.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a params.yaml value (YAML syntax, same type as the current value); repeatable",
    )
    new.add_argument("--base", default="main", metavar="REV", help="revision to branch from (default: main)")
    new.add_argument("--no-run", action="store_true", help="commit only params.yaml, do not run dvc repro")
    new.add_argument("--push", action="store_true", help="push the branch to origin and the data to DVC")
    new.set_defaults(handler=run_new)

    grid = sub.add_parser("grid", help="one experiment per point of a parameter grid, run in parallel")
    grid.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2,...",
        help="an axis of the grid; repeatable (the grid is their cartesian product)",
    )
    grid.add_argument("-j", "--jobs", type=int, default=2, help="experiments run at once (default: 2)")
    grid.add_argument("--base", default="main", metavar="REV", help="revision to branch from (default: main)")
    grid.add_argument("--prefix", default="grid", metavar="NAME", help="branch name prefix (default: grid)")
    grid.add_argument("--no-run", action="store_true", help="commit only params.yaml on each branch")
    grid.set_defaults(handler=run_grid)

    lst = sub.add_parser("list", help="experiment branches with base, staleness and headline metrics")
    lst.add_argument("--format", choices=("table", "json"), default="table")
    lst.add_argument("--main", default="main", metavar="REV", help="branch to compare with (default: main)")
    lst.set_defaults(handler=run_list)

    from graft.cli import exp_prune

    exp_prune.register(sub)


def run_new(args: argparse.Namespace) -> int:
    result = api.exp_new(args.name, args.sets, base=args.base, run=not args.no_run, push=args.push)
    changes = ", ".join(o.describe() for o in result.overrides) or "no overrides"
    base = f"{result.base_name} {result.base_sha[:8]}"
    print(f"created {result.branch} at {result.sha[:8]} (base {base}): {changes}")
    if result.ran:
        print(f"  ran dvc repro in {result.seconds:.1f}s; committed {len(result.files)} changed file(s)")
    if result.pushed:
        print(f"  pushed {result.branch} to origin and its data to the DVC remote")
    return 0


def run_grid(args: argparse.Namespace) -> int:
    def planned(specs: Any) -> None:
        print(f"grid: {len(specs)} experiment(s), {args.jobs} at a time", file=sys.stderr)

    def progress(event: Any) -> None:
        if event.event != "finished":
            return
        outcome = event.outcome
        status = "ok    " if outcome.ok else "FAILED"
        print(
            f"[{event.index}/{event.total}] {status} {event.spec.branch} ({outcome.seconds:.1f}s)",
            file=sys.stderr,
        )

    outcomes = api.exp_grid(
        args.sets,
        jobs=args.jobs,
        base=args.base,
        prefix=args.prefix,
        run=not args.no_run,
        progress=progress,
        planned=planned,
    )
    for o in outcomes:
        if o.ok:
            print(f"{o.spec.branch}\t{o.result.sha[:8]}")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} experiment(s) failed:", file=sys.stderr)
        for o in failed:
            log = f" [log: {o.log}]" if o.log else ""
            print(f"  {o.spec.branch}: {o.error}{log}", file=sys.stderr)
        return 1
    return 0


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _flags(stale: Any) -> str:
    names = [n for n in ("data", "code", "params") if getattr(stale, n)]
    if all(getattr(stale, n) is None for n in ("data", "code", "params")):
        return "?"
    return ",".join(names) or "-"


def run_list(args: argparse.Namespace) -> int:
    infos = api.exp_list(main=args.main)
    if args.format == "json":
        rows = [
            {
                "branch": i.branch,
                "sha": i.sha,
                "base": i.base,
                "ahead": i.ahead,
                "behind": i.behind,
                "stale": {"data": i.stale.data, "code": i.stale.code, "params": i.stale.params},
                "metrics": i.metrics,
                "changes": i.changes,
            }
            for i in infos
        ]
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    if not infos:
        print("no experiment branches (exp/*)")
        return 0
    header = [
        "branch",
        "sha",
        "base",
        "ahead",
        "behind",
        f"stale vs {args.main}",
        "roc_auc",
        "log_loss",
        "changes",
    ]
    rows_txt = [
        [
            i.branch,
            i.sha,
            i.base or "-",
            str(i.ahead),
            str(i.behind),
            _flags(i.stale),
            _fmt(i.metrics.get("roc_auc")),
            _fmt(i.metrics.get("log_loss")),
            " ".join(f"{k}={v}" for k, v in i.changes.items()) or "-",
        ]
        for i in infos
    ]
    for line in align_rows([header, *rows_txt]):
        print(line)
    return 0
