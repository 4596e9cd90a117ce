"""Experiments as Git branches: ``exp/NAME`` = base + params overrides + the pipeline's results.

An experiment never touches the user's checkout. It is built in a detached Git worktree under
``.graft/worktrees/`` (``.graft/`` is gitignored) whose DVC cache is the main checkout's cache
(``dvc cache dir --local <abs path>`` in the worktree), so unchanged stages are restored from
the run cache instead of recomputed, and concurrent experiments share one cache. The branch
is created only once the experiment commit exists, so a failed run leaves no branch behind;
its ``dvc repro`` output is kept in ``.graft/logs/NAME-<timestamp>.log``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from graft.core import gitrepo
from graft.core.errors import GitError, GraftError, ParamsError, UsageError
from graft.core.fsio import atomic_write_text
from graft.core.progress import SILENT, Reporter
from graft.core.worktree import (
    PipelineFailed,
    dvc_cache_dir,
    dvc_command,
    pipeline_env,
    prepare_dvc,
    run_logged,
    temporary_worktree,
)
from graft.experiments.overrides import Assignment, Override, format_value, plan_text
from graft.experiments.overrides import apply as apply_overrides
from graft.project import Project, find_root
from graft.project.dvcfile import DEFAULT_PARAMS as PARAMS_FILE
from graft.project.lock import LOCK_FILE, is_code
from graft.project.view import View

GRAFT_DIR = ".graft"
WORKTREES_DIR = f"{GRAFT_DIR}/worktrees"
LOGS_DIR = f"{GRAFT_DIR}/logs"
DEFAULT_BASE = "main"
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
class Plan:
    """Everything checked before anything is created."""

    root: Path
    base: gitrepo.Revision
    specs: tuple[Spec, ...]
    run: bool
    push: bool
    cache_dir: Path | None


@dataclass(frozen=True)
class Result:
    name: str
    branch: str
    sha: str
    base_name: str
    base_sha: str
    overrides: tuple[Override, ...]
    ran: bool
    pushed: bool
    seconds: float
    files: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """How one experiment of a batch ended: a result or an error (with its log, if any)."""

    spec: Spec
    seconds: float
    result: Result | None = None
    error: str | None = None
    log: Path | None = None

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


def check_name(repo: pygit2.Repository, name: str) -> None:
    branch = gitrepo.EXP_PREFIX + name
    if not name or not gitrepo.is_valid_branch_name(branch):
        raise UsageError(
            f"'{name}' is not a valid experiment name: '{branch}' is not a valid Git branch name"
        )
    if gitrepo.branch_exists(repo, branch):
        raise GitError(f"branch '{branch}' already exists (pick another name or delete it)")


def base_params(base: gitrepo.Revision) -> str:
    data = gitrepo.read_file(base.commit, PARAMS_FILE)
    if data is None:
        raise ParamsError(f"{PARAMS_FILE}: not found at '{base.name}' ({base.short})")
    return data.decode("utf-8")


def check_remote(root: Path) -> None:
    try:
        gitrepo.git(root, "remote", "get-url", REMOTE)
    except GitError:
        raise GitError(f"--push: the repository has no Git remote '{REMOTE}'") from None


def make_plan(
    cwd: str | Path,
    experiments: Sequence[tuple[str, Sequence[Assignment]]],
    base: str = DEFAULT_BASE,
    run: bool = True,
    push: bool = False,
) -> Plan:
    """Check the repository, names, keys and values; raise on the first problem, change nothing."""
    repo, root = project_root(cwd)
    check_clean(root)
    revision = gitrepo.resolve(repo, base)
    params_text = base_params(revision)
    specs: list[Spec] = []
    seen: set[str] = set()
    for name, assignments in experiments:
        check_name(repo, name)
        if name in seen:
            raise UsageError(f"experiment name '{name}' is used twice")
        seen.add(name)
        specs.append(Spec(name, tuple(plan_text(params_text, assignments, f"{PARAMS_FILE} at {base}"))))
    if push:
        check_remote(root)
    cache = dvc_cache_dir(root) if run or push else None
    return Plan(root, revision, tuple(specs), run, push, cache)


# ---------------------------------------------------------------------------------------------
# running one experiment


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__"))


def _log_path(root: Path, name: str) -> Path:
    logs = root / LOGS_DIR
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = logs / f"{slug(name)}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = logs / f"{slug(name)}-{stamp}-{n}.log"
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


def commit_message(spec: Spec, base: gitrepo.Revision, ran: bool) -> str:
    title = ", ".join(o.describe() for o in spec.overrides) or "no parameter changes"
    lines = [f"exp {spec.name}: {title}", ""]
    if spec.overrides:
        lines.append(f"Overrides of {PARAMS_FILE} (base {base.name} {base.short}):")
        lines += [f"  {o.key}: {format_value(o.old)} -> {format_value(o.new)}" for o in spec.overrides]
    else:
        lines.append(f"No parameter overrides (base {base.name} {base.short}).")
    lines.append("")
    lines.append("Pipeline: dvc repro" if ran else "Pipeline: not run (--no-run); params.yaml only")
    return "\n".join(lines) + "\n"


def run_one(
    plan: Plan, spec: Spec, lock: threading.Lock | None = None, progress: Reporter = SILENT
) -> Result:
    """Build ``exp/NAME`` in a worktree; on success the branch exists, on failure nothing does."""
    lock = lock or threading.Lock()
    started = time.monotonic()
    root, base = plan.root, plan.base
    log = _log_path(root, spec.name)
    keep_log = True
    try:
        progress.step(f"{spec.branch}: preparing a worktree at {base.name} ({base.short})")
        with temporary_worktree(root, base.sha, slug(spec.name), parent=root / WORKTREES_DIR) as wt:
            params = wt / PARAMS_FILE
            atomic_write_text(params, apply_overrides(params.read_text(encoding="utf-8"), spec.overrides))
            env = pipeline_env(wt)
            if plan.cache_dir is not None:
                prepare_dvc(root, wt, plan.cache_dir, log, env)
            if plan.run:
                progress.step(f"{spec.branch}: running dvc repro (log: {log})")
                if run_logged(dvc_command("repro"), wt, log, env) != 0:
                    raise ExperimentFailed(
                        f"experiment '{spec.name}': dvc repro failed ({failure_reason(log)}); "
                        f"no branch created; log: {log}",
                        log,
                    )
                gitrepo.git(wt, "add", "--update")
                gitrepo.git(wt, "add", "--all", "--", *results_to_commit(wt))
            else:
                gitrepo.git(wt, "add", "--", PARAMS_FILE)
            progress.step(f"{spec.branch}: committing")
            gitrepo.git(wt, "commit", "--quiet", "--allow-empty", "-m", commit_message(spec, base, plan.run))
            sha = gitrepo.git(wt, "rev-parse", "HEAD")
            files = tuple(
                f for f in gitrepo.git(wt, "diff", "--name-only", base.sha, sha).splitlines() if f.strip()
            )
            if plan.push:
                progress.step(f"{spec.branch}: pushing the data (dvc push) and the branch")
            if plan.push and run_logged(dvc_command("push"), wt, log, env) != 0:
                raise ExperimentFailed(
                    f"experiment '{spec.name}': dvc push failed ({failure_reason(log)}); "
                    f"no branch created; log: {log}",
                    log,
                )
            with lock:
                gitrepo.git(root, "branch", spec.branch, sha)
        if plan.push:
            try:
                gitrepo.git(
                    root, "push", "--quiet", REMOTE, f"refs/heads/{spec.branch}:refs/heads/{spec.branch}"
                )
            except GitError as exc:
                raise ExperimentFailed(
                    f"experiment '{spec.name}': branch '{spec.branch}' created and its data pushed, "
                    f"but git push to '{REMOTE}' failed: {exc}",
                    log,
                ) from None
        keep_log = False
    except ExperimentFailed:
        raise
    except (PipelineFailed, GraftError) as exc:
        raise ExperimentFailed(
            f"experiment '{spec.name}': {exc}; no branch created; log: {log}", log
        ) from None
    finally:
        if not keep_log:
            log.unlink(missing_ok=True)
    return Result(
        name=spec.name,
        branch=spec.branch,
        sha=sha,
        base_name=base.name,
        base_sha=base.sha,
        overrides=spec.overrides,
        ran=plan.run,
        pushed=plan.push,
        seconds=time.monotonic() - started,
        files=files,
    )


def run_many(plan: Plan, jobs: int = 2, progress: ProgressCallback | None = None) -> list[Outcome]:
    """Run every spec of ``plan`` (``jobs`` at a time); one failure does not stop the others."""
    lock = threading.Lock()
    report_lock = threading.Lock()
    total = len(plan.specs)

    def report(event: Progress) -> None:
        if progress is not None:
            with report_lock:
                progress(event)

    def one(index: int, spec: Spec) -> Outcome:
        report(Progress("started", index, total, spec))
        started = time.monotonic()
        try:
            result = run_one(plan, spec, lock)  # before the clock is read: seconds include the run
            outcome = Outcome(spec, time.monotonic() - started, result=result)
        except ExperimentFailed as exc:
            outcome = Outcome(spec, time.monotonic() - started, error=str(exc), log=exc.log)
        except Exception as exc:  # one point's bug must not hide the others' results
            outcome = Outcome(spec, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
        report(Progress("finished", index, total, spec, outcome))
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="graft-exp") as pool:
        futures = [pool.submit(one, i, s) for i, s in enumerate(plan.specs, start=1)]
        return [f.result() for f in futures]


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
        tip_view = project.at(tip_rev)
        if fork is None:
            stale = Stale(None, None, None)
            changes: dict[str, Any] = {}
        else:
            fork_view = project.at(gitrepo.Revision(str(fork.id), fork))
            stale = stale_flags(main_view, fork_view)
            changes = param_changes(tip_view, fork_view)
        out.append(
            Info(
                branch=branch,
                sha=str(tip.id)[:8],
                base=None if fork is None else str(fork.id)[:8],
                ahead=ahead,
                behind=behind,
                stale=stale,
                metrics=headline_metrics(tip_view),
                changes=changes,
            )
        )
    return out
