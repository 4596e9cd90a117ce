"""Executors: who runs the jobs of a plan. Threads on this machine, or a Dask cluster.

Both take the same :class:`~graft.experiments.model.Job` list and return one
:class:`~graft.experiments.model.Outcome` per job, in job order, calling ``started`` and
``finished`` as they go; :func:`graft.experiments.batch.run_many` is the one caller.

* :class:`LocalExecutor`: ``jobs`` threads, each running :func:`branches.run_local` in the
  user's repository (worktrees under ``.graft/worktrees``, the checkout's DVC cache).
* :class:`DaskExecutor`: ``--cluster tcp://HOST:PORT`` connects to a running
  ``dask.distributed`` scheduler; ``--cluster local:N`` starts N local worker processes (one
  task at a time each). Every job becomes one task running :func:`graft.experiments.worker.run_task`.
  Before anything is submitted every worker checks it can reach the Git and DVC remotes
  (:func:`graft.experiments.worker.check`). A task whose worker dies is rescheduled by the
  scheduler on another worker (``distributed.scheduler.allowed-failures`` times); pushes are
  idempotent, so the retry neither fails nor duplicates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from graft.core import limits
from graft.core.errors import GraftError, UsageError
from graft.experiments.build import run_local, sweep_stale
from graft.experiments.model import ExperimentFailed, Job, Outcome, Plan
from graft.project.paths import CLUSTER_DIR

Started = Callable[[int, Job], None]
Finished = Callable[[int, Outcome], None]

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
WORKERS_TIMEOUT = 30.0  # seconds to wait for the first worker
LOCAL_WORKERS_DIR = CLUSTER_DIR  # local:N workers keep their clone here
_LOCAL = re.compile(r"^local:(\d{1,9})$")
_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d+$")


class Executor(Protocol):
    description: str  # how jobs run, for the user ("2 at a time", "cluster tcp://..., 4 worker(s)")

    def run(self, jobs: Sequence[Job], started: Started, finished: Finished) -> list[Outcome]: ...

    def close(self) -> None: ...


def check_jobs(jobs: int) -> None:
    """``-j/--jobs``: experiments (or trials) run at once here; at least 1 (the command line
    also caps it at :data:`graft.core.limits.JOBS`)."""
    if jobs < 1:
        raise UsageError(f"-j/--jobs must be at least 1 (got {jobs})")


class LocalExecutor:
    """Run jobs on ``jobs`` threads in the user's repository."""

    def __init__(self, plan: Plan, jobs: int = 2) -> None:
        check_jobs(jobs)
        self.plan = plan
        self.jobs = jobs
        self.lock = threading.Lock()
        self.description = f"{jobs} at a time"

    def run(self, jobs: Sequence[Job], started: Started, finished: Finished) -> list[Outcome]:
        import time

        def one(index: int, job: Job) -> Outcome:
            started(index, job)
            begin = time.monotonic()
            try:
                result = run_local(self.plan, job, self.lock)
                outcome = Outcome(job.spec, time.monotonic() - begin, result=result)
            except ExperimentFailed as exc:
                outcome = Outcome(job.spec, time.monotonic() - begin, error=str(exc), log=exc.log)
            except Exception as exc:  # one point's bug must not hide the others' results
                outcome = Outcome(job.spec, time.monotonic() - begin, error=f"{type(exc).__name__}: {exc}")
            finished(index, outcome)
            return outcome

        sweep_stale(self.plan.root)  # worktrees a killed graft left behind
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="graft-exp")
        try:
            futures = [pool.submit(one, i, job) for i, job in enumerate(jobs)]
            return [f.result() for f in futures]
        except BaseException:
            # a signal (Interrupted) or a bug here: jobs not started never start, running ones
            # see graft stopping, end their process group and clean up before we return
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    def close(self) -> None:
        pass


def parse_cluster(address: str) -> tuple[str, int | None]:
    """``local:N`` -> ("local", N); ``tcp://HOST:PORT`` (or tls://) -> (address, None)."""
    match = _LOCAL.match(address.strip())
    if match:
        n = int(match.group(1))
        if n < 1:
            raise UsageError(f"--cluster {address}: local:N needs at least one worker")
        if n > limits.JOBS.value():
            raise UsageError(limits.JOBS.over(f"--cluster {address}", f"{n:,} workers"))
        return "local", n
    if _ADDRESS.match(address.strip()):
        return address.strip(), None
    raise UsageError(f"--cluster {address}: expected tcp://HOST:PORT of a Dask scheduler, or local:N")


def check_address(address: str) -> None:
    """``--cluster ADDRESS`` checked before anything else: its form, then the extra it needs."""
    from graft.core.extras import require

    parse_cluster(address)
    require("distributed", "--cluster", "cluster")


class DaskExecutor:
    """Run jobs as tasks of a Dask cluster (see the module docstring)."""

    def __init__(self, address: str, root: Path) -> None:
        check_address(address)
        kind, workers = parse_cluster(address)
        from distributed import Client, LocalCluster

        self.address = address
        self.cluster: Any = None
        if kind == "local":
            import logging

            home = (root / LOCAL_WORKERS_DIR).resolve()
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                env={"GRAFT_WORKER_DIR": str(home), "OMP_WAIT_POLICY": "PASSIVE"},
            )
            self.client = Client(self.cluster)
            self.description = f"local cluster of {workers} worker process(es)"
        else:
            try:
                self.client = Client(address, timeout=f"{CONNECT_TIMEOUT}s")
            except (OSError, TimeoutError) as exc:
                raise GraftError(
                    f"--cluster {address}: no Dask scheduler answered within {CONNECT_TIMEOUT:.0f}s "
                    f"({' '.join(str(exc).split())[:200]}); start one with `dask scheduler`"
                ) from None
            try:
                self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            except (OSError, TimeoutError):
                self.client.close()
                raise GraftError(
                    f"--cluster {address}: the scheduler has no worker (waited {WORKERS_TIMEOUT:.0f}s); "
                    f"start some with `dask worker {address} --nthreads 1`"
                ) from None
            count = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"cluster {address}, {count} worker(s)"

    def check(self, git_remote: str, base_sha: str) -> None:
        """Every worker reaches the Git remote (and finds the base there) and the DVC remote."""
        from graft.experiments import worker

        answers = self.client.run(worker.check, git_remote, base_sha)
        for address, problem in sorted(answers.items()):
            if problem:
                raise GraftError(f"worker {address}: {problem}")

    def run(self, jobs: Sequence[Job], started: Started, finished: Finished) -> list[Outcome]:
        from distributed import as_completed

        from graft.experiments import worker

        futures = {}
        for index, job in enumerate(jobs):
            key = f"graft-exp-{job.spec.name}-{job.base_sha[:8]}-{worker.token()}"
            futures[self.client.submit(worker.run_task, job, key=key, pure=False)] = index
        outcomes: list[Outcome | None] = [None] * len(jobs)
        try:
            self._gather(futures, jobs, outcomes, finished, as_completed)
        except BaseException:
            # interrupted (or a bug here): no task of this batch is left queued or running on
            # the cluster; a running one is cancelled and its worker's process group ended
            self.cancel(list(futures))
            raise
        return [o for o in outcomes if o is not None]

    def cancel(self, futures: Sequence[Any]) -> None:
        """Cancel ``futures``, then wait (up to the grace period and a little) until no worker
        still runs one: a cancelled task ends its process group and removes its worktree."""
        import contextlib
        import time

        from graft.core.processes import GRACE_SECONDS

        keys = {f.key for f in futures}
        with contextlib.suppress(Exception):
            self.client.cancel(list(futures), force=True)
            deadline = time.monotonic() + GRACE_SECONDS + 5.0
            while time.monotonic() < deadline:
                running = self.client.run(_executing, sorted(keys, key=str))
                if not any(running.values()):
                    return
                time.sleep(0.2)

    def _gather(
        self,
        futures: dict[Any, int],
        jobs: Sequence[Job],
        outcomes: list[Outcome | None],
        finished: Finished,
        as_completed: Any,
    ) -> None:
        for future in as_completed(list(futures)):
            index = futures[future]
            job = jobs[index]
            try:
                outcome = future.result()
            except Exception as exc:  # KilledWorker (the task killed every worker it ran on), ...
                outcome = Outcome(
                    job.spec,
                    0.0,
                    error=f"experiment '{job.spec.name}': the cluster gave up on it "
                    f"({type(exc).__name__}: {' '.join(str(exc).split())[:300]})",
                )
            outcomes[index] = outcome
            finished(index, outcome)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _executing(keys: list[Any], dask_worker: Any = None) -> list[Any]:
    """On a worker: which of ``keys`` a thread of it still executes (cancelled ones included)."""
    wanted = set(keys)
    return [task.key for task in dask_worker.state.executing if task.key in wanted]


def open_executor(plan: Plan, jobs: int = 2, cluster: str | None = None) -> Executor:
    """The executor for ``plan``: threads here, or the Dask cluster at ``cluster`` (checked)."""
    if cluster is None:
        return LocalExecutor(plan, jobs)
    if plan.cluster is None:
        raise UsageError("--cluster: the plan was made without the cluster checks")
    executor = DaskExecutor(cluster, plan.root)
    try:
        executor.check(plan.cluster.git_remote, plan.base.sha)
    except BaseException:
        executor.close()
        raise
    return executor
