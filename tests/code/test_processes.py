"""graft.core.processes: own process groups, ending them, signals to graft, and the watchdog.

Real processes throughout: a shell whose background child sleeps stands for `dvc repro` and
the stage it starts (two processes of one group); a Python parent that is SIGKILLed stands
for graft killed outright.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from graft.core import processes
from graft.core.errors import ExitCode, Interrupted, run_main
from tests.integration.nap import group_members, settle

# a leader that starts a grandchild in its group, reports the group, and waits
TREE = 'sleep 600 & echo "$$" > "$1"; wait'


def started_group(pid_file: Path, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file.is_file() and pid_file.read_text().endswith("\n"):
            return int(pid_file.read_text())
        time.sleep(0.02)
    raise AssertionError("the process tree did not start")


@pytest.fixture(autouse=True)
def handled():
    with processes.signals_handled():
        yield


def test_a_command_runs_in_its_own_group_and_returns_its_status(tmp_path):
    out = tmp_path / "out"
    with out.open("w") as handle:
        code = processes.run_group(
            ["sh", "-c", 'echo "$$ $(ps -o pgid= -p $$)"; exit 3'], tmp_path, stdout=handle
        )
    assert code == 3
    pid, pgid = out.read_text().split()
    assert pid == pgid and int(pgid) != os.getpgid(0)


def test_what_the_leader_leaves_running_in_its_group_is_ended(tmp_path):
    pid_file = tmp_path / "pid"
    script = 'sleep 600 & echo "$$" > "$1"'  # the leader exits at once, its child sleeps on
    assert processes.run_group(["sh", "-c", script, "sh", str(pid_file)], tmp_path) == 0
    pgid = started_group(pid_file)
    assert settle(lambda: group_members(pgid)) == []


def test_a_stop_from_a_signal_ends_the_whole_group_of_a_worker_thread(tmp_path):
    pid_file = tmp_path / "pid"
    raised: list[BaseException] = []

    def worker() -> None:
        try:
            processes.run_group(["sh", "-c", TREE, "sh", str(pid_file)], tmp_path)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    pgid = started_group(pid_file)
    assert len(group_members(pgid)) == 2
    with pytest.raises(Interrupted) as caught:
        os.kill(os.getpid(), signal.SIGTERM)  # to this process: the handler raises here
        time.sleep(5)
    assert caught.value.exit_code == ExitCode.TERMINATED == 143
    thread.join(30)
    assert [type(e) for e in raised] == [Interrupted] and raised[0].signum == signal.SIGTERM
    assert group_members(pgid) == []
    with pytest.raises(Interrupted):  # once stopping, nothing new starts
        processes.run_group(["true"], tmp_path)


def test_a_signal_during_a_deferred_section_is_acted_on_after_it():
    done = []
    with pytest.raises(Interrupted) as caught, processes.deferred():
        os.kill(os.getpid(), signal.SIGHUP)
        done.append("the section ran to its end")
    assert done == ["the section ran to its end"] and caught.value.exit_code == 129


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    pid_file = tmp_path / "pid"
    script = 'trap "" TERM; echo "$$" > "$1"; while :; do sleep 0.1; done'
    proc = subprocess.Popen(["sh", "-c", script, "sh", str(pid_file)], process_group=0)
    pgid = started_group(pid_file)
    processes.end_group(pgid, grace=0.5)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert settle(lambda: group_members(pgid)) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_run_main_exits_128_plus_the_signal_with_one_line(capsys, sig, code):
    def interrupted() -> int:
        os.kill(os.getpid(), sig)
        time.sleep(5)
        return 0

    assert run_main(processes.handling_signals(interrupted), "graft") == code  # as graft.cli runs it
    assert capsys.readouterr().err == f"graft: interrupted by {sig.name}\n"
    assert signal.getsignal(sig) is processes._handler  # the fixture's, restored afterwards


def test_graft_killed_outright_its_watchdog_ends_the_groups(tmp_path):
    pid_file = tmp_path / "pid"
    parent = textwrap.dedent(
        f"""
        from pathlib import Path
        from graft.core import processes
        processes.run_group(["sh", "-c", {TREE!r}, "sh", {str(pid_file)!r}], Path("."))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=tmp_path)
    pgid = started_group(pid_file)
    assert len(group_members(pgid)) == 2
    proc.kill()  # SIGKILL: no handler, no finally
    proc.wait(10)
    assert settle(lambda: group_members(pgid), timeout=processes.GRACE_SECONDS + 10) == []
