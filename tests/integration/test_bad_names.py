"""Bad experiment names through the real command line: refused before anything is created.

Every case of tests/integration/names_corpus.py runs `graft exp ...` (in-process, through
graft.cli.main, as the `graft` script does) in its own copy of the nap project with a bare
remote ``origin``. Each must exit with its code and exactly its one-line message, and leave
everything as it was: the repository's refs, worktrees, working tree and every file under it
(.graft/ included: no log, no worktree folder, no search storage), the remote's refs; no stage
started (the nap stage writes a pid file the moment it starts) and no process left that graft
started (its children inherit a mark in their environment, read back from /proc).

The slow test shows the other side of the length limit: a name of exactly the limit, with
folders, runs the pipeline; its run fails on purpose, so its log is kept, under a short name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from graft.cli import main
from graft.experiments.names import STEM_CHARS, file_stem
from tests.conftest import BIN, git
from tests.integration import nap
from tests.integration.conftest import repo_state
from tests.integration.names_corpus import CASES, LIMIT, LOCAL, REMOTE, Case, expected


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Path:
    top = tmp_path_factory.mktemp("names")
    project = nap.build(top / "project")
    for branch in LOCAL:
        git(project, "branch", branch, "main")
    remote = top / "origin.git"
    git(top, "init", "-q", "--bare", str(remote))
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "-q", "origin", "main", *(f"main:refs/heads/{b}" for b in REMOTE))
    return top


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> tuple[Path, Path]:
    top = tmp_path / "copy"
    shutil.copytree(template, top, symlinks=True)
    project, remote = top / "project", top / "origin.git"
    git(project, "remote", "set-url", "origin", str(remote))
    return project, remote


def remote_refs(remote: Path) -> str:
    return git(remote, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_name_is_refused_before_anything_is_created(case: Case, copy, tmp_path, monkeypatch, capsys):
    project, remote = copy
    if case.setup is not None:
        case.setup(project)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    mark = uuid.uuid4().hex
    monkeypatch.setenv("NAP_PID_DIR", str(pid_dir))
    monkeypatch.setenv("NAP_MARK", mark)
    before, before_remote = repo_state(project), remote_refs(remote)
    capsys.readouterr()

    code = main(["-C", str(project), "-q", *case.args])

    err = capsys.readouterr().err
    assert (code, err) == (case.code, expected(case, remote) + "\n")
    assert repo_state(project) == before
    assert remote_refs(remote) == before_remote
    assert list(pid_dir.iterdir()) == []  # no stage started
    assert nap.marked(mark) == []  # no process graft started is left


def test_the_corpus_covers_every_command_and_class():
    commands = {c.args[1] for c in CASES}
    assert commands == {"new", "grid", "search", "prune"}
    for word in ("invalid", "long", "exists", "under", "above", "remote"):
        assert any(word in c.id for c in CASES), word


@pytest.mark.slow
def test_a_name_at_the_limit_runs_and_its_files_have_short_names(copy, tmp_path):
    project, _ = copy
    name = "/".join(["d" * 49] * 4) + "e" * (LIMIT - 199)  # folders, exactly LIMIT bytes
    assert len(name.encode()) == LIMIT
    env = {**os.environ, "NAP_MARK": uuid.uuid4().hex}
    # nap.seconds=-1: the stage fails (time.sleep refuses it), so the run keeps its log
    proc = subprocess.run(
        [str(BIN / "graft"), "exp", "new", name, "--set", "nap.seconds=-1"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    (log,) = (project / ".graft" / "logs").iterdir()
    stem = file_stem(name)
    assert len(stem) == STEM_CHARS and stem.startswith("d" * 49 + "__")
    assert re.fullmatch(re.escape(stem) + r"-\d{8}-\d{6}\.log", log.name)
    assert f"log: {log}" in proc.stderr.splitlines()[-1]
    assert "ValueError: sleep length must be non-negative" in log.read_text()
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(project, "branch", "--list", "exp/dd*") == ""
    done = subprocess.run(
        [str(BIN / "graft"), "exp", "new", name, "--no-run"], cwd=project, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert git(project, "branch", "--list", f"exp/{name}").strip() == f"exp/{name}"
