"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.experiments import Info, Outcome, ProgressCallback, Result, Spec
    from graft.gate import Report


# --- experiments ------------------------------------------------------------------------------


def exp_new(
    name: str,
    sets: Sequence[str] = (),
    base: str = "main",
    run: bool = True,
    push: bool = False,
    cwd: str | Path = ".",
) -> Result:
    """Create ``exp/NAME`` from ``base`` with ``sets`` applied, run the pipeline and commit.

    Every check (clean tree, name, keys, value types, remote) happens before anything is
    created; a failed run leaves no branch and raises ExperimentFailed naming its log.
    """
    from graft import experiments, overrides

    plan = experiments.make_plan(cwd, [(name, overrides.parse_assignments(sets))], base, run, push)
    return experiments.run_one(plan, plan.specs[0])


def exp_grid_points(sets: Sequence[str], prefix: str = "grid") -> list[tuple[str, list[Any]]]:
    """The grid's experiment names and their assignments (no repository needed)."""
    from graft import overrides

    points = overrides.expand_grid(overrides.parse_grid(sets), prefix)
    return [(p.name, list(p.assignments)) for p in points]


def exp_grid(
    sets: Sequence[str],
    jobs: int = 2,
    base: str = "main",
    prefix: str = "grid",
    run: bool = True,
    cwd: str | Path = ".",
    progress: ProgressCallback | None = None,
    planned: Callable[[Sequence[Spec]], None] | None = None,
) -> list[Outcome]:
    """One experiment per point of the cartesian product of ``sets`` (``key=v1,v2,...``).

    All points are checked before any is created; they then run ``jobs`` at a time, and a
    failing point does not stop the others. Returns one outcome per point, in grid order.
    """
    from graft import experiments

    if jobs < 1:
        from graft.errors import UsageError

        raise UsageError(f"-j/--jobs must be at least 1 (got {jobs})")
    plan = experiments.make_plan(cwd, exp_grid_points(sets, prefix), base, run, push=False)
    if planned is not None:
        planned(plan.specs)
    return experiments.run_many(plan, jobs, progress)


def exp_list(cwd: str | Path = ".", main: str = "main") -> list[Info]:
    """Experiment branches (``exp/*``) with base, ahead/behind, stale flags and headline metrics."""
    from graft import experiments

    return experiments.list_experiments(cwd, main)


# --- gate -------------------------------------------------------------------------------------


def gate(base: str, head: str = "HEAD", working_tree: bool = False, cwd: str | Path = ".") -> Report:
    """Compare metrics/metrics.json of ``head`` against ``base`` (see graft.gate).

    Both sides are read from Git objects, so uncommitted files never leak into a verdict;
    ``working_tree=True`` reads the head's metrics and params from the checkout instead.
    """
    import json

    import yaml

    from graft import gate as gating
    from graft import gitrepo
    from graft.errors import GitError, ParamsError
    from graft.metrics import METRICS_FILE, PARAMS_FILE, compare_rules

    repo = gitrepo.open_repo(cwd)
    base_rev = gitrepo.resolve(repo, base)

    def load(data: bytes | None, path: str, where: str, parse: Callable[[bytes], Any]) -> Any:
        if data is None:
            raise GitError(f"{path}: not found at {where}")
        try:
            value = parse(data)
        except ValueError as exc:  # json and yaml errors
            raise ParamsError(f"{path} at {where}: cannot be parsed ({' '.join(str(exc).split())})") from None
        if not isinstance(value, dict):
            raise ParamsError(f"{path} at {where}: expected a mapping")
        return value

    base_where = f"'{base}' ({base_rev.short})"
    base_metrics = load(
        gitrepo.read_file(base_rev.commit, METRICS_FILE), METRICS_FILE, base_where, json.loads
    )
    if working_tree:
        if repo.workdir is None:
            raise GitError("--working-tree: the repository is bare")
        root = Path(repo.workdir)

        def read(path: str) -> bytes | None:
            return (root / path).read_bytes() if (root / path).is_file() else None

        head_name, head_sha, head_where = "working tree", None, f"the working tree ({root})"
    else:
        head_rev = gitrepo.resolve(repo, head)

        def read(path: str) -> bytes | None:
            return gitrepo.read_file(head_rev.commit, path)

        head_name, head_sha, head_where = head, head_rev.sha, f"'{head}' ({head_rev.short})"
    head_metrics = load(read(METRICS_FILE), METRICS_FILE, head_where, json.loads)
    params = load(read(PARAMS_FILE), PARAMS_FILE, head_where, yaml.safe_load)
    source = f"{PARAMS_FILE} at {head_where}"
    checks = gating.evaluate(
        base_metrics, head_metrics, compare_rules(params, source), gating.thresholds(params, source)
    )
    return gating.Report(base, base_rev.sha, head_name, head_sha, tuple(checks))
