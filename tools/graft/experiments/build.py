"""One experiment's build, here or on a worker: a detached worktree of the base, the overrides
applied, ``dvc repro``, the results committed and the branch created (and pushed) only once
everything worked (:func:`build`, :func:`run_local`, :func:`run_one`).

The worktree's DVC cache is shared (``dvc cache dir --local <abs path>``), so unchanged stages
are restored from the run cache. A failed run leaves no branch; its output is kept in a log
under ``.graft/logs/`` (:data:`graft.project.paths.LOGS_DIR`). Pushing a branch is idempotent
(:func:`push_branch`): when the remote already has the name with the same content (same
parent, same tree) that is a success, so a retried task never fails on, nor duplicates, what
the first attempt pushed.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.core import gitrepo
from graft.core.dvcremote import PushReport
from graft.core.errors import GitError, GraftError, Interrupted
from graft.core.fsio import atomic_write_text
from graft.core.processes import check_stop, deferred
from graft.core.progress import SILENT, Reporter
from graft.core.worktree import (
    PipelineFailed,
    pipeline_env,
    prepare_dvc,
    push_run,
    repro_command,
    run_logged,
    stage_report,
    sweep_worktrees,
    temporary_worktree,
)
from graft.experiments import names

# ---------------------------------------------------------------------------------------------
# running one experiment (here or on a worker)
from graft.experiments.model import REMOTE, ExperimentFailed, Job, Plan, Result, Spec
from graft.experiments.overrides import apply as apply_overrides
from graft.experiments.overrides import format_value
from graft.experiments.paramfiles import edited_files
from graft.project import Project
from graft.project.dvcfile import DEFAULT_PARAMS as PARAMS_FILE
from graft.project.lock import LOCK_FILE
from graft.project.paths import LOGS_DIR, WORKTREES_DIR


def log_path(logs: Path, name: str) -> Path:
    """A new, empty log file ``<logs>/<stem>-<timestamp>[-n].log`` (stem: :func:`names.file_stem`)."""
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = names.file_stem(name)
    path = logs / f"{stem}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = logs / f"{stem}-{stamp}-{n}.log"
    path.touch()
    return path


def failure_reason(log: Path) -> str:
    """The most telling line of a failed run's log (a stage's own error first, then DVC's)."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "see the log"
    for pattern in (r"^stage \w+: (unexpected )?error: ", r"^ERROR: ", r"error", r"^\[exit status"):
        hits = [line for line in lines if re.search(pattern, line, re.IGNORECASE)]
        if hits:
            return hits[-1]
    return "see the log"


def results_to_commit(worktree: Path) -> list[str]:
    """What a run leaves for Git: dvc.lock and every declared metrics, plots and Git-kept output."""
    view = Project(worktree).work()
    repo = gitrepo.open_repo(worktree)
    paths = [LOCK_FILE, *view.pipeline.metrics, *view.pipeline.plots, *view.pipeline.outputs]
    keep = []
    for path in dict.fromkeys(paths):
        target = worktree / path
        if target.exists() and not repo.path_is_ignored(path):
            keep.append(path)
    return keep


def commit_message(spec: Spec, base_name: str, base_sha: str, ran: bool) -> str:
    title = ", ".join(o.describe() for o in spec.overrides) or "no parameter changes"
    lines = [f"exp {spec.name}: {title}", ""]
    if spec.overrides:
        files = ", ".join(edited_files(spec.overrides))
        lines.append(f"Overrides of {files} (base {base_name} {base_sha[:8]}):")
        lines += [f"  {o.key}: {format_value(o.old)} -> {format_value(o.new)}" for o in spec.overrides]
    else:
        lines.append(f"No parameter overrides (base {base_name} {base_sha[:8]}).")
    lines.append("")
    lines.append("Pipeline: dvc repro" if ran else "Pipeline: not run (--no-run); params files only")
    return "\n".join(lines) + "\n"


def same_content(repo_dir: Path, a: str, b: str) -> bool:
    """Two commits with the same tree and the same parents (what an experiment's retry makes)."""

    def facts(sha: str) -> tuple[str, str]:
        return gitrepo.git(repo_dir, "rev-parse", f"{sha}^{{tree}}"), gitrepo.git(
            repo_dir, "rev-list", "--parents", "-n", "1", sha
        ).split(" ", 1)[-1]

    return facts(a) == facts(b)


def push_branch(repo_dir: Path, remote: str, branch: str, sha: str) -> str:
    """Push ``sha`` as ``refs/heads/BRANCH`` of ``remote``; returns the commit the remote holds.

    When the remote already has the branch: the same content (same parents and tree) is a
    success and its commit is returned; other content is an error naming both commits.
    """
    ref = f"refs/heads/{branch}"
    try:
        gitrepo.git(repo_dir, "push", "--quiet", remote, f"{sha}:{ref}")
        return sha
    except GitError as push_error:
        probe = f"refs/graft/probe/{uuid.uuid4().hex}"
        try:
            gitrepo.git(repo_dir, "fetch", "--quiet", "--no-write-fetch-head", remote, f"+{ref}:{probe}")
        except GitError:
            raise push_error from None
        try:
            existing = gitrepo.git(repo_dir, "rev-parse", probe)
            if existing == sha or same_content(repo_dir, existing, sha):
                return existing
            raise GitError(
                f"branch '{branch}' already exists on {remote} with other content (its commit "
                f"{existing[:8]}, this run's {sha[:8]}); pick another name or delete it there"
            )
        finally:
            with contextlib.suppress(GitError):
                gitrepo.git(repo_dir, "update-ref", "-d", probe)


@dataclass(frozen=True)
class Built:
    sha: str | None
    files: tuple[str, ...]
    metrics: dict[str, Any]
    stages: dict[str, str]
    uploaded: PushReport | None = None  # what the DVC remote lacked and was sent (None: no push)


def result_of(job: Job, built: Built, pushed: bool, seconds: float, worker: str | None = None) -> Result:
    """The :class:`Result` of ``job`` once :func:`build` returned ``built`` (here or on a worker)."""
    spec = job.spec
    return Result(
        name=spec.name,
        branch=spec.branch,
        sha=built.sha,
        base_name=job.base_name,
        base_sha=job.base_sha,
        overrides=spec.overrides,
        ran=job.run,
        pushed=pushed,
        seconds=seconds,
        files=built.files,
        metrics=built.metrics,
        stages=built.stages,
        worker=worker,
        uploaded=built.uploaded,
    )


def build(
    root: Path,
    job: Job,
    cache_dir: Path | None,
    log: Path,
    worktrees: Path,
    *,
    pull: bool = False,
    push_data: bool = False,
    publish: Callable[[str], str] | None = None,
    env_extra: Mapping[str, str] | None = None,
    progress: Reporter = SILENT,
) -> Built:
    """Run ``job`` in a temporary worktree of ``root`` (a checkout or a bare kept clone).

    ``pull``: data and run cache come from the DVC remote (``dvc repro --pull``); ``push_data``:
    the run's outputs and run-cache entries go back to it; ``publish(sha)`` makes the commit
    visible (a local branch, a push) and returns the commit that now stands for it. A search
    trial (``job.branch`` false) commits nothing and returns its metrics. ``progress`` hears
    each step (worktree, repro, commit, push).
    """
    spec = job.spec
    progress.step(f"{spec.branch}: preparing a worktree at {job.base_name} ({job.base_sha[:8]})")
    with temporary_worktree(root, job.base_sha, names.file_stem(spec.name), parent=worktrees) as wt:
        for file in edited_files(spec.overrides):
            ours = [o for o in spec.overrides if o.file == file]
            path = wt / file
            atomic_write_text(path, apply_overrides(path.read_text(encoding="utf-8"), ours, file, file))
        env = {**pipeline_env(wt), **(env_extra or {})}
        if cache_dir is not None:
            prepare_dvc(root, wt, cache_dir, log, env)
        metrics: dict[str, Any] = {}
        stages: dict[str, str] = {}
        if job.run:
            progress.step(f"{spec.branch}: running dvc repro (log: {log})")
            start = log.stat().st_size
            if run_logged(repro_command(pull, job.targets), wt, log, env) != 0:
                raise PipelineFailed(f"dvc repro failed ({failure_reason(log)})", log)
            with log.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(start)
                stages = stage_report(handle.read())
            metrics = Project(wt).work().metrics() or {}
        sha: str | None = None
        files: tuple[str, ...] = ()
        if job.branch:
            if job.run:
                gitrepo.git(wt, "add", "--update")
                gitrepo.git(wt, "add", "--all", "--", *results_to_commit(wt))
            else:
                gitrepo.git(wt, "add", "--", *(edited_files(spec.overrides) or [PARAMS_FILE]))
            progress.step(f"{spec.branch}: committing")
            message = commit_message(spec, job.base_name, job.base_sha, job.run)
            gitrepo.git(wt, "commit", "--quiet", "--allow-empty", "-m", message, env=env)
            sha = gitrepo.git(wt, "rev-parse", "HEAD")
            files = tuple(
                f for f in gitrepo.git(wt, "diff", "--name-only", job.base_sha, sha).splitlines() if f.strip()
            )
        check_stop()  # stopped (a signal, a cancelled cluster task): nothing is sent or published
        # a branch is published only once the DVC remote holds everything its dvc.lock names,
        # however the stages were obtained (a long-lived worker's own cache included): when all
        # of it is there that costs one batched existence check. A search trial publishes
        # nothing: it sends its run cache only when a stage ran.
        uploaded: PushReport | None = None
        if push_data and job.run and (job.branch or not pull or "ran" in stages.values()):
            progress.step(f"{spec.branch}: making sure the DVC remote holds the outputs and run cache")
            uploaded = push_run(wt, log, env, job.targets)
        if publish is not None and sha is not None:
            check_stop()
            sha = publish(sha)
    return Built(sha, files, metrics, stages, uploaded)


def run_one(
    plan: Plan, spec: Spec, lock: threading.Lock | None = None, progress: Reporter = SILENT
) -> Result:
    """Build ``exp/NAME`` here; on success the branch exists, on failure nothing does."""
    job = Job(spec, plan.base.sha, plan.base.name, plan.run, plan.branches, targets=plan.targets)
    sweep_stale(plan.root)
    return run_local(plan, job, lock or threading.Lock(), progress)


def sweep_stale(root: Path) -> list[Path]:
    """Remove the worktrees a killed graft left under ``.graft/worktrees`` (their lock is free)."""
    return sweep_worktrees(root, root / WORKTREES_DIR)


def run_local(plan: Plan, job: Job, lock: threading.Lock, progress: Reporter = SILENT) -> Result:
    """One job in the user's repository (threads of :class:`LocalExecutor`)."""
    started = time.monotonic()
    root, spec = plan.root, job.spec
    log = log_path(root / LOGS_DIR, spec.name)
    keep_log = True

    def publish(sha: str) -> str:
        with deferred(), lock:  # a signal during `git branch` is acted on once it is done
            gitrepo.git(root, "branch", spec.branch, sha)
        if plan.push:
            try:
                return push_branch(root, REMOTE, spec.branch, sha)
            except GitError as exc:
                raise ExperimentFailed(
                    f"experiment '{spec.name}': branch '{spec.branch}' created and its data pushed, "
                    f"but git push to '{REMOTE}' failed: {exc}",
                    log,
                ) from None
        return sha

    try:
        built = build(
            root,
            job,
            plan.cache_dir,
            log,
            root / WORKTREES_DIR,
            push_data=plan.push,
            publish=publish if job.branch else None,
            progress=progress,
        )
        keep_log = False
    except Interrupted:  # an interrupted run leaves nothing, its log included
        keep_log = False
        raise
    except ExperimentFailed:
        raise
    except (PipelineFailed, GraftError) as exc:
        what = "no branch created" if job.branch else "trial failed"
        raise ExperimentFailed(f"experiment '{spec.name}': {exc}; {what}; log: {log}", log) from None
    finally:
        if not keep_log:
            log.unlink(missing_ok=True)
    return result_of(job, built, plan.push and job.branch, time.monotonic() - started)


def worker_name() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
