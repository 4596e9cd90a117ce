"""Module-scoped throwaway projects for the slow tests (one `dvc repro` is shared by many tests)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, copy_project, git

SKIP_DIRS = {".git", ".dvc/cache", ".dvc/tmp", ".venv"}


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The isolated Git identity of tests/conftest.py, for module-scoped fixtures."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[core]\n\tautocrlf = false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        for var in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{var}_NAME", "graft tests")
            mp.setenv(f"GIT_{var}_EMAIL", "tests@graft.invalid")
        mp.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        mp.delenv("GIT_DIR", raising=False)
        mp.delenv("GIT_WORK_TREE", raising=False)
        yield


def dvc(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def checked_out_project(dest: Path) -> Path:
    """A project copy whose DVC outputs are in the workspace, like a user's checkout after repro."""
    copy_project(dest)
    dvc(dest, "checkout", "--quiet")
    return dest


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (DVC outputs and .graft/ included; .git and the cache not)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == d or rel.startswith(d + "/") for d in SKIP_DIRS) or not path.is_file():
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def repo_state(root: Path) -> dict[str, object]:
    """Everything a refused command must leave exactly as it was."""
    return {
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "branches": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(root, "rev-parse", "HEAD"),
        "symbolic_head": git(root, "symbolic-ref", "-q", "HEAD"),
        "worktrees": git(root, "worktree", "list", "--porcelain"),
        "files": file_hashes(root),
    }
