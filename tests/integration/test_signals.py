"""SIGINT, SIGTERM and SIGHUP to graft's own process (never its group) while the pipeline runs.

Real `graft exp new` / `exp grid` on the tiny nap project (tests/integration/nap.py), whose
stage writes its pid and process group and sleeps. The signal goes to graft's pid only, as
`kill`, `timeout` and a CI cancellation send it. Each must end with the documented exit
code and one error line, no process of the pipeline's group left (read from /proc), no
process graft started left at all (its watchdog included), and the repository exactly as it
was: refs, worktrees (`git worktree list`), working tree and every file under it (.graft/logs
included). SIGKILL, where graft runs no handler: its watchdog ends the group, and the next
run removes the worktree left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import BIN, git
from tests.integration import nap
from tests.integration.conftest import repo_state

pytestmark = pytest.mark.slow

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Path:
    return nap.build(tmp_path_factory.mktemp("nap") / "project")


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(template, dest, symlinks=True)
    return dest


class Graft:
    """`graft ARGS` started in ``project`` with its own pid folder and environment mark."""

    def __init__(self, project: Path, tmp_path: Path, *args: str, **env_extra: str) -> None:
        self.pid_dir = tmp_path / f"pids-{uuid.uuid4().hex[:6]}"
        self.pid_dir.mkdir()
        self.mark = uuid.uuid4().hex
        env = {**os.environ, **env_extra, "NAP_PID_DIR": str(self.pid_dir), "NAP_MARK": self.mark}
        self.proc = subprocess.Popen(
            [str(BIN / "graft"), *args],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, timeout: float = 90.0) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err


def error_lines(stderr: str) -> list[str]:
    """graft's own error lines (progress lines read `graft exp: ...`)."""
    return [line for line in stderr.splitlines() if line.startswith("graft: ")]


def assert_nothing_left(run: Graft, groups: list[tuple[int, int]]) -> None:
    for _, pgid in groups:
        assert nap.settle(lambda pgid=pgid: nap.group_members(pgid)) == [], f"process group {pgid} left"
    assert nap.settle(lambda: nap.marked(run.mark)) == [], "a process graft started is still running"


@pytest.mark.parametrize(("sig", "code"), SIGNALS, ids=[s.name for s, _ in SIGNALS])
def test_a_signal_to_graft_ends_the_pipeline_and_leaves_nothing(project, tmp_path, sig, code):
    before = repo_state(project)
    run = Graft(project, tmp_path, "exp", "new", "long-nap", "--set", "nap.seconds=600")
    groups = nap.stage_groups(run.pid_dir)
    ((_, pgid),) = groups
    assert pgid not in (run.proc.pid, os.getpgid(run.proc.pid))  # the pipeline has its own group
    assert nap.group_members(pgid)  # ... running now
    os.kill(run.proc.pid, sig)
    status, err = run.finish()
    assert status == code, err
    assert error_lines(err) == [f"graft: interrupted by {sig.name}"], err
    assert_nothing_left(run, groups)
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(project, "branch", "--list", "exp/*") == ""
    assert repo_state(project) == before


def test_sigterm_to_a_grid_ends_every_running_point_and_starts_no_other(project, tmp_path):
    before = repo_state(project)
    run = Graft(project, tmp_path, "exp", "grid", "--set", "nap.seconds=600,601,602", "-j", "2")
    groups = nap.stage_groups(run.pid_dir, count=2)
    assert len({pgid for _, pgid in groups}) == 2  # one group per running point
    os.kill(run.proc.pid, signal.SIGTERM)
    status, err = run.finish()
    assert status == 143, err
    assert error_lines(err) == ["graft: interrupted by SIGTERM"], err
    assert len(list(run.pid_dir.iterdir())) == 2  # the third point never started
    assert_nothing_left(run, groups)
    assert repo_state(project) == before


def test_sigterm_to_reproduce_ends_the_pipeline_and_leaves_no_worktree_or_log(project, tmp_path):
    """`graft reproduce TAG` re-runs the tagged pipeline in a temporary worktree under $TMPDIR."""
    (project / "params.yaml").write_text("nap:\n  seconds: 600\n")
    git(project, "commit", "-q", "-am", "a long nap")
    git(project, "tag", "-a", "nap@v1.0.0", "-m", "Release nap v1.0.0")
    git(project, "reset", "-q", "--hard", "HEAD~1")
    before = repo_state(project)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    # (DVC_NO_ANALYTICS: DVC itself leaves its analytics reports in $TMPDIR after every command)
    run = Graft(project, tmp_path, "reproduce", "nap@v1.0.0", TMPDIR=str(temporary), DVC_NO_ANALYTICS="1")
    groups = nap.stage_groups(run.pid_dir)
    assert any(temporary.iterdir())  # the worktree and the log are there while it runs
    os.kill(run.proc.pid, signal.SIGTERM)
    status, err = run.finish()
    assert status == 143, err
    assert error_lines(err) == ["graft: interrupted by SIGTERM"], err
    assert_nothing_left(run, groups)
    assert sorted(temporary.iterdir()) == []
    assert repo_state(project) == before


def test_sigkill_the_watchdog_ends_the_group_and_the_next_run_removes_the_worktree(project, tmp_path):
    run = Graft(project, tmp_path, "exp", "new", "killed", "--set", "nap.seconds=600")
    groups = nap.stage_groups(run.pid_dir)
    os.kill(run.proc.pid, signal.SIGKILL)
    status, _ = run.finish()
    assert status == -signal.SIGKILL
    assert_nothing_left(run, groups)  # no handler ran: the watchdog ended the group
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 2  # left behind
    after = Graft(project, tmp_path, "exp", "new", "after", "--no-run")
    status, err = after.finish()
    assert status == 0, err
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert sorted(p.name for p in (project / ".graft" / "worktrees").iterdir()) == []
    assert git(project, "branch", "--list", "exp/*").split() == ["exp/after"]


def test_sigterm_to_the_cluster_client_cancels_the_task_and_the_worker_ends_its_run(project, tmp_path):
    """`--cluster local:1`: the client cancels the task; the worker's run sees it, ends its
    process group and removes its worktree and log; nothing is pushed."""
    origin, store = tmp_path / "origin.git", tmp_path / "dvc-store"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    store.mkdir()
    subprocess.run(["dvc", "remote", "add", "-q", "-d", "store", str(store)], cwd=project, check=True)
    git(project, "commit", "-q", "-am", "a DVC remote for the workers")
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")
    before, remote_before = repo_state(project), git(origin, "for-each-ref")
    run = Graft(project, tmp_path, "exp", "new", "far", "--cluster", "local:1", "--set", "nap.seconds=600")
    groups = nap.stage_groups(run.pid_dir, timeout=300)
    os.kill(run.proc.pid, signal.SIGTERM)
    status, err = run.finish(timeout=120)
    assert status == 143, err
    assert error_lines(err) == ["graft: interrupted by SIGTERM"], err
    assert_nothing_left(run, groups)  # the worker processes included
    assert git(origin, "for-each-ref") == remote_before  # nothing pushed
    worker = project / ".graft" / "cluster"
    assert sorted(p.name for p in (worker / "logs").iterdir()) == []
    assert [p for p in (worker / "worktrees").rglob("*") if p.parent.parent == worker / "worktrees"] == []
    after = repo_state(project)
    # what the local worker keeps between tasks (its clone, its DVC cache) is all that is new
    files: dict[str, str] = after.pop("files")  # type: ignore[assignment]
    assert {k: v for k, v in files.items() if not k.startswith(".graft/cluster/")} == before.pop("files")
    assert after == before
