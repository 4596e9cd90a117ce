"""`graft exp new|grid|search|list`: experiments as `exp/*` branches (parsing and rendering only)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
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
    _cluster_options(new)
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
    grid.add_argument(
        "--dry-run",
        action="store_true",
        help="check every point and print them as JSON ([{name, sets}]); create nothing",
    )
    _cluster_options(grid)
    grid.set_defaults(handler=run_grid)

    search = sub.add_parser(
        "search",
        help="Optuna search over params (validation objective from graft.yaml); `search show NAME` lists it",
    )
    search.add_argument("name", metavar="NAME", help="the search (its study; kept trials are exp/NAME-tNNN)")
    search.add_argument("show_name", nargs="?", metavar="NAME", help=argparse.SUPPRESS)
    search.add_argument("--trials", type=int, default=20, help="trials the study should hold (default: 20)")
    search.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=SPEC",
        help="a dimension: int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,C; repeatable",
    )
    search.add_argument("--space", type=Path, metavar="FILE", help="search space YAML (KEY: SPEC per line)")
    search.add_argument("--seed", type=int, default=0, help="TPE sampler seed (default: 0)")
    search.add_argument("-j", "--jobs", type=int, default=2, help="trials run at once here (default: 2)")
    search.add_argument("--keep", type=int, default=3, help="best trials made exp/ branches (default: 3)")
    search.add_argument(
        "--base", default="main", metavar="REV", help="revision to search from (default: main)"
    )
    search.add_argument(
        "--storage", metavar="URL", help="Optuna storage URL (default: sqlite .graft/search/NAME.db)"
    )
    search.add_argument("--format", choices=("table", "json"), default="table", help="`search show` output")
    _cluster_options(search)
    search.set_defaults(handler=run_search)

    lst = sub.add_parser("list", help="experiment branches with base, staleness and headline metrics")
    lst.add_argument("--format", choices=("table", "json"), default="table")
    lst.add_argument("--main", default="main", metavar="REV", help="branch to compare with (default: main)")
    lst.set_defaults(handler=run_list)


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://HOST:PORT of a scheduler, or local:N worker processes",
    )
    parser.add_argument(
        "--git-remote",
        metavar="URL",
        help="Git remote the workers clone from and push to (a URL or remote name; default: origin)",
    )


def run_new(args: argparse.Namespace) -> int:
    result = api.exp_new(
        args.name,
        args.sets,
        base=args.base,
        run=not args.no_run,
        push=args.push,
        cluster=args.cluster,
        git_remote=args.git_remote,
    )
    changes = ", ".join(o.describe() for o in result.overrides) or "no overrides"
    base = f"{result.base_name} {result.base_sha[:8]}"
    print(f"created {result.branch} at {result.sha[:8]} (base {base}): {changes}")
    if result.ran:
        print(f"  ran dvc repro in {result.seconds:.1f}s; committed {len(result.files)} changed file(s)")
    if result.stages:
        print(f"  stages: {_stages(result.stages)}")
    if result.worker:
        print(f"  ran on worker {result.worker}")
    if result.pushed:
        print(f"  pushed {result.branch} to the Git remote and its data to the DVC remote")
    return 0


def _stages(stages: dict[str, str]) -> str:
    return ", ".join(f"{name} {status}" for name, status in stages.items())


def run_grid(args: argparse.Namespace) -> int:
    if args.dry_run:
        points = api.exp_grid_check(args.sets, base=args.base, prefix=args.prefix)
        print(json.dumps([{"name": name, "sets": sets} for name, sets in points]))
        return 0

    def planned(specs: Any, how: str) -> None:
        print(f"grid: {len(specs)} experiment(s), {how}", file=sys.stderr)

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
        cluster=args.cluster,
        git_remote=args.git_remote,
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


def run_search(args: argparse.Namespace) -> int:
    from graft.core.errors import UsageError

    if args.name == "show":
        if not args.show_name:
            raise UsageError("graft exp search show: give the search NAME")
        return show_search(args)
    if args.show_name:
        raise UsageError(f"graft exp search: unexpected argument '{args.show_name}'")

    def planned(storage: str, existing: int, total: int, how: str) -> None:
        state = f"resuming ({existing} trial(s) in the study)" if existing else "new"
        line = f"search {args.name}: {state}, {total} trial(s) in all, {how}; study: {storage}"
        print(line, file=sys.stderr)

    def progress(event: Any) -> None:
        status = f"{event.value:.6g}" if event.ok else f"FAILED ({event.error})"
        best = "-" if event.best_value is None else f"{event.best_value:.6g} (trial {event.best_number})"
        print(f"[{event.done}/{event.total}] trial {event.number}: {status}; best {best}", file=sys.stderr)

    result = api.exp_search(
        args.name,
        trials=args.trials,
        params=args.params,
        space=args.space,
        seed=args.seed,
        jobs=args.jobs,
        cluster=args.cluster,
        git_remote=args.git_remote,
        storage=args.storage,
        keep=args.keep,
        base=args.base,
        progress=progress,
        planned=planned,
    )
    objective = result.objective
    if result.best_number is None:
        print(f"search {result.name}: no trial completed")
        return 1
    print(
        f"search {result.name}: best trial {result.best_number}, {objective.key} = {result.best_value:.6g} "
        f"({objective.direction} is better)"
    )
    print("  params: " + " ".join(f"{k}={v}" for k, v in result.best_params.items()))
    failed = 0
    for kept in result.kept:
        if kept.error:
            failed += 1
            print(f"  could not keep trial {kept.number}: {kept.error}", file=sys.stderr)
            continue
        note = " (already there)" if kept.existed else ""
        again = "" if kept.rerun_value is None else f", re-run {kept.rerun_value:.6g}"
        print(f"  kept {kept.branch} at {(kept.sha or '')[:8]}: {kept.value:.6g}{again}{note}")
    return 1 if failed else 0


def _param(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def show_search(args: argparse.Namespace) -> int:
    summary = api.exp_search_show(args.show_name, storage=args.storage)
    if args.format == "json":
        doc = {
            "name": summary.name,
            "storage": summary.storage,
            "objective": summary.objective,
            "direction": summary.direction,
            "config": summary.config.as_dict() if summary.config else None,
            "best": summary.best_number,
            "trials": [
                {
                    "number": r.number,
                    "state": r.state,
                    "value": r.value,
                    "params": r.params,
                    "seconds": r.seconds,
                    "branch": r.branch,
                    "error": r.error,
                    "log": r.log,
                    "stages": r.stages,
                    "worker": r.worker,
                }
                for r in summary.rows
            ],
        }
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    what = f"{summary.objective} ({summary.direction} is better)"
    print(f"search {summary.name}: {what}; study: {summary.storage}")
    keys = list(dict.fromkeys(k for r in summary.rows for k in r.params))
    header = ["trial", "state", summary.objective, *keys, "seconds", "branch"]
    rows = [
        [
            f"{r.number}{'*' if r.number == summary.best_number else ''}",
            r.state,
            _fmt(r.value, 6),
            *[_param(r.params.get(k, "-")) for k in keys],
            "-" if r.seconds is None else f"{r.seconds:.1f}",
            r.branch or "-",
        ]
        for r in summary.rows
    ]
    for line in align_rows([header, *rows]):
        print(line)
    return 0
