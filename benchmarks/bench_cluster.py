"""Benchmark: an experiment grid on a Dask cluster against the same grid on local threads.

Set-up: a copy of the project with a bare Git remote and an S3 DVC remote (moto's server on
loopback, as in the tests), main and its outputs pushed. Then, in the same run:

1. baseline: ``graft exp grid -j 2`` (8 points, every one trains) on this machine's threads;
2. ``graft exp grid --cluster local:2``: the same 8 points (other branch names) on two local
   worker processes, which clone from the Git remote, pull data and run cache from S3, push
   their outputs, run cache and branch back; the client fetches the branches
   (goal: <= 1.3x the baseline's wall time);
3. the cached re-run: the same points again from a fresh clone of the Git remote, on fresh
   workers (empty clone and cache): every stage comes from the S3 run cache
   (goal: <= 0.2x the first cluster run).

A measurement, not a test: it prints its figures and exits 0. It is sensitive to other
CPU-bound work on the machine (the load average at the start and end is printed).

    python benchmarks/bench_cluster.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import BIN, git  # noqa: E402
from tests.integration.cluster import S3_ENV, S3Server, shared_project  # noqa: E402

GRID = ["train.num_leaves=15,23,47,63", "train.min_child_samples=10,40"]
CLUSTER_TARGET = 1.3
CACHED_TARGET = 0.2


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(S3_ENV)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "OMP_WAIT_POLICY": "PASSIVE",
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_AUTHOR_NAME": "graft bench",
            "GIT_AUTHOR_EMAIL": "bench@graft.invalid",
            "GIT_COMMITTER_NAME": "graft bench",
            "GIT_COMMITTER_EMAIL": "bench@graft.invalid",
        }
    )
    return env


def grid(cwd: Path, env: dict[str, str], prefix: str, *how: str) -> float:
    sets = [arg for axis in GRID for arg in ("--set", axis)]
    start = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "graft"), "exp", "grid", *sets, "--prefix", prefix, *how],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"graft exp grid {' '.join(how)} failed:\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="repetitions of the three runs (default 1)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="graft-bench-cluster-"))
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    env = environment(home)
    os.environ.update(env)  # the project set-up helpers run git and dvc in this process's environment
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    server = S3Server(base).start()
    try:
        bucket = server.create_bucket("bench")
        root = shared_project(base / "shared", server, bucket)
        local, cluster, cached = [], [], []
        for n in range(args.rounds):
            local.append(grid(root, env, f"local{n}", "-j", "2"))
            print(f"round {n + 1}: -j 2 (threads here)       {local[-1]:7.1f} s")
            cluster.append(grid(root, env, f"cluster{n}", "--cluster", "local:2"))
            print(f"round {n + 1}: --cluster local:2         {cluster[-1]:7.1f} s")
            fresh = base / f"fresh{n}"
            git(base, "clone", "-q", str(base / "shared" / "origin.git"), str(fresh))
            cached.append(grid(fresh, env, f"cached{n}", "--cluster", "local:2"))
            print(f"round {n + 1}: cached re-run, fresh clone {cached[-1]:7.1f} s")
        a, b, c = statistics.median(local), statistics.median(cluster), statistics.median(cached)
        print(f"8-point grid, --cluster local:2 / -j 2: {b / a:.2f}x (goal <= {CLUSTER_TARGET}x)")
        print(f"cached re-run / first cluster run:      {c / b:.2f}x (goal <= {CACHED_TARGET}x)")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
