"""A tiny Git + DVC project whose one stage writes its pid and process group, then sleeps.

For the signal and name tests: `graft exp new` on it costs one DVC start, no training. The
stage writes ``<pid> <pgid>`` to ``$NAP_PID_DIR/<pid>`` (when set) as soon as it starts, so a
test knows the stage runs and which process group to look for afterwards; every process graft
starts inherits ``NAP_MARK``, so :func:`marked` finds any of them left running (the watchdog
included) by its environment.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import git

PARAMS = "nap:\n  seconds: 0\n"
DVC_YAML = """stages:
  nap:
    cmd: python nap.py
    deps: [nap.py]
    params: [nap]
    metrics:
      - out/metrics.json:
          cache: false
"""
STAGE = """import json, os, pathlib, time
import yaml

seconds = yaml.safe_load(open("params.yaml"))["nap"]["seconds"]
folder = os.environ.get("NAP_PID_DIR")
if folder:
    pathlib.Path(folder, str(os.getpid())).write_text(f"{os.getpid()} {os.getpgid(0)}\\n")
time.sleep(seconds)
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/metrics.json").write_text(json.dumps({"slept": seconds}) + "\\n")
"""


def build(dest: Path) -> Path:
    """The project, committed on main (its pipeline never run: nothing to restore)."""
    dest.mkdir(parents=True)
    git(dest, "init", "-q", "-b", "main")
    subprocess.run(["dvc", "init", "-q"], cwd=dest, check=True, capture_output=True)
    (dest / "params.yaml").write_text(PARAMS)
    (dest / "dvc.yaml").write_text(DVC_YAML)
    (dest / "nap.py").write_text(STAGE)
    (dest / ".gitignore").write_text(".graft/\n")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "nap project")
    return dest


def stage_groups(pid_dir: Path, count: int = 1, timeout: float = 120.0) -> list[tuple[int, int]]:
    """(pid, pgid) of the first ``count`` stages once they have started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(pid_dir.iterdir())
        if len(files) >= count:
            out = []
            for f in files:
                text = f.read_text()
                if not text.endswith("\n"):
                    break
                pid, pgid = text.split()
                out.append((int(pid), int(pgid)))
            else:
                return out
        time.sleep(0.1)
    raise AssertionError(f"no {count} stage(s) started within {timeout}s ({sorted(pid_dir.iterdir())})")


def group_members(pgid: int) -> list[int]:
    """Live processes (zombies excluded) whose process group is ``pgid``, read from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry.name))
    return out


def marked(mark: str) -> list[int]:
    """Live processes whose environment holds ``NAP_MARK=<mark>`` (zombies excluded)."""
    needle = f"NAP_MARK={mark}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                out.append(int(entry.name))
        except OSError:
            continue
    return out


def settle(check: Callable[[], list[int]], timeout: float = 15.0) -> list[int]:
    """Poll ``check()`` (a list of pids) until it is empty or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    left = check()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = check()
    return left
