"""Benchmark: what running a command in its own, watched process group costs.

Every command graft runs in a worktree (``dvc repro``, ``dvc checkout``, ...) goes through
:func:`graft.core.processes.run_group`: its own process group, a poll every 0.2 s for a stop,
and one watchdog process per graft process (started on the first call) told of each group.
In the same run:

1. baseline: ``subprocess.run(["true"])``, N times;
2. ``run_group(["true"])``, N times (the watchdog already running), in the main thread (which
   blocks in ``wait``) and in a worker thread (which polls; a thread's start included);
3. the first ``run_group`` of a fresh process (the watchdog's start included), against a
   fresh process's first ``subprocess.run``.

The goal: (2) in the main thread within 1.3x of ``subprocess.run`` with its own group (the
group itself costs the fork's ``vfork`` fast path, also measured); (3) is paid once per graft
command, next to a ``dvc repro`` of seconds. A measurement, not a test: it prints its figures and exits 0.

    python benchmarks/bench_processes.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from graft.core.processes import run_group  # noqa: E402

TARGET = 1.3
FIRST = """
import subprocess, sys, time
from pathlib import Path
from graft.core.processes import run_group
start = time.perf_counter()
if sys.argv[1] == "group":
    run_group(["true"], Path("."))
else:
    subprocess.run(["true"], check=True)
print(time.perf_counter() - start)
"""


def per_call(func, runs: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(runs):
        func()
    return (time.perf_counter() - start) / runs


def in_thread(here: Path) -> None:
    thread = threading.Thread(target=run_group, args=(["true"], here))
    thread.start()
    thread.join()


def first_call(kind: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tools")}
    out = subprocess.run(
        [sys.executable, "-c", FIRST, kind], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    here = Path()
    run_group(["true"], here)  # the watchdog starts here, outside the measurement

    def median(func) -> float:  # type: ignore[no-untyped-def]
        return statistics.median(per_call(func, args.runs) for _ in range(3))

    plain = median(lambda: subprocess.run(["true"], check=True))
    own_group = median(lambda: subprocess.run(["true"], check=True, process_group=0))
    grouped = median(lambda: run_group(["true"], here))
    threaded = median(lambda: in_thread(here))
    first_plain = statistics.median(first_call("plain") for _ in range(5))
    first_group = statistics.median(first_call("group") for _ in range(5))
    rows = [
        ("subprocess.run (baseline)", plain, ""),
        ("subprocess.run, own group", own_group, "no vfork once a group is set"),
        ("run_group, main thread", grouped, f"goal <= {TARGET}x the own-group run"),
        ("run_group, worker thread", threaded, "a thread's start included; polls every 0.2 s"),
    ]
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for label, seconds, note in rows:
        ratio = f"{seconds / plain:.2f}x baseline, {seconds / own_group:.2f}x own group"
        print(f"{label:27} {seconds * 1e3:6.2f} ms per call ({ratio}){'; ' + note if note else ''}")
    print(
        f"first call of a process:    {first_group * 1e3:.1f} ms with the watchdog's start, "
        f"{first_plain * 1e3:.1f} ms without (+{(first_group - first_plain) * 1e3:.1f} ms once per command)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
