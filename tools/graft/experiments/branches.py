"""Experiments as Git branches: ``exp/NAME`` = base + params overrides + the pipeline's results.

An experiment never touches the user's checkout. It is built in a detached Git worktree whose
DVC cache is shared (``dvc cache dir --local <abs path>``), so unchanged stages are restored
from the run cache instead of recomputed. The branch is created only once the experiment
commit exists (and, with a push, once its data is on the DVC remote), so a failed run leaves
no branch behind; its output is kept in ``.graft/logs/NAME-<timestamp>.log``.

One path for every way of running: :func:`make_plan` checks everything before anything is
created, an executor (:mod:`graft.experiments.executors`: threads here, or a Dask cluster)
runs one :class:`Job` per experiment through :func:`build`, and :func:`collect` brings the
results home (branches fetched from the Git remote, failure logs saved under
``.graft/logs/``). What travels to a worker is Git: the base commit, the overrides and the
name (:class:`Job`).

Pushing a branch is idempotent (:func:`push_branch`): when the remote already has the name
with the same content (same parent, same tree) that is a success, so a task retried after
its worker died never fails on, nor duplicates, what the first attempt pushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from graft.core import gitrepo
from graft.core.dvcremote import CONFIG_FILE as DVC_CONFIG
from graft.core.dvcremote import PushReport, Remote, check_plugin, default_remote
from graft.core.errors import GitError, GraftError, Interrupted
from graft.core.fsio import atomic_write_text
from graft.core.processes import check_stop, deferred
from graft.core.progress import SILENT, Reporter
from graft.core.worktree import (
    PipelineFailed,
    dvc_cache_dir,
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
from graft.experiments.overrides import Assignment, Override, format_value
from graft.experiments.overrides import apply as apply_overrides
from graft.experiments.paramfiles import BaseParams, edited_files
from graft.project import DEFAULT_BASE, Project, find_root
from graft.project.dvcfile import DEFAULT_PARAMS as PARAMS_FILE
from graft.project.lock import LOCK_FILE, is_code
from graft.project.paths import LOGS_DIR, WORKTREES_DIR
from graft.project.view import View

REMOTE = "origin"


class ExperimentFailed(GraftError):
    """The pipeline (or a push) failed; ``log`` is where its output was kept."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Spec:
    """One experiment to build: its name (without ``exp/``) and checked overrides."""

    name: str
    overrides: tuple[Override, ...]

    @property
    def branch(self) -> str:
        return gitrepo.EXP_PREFIX + self.name


@dataclass(frozen=True)
class Cluster:
    """Where workers get the code and the data: a Git remote URL and the committed DVC remote."""

    git_remote: str
    dvc_remote: Remote


@dataclass(frozen=True)
class Plan:
    """Everything checked before anything is created."""

    root: Path
    base: gitrepo.Revision
    specs: tuple[Spec, ...]
    run: bool
    push: bool
    cache_dir: Path | None
    cluster: Cluster | None = None
    branches: bool = True  # False: search trials (run, report metrics, keep no branch)
    targets: tuple[str, ...] = ()  # stages to reproduce (with their upstream); () = the pipeline


@dataclass(frozen=True)
class Job:
    """What travels to whoever runs one experiment: Git facts and the overrides, nothing else."""

    spec: Spec
    base_sha: str
    base_name: str
    run: bool = True
    branch: bool = True
    git_remote: str | None = None
    identity: tuple[str, str] | None = None  # (name, email) the commit is made with
    targets: tuple[str, ...] = ()  # stages to reproduce (with their upstream); () = the pipeline


@dataclass(frozen=True)
class Result:
    name: str
    branch: str
    sha: str | None  # None for a search trial (no commit kept)
    base_name: str
    base_sha: str
    overrides: tuple[Override, ...]
    ran: bool
    pushed: bool
    seconds: float
    files: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> ran | restored | unchanged
    worker: str | None = None
    uploaded: PushReport | None = None  # the DVC remote: what it lacked and was sent (None: no push)


@dataclass(frozen=True)
class Outcome:
    """How one experiment of a batch ended: a result or an error (with its log, if any)."""

    spec: Spec
    seconds: float
    result: Result | None = None
    error: str | None = None
    log: Path | None = None
    log_text: str | None = None  # a worker's log, until collect() saves it under .graft/logs

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class Progress:
    """A progress event of a batch: ``started`` or ``finished`` (then ``outcome`` is set)."""

    event: str
    index: int
    total: int
    spec: Spec
    outcome: Outcome | None = None


ProgressCallback = Callable[[Progress], None]


# ---------------------------------------------------------------------------------------------
# checks (nothing is created before all of them pass)


def project_root(cwd: str | Path = ".") -> tuple[pygit2.Repository, Path]:
    root = find_root(cwd)
    repo = gitrepo.open_repo(root)
    if repo.workdir is None:
        raise GitError(f"{root}: a bare repository has no checkout to run experiments from")
    return repo, root


def check_clean(root: Path) -> None:
    changes = gitrepo.workdir_changes(root)
    if changes:
        shown = ", ".join(changes[:5]) + (" ..." if len(changes) > 5 else "")
        raise GitError(
            f"{root}: the working tree has uncommitted changes ({shown}); commit or stash them first"
        )


def check_name(repo: pygit2.Repository, name: str, local: names.Taken | None = None) -> None:
    """Every local check of an experiment name (graft.experiments.names): Git's rules, the
    length limit, and no clash with a local branch (``local``: the branch names, read once)."""
    names.check_syntax(name)
    names.check_free(gitrepo.EXP_PREFIX + name, repo.branches.local if local is None else local)


def check_remote(root: Path) -> str:
    """The URL of ``origin`` (``--push``), refused by name when there is none."""
    try:
        return gitrepo.git(root, "remote", "get-url", REMOTE)
    except GitError:
        raise GitError(f"--push: the repository has no Git remote '{REMOTE}'") from None


def check_remote_names(specs: Sequence[Spec], heads: Mapping[str, str], where: str) -> None:
    """No branch of ``specs`` clashes with a branch of the Git remote (``heads``, ls-remote)."""
    taken = names.Taken(heads)
    for spec in specs:
        names.check_free(spec.branch, taken, f" on the Git remote {where}")


def remote_url(root: Path, git_remote: str | None) -> str:
    """The URL workers clone from: ``--git-remote`` (a URL or a remote's name), else ``origin``.

    A local path is made absolute (a worker does not run in the user's folder).
    """
    given = git_remote or REMOTE
    try:
        url = gitrepo.git(root, "remote", "get-url", given)
    except GitError:
        if git_remote is None:
            raise GitError(
                f"--cluster: the repository has no Git remote '{REMOTE}' for the workers to clone "
                "from (add one, or pass --git-remote URL)"
            ) from None
        url = given
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):  # a path, not scp-like
        path = Path(url).expanduser()
        url = str(path if path.is_absolute() else (root / path).resolve())
    return url


def remote_heads(root: Path, url: str) -> dict[str, str]:
    """``git ls-remote --heads URL``: branch -> sha; a one-line error when it cannot be reached."""
    try:
        out = gitrepo.git(root, "ls-remote", "--heads", url)
    except GitError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise GitError(f"Git remote {url} cannot be reached ({reason})") from None
    heads: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        heads[ref.removeprefix("refs/heads/")] = sha
    return heads


def check_cluster(
    root: Path, base: gitrepo.Revision, specs: Sequence[Spec], git_remote: str | None
) -> Cluster:
    """What workers need, checked from here: the Git remote, the base on it, a committed DVC remote."""
    url = remote_url(root, git_remote)
    heads = remote_heads(root, url)
    check_remote_names(specs, heads, url)
    # the remote branch named like the base first, then main: usually one `git merge-base` call
    first = [heads[n] for n in (base.name.removeprefix(f"{REMOTE}/"), DEFAULT_BASE) if n in heads]
    candidates = dict.fromkeys([*first, *heads.values()])
    on_remote = any(sha == base.sha or _is_ancestor(root, base.sha, sha) for sha in candidates)
    if not on_remote:
        raise GitError(
            f"base '{base.name}' ({base.short}) is not on the Git remote {url}: workers clone from "
            f"there, so push it first (git push {git_remote or REMOTE} {base.name})"
        )
    config = gitrepo.read_file(base.commit, DVC_CONFIG)
    remote = default_remote(config.decode("utf-8") if config else None)
    if remote is None:
        local = (root / ".dvc" / "config.local").is_file()
        hint = " (.dvc/config.local is not seen by workers)" if local else ""
        raise GraftError(
            f"no default DVC remote in {DVC_CONFIG} at '{base.name}' ({base.short}){hint}: workers share "
            "data and the run cache through it; add one with `dvc remote add -d NAME URL` and commit "
            f"{DVC_CONFIG}"
        )
    return Cluster(url, remote)


def _dvc_config(root: Path) -> str | None:
    path = root / DVC_CONFIG
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _is_ancestor(root: Path, ancestor: str, sha: str) -> bool:
    try:
        gitrepo.git(root, "merge-base", "--is-ancestor", ancestor, sha)
    except GitError:
        return False
    return True


def make_plan(
    cwd: str | Path,
    experiments: Sequence[tuple[str, Sequence[Assignment]]],
    base: str = DEFAULT_BASE,
    run: bool = True,
    push: bool = False,
    cluster: bool = False,
    git_remote: str | None = None,
    branches: bool = True,
) -> Plan:
    """Check the repository, names, keys and values; raise on the first problem, change nothing.

    ``cluster``: also check what workers need (Git remote reachable and holding the base, no
    name taken there, a default DVC remote committed at the base).
    """
    repo, root = project_root(cwd)
    check_clean(root)
    revision = gitrepo.resolve(repo, base)
    params = BaseParams.at(root, revision, base)
    specs: list[Spec] = []
    local = names.Taken(repo.branches.local if branches else ())
    for name, assignments in experiments:
        if branches:
            check_name(repo, name, local)
        specs.append(Spec(name, tuple(params.plan(assignments))))
    names.check_batch(s.branch for s in specs)
    if push and not cluster:
        url = check_remote(root)
        check_remote_names(specs if branches else (), remote_heads(root, REMOTE), f"'{REMOTE}' ({url})")
        remote = default_remote(_dvc_config(root))
        if remote is not None:  # dvc push runs here: its filesystem plugin must be installed here
            check_plugin(remote)
    target = check_cluster(root, revision, specs if branches else (), git_remote) if cluster else None
    cache = dvc_cache_dir(root) if (run or push) and not cluster else None
    return Plan(root, revision, tuple(specs), run, push or cluster, cache, target, branches)


def identity(root: Path) -> tuple[str, str] | None:
    """The user's Git identity (``git var GIT_AUTHOR_IDENT``), for commits made on workers."""
    try:
        ident = gitrepo.git(root, "var", "GIT_AUTHOR_IDENT")
    except GitError:
        return None
    match = re.match(r"^(.*?) <([^>]*)>", ident)
    return (match.group(1), match.group(2)) if match else None


def jobs_of(plan: Plan) -> list[Job]:
    who = identity(plan.root) if plan.cluster else None
    url = plan.cluster.git_remote if plan.cluster else None
    return [
        Job(spec, plan.base.sha, plan.base.name, plan.run, plan.branches, url, who, plan.targets)
        for spec in plan.specs
    ]


# ---------------------------------------------------------------------------------------------
# running one experiment (here or on a worker)


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


# ---------------------------------------------------------------------------------------------
# listing


@dataclass(frozen=True)
class Stale:
    """What moved on main since the experiment branched (None: no common ancestor)."""

    data: bool | None
    code: bool | None
    params: bool | None


@dataclass(frozen=True)
class Info:
    branch: str
    sha: str
    base: str | None
    ahead: int
    behind: int
    stale: Stale
    metrics: dict[str, float | None]
    changes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why its files could not be read (the rest is then unknown)


def pipeline_params(view: View) -> dict[str, Any]:
    """The params the pipeline's stages read (dvc.yaml ``params``), flattened; all when none listed."""
    declared = view.pipeline.params
    flat = view.all_params
    if not declared:
        return flat
    out: dict[str, Any] = {}
    for file, keys in declared.items():
        prefix = "" if file == PARAMS_FILE else f"{file}:"
        for key in keys:
            stem = f"{prefix}{key}" if key else prefix.rstrip(":")
            out.update({k: v for k, v in flat.items() if k == stem or k.startswith(f"{stem}.") or not key})
    return out


def headline_metrics(view: View) -> dict[str, float | None]:
    values = view.headline_metrics() or {}
    out: dict[str, float | None] = {}
    for name in view.settings.metrics.headline:
        value = values.get(name)
        out[name] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return out


def code_paths(view: View) -> set[str]:
    """dvc.yaml itself and the stages' dependencies that are code (not data, not stage outputs)."""
    produced = set(view.pipeline.outputs)
    deps = {d for stage in view.pipeline.stages.values() for d in stage.deps}
    return {"dvc.yaml"} | {d for d in deps - produced if is_code(d) or not view.lock.data_inputs.get(d)}


def stale_flags(main: View, fork: View) -> Stale:
    paths = code_paths(main) | code_paths(fork)
    code = any(main.source.blob_key(p) != fork.source.blob_key(p) for p in paths)
    return Stale(
        data=main.lock.data_inputs != fork.lock.data_inputs,
        code=code,
        params=pipeline_params(main) != pipeline_params(fork),
    )


def param_changes(tip: View, fork: View) -> dict[str, Any]:
    """Pipeline params whose value at the branch tip differs from the fork point."""
    now, then = pipeline_params(tip), pipeline_params(fork)
    return {k: v for k, v in now.items() if then.get(k, object()) != v}


def list_experiments(cwd: str | Path = ".", main: str = DEFAULT_BASE) -> list[Info]:
    project = Project.find(cwd)
    repo = project.repo
    main_rev = gitrepo.resolve(repo, main)
    main_view = project.at(main_rev)
    out: list[Info] = []
    for branch in gitrepo.branches(repo):
        tip_rev = gitrepo.resolve(repo, f"refs/heads/{branch}")
        tip = tip_rev.commit
        fork = gitrepo.merge_base(repo, tip, main_rev.commit)
        ahead, behind = gitrepo.ahead_behind(repo, tip, main_rev.commit)
        tip_view = project.at(gitrepo.Revision(branch, tip))  # named as listed
        stale = Stale(None, None, None)
        changes: dict[str, Any] = {}
        metrics: dict[str, float | None] = {}
        error = None
        try:  # one branch whose files cannot be read must not stop the listing
            if fork is not None:
                fork_view = project.at(gitrepo.Revision(str(fork.id), fork))
                stale = stale_flags(main_view, fork_view)
                changes = param_changes(tip_view, fork_view)
            metrics = headline_metrics(tip_view)
        except GraftError as exc:
            error = str(exc)
            stale, changes, metrics = Stale(None, None, None), {}, {}
            logging.getLogger("graft").warning("%s: listed without its results: %s", branch, error)
        out.append(
            Info(
                branch=branch,
                sha=str(tip.id)[:8],
                base=None if fork is None else str(fork.id)[:8],
                ahead=ahead,
                behind=behind,
                stale=stale,
                metrics=metrics,
                changes=changes,
                error=error,
            )
        )
    return out
