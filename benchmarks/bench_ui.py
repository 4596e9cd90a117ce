"""Benchmark: `graft ui`'s Experiments page against `dvc exp show -a --json`, same branches, same run.

For each size (default 100 and 1,000 experiment branches) builds a throwaway copy of this
project whose branches ``exp/bench-NNN`` are main's commit with altered params.yaml and
metrics/metrics.json, committed through Git plumbing (benchmarks/bench_diff.py's builder; no
training), starts the real `graft ui` server on loopback and times:

* the Experiments page (``GET /``) over HTTP: the first request after start (cold: nothing
  cached in the process) and the median of ``--repeat`` later ones (warm);
* a sorted and filtered view (``GET /?sort=d:roc_auc&desc=1&where=train.num_leaves=63``);
* ``dvc exp show -a --json`` with cold caches (``.dvc/tmp`` and DVC's site cache deleted first).

Goals: the warm page in <= 300 ms at 100 branches and <= 1.5 s at 1,000. The intervals column
loads per row after the page (one paired bootstrap per branch, cached), so it is not in these
times; one row's interval is timed on its own.

Usage: python benchmarks/bench_ui.py [--branches 100 1000] [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT)]

from benchmarks.bench_diff import build_repo, timed  # noqa: E402

BIN = Path(sys.executable).parent
GOALS = {100: 0.300, 1000: 1.5}  # seconds, the warm Experiments page


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(repo: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "graft"), "ui", "--port", str(port)], cwd=repo, env=env, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/refs", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"graft ui did not start: {proc.stderr.read() if proc.stderr else ''}")


def get(client: httpx.Client, path: str, rows: int | None = None) -> float:
    start = time.perf_counter()
    answer = client.get(path)
    elapsed = time.perf_counter() - start
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    if rows is not None:
        shown = answer.text.count("<tr data-branch=")
        if shown != rows:
            raise SystemExit(f"GET {path}: {shown} rows, expected {rows}")
    return elapsed


def measure(size: int, repeat: int, work: Path, dvc: bool = True) -> dict[str, float]:
    repo = work / f"repo-{size}"
    site_cache = work / f"dvc-site-cache-{size}"
    env = {**os.environ, "DVC_SITE_CACHE_DIR": str(site_cache), "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.perf_counter()
    build_repo(repo, size)
    print(f"{size} branches built in {time.perf_counter() - t0:.1f} s", flush=True)
    proc, url = serve(repo, env)
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            cold = get(client, "/", size)
            warm = [get(client, "/", size) for _ in range(repeat)]
            view = [get(client, "/?sort=d:roc_auc&desc=1&where=train.num_leaves=63") for _ in range(repeat)]
            interval = get(client, "/fragments/significance?branch=exp/bench-000")
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    def cold_dvc() -> None:
        shutil.rmtree(repo / ".dvc" / "tmp", ignore_errors=True)
        shutil.rmtree(site_cache, ignore_errors=True)

    show = (
        timed([str(BIN / "dvc"), "exp", "show", "-a", "--json"], repo, env, before=cold_dvc)
        if dvc
        else math.nan
    )
    return {
        "cold": cold,
        "warm": statistics.median(warm),
        "view": statistics.median(view),
        "interval": interval,
        "dvc": show,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per view")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway repositories")
    parser.add_argument(
        "--no-dvc", action="store_true", help="time graft ui only (dvc exp show takes ~20 min at 1,000)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="graft-bench-ui-"))
    print(
        f"{'branches':>8} {'page cold':>10} {'page warm':>10} {'sorted+filtered':>16} "
        f"{'one interval':>13} {'dvc exp show':>13} {'dvc/page':>9} {'goal':>7}",
        flush=True,
    )
    ok = True
    try:
        for size in args.branches:
            r = measure(size, args.repeat, work, dvc=not args.no_dvc)
            goal = GOALS.get(size)
            met = goal is None or r["warm"] <= goal
            ok = ok and met
            print(  # each size as soon as it is measured
                f"{size:>8} {r['cold']:>9.3f}s {r['warm']:>9.3f}s {r['view']:>15.3f}s "
                f"{r['interval']:>12.3f}s "
                f"{r['dvc']:>12.3f}s {r['dvc'] / r['warm']:>8.1f}x "
                f"{'' if goal is None else ('<=' + str(goal) + 's ' + ('met' if met else 'MISSED')):>7}",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
