"""Build the second project (tests/integration/second_project) as a user's fresh repository.

Its data comes from a package installed here (scikit-learn's bundled diabetes table), is
tracked with `dvc add` as most DVC projects start, and the pipeline runs once before the first
commit of results.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
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


def configure(root: Path) -> Path:
    """`graft init` in the built project, then what init cannot know (the predictions' columns,
    the serving adapter and the monitoring reference), committed."""
    import yaml

    from tests.releasing import graft

    graft(root, "init")
    settings = yaml.safe_load((root / "graft.yaml").read_text())
    settings["predictions"].update(id="patient", label="progression", score="predicted")
    settings["package"].update(
        adapter="src/serving.py",
        code=["src/common.py"],
        reference={"path": "work/train.parquet", "id": "patient"},
    )
    (root / "graft.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    git(root, "add", "graft.yaml")
    git(root, "commit", "-q", "-m", "graft settings: serving adapter")
    return root


def build_repository(source: Path, dest: Path, write: Callable[[Path], None], data: str, title: str) -> Path:
    """``source`` copied to ``dest`` as a user's repository: ``write`` its data, `dvc add` ``data``,
    commit, run the pipeline, commit its results."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
    write(dest)
    git(dest, "init", "-q", "-b", "main")
    dvc(dest, "init", "-q")
    dvc(dest, "add", "-q", data)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", title)
    dvc(dest, "repro", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "first results")
    return dest


def build(dest: Path) -> Path:
    """A Git + DVC repository of the second project with its pipeline run and committed."""
    return build_repository(SOURCE, dest, write_data, "data/diabetes.csv", "diabetes regression project")
