"""Benchmark: the overhead of running the reference pipeline through DVC.

Baseline: the six stages run as plain ``python -m stages.<name>`` in sequence in a fresh
copy of the project. Measured against it: ``dvc repro`` from scratch (fresh copy, no DVC
cache, every stage runs). Rounds alternate between the two so drift hits both alike; the
medians and their ratio are reported (target: ratio <= 1.25). Also: a no-op ``dvc repro``
on an up-to-date project (target <= 1 s) and the peak RSS of each stage.

A measurement, not a test: it prints its figures and exits 0. It is sensitive to other
CPU-bound work on the machine (the load average at the start is printed): two LightGBM
trainings sharing two cores each with ``num_threads: 2`` slow each other down many times over.

    python benchmarks/bench_pipeline.py [--rounds N]
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
BIN = Path(sys.executable).parent
STAGES = ("ingest", "validate", "featurize", "train", "evaluate", "gate")
RATIO_TARGET = 1.25
NOOP_TARGET = 1.0


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def fresh_copy(dest: Path) -> Path:
    """The project's files as Git would commit them, in a new Git repository, no DVC cache."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for rel in (p for p in listing.split("\0") if p):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def timed(argv: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one command and its descendants."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed in {cwd} (exit {proc.returncode}):\n{err}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss


def run_plain(work: Path) -> tuple[float, dict[str, tuple[float, int]]]:
    project = fresh_copy(work / "plain")
    per_stage = {s: timed([sys.executable, "-m", f"stages.{s}"], project) for s in STAGES}
    return sum(t for t, _ in per_stage.values()), per_stage


def run_dvc(work: Path) -> tuple[float, Path]:
    project = fresh_copy(work / "dvc")
    elapsed, _ = timed([str(BIN / "dvc"), "repro"], project)
    return elapsed, project


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (default 3)")
    args = parser.parse_args(argv)

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    plain_times: list[float] = []
    dvc_times: list[float] = []
    stage_stats: dict[str, list[tuple[float, int]]] = {s: [] for s in STAGES}
    noop_times: list[float] = []
    for i in range(args.rounds):
        order = ("plain", "dvc") if i % 2 == 0 else ("dvc", "plain")
        for kind in order:
            with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
                if kind == "plain":
                    total, per_stage = run_plain(Path(tmp))
                    plain_times.append(total)
                    for s, stat in per_stage.items():
                        stage_stats[s].append(stat)
                else:
                    elapsed, project = run_dvc(Path(tmp))
                    dvc_times.append(elapsed)
                    noop_times.append(timed([str(BIN / "dvc"), "repro"], project)[0])
            print(f"round {i + 1} {kind:5s}: {(plain_times if kind == 'plain' else dvc_times)[-1]:.2f} s")

    plain, dvc = statistics.median(plain_times), statistics.median(dvc_times)
    noop = statistics.median(noop_times)
    ratio = dvc / plain
    print()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.rounds} rounds each")
    print(f"baseline  plain `python -m stages.X` x{len(STAGES)} in sequence: median {plain:.2f} s")
    print(f"measured  `dvc repro` from scratch (no cache):             median {dvc:.2f} s")
    verdict = "ok" if ratio <= RATIO_TARGET else "ABOVE TARGET"
    print(f"ratio dvc / plain: {ratio:.3f} (target <= {RATIO_TARGET}: {verdict})")
    verdict = "ok" if noop <= NOOP_TARGET else "ABOVE TARGET"
    print(f"no-op `dvc repro` (up to date): median {noop:.2f} s (target <= {NOOP_TARGET} s: {verdict})")
    print()
    print(f"{'stage':10s} {'median s':>9s} {'peak RSS MiB':>13s}")
    for s in STAGES:
        seconds = statistics.median(t for t, _ in stage_stats[s])
        rss = max(m for _, m in stage_stats[s]) / 1024
        print(f"{s:10s} {seconds:9.2f} {rss:13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
