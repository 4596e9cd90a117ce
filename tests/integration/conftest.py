"""Fixtures for slow tests: one real pipeline run per session, copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.releasing import clone_tree, isolated_git_env, pipeline_project


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project, committed on main, after `dvc repro` (run once per session; do not modify)."""
    base = tmp_path_factory.mktemp("pipeline-template")
    with isolated_git_env(base / "home"):
        return pipeline_project(base / "project")


@pytest.fixture
def pipeline_copy(pipeline_template: Path, tmp_path: Path) -> Path:
    """A private copy of the session's reproduced project (Git history, DVC cache, outputs)."""
    return clone_tree(pipeline_template, tmp_path / "project")
