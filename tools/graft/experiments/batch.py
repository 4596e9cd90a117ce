"""A batch of experiments: plan -> run on an executor -> collect.

:func:`run_many` runs every spec of a :class:`~graft.experiments.model.Plan` on an executor
(threads here, or a Dask cluster: :mod:`graft.experiments.executors`), reports progress as each
one starts and ends, saves the logs of failed runs under ``.graft/logs/`` and, for a cluster,
fetches the branches the workers pushed. :func:`executing` opens and closes the executor of a
plan; :func:`run_grid` (``exp grid``, by :func:`run_experiments`) and :func:`new_experiment`
(``exp new``) are the whole flow -- every check, the plan, the executor, the run -- and
``exp search`` runs its trials on :func:`executing`'s executor. Layering: branches (result types, one run) <-
executors <- batch <- the verbs (api, search).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from graft.core import gitrepo
from graft.core.errors import GitError
from graft.core.fsio import atomic_write_text
from graft.core.progress import SILENT, Reporter
from graft.experiments.build import log_path, run_one
from graft.experiments.executors import Executor, LocalExecutor, check_address, check_jobs, open_executor
from graft.experiments.model import (
    ExperimentFailed,
    Job,
    Outcome,
    Plan,
    Progress,
    ProgressCallback,
    Result,
    Spec,
)
from graft.experiments.overrides import Assignment, parse_assignments
from graft.experiments.plan import grid_points, jobs_of, make_plan
from graft.project import DEFAULT_BASE
from graft.project.paths import LOGS_DIR


@contextlib.contextmanager
def executing(plan: Plan, jobs: int = 2, cluster: str | None = None) -> Iterator[Executor]:
    """The executor of ``plan`` (``jobs`` threads here, or the Dask ``cluster``), closed on exit."""
    check_jobs(jobs)
    executor = open_executor(plan, jobs, cluster)
    try:
        yield executor
    finally:
        executor.close()


def run_experiments(
    cwd: str | Path,
    experiments: Sequence[tuple[str, Sequence[Assignment]]],
    base: str = DEFAULT_BASE,
    run: bool = True,
    jobs: int = 2,
    cluster: str | None = None,
    git_remote: str | None = None,
    progress: ProgressCallback | None = None,
    planned: Callable[[Sequence[Spec], str], None] | None = None,
) -> list[Outcome]:
    """Check everything (jobs, cluster address, then every experiment against the repository),
    then run the experiments ``jobs`` at a time here or on the ``cluster``; one outcome each,
    in order (a failure does not stop the others). ``planned(specs, how)`` is called before
    the first one runs."""
    check_jobs(jobs)
    if cluster is not None:
        check_address(cluster)
    plan = make_plan(
        cwd, experiments, base, run, push=False, cluster=cluster is not None, git_remote=git_remote
    )
    with executing(plan, jobs, cluster) as executor:
        if planned is not None:
            planned(plan.specs, executor.description)
        return run_many(plan, jobs, progress, executor=executor)


def run_grid(
    cwd: str | Path,
    sets: Sequence[str],
    jobs: int = 2,
    base: str = DEFAULT_BASE,
    prefix: str = "grid",
    run: bool = True,
    progress: ProgressCallback | None = None,
    planned: Callable[[Sequence[Spec], str], None] | None = None,
    cluster: str | None = None,
    git_remote: str | None = None,
) -> list[Outcome]:
    """``exp grid``: :func:`run_experiments` of every point of :func:`grid_points` (``sets``)."""
    points = grid_points(sets, prefix)
    return run_experiments(cwd, points, base, run, jobs, cluster, git_remote, progress, planned)


def new_experiment(
    cwd: str | Path,
    name: str,
    sets: Sequence[str],
    base: str = DEFAULT_BASE,
    run: bool = True,
    push: bool = False,
    cluster: str | None = None,
    git_remote: str | None = None,
    progress: Reporter = SILENT,
) -> Result:
    """One experiment: every check first, then built here (:func:`run_one`) or on a worker of the
    ``cluster`` (its branch fetched back); a failed run raises :class:`ExperimentFailed`.
    ``sets``: its ``key=value`` assignments."""
    assignments = parse_assignments(sets)
    if cluster is not None:
        check_address(cluster)
    plan = make_plan(
        cwd, [(name, assignments)], base, run, push, cluster=cluster is not None, git_remote=git_remote
    )
    spec = plan.specs[0]
    if cluster is None:
        return run_one(plan, spec, progress=progress)
    progress.step(f"{spec.branch}: connecting to the cluster {cluster}")
    with executing(plan, 1, cluster) as executor:
        progress.step(f"{spec.branch}: running on {executor.description}")
        (outcome,) = run_many(plan, 1, executor=executor)
    if outcome.result is None:
        raise ExperimentFailed(outcome.error or "failed", outcome.log)
    return outcome.result


def run_many(
    plan: Plan,
    jobs: int = 2,
    progress: ProgressCallback | None = None,
    executor: Executor | None = None,
) -> list[Outcome]:
    """Run every spec of ``plan`` on ``executor`` (default: ``jobs`` threads here) and collect.

    One failure does not stop the others; outcomes come back in plan order.
    """
    own = executor is None
    runner: Executor = LocalExecutor(plan, jobs) if executor is None else executor
    report_lock = threading.Lock()
    total = len(plan.specs)

    def report(event: Progress) -> None:
        if progress is not None:
            with report_lock:
                progress(event)

    def started(index: int, job: Job) -> None:
        report(Progress("started", index + 1, total, job.spec))

    def finished(index: int, outcome: Outcome) -> None:
        outcome = save_log(plan.root, outcome)
        report(Progress("finished", index + 1, total, outcome.spec, outcome))

    try:
        outcomes = runner.run(jobs_of(plan), started, finished)
    finally:
        if own:
            runner.close()
    return collect(plan, outcomes)


def save_log(root: Path, outcome: Outcome) -> Outcome:
    """A worker's log of a failed run saved under ``.graft/logs/``; the error then names it."""
    if outcome.log_text is None or outcome.log is not None:
        return outcome
    path = log_path(root / LOGS_DIR, outcome.spec.name)
    atomic_write_text(path, outcome.log_text)
    return replace(outcome, log=path, log_text=None, error=f"{outcome.error}; log: {path}")


def collect(plan: Plan, outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Bring results home: logs saved, and branches pushed by workers fetched as local branches."""
    out = [save_log(plan.root, o) for o in outcomes]
    if plan.cluster is None or not plan.branches:
        return out
    wanted = [o for o in out if o.result is not None and o.result.sha]
    if wanted:
        refspecs = [f"refs/heads/{o.spec.branch}:refs/heads/{o.spec.branch}" for o in wanted]
        try:
            url = plan.cluster.git_remote
            gitrepo.git(plan.root, "fetch", "--quiet", "--no-write-fetch-head", url, *refspecs)
        except GitError as exc:
            raise GitError(
                f"every experiment ran and was pushed to {plan.cluster.git_remote}, but fetching the "
                f"branches back failed: {exc}"
            ) from None
    final: list[Outcome] = []
    for o in out:
        if o.result is not None and o.result.sha:
            here = gitrepo.git(plan.root, "rev-parse", f"refs/heads/{o.spec.branch}")
            if here != o.result.sha:
                o = replace(
                    o,
                    result=None,
                    error=f"branch '{o.spec.branch}' fetched at {here[:8]}, but the worker pushed "
                    f"{o.result.sha[:8]}",
                )
        final.append(o)
    return final
