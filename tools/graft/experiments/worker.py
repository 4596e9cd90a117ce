"""What a cluster worker runs: one experiment from Git facts, pushed back to the remotes.

A worker needs no checkout: a virtualenv with graft installed (``dask worker`` started from
it). Its disk (``$GRAFT_WORKER_DIR``, default ``~/.cache/graft/worker``, local to the machine):

* ``clones/<name>-<hash>.git``: a bare clone of each Git remote, kept between tasks;
* ``dvc-cache/``: the DVC cache its tasks share (data, models, run-cache entries);
* ``worktrees/``: one temporary worktree per running task (removed when it ends; those of a
  killed worker are removed by the next task);
* ``logs/``: a task's log while it runs (a failed run's log travels back to the client).

:func:`run_task` checks the base out of the kept clone, applies the overrides, runs
``dvc repro --pull`` (data and every stage some machine already ran come from the DVC remote's
run cache), commits with the client's identity, makes sure the DVC remote holds every output
and run-cache entry the commit's ``dvc.lock`` names (what came from this worker's own cache
included: the remote may be newer than the worker), then pushes ``exp/NAME`` to the Git remote
(idempotently). Credentials are
the worker's own: Git's (SSH keys, credential helpers) and the DVC remote's (environment,
``~/.aws``, DVC's global or system config).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from graft.core.errors import GraftError, Interrupted
from graft.core.processes import stop_when
from graft.core.worktree import (
    PipelineFailed,
    check_dvc_remote,
    clone_key,
    kept_clone,
    pipeline_env,
    sweep_worktrees,
    temporary_worktree,
)
from graft.experiments.build import build, log_path, push_branch, result_of, worker_name
from graft.experiments.model import Job, Outcome

WORKER_DIR_VAR = "GRAFT_WORKER_DIR"


def home() -> Path:
    """This worker's folder (``$GRAFT_WORKER_DIR``, default ``~/.cache/graft/worker``)."""
    given = os.environ.get(WORKER_DIR_VAR)
    return Path(given) if given else Path.home() / ".cache" / "graft" / "worker"


def token() -> str:
    return uuid.uuid4().hex[:8]


def identity_env(job: Job) -> dict[str, str]:
    if job.identity is None:
        return {}
    name, email = job.identity
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def check(git_remote: str, base_sha: str) -> str | None:
    """Run on every worker before a batch: None, or what this worker cannot reach."""
    where = home()
    try:
        clone = kept_clone(where, git_remote, base_sha)
        log = log_path(where / "logs", f"check-{token()}")
        try:
            worktrees = where / "worktrees" / clone_key(git_remote)
            with temporary_worktree(clone, base_sha, "check", parent=worktrees) as wt:
                check_dvc_remote(wt, log, pipeline_env(wt))
        finally:
            log.unlink(missing_ok=True)
    except (GraftError, OSError) as exc:
        return " ".join(str(exc).split())
    return None


def cancelled_check() -> Callable[[], bool]:
    """Inside a Dask task: a check that holds once the client cancelled (or forgot) the task, so
    :func:`graft.core.processes.run_group` ends its ``dvc repro``; outside one, never."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):
        return lambda: False

    def check() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state in ("cancelled", "released", "forgotten")

    return check


def run_task(job: Job) -> Outcome:
    """One experiment (or search trial) on this worker; never raises for a failed run."""
    started = time.monotonic()
    where = home()
    spec = job.spec
    log = log_path(where / "logs", spec.name)
    try:
        if job.git_remote is None:
            raise GraftError("the job names no Git remote")
        url = job.git_remote
        clone = kept_clone(where, url, job.base_sha)
        worktrees = where / "worktrees" / clone_key(url)
        sweep_worktrees(clone, worktrees)
        with stop_when(cancelled_check()):
            built = build(
                clone,
                job,
                where / "dvc-cache",
                log,
                worktrees,
                pull=True,
                push_data=True,
                publish=(lambda sha: push_branch(clone, url, spec.branch, sha)) if job.branch else None,
                env_extra=identity_env(job),
            )
    except Interrupted:  # the client cancelled the task: its process group is ended, nothing kept
        log.unlink(missing_ok=True)
        raise
    except (PipelineFailed, GraftError, OSError) as exc:
        what = "no branch created" if job.branch else "trial failed"
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        log.unlink(missing_ok=True)
        return Outcome(
            spec,
            time.monotonic() - started,
            error=f"experiment '{spec.name}' on worker {worker_name()}: {' '.join(str(exc).split())}; {what}",
            log_text=text + f"\n[worker {worker_name()}]\n",
        )
    log.unlink(missing_ok=True)
    result = result_of(job, built, job.branch, time.monotonic() - started, worker_name())
    return Outcome(spec, result.seconds, result=result)
