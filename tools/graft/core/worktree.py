"""Temporary Git worktrees that run a project's DVC pipeline, shared by ``exp`` and ``reproduce``.

:func:`temporary_worktree` checks a commit out in a detached worktree and always removes it
(unless ``keep``); the user's checkout is never touched. :func:`prepare_dvc` points the
worktree at a DVC cache, copies the user's ``.dvc/config.local`` (remotes and credentials kept
out of Git) and restores the data the project tracks with ``dvc add`` (``*.dvc`` files), which a
fresh worktree does not have: from the cache, else from the DVC remote. :func:`run_logged` runs
a command with :func:`pipeline_env` (the project's Python first on PATH, the worktree's own code
first on ``sys.path``, no inherited ``GIT_DIR``, OpenMP threads that sleep when idle) and
appends its output to a log file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from graft.core import gitrepo
from graft.core.errors import GitError, GraftError

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
    """Run ``cmd`` in ``cwd`` appending its output to ``log``; returns the exit status."""
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(cmd)}  (in {cwd})\n")
        handle.flush()
        proc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else pipeline_env(cwd),
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
        handle.write(f"[exit status {proc.returncode}]\n")
    return proc.returncode


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
def temporary_worktree(
    root: Path, sha: str, prefix: str, parent: Path | None = None, keep: bool = False
) -> Iterator[Path]:
    """A detached worktree of ``sha`` under ``parent`` (a temporary folder by default)."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=parent))
    path = holder / "worktree" if parent is None else holder
    try:
        with _GIT_LOCK:
            gitrepo.git(root, "worktree", "add", "--quiet", "--detach", "--force", str(path), sha)
        yield path
    finally:
        if not keep:
            with _GIT_LOCK:
                try:
                    gitrepo.git(root, "worktree", "remove", "--force", str(path))
                except GitError:
                    shutil.rmtree(path, ignore_errors=True)
                    with contextlib.suppress(GitError):
                        gitrepo.git(root, "worktree", "prune")
            shutil.rmtree(holder, ignore_errors=True)


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
