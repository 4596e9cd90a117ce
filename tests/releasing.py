"""Helpers for tests that run the real pipeline, Git remotes and graft's release commands.

Each helper runs the same command a workflow step runs (`dvc repro`, `graft check-repro`,
`graft release`, `git push`), so an end-to-end test reads like .github/workflows/*.yml.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, ROOT, copy_project, git, isolate_git_env

SERVING_CODE = ("stages/serving.py", "stages/schema.py", "stages/features.py", "stages/models.py")


@contextlib.contextmanager
def isolated_git_env(home: Path) -> Iterator[None]:
    """The environment tests/conftest.py's autouse fixture sets, for session-scoped fixtures."""
    home.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, home)
        yield


def run(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; on an unexpected exit code fail with its output."""
    done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def graft(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(cwd, str(BIN / "graft"), *args, check=check)


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(cwd, str(BIN / "dvc"), *args, check=check)


def pipeline_project(dest: Path) -> Path:
    """A fresh Git copy of this project with every pipeline output in the workspace, tree clean."""
    copy_project(dest)
    dvc(dest, "repro")
    status = git(dest, "status", "--porcelain")
    assert status == "", f"dvc repro changed committed files:\n{status}"
    return dest


def clone_tree(source: Path, dest: Path) -> Path:
    """A byte copy of a project folder (Git repo, DVC cache and outputs included)."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def make_origin(project: Path, dest: Path, branch: str = "main") -> Path:
    """A bare repository playing GitHub: ``project`` gets it as ``origin`` and pushes ``branch``."""
    git(dest.parent, "init", "-q", "--bare", "-b", branch, str(dest))
    git(project, "remote", "add", "origin", str(dest))
    git(project, "push", "-q", "origin", branch)
    return dest


def clone_with_outputs(origin: Path, dest: Path, cache_from: Path | None = None) -> Path:
    """``git clone`` of ``origin``; with ``cache_from``, its DVC cache is copied and checked out."""
    git(origin.parent, "clone", "-q", str(origin), str(dest))
    if cache_from is not None:
        shutil.copytree(cache_from / ".dvc" / "cache", dest / ".dvc" / "cache")
        dvc(dest, "checkout", "-q")
    return dest


def set_param(project: Path, dotted: str, value: Any, file: str = "params.yaml") -> None:
    """Set one params.yaml (or ``file``) value (comments kept)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    path = project / file
    data = yaml.load(path.read_text(encoding="utf-8"))
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def set_setting(project: Path, dotted: str, value: Any) -> None:
    """Set one graft.yaml value (comments kept)."""
    set_param(project, dotted, value, "graft.yaml")


def commit_pipeline_change(project: Path, dotted: str, value: Any, message: str) -> str:
    """Change a parameter, re-run the pipeline, commit everything; the new commit's sha."""
    set_param(project, dotted, value)
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD")


def outputs_file(path: Path) -> dict[str, str]:
    """The ``key=value`` lines `graft release --outputs FILE` appended (as $GITHUB_OUTPUT)."""
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)


def small_project(root: Path, metrics: dict[str, Any], model_md5: str = "a" * 32) -> Path:
    """A Git repo with this project's dvc.yaml, graft.yaml, params.yaml and serving code, a
    dvc.lock recording only the model and a metrics file: enough for versions, stages and
    `graft models`, without running the pipeline."""
    import json

    (root / "stages").mkdir(parents=True)
    (root / "metrics").mkdir()
    for path in ("params.yaml", "dvc.yaml", "graft.yaml", *SERVING_CODE):
        shutil.copy(ROOT / path, root / path)
    write_small_lock(root, model_md5)
    (root / "metrics" / "metrics.json").write_text(json.dumps(metrics))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def write_small_lock(root: Path, model_md5: str) -> None:
    import yaml

    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "python -m stages.train",
                "outs": [{"path": "models/model.txt", "md5": model_md5}],
            }
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
