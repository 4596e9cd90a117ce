"""Temporary Git worktrees that run a project's DVC pipeline, shared by ``exp`` and ``reproduce``.

:func:`temporary_worktree` checks a commit out in a detached worktree and always removes it
(unless ``keep``); the user's checkout is never touched. :func:`prepare_dvc` points the
worktree at a DVC cache, copies the user's ``.dvc/config.local`` (remotes and credentials kept
out of Git) and restores the data the project tracks with ``dvc add`` (``*.dvc`` files), which a
fresh worktree does not have: from the cache, else from the DVC remote. :func:`run_logged` runs
a command with :func:`pipeline_env` (the project's Python first on PATH, the worktree's own code
first on ``sys.path``, no inherited ``GIT_DIR``, OpenMP threads that sleep when idle) and
appends its output to a log file.

For runs whose data comes from a DVC remote (cluster workers): :func:`kept_clone` keeps a bare
clone of a Git remote between tasks (one per remote URL, shared by the processes of a machine
under a file lock) to take worktrees from; ``dvc repro --pull`` (:func:`repro_command`)
restores every stage any machine already ran from the remote's run cache, :func:`push_run`
sends this run's outputs and run-cache entries back, and :func:`stage_report` reads from DVC's
own output which stages ran, were restored or were unchanged. A worktree's holder carries a
lock held while it is in use, so :func:`sweep_worktrees` can remove the worktrees of a process
that was killed (a worker that died mid-task) without touching live ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from graft.core import gitrepo
from graft.core.dvcremote import PushReport, parse_report
from graft.core.errors import GitError, GraftError
from graft.core.processes import deferred, run_group

_GIT_LOCK = threading.Lock()  # `git worktree add/remove` of one repository, one at a time


class PipelineFailed(GraftError):
    """A command in the worktree failed; ``log`` keeps its output."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def dvc_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def pipeline_env(worktree: Path) -> dict[str, str]:
    """The project's Python first on PATH; the worktree's own code first on sys.path."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    paths = [str(worktree), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    # concurrent trainings each start several OpenMP threads: idle ones must sleep, not spin,
    # or two runs on two cores slow each other down many times over
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_logged(cmd: Sequence[str], cwd: Path, log: Path, env: Mapping[str, str] | None = None) -> int:
    """Run ``cmd`` in ``cwd`` appending its output to ``log``; returns the exit status.

    The command runs in its own process group (:func:`graft.core.processes.run_group`): a
    signal to graft ends the whole group and raises :class:`~graft.core.errors.Interrupted`.
    """
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(cmd)}  (in {cwd})\n")
        handle.flush()
        started = time.monotonic()
        code = run_group(
            cmd,
            cwd,
            env if env is not None else pipeline_env(cwd),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.write(f"[exit status {code} after {time.monotonic() - started:.1f}s]\n")
    return code


def dvc_cache_dir(root: Path) -> Path:
    """The checkout's DVC cache directory, as DVC resolves it (config files included)."""
    proc = subprocess.run(dvc_command("cache", "dir"), cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        last = reason[-1] if reason else "?"
        raise GraftError(f"{root}: cannot find the DVC cache (dvc cache dir: {last})")
    path = Path(proc.stdout.strip().splitlines()[-1])
    return path if path.is_absolute() else (root / path).resolve()


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[IO[str] | None]:
    """An exclusive lock on ``path`` (created), held across processes; None when not blocking and taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
            return
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git_dir(root: Path) -> Path:
    common = Path(gitrepo.git(root, "rev-parse", "--git-common-dir"))
    return common if common.is_absolute() else (root / common).resolve()


@contextlib.contextmanager
def _worktree_admin(root: Path) -> Iterator[None]:
    """`git worktree add/remove` of one repository, one at a time (threads and processes)."""
    with _GIT_LOCK, file_lock(_git_dir(root) / "graft-worktrees.lock"):
        yield


def _remove_worktree(root: Path, path: Path) -> None:
    """Remove the worktree and its registration (``git worktree prune`` drops a stale one)."""
    try:
        gitrepo.git(root, "worktree", "remove", "--force", "--force", str(path))
    except GitError:
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(GitError):
        gitrepo.git(root, "worktree", "prune")


@contextlib.contextmanager
def temporary_worktree(
    root: Path, sha: str, prefix: str, parent: Path | None = None, keep: bool = False
) -> Iterator[Path]:
    """A detached worktree of ``sha`` under ``parent`` (a temporary folder by default).

    ``root`` may be a bare repository (a kept clone). Under ``parent`` the worktree's folder
    has a sibling ``<folder>.lock`` held for as long as the worktree is in use.
    """
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=parent))
    path = holder / "worktree" if parent is None else holder
    with contextlib.ExitStack() as stack:
        if parent is not None:
            stack.enter_context(file_lock(holder.with_name(holder.name + ".lock")))
        try:
            with deferred(), _worktree_admin(root):  # a signal never leaves a half-added worktree
                gitrepo.git(root, "worktree", "add", "--quiet", "--detach", "--force", str(path), sha)
            yield path
        finally:
            if not keep:
                with deferred(), _worktree_admin(root):
                    _remove_worktree(root, path)
                    shutil.rmtree(holder, ignore_errors=True)
                    if parent is not None:
                        holder.with_name(holder.name + ".lock").unlink(missing_ok=True)


def sweep_worktrees(root: Path, parent: Path) -> list[Path]:
    """Remove the worktrees under ``parent`` whose process died (their lock is free); returns them."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for lock in sorted(parent.glob("*.lock")):
        holder = lock.with_suffix("")
        with file_lock(lock, blocking=False) as free:
            if free is None:
                continue  # in use
            if holder.exists():
                with _worktree_admin(root):
                    _remove_worktree(root, holder)
                shutil.rmtree(holder, ignore_errors=True)
                removed.append(holder)
        lock.unlink(missing_ok=True)
    return removed


# ---------------------------------------------------------------------------------------------
# clones kept between tasks (cluster workers)


def clone_key(url: str) -> str:
    """A folder name for a Git remote URL: its last path part and a short hash of the URL."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    tail = tail.removesuffix(".git") or "repo"
    return f"{tail}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def has_commit(repo_dir: Path, sha: str) -> bool:
    try:
        gitrepo.git(repo_dir, "cat-file", "-e", f"{sha}^{{commit}}")
    except GitError:
        return False
    return True


def kept_clone(home: Path, url: str, sha: str) -> Path:
    """A bare clone of ``url`` under ``home`` that holds ``sha`` (cloned once, fetched when needed).

    Processes of one machine share it: cloning and fetching happen under a file lock.
    """
    clones = home / "clones"
    clone = clones / f"{clone_key(url)}.git"
    with file_lock(clones / f"{clone.name}.lock"):
        if not (clone / "HEAD").is_file():
            shutil.rmtree(clone, ignore_errors=True)
            partial = Path(tempfile.mkdtemp(prefix=f"{clone.name}-", dir=clones))
            gitrepo.git(partial, "init", "--quiet", "--bare")
            gitrepo.git(partial, "remote", "add", "origin", url)
            partial.rename(clone)
        if not has_commit(clone, sha):
            try:
                gitrepo.git(clone, "fetch", "--quiet", "--prune", "origin")
            except GitError as exc:
                raise GitError(f"Git remote {url} cannot be fetched: {exc}") from None
            if not has_commit(clone, sha):
                raise GitError(f"commit {sha[:8]} is not on the Git remote {url} (push it first)")
    return clone


# ---------------------------------------------------------------------------------------------
# runs whose data comes from the DVC remote


def repro_command(pull: bool = False, targets: Sequence[str] = ()) -> list[str]:
    """``dvc repro [TARGETS]``; with ``pull``, missing data and run-cache entries come from the DVC remote."""
    return dvc_command("repro", *(["--pull"] if pull else []), *targets)


_STAGE_LINES = (
    (re.compile(r"^Running stage '([^']+)'"), "ran"),
    (re.compile(r"^Stage '([^']+)' is cached - skipping run"), "restored"),
    (re.compile(r"^Stage '([^']+)' didn't change, skipping"), "unchanged"),
    (re.compile(r"^Pulling data for stage: '([^']+)'"), "unchanged"),
)


def stage_report(text: str) -> dict[str, str]:
    """What ``dvc repro`` did to each stage, read from its output: ran, restored (run cache) or unchanged."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        for pattern, status in _STAGE_LINES:
            match = pattern.match(line.strip())
            if match:
                out[match.group(1)] = status
    return out


def push_run(worktree: Path, log: Path, env: Mapping[str, str], targets: Sequence[str] = ()) -> PushReport:
    """Make the DVC remote hold this run's outputs and run-cache entries (see graft.core.dvcremote);
    what was there and what was uploaded, as that process reported it in ``log``."""
    cmd = [sys.executable, "-m", "graft.core.dvcremote", "push-run", *(f"--target={t}" for t in targets)]
    start = log.stat().st_size
    if run_logged(cmd, worktree, log, env) != 0:
        failed = f"pushing the run's outputs and run cache to the DVC remote failed{_said(log)}"
        raise PipelineFailed(failed, log)
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(start)
        report = parse_report(handle.read())
    if report is None:
        raise PipelineFailed("pushing to the DVC remote reported nothing of what it sent", log)
    return report


def _said(log: Path) -> str:
    """``: REASON`` from the last ``error: REASON`` line of ``log`` (what a graft helper printed)."""
    lines = [x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    reason = next((x.removeprefix("error: ") for x in reversed(lines) if x.startswith("error: ")), "")
    return f": {reason}" if reason else ""


def check_dvc_remote(worktree: Path, log: Path, env: Mapping[str, str]) -> None:
    """Fail with the reason when the default DVC remote of ``worktree`` does not answer."""
    cmd = [sys.executable, "-m", "graft.core.dvcremote", "check"]
    if run_logged(cmd, worktree, log, env) != 0:
        reason = _said(log).removeprefix(": ")
        raise PipelineFailed(reason or "the DVC remote cannot be reached", log)


def tracked_data(worktree: Path) -> list[str]:
    """The ``.dvc`` files of the worktree (data added with ``dvc add``), as Git lists them."""
    out = gitrepo.git(worktree, "ls-files", "-z", "--", "*.dvc", ":(glob)**/*.dvc")
    return sorted({p for p in out.split("\0") if p.endswith(".dvc")})


def prepare_dvc(root: Path, worktree: Path, cache_dir: Path, log: Path, env: Mapping[str, str]) -> None:
    """Point the worktree at ``cache_dir`` and restore the data tracked by ``*.dvc`` files."""
    local = root / ".dvc" / "config.local"
    if local.is_file() and (worktree / ".dvc").is_dir():
        shutil.copy2(local, worktree / ".dvc" / "config.local")
    if run_logged(dvc_command("cache", "dir", "--local", str(cache_dir)), worktree, log, env) != 0:
        raise PipelineFailed(f"could not point the worktree at the DVC cache {cache_dir}", log)
    targets = tracked_data(worktree)
    if not targets:
        return
    if run_logged(dvc_command("checkout", "--quiet", *targets), worktree, log, env) == 0:
        return
    if run_logged(dvc_command("pull", "--quiet", *targets), worktree, log, env) != 0:
        raise PipelineFailed(
            f"the data of {', '.join(targets)} is neither in the DVC cache {cache_dir} nor on a "
            "reachable DVC remote (run `dvc push` where it was added, or `dvc pull` here)",
            log,
        )
