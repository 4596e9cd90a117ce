"""A batch of experiments: plan -> run on an executor -> collect.

:func:`run_many` runs every spec of a :class:`~graft.experiments.branches.Plan` on an executor
(threads here, or a Dask cluster: :mod:`graft.experiments.executors`), reports progress as each
one starts and ends, saves the logs of failed runs under ``.graft/logs/`` and, for a cluster,
fetches the branches the workers pushed. Layering: branches (result types, one run) <-
executors <- batch <- the verbs (api, search).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from graft.core import gitrepo
from graft.core.errors import GitError
from graft.core.fsio import atomic_write_text
from graft.experiments.branches import (
    LOGS_DIR,
    Job,
    Outcome,
    Plan,
    Progress,
    ProgressCallback,
    jobs_of,
    log_path,
)
from graft.experiments.executors import Executor, LocalExecutor


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
