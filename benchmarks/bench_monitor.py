"""Benchmark `graft monitor` on 1,000,000 and 5,000,000 logged predictions.

Targets on 2 cores: 1,000,000 predictions in at most 30 s and 1 GiB peak memory; 5,000,000
within the same memory (time reported). For each size it builds a SQLite prediction log in the
server's schema: single-record requests drawn from adult.test (with replacement, half of them
with a shifted age so the report has drift to show) and feedback for 30% of them. Then it times,
as whole processes, in the same run (alternating, so drift in machine speed hits both alike):

* baseline: streaming the same window with the same SQL (predictions joined to their
  feedback) and parsing every row's inputs and outputs (orjson), without any analysis: the
  floor any monitor over this log pays;
* `graft monitor --package P --log-db sqlite:///... -o report.html --json result.json`.

It prints the median wall and CPU time and the peak memory (max RSS of the child) for each,
and the monitor / baseline ratios. The measuring process itself stays small (the logs are
built by a child process), since a child's max RSS starts from its parent's at fork.

    python benchmarks/bench_monitor.py [--rows 1000000 5000000] [--runs 3] [--package dist/....tar.gz]
        [--logs DIR]   # keep the built logs (5,000,000 rows: 3 GiB) for later runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT)]

BASELINE = """
import sqlite3, sys, orjson
from graft.monitoring.logquery import CHUNK_ROWS, SQLITE_SQL
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
conn.text_factory = bytes
cursor = conn.execute(SQLITE_SQL.format(where=""))
records = feedback = 0
while rows := cursor.fetchmany(CHUNK_ROWS):
    for row in rows:
        records += len(orjson.loads(row[3])) + 0 * len(orjson.loads(row[4])["probability"])
        feedback += row[5] is not None
print(records, feedback)
"""
TARGET_SECONDS, TARGET_MIB, TIMED_ROWS = 30.0, 1024.0, 1_000_000


def build_package(work: Path) -> Path:
    subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=ROOT, check=True)
    out = subprocess.run(
        [str(BIN / "graft"), "package", "--out", str(work / "dist"), "--allow-dirty"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.split()[0])


def build_log(path: Path, rows: int, seed: int = 0, chunk: int = 100_000) -> None:
    """The log, written chunk by chunk (the builder's memory stays small at 5,000,000 rows)."""
    import numpy as np
    import pandas as pd

    from graft.serving.predlog import SQLiteBackend
    from stages.schema import FEATURE_COLUMNS, NUMERIC

    # the logged outputs are the evaluate stage's own predictions for those rows
    raw = pd.read_parquet(ROOT / "data/validated/adult.parquet")
    test = raw[raw["split"] == "test"].reset_index(drop=True)
    predictions = pd.read_parquet(ROOT / "metrics/predictions.parquet").set_index("row_id")["proba"]
    columns = list(FEATURE_COLUMNS)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    backend = SQLiteBackend(path)
    conn = backend.connect()
    backend.create_schema(conn)
    conn.execute("BEGIN")
    for first in range(0, rows, chunk):
        n = min(chunk, rows - first)
        sample = test.iloc[rng.integers(0, len(test), n)].reset_index(drop=True)
        shifted = np.arange(first, first + n) >= rows // 2
        sample.loc[shifted, "age"] = np.minimum(sample.loc[shifted, "age"].astype(int) + 12, 90)
        proba = predictions.loc[sample["row_id"]].to_numpy()
        times = [(start + pd.Timedelta(seconds=first + i)).isoformat() for i in range(n)]
        ids = [uuid.UUID(int=first + i + 1).hex for i in range(n)]
        records = sample[columns].astype(object).where(sample[columns].notna(), None)
        batch = []
        for i, values in enumerate(records.itertuples(index=False)):
            record = {
                c: (int(v) if c in NUMERIC and v is not None else v)
                for c, v in zip(columns, values, strict=True)
            }
            label = ">50K" if proba[i] >= 0.5 else "<=50K"
            outputs = {"probability": [float(proba[i])], "label": [label]}
            batch.append(
                (ids[i], times[i], "adult-income bench", 1, json.dumps([record]), json.dumps(outputs))
            )
        conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?)", batch)
        labelled = np.flatnonzero(rng.random(n) < 0.3)
        outcomes = sample["income"].astype(str).to_numpy()
        conn.executemany(
            "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)",
            [
                (uuid.UUID(int=rows + first + int(i) + 1).hex, ids[i], 0, times[i], outcomes[i], None)
                for i in labelled
            ],
        )
    conn.execute("COMMIT")
    conn.close()


def timed(command: list[str], log: Path) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one child process (its
    own rusage, via wait4); CPU time says how much of the wall time other load on the machine took."""
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # graft monitor exits 1 when an alert fires
        raise SystemExit(f"{command[:3]} failed ({code}): {log.read_text()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def bench(package: Path, work: Path, rows: int, runs: int, logs: Path | None) -> None:
    log = (logs or work) / f"log-{rows}.db"
    t0 = time.perf_counter()
    if not log.exists():  # built by a child process: this one stays small (see the docstring)
        command = [sys.executable, __file__, "--build-log", str(log), str(rows)]
        subprocess.run(command, check=True)
    size = log.stat().st_size / 2**20
    print(f"\nlog: {rows:,} predictions, {size:.0f} MiB, ready in {time.perf_counter() - t0:.0f} s")
    baseline_cmd = [sys.executable, "-c", BASELINE, str(log)]
    monitor_cmd = [
        str(BIN / "graft"),
        "monitor",
        "--package",
        str(package),
        "--log-db",
        f"sqlite:///{log}",
        "-o",
        str(work / "report.html"),
        "--json",
        str(work / "result.json"),
    ]
    base_runs, mon_runs, base_peaks, mon_peaks, base_cpu, mon_cpu = [], [], [], [], [], []
    for _ in range(runs):  # alternate so drift in machine speed hits both alike
        wall, peak, cpu = timed(baseline_cmd, work / "baseline.out")
        base_runs.append(wall)
        base_peaks.append(peak)
        base_cpu.append(cpu)
        wall, peak, cpu = timed(monitor_cmd, work / "monitor.out")
        mon_runs.append(wall)
        mon_peaks.append(peak)
        mon_cpu.append(cpu)
    if logs is None:
        log.unlink()
    base_peak, mon_peak = max(base_peaks), max(mon_peaks)
    result = json.loads((work / "result.json").read_text())
    b, m = statistics.median(base_runs), statistics.median(mon_runs)
    bc, mc = statistics.median(base_cpu), statistics.median(mon_cpu)
    for name, wall, cpu, peak in (
        ("baseline (stream + parse the window only)", b, bc, base_peak),
        ("graft monitor (full analysis + HTML report)", m, mc, mon_peak),
    ):
        print(f"{name}: median {wall:.2f} s (CPU {cpu:.1f} s), peak RSS {peak:.0f} MiB")
    ratios = f"time {m / b:.2f}x, CPU {mc / bc:.2f}x, peak RSS {mon_peak / base_peak:.2f}x"
    print(f"runs: {runs}; ratio graft monitor / baseline: {ratios}")
    memory = "met" if mon_peak <= TARGET_MIB else "MISSED"
    line = f"target peak RSS <= {TARGET_MIB:.0f} MiB: {memory}"
    if rows <= TIMED_ROWS:
        line += f"; target <= {TARGET_SECONDS:.0f} s: {'met' if m <= TARGET_SECONDS else 'MISSED'}"
    print(line)
    kinds = [f"{a['kind']}:{a.get('feature', a.get('metric', ''))}" for a in result["alerts"]]
    print(f"monitor verdict on the synthetic log: {result['verdict']}; alerts: {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--package", type=Path)
    parser.add_argument("--logs", type=Path, help="keep the logs here and reuse them in later runs")
    parser.add_argument("--build-log", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_log:
        build_log(Path(args.build_log[0]), int(args.build_log[1]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        work = Path(tmp)
        package = args.package or build_package(work)
        for rows in args.rows:
            bench(package, work, rows, args.runs, args.logs)


if __name__ == "__main__":
    main()
