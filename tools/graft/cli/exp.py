"""`graft exp new|grid|search|list|prune`: experiments as `exp/*` branches (parsing and rendering only).

``new``, ``grid`` and ``search`` take ``--cluster ADDRESS`` (a Dask scheduler, or ``local:N``)
and ``--git-remote URL``; without them experiments run here. ``search show NAME`` lists a
study; ``prune`` lives in :mod:`graft.cli.exp_prune`. JSON shapes: schemas/exp-new.json,
exp-grid.json (``--dry-run``: the checked points), exp-search.json (a search's result, or
``search show``'s trials), exp-list.json. A missing optional extra is one line naming it.
"""

from __future__ import annotations

import argparse
from typing import Any

from graft import api
from graft.cli.common import (
    SEED_MAX,
    Ui,
    add_base,
    add_cluster,
    add_format,
    add_jobs,
    add_main,
    add_offline,
    common_parent,
    path_arg,
    whole,
)
from graft.core import limits
from graft.core.errors import GraftError, UsageError
from graft.core.texttable import align_rows
from graft.experiments import DEFAULT_KEEP
from graft.project.paths import SEARCH_DIR


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exp_command", metavar="SUBCOMMAND")
    sub.required = True
    common = [common_parent()]
    _register_new(sub, common)
    _register_grid(sub, common)
    _register_search(sub, common)
    _register_list(sub, common)

    from graft.cli import exp_prune

    exp_prune.register(sub, common)


def _register_new(sub: Any, common: list[argparse.ArgumentParser]) -> None:
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
        help="override a params value: KEY in params.yaml, FILE:KEY in another params file a stage "
        "declares (YAML syntax, same type as the current value); repeatable",
    )
    add_base(new, "to branch from")
    new.add_argument("--no-run", action="store_true", help="commit only the params files; no dvc repro")
    new.add_argument("--push", action="store_true", help="push the branch to origin and the data to DVC")
    add_cluster(new)
    add_format(new)
    new.set_defaults(handler=run_new)


def _register_grid(sub: Any, common: list[argparse.ArgumentParser]) -> None:
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
    add_jobs(grid, "experiments")
    add_base(grid, "to branch from")
    grid.add_argument("--prefix", default="grid", metavar="NAME", help="branch name prefix (default: grid)")
    grid.add_argument("--no-run", action="store_true", help="commit only the params files on each branch")
    grid.add_argument(
        "--dry-run",
        action="store_true",
        help="check every point and print them (name and --set values); create nothing",
    )
    add_cluster(grid)
    add_format(grid)
    grid.set_defaults(handler=run_grid)


def _register_search(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    search = sub.add_parser(
        "search",
        parents=common,
        help="Optuna search over params (validation objective from graft.yaml); `search show NAME` lists it",
    )
    search.add_argument("name", metavar="NAME", help="the search (its study; kept trials are exp/NAME-tNNN)")
    search.add_argument("show_name", nargs="?", metavar="NAME", help=argparse.SUPPRESS)
    search.add_argument(
        "--trials",
        type=whole(1, limits.TRIALS),
        default=20,
        help="trials the study should hold (default: 20)",
    )
    search.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=SPEC",
        help="a dimension: int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,C; repeatable",
    )
    search.add_argument(
        "--space", type=path_arg, metavar="FILE", help="search space YAML (KEY: SPEC per line)"
    )
    search.add_argument("--seed", type=whole(0, SEED_MAX), default=0, help="TPE sampler seed (default: 0)")
    add_jobs(search, "trials")
    search.add_argument(
        "--keep",
        type=whole(0, limits.TRIALS),
        default=DEFAULT_KEEP,
        help=f"best trials made exp/ branches (default: {DEFAULT_KEEP})",
    )
    add_base(search, "to search from")
    search.add_argument(
        "--storage", metavar="URL", help=f"Optuna storage URL (default: sqlite {SEARCH_DIR}/NAME.db)"
    )
    add_cluster(search)
    add_format(search)
    search.set_defaults(handler=run_search)


def _register_list(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    lst = sub.add_parser(
        "list", parents=common, help="experiment branches with base, staleness and headline metrics"
    )
    add_main(lst, "to compare with")
    add_format(lst)
    add_offline(lst)
    lst.set_defaults(handler=run_list)


# --- exp new --------------------------------------------------------------------------------


def _stages(stages: dict[str, str]) -> str:
    return ", ".join(f"{name} {status}" for name, status in stages.items())


def run_new(args: argparse.Namespace, ui: Ui) -> int:
    with ui.progress() as progress:
        result = api.exp_new(
            args.name,
            args.sets,
            base=args.base,
            run=not args.no_run,
            push=args.push,
            cwd=ui.root,
            cluster=args.cluster,
            git_remote=args.git_remote,
            progress=progress,
        )
    if ui.json_mode:
        from graft.experiments.results import Experiment

        ui.json(Experiment.of(result))
        return 0
    changes = ", ".join(o.describe() for o in result.overrides) or "no overrides"
    base = f"{result.base_name} {result.base_sha[:8]}"
    ui.out(f"created {result.branch} at {(result.sha or '-')[:8]} (base {base}): {changes}")
    if result.ran:
        ui.out(f"  ran dvc repro in {result.seconds:.1f}s; committed {len(result.files)} changed file(s)")
    if result.stages:
        ui.out(f"  stages: {_stages(result.stages)}")
    if result.worker:
        ui.out(f"  ran on worker {result.worker}")
    if result.pushed:
        ui.out(f"  pushed {result.branch} to the Git remote and its data to the DVC remote")
    if result.uploaded is not None:
        up = result.uploaded
        ui.out(
            f"  DVC remote: uploaded {up.uploaded_objects} of {up.objects} output object(s) and "
            f"{up.uploaded_entries} of {up.entries} run-cache entr(y/ies); the rest was there"
        )
    return 0


# --- exp grid -------------------------------------------------------------------------------


def run_grid(args: argparse.Namespace, ui: Ui) -> int:
    if args.dry_run:
        return dry_run_grid(args, ui)
    with ui.progress() as progress:
        finished: list[Any] = []

        def planned(specs: Any, how: str) -> None:
            progress.step(f"running {len(specs)} experiment(s), {how}", total=len(specs))

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
            cluster=args.cluster,
            git_remote=args.git_remote,
        )
    if ui.json_mode:
        from graft.experiments.results import GridResult

        ui.json(GridResult.ran(outcomes))
    else:
        for o in outcomes:
            if o.result is not None:
                ui.out(f"{o.spec.branch}\t{(o.result.sha or '-')[:8]}")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        for o in failed:
            log = f" [log: {o.log}]" if o.log else ""
            ui.message(f"  {o.spec.branch}: {o.error}{log}")
        names = ", ".join(o.spec.branch for o in failed)
        raise GraftError(f"{len(failed)} of {len(outcomes)} experiment(s) failed: {names}")
    return 0


def dry_run_grid(args: argparse.Namespace, ui: Ui) -> int:
    """``--dry-run``: every point checked against the repository, nothing created (a workflow's matrix)."""
    points = api.exp_grid_check(args.sets, base=args.base, prefix=args.prefix, cwd=ui.root)
    if ui.json_mode:
        from graft.experiments.results import GridResult

        ui.json(GridResult.checked(points))
        return 0
    for line in align_rows([[name, " ".join(sets)] for name, sets in points]):
        ui.out(line)
    return 0


# --- exp list -------------------------------------------------------------------------------


UNREADABLE = "(unreadable: see the warning above)"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _flags(stale: Any) -> str:
    names = [n for n in ("data", "code", "params") if getattr(stale, n)]
    if all(getattr(stale, n) is None for n in ("data", "code", "params")):
        return "?"
    return ",".join(names) or "-"


def run_list(args: argparse.Namespace, ui: Ui) -> int:
    infos = api.exp_list(cwd=ui.root, main=args.main)
    if ui.json_mode:
        from graft.experiments.listing import ListResult

        ui.json(ListResult.of(infos))
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
            UNREADABLE if i.error else " ".join(f"{k}={v}" for k, v in i.changes.items()) or "-",
        ]
        for i in infos
    ]
    for line in align_rows([header, *rows]):
        ui.out(line)
    return 0


# --- exp search -----------------------------------------------------------------------------


def run_search(args: argparse.Namespace, ui: Ui) -> int:
    if args.name == "show":
        if not args.show_name:
            raise UsageError("graft exp search show: give the search NAME")
        return show_search(args, ui)
    if args.show_name:
        raise UsageError(f"graft exp search: unexpected argument '{args.show_name}'")
    with ui.progress() as progress:

        def planned(storage: str, existing: int, total: int, how: str) -> None:
            state = f"resuming ({existing} trial(s) in the study)" if existing else "new"
            progress.step(
                f"search {args.name}: {state}, {total} trial(s) in all, {how}; study: {storage}", total=total
            )
            progress.update(existing)

        def on_trial(event: Any) -> None:
            status = f"{event.value:.6g}" if event.ok else f"FAILED ({event.error})"
            best = "-" if event.best_value is None else f"{event.best_value:.6g} (trial {event.best_number})"
            status += " (infeasible)" if event.feasible is False else ""
            ui.message(f"[{event.done}/{event.total}] trial {event.number}: {status}; best {best}")
            progress.update(event.done)

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
            cwd=ui.root,
            progress=on_trial,
            planned=planned,
        )
    if ui.json_mode:
        from graft.experiments.searchjson import SearchJson

        ui.json(SearchJson.ran(result))
    elif result.best_number is not None:
        objective = result.objective
        ui.out(
            f"search {result.name}: best trial {result.best_number}, {objective.key} = "
            f"{result.best_value:.6g} ({objective.direction} is better)"
        )
        ui.out("  params: " + " ".join(f"{k}={v}" for k, v in result.best_params.items()))
        if result.front:
            ui.out("  Pareto front: trials " + ", ".join(str(n) for n in result.front))
        for kept in result.kept:
            if kept.error is None:
                note = " (already there)" if kept.existed else ""
                again = "" if kept.rerun_value is None else f", re-run {kept.rerun_value:.6g}"
                ui.out(f"  kept {kept.branch} at {(kept.sha or '')[:8]}: {kept.value:.6g}{again}{note}")
    if result.best_number is None:
        raise GraftError(f"search {result.name}: no trial completed (graft exp search show {result.name})")
    failed = [k for k in result.kept if k.error is not None]
    if failed:
        for kept in failed:
            ui.message(f"  could not keep trial {kept.number}: {kept.error}")
        numbers = ", ".join(str(k.number) for k in failed)
        raise GraftError(f"search {result.name}: {len(failed)} best trial(s) could not be kept: {numbers}")
    return 0


def _param(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def show_search(args: argparse.Namespace, ui: Ui) -> int:
    summary = api.exp_search_show(args.show_name, storage=args.storage, cwd=ui.root)
    if ui.json_mode:
        from graft.experiments.searchjson import SearchJson

        ui.json(SearchJson.shown(summary))
        return 0
    several = len(summary.objectives) > 1
    if several:
        what = "objectives " + ", ".join(summary.objectives)
    else:
        what = f"{summary.objective} ({summary.direction} is better)"
    ui.out(f"search {summary.name}: {what}; study: {summary.storage}")
    if summary.constraints:
        ui.out("  constraints: " + "; ".join(summary.constraints))
    keys = list(dict.fromkeys(k for r in summary.rows for k in r.params))
    names = [o.rsplit(" (", 1)[0] for o in summary.objectives] if several else [summary.objective]
    feasibility = ["feasible"] if summary.constraints else []
    header = ["trial", "state", *names, *feasibility, *keys, "seconds", "branch"]
    marked = set(summary.front) if several else {summary.best_number}
    rows = [
        [
            f"{r.number}{'*' if r.number in marked else ''}",
            r.state,
            *[_fmt(None if r.values is None else r.values[i], 6) for i in range(len(names))],
            *(["-" if r.feasible is None else ("yes" if r.feasible else "NO")] if feasibility else []),
            *[_param(r.params.get(k, "-")) for k in keys],
            "-" if r.seconds is None else f"{r.seconds:.1f}",
            r.branch or "-",
        ]
        for r in summary.rows
    ]
    for line in align_rows([header, *rows]):
        ui.out(line)
    if several:
        front = ", ".join(str(n) for n in summary.front) or "none (no feasible complete trial)"
        ui.out(f"Pareto front (*): trials {front}")
    return 0
