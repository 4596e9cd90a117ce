"""The toolkit installs alone (slow): build the wheel, install it with its real dependencies in
a fresh virtualenv, and run `graft diff`, `graft report` and `graft gate` on a committed
project, without LightGBM, fairlearn or pandera (the reference pipeline's dependencies)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_project, project_files
from tests.integration.repos import branch
from tests.schemas import validate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PIPELINE_ONLY = ("lightgbm", "fairlearn", "pandera")


def run(
    *argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def checked(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (
        f"{done.args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def toolkit(tmp_path_factory) -> Path:
    """A fresh virtualenv holding only the toolkit's wheel and its declared dependencies."""
    work = tmp_path_factory.mktemp("toolkit")
    source = work / "source"  # the repository's files as Git would commit them (no build litter here)
    for rel in project_files():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, source / rel)
    checked(run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", work / "wheels", source))
    (wheel,) = (work / "wheels").glob("graft_toolkit-*.whl")
    venv = work / "venv"
    checked(run(sys.executable, "-m", "venv", venv))
    checked(run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile", wheel))
    return venv


@pytest.fixture(scope="module")
def committed(module_env, tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("committed") / "project", with_cache=False)
    branch(root, "exp/better", metrics={"roc_auc": 0.95}, params={"train.num_leaves": 63})
    branch(root, "exp/worse", metrics={"log_loss": 0.5})
    return root


def env_of(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return env


def test_the_pipeline_dependencies_are_not_installed(toolkit):
    probe = f"import importlib.util as u; print([m for m in {PIPELINE_ONLY!r} if u.find_spec(m)])"
    done = checked(run(toolkit / "bin" / "python", "-c", probe, env=env_of(toolkit)))
    assert done.stdout.strip() == "[]"
    done = checked(
        run(toolkit / "bin" / "python", "-m", "pip", "list", "--format", "json", env=env_of(toolkit))
    )
    names = {p["name"].lower() for p in json.loads(done.stdout)}
    assert "graft-toolkit" in names and not names & set(PIPELINE_ONLY)
    assert not names & {"fastapi", "uvicorn", "matplotlib", "scikit-learn", "scipy"}  # extras stay out too


def test_diff_report_and_gate_run_on_a_committed_project(toolkit, committed):
    graft, env = toolkit / "bin" / "graft", env_of(toolkit)
    diff = checked(run(graft, "diff", "exp/better", "--format", "json", cwd=committed / "stages", env=env))
    result = json.loads(diff.stdout)
    validate(result, "diff")
    roc = next(r for r in result["rows"] if r["key"] == "roc_auc")
    assert roc["values"]["exp/better"] == 0.95 and roc["best"] == ["exp/better"]

    report = checked(
        run(graft, "-C", committed, "report", "--head", "exp/better", "--resamples", "50", env=env)
    )
    assert report.stdout.startswith("<!-- graft-report -->") and "`exp/better`" in report.stdout
    assert "#### Confusion\n" in report.stdout and "| <=50K | 11688 → 11688 | 747 → 747 |" in report.stdout

    gate = checked(
        run(
            graft,
            "gate",
            "--base",
            "main",
            "--head",
            "exp/better",
            "--format",
            "json",
            cwd=committed,
            env=env,
        )
    )
    validate(json.loads(gate.stdout), "gate")
    failed = run(graft, "gate", "--base", "main", "--head", "exp/worse", cwd=committed, env=env)
    assert failed.returncode == 1 and failed.stdout.startswith("gate FAILED")


def test_a_missing_extra_names_the_package_to_install(toolkit, committed):
    done = run(toolkit / "bin" / "graft", "serve", "model.tar.gz", cwd=committed, env=env_of(toolkit))
    assert done.returncode == 3
    assert done.stderr == (
        "graft: error: graft serve needs fastapi, which is not installed: "
        "pip install 'graft-toolkit[serve]'\n"
    )
    # printed, the report lists dvc.yaml's plots (above); drawn beside -o FILE, they need vl-convert
    argv = ["report", "--head", "exp/better", "--resamples", "5", "-o", "drawn/report.md", "--quiet"]
    done = run(toolkit / "bin" / "graft", *argv, cwd=committed, env=env_of(toolkit))
    assert (done.returncode, done.stderr) == (
        3,
        "graft: error: graft report needs vl_convert, which is not installed: "
        "pip install 'graft-toolkit[plots]'\n",
    )
    assert not (committed / "drawn").exists()
