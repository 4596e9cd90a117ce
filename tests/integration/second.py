"""Build the second project (tests/integration/second_project) as a user's fresh repository.

Its data comes from a package installed here (scikit-learn's bundled diabetes table), is
tracked with `dvc add` as most DVC projects start, and the pipeline runs once before the first
commit of results.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import git

SOURCE = Path(__file__).parent / "second_project"


def dvc(cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def write_data(dest: Path) -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(scaled=False, as_frame=True).frame.rename(columns={"target": "progression"})
    (dest / "data").mkdir(parents=True, exist_ok=True)
    frame.to_csv(dest / "data" / "diabetes.csv", index=False)


def build(dest: Path) -> Path:
    """A Git + DVC repository of the second project with its pipeline run and committed."""
    shutil.copytree(SOURCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    write_data(dest)
    git(dest, "init", "-q", "-b", "main")
    dvc(dest, "init", "-q")
    dvc(dest, "add", "-q", "data/diabetes.csv")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "diabetes regression project")
    dvc(dest, "repro", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "first results")
    return dest
