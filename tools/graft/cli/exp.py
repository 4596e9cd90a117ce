"""`graft exp new|grid|list|prune`: experiments as `exp/*` branches (parsing and rendering only)."""

from __future__ import annotations

import argparse
from typing import Any

from graft import api
from graft.cli.common import Ui, add_format, common_parent
from graft.core.errors import GraftError
from graft.core.texttable import align_rows


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exp_command", metavar="SUBCOMMAND")
    sub.required = True
    common = [common_parent()]

    new = sub.add_parser(
        "new", parents=common, help="create exp/NAME from a base with params overrides and run it"
    )
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
    add_format(new)
    new.set_defaults(handler=run_new)

    grid = sub.add_parser(
        "grid", parents=common, help="one experiment per point of a parameter grid, run in parallel"
    )
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
    add_format(grid)
    grid.set_defaults(handler=run_grid)

    lst = sub.add_parser(
        "list", parents=common, help="experiment branches with base, staleness and headline metrics"
    )
    lst.add_argument("--main", default="main", metavar="REV", help="branch to compare with (default: main)")
    add_format(lst)
    lst.set_defaults(handler=run_list)

    from graft.cli import exp_prune

    exp_prune.register(sub, common)


# --- exp new --------------------------------------------------------------------------------


def result_json(result: Any) -> dict[str, Any]:
    return {
        "name": result.name,
        "branch": result.branch,
        "commit": result.sha,
        "base": {"name": result.base_name, "commit": result.base_sha},
        "overrides": [{"key": o.key, "old": o.old, "new": o.new} for o in result.overrides],
        "ran": result.ran,
        "pushed": result.pushed,
        "seconds": round(result.seconds, 3),
        "files": list(result.files),
    }


def run_new(args: argparse.Namespace, ui: Ui) -> int:
    with ui.progress() as progress:
        result = api.exp_new(
            args.name,
            args.sets,
            base=args.base,
            run=not args.no_run,
            push=args.push,
            cwd=ui.root,
            progress=progress,
        )
    if ui.json_mode:
        ui.json(result_json(result))
        return 0
    changes = ", ".join(o.describe() for o in result.overrides) or "no overrides"
    base = f"{result.base_name} {result.base_sha[:8]}"
    ui.out(f"created {result.branch} at {result.sha[:8]} (base {base}): {changes}")
    if result.ran:
        ui.out(f"  ran dvc repro in {result.seconds:.1f}s; committed {len(result.files)} changed file(s)")
    if result.pushed:
        ui.out(f"  pushed {result.branch} to origin and its data to the DVC remote")
    return 0


# --- exp grid -------------------------------------------------------------------------------


def outcome_json(outcome: Any) -> dict[str, Any]:
    return {
        "name": outcome.spec.name,
        "branch": outcome.spec.branch,
        "ok": outcome.ok,
        "result": None if outcome.result is None else result_json(outcome.result),
        "error": outcome.error,
        "log": None if outcome.log is None else str(outcome.log),
        "seconds": round(outcome.seconds, 3),
    }


def run_grid(args: argparse.Namespace, ui: Ui) -> int:
    with ui.progress() as progress:
        finished: list[Any] = []

        def planned(specs: Any) -> None:
            progress.step(f"running {len(specs)} experiment(s), {args.jobs} at a time", total=len(specs))

        def on_event(event: Any) -> None:
            if event.event != "finished":
                return
            finished.append(event)
            outcome = event.outcome
            status = "ok    " if outcome.ok else "FAILED"
            ui.message(f"[{event.index}/{event.total}] {status} {event.spec.branch} ({outcome.seconds:.1f}s)")
            progress.update(len(finished))

        outcomes = api.exp_grid(
            args.sets,
            jobs=args.jobs,
            base=args.base,
            prefix=args.prefix,
            run=not args.no_run,
            cwd=ui.root,
            progress=on_event,
            planned=planned,
        )
    if ui.json_mode:
        ui.json([outcome_json(o) for o in outcomes])
    else:
        for o in outcomes:
            if o.result is not None:
                ui.out(f"{o.spec.branch}\t{o.result.sha[:8]}")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        for o in failed:
            log = f" [log: {o.log}]" if o.log else ""
            ui.message(f"  {o.spec.branch}: {o.error}{log}")
        names = ", ".join(o.spec.branch for o in failed)
        raise GraftError(f"{len(failed)} of {len(outcomes)} experiment(s) failed: {names}")
    return 0


# --- exp list -------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _flags(stale: Any) -> str:
    names = [n for n in ("data", "code", "params") if getattr(stale, n)]
    if all(getattr(stale, n) is None for n in ("data", "code", "params")):
        return "?"
    return ",".join(names) or "-"


def info_json(i: Any) -> dict[str, Any]:
    return {
        "branch": i.branch,
        "sha": i.sha,
        "base": i.base,
        "ahead": i.ahead,
        "behind": i.behind,
        "stale": {"data": i.stale.data, "code": i.stale.code, "params": i.stale.params},
        "metrics": i.metrics,
        "changes": i.changes,
    }


def run_list(args: argparse.Namespace, ui: Ui) -> int:
    infos = api.exp_list(cwd=ui.root, main=args.main)
    if ui.json_mode:
        ui.json([info_json(i) for i in infos])
        return 0
    if not infos:
        ui.out("no experiment branches (exp/*)")
        return 0
    metrics = list(dict.fromkeys(k for i in infos for k in i.metrics))
    header = ["branch", "sha", "base", "ahead", "behind", f"stale vs {args.main}", *metrics, "changes"]
    rows = [
        [
            i.branch,
            i.sha,
            i.base or "-",
            str(i.ahead),
            str(i.behind),
            _flags(i.stale),
            *(_fmt(i.metrics.get(m)) for m in metrics),
            " ".join(f"{k}={v}" for k, v in i.changes.items()) or "-",
        ]
        for i in infos
    ]
    for line in align_rows([header, *rows]):
        ui.out(line)
    return 0
