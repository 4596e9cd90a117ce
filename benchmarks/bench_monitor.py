"""Benchmark `graft monitor` on 1,000,000 logged predictions (target: at most 30 s on 2 cores).

Builds a SQLite prediction log in the server's schema: 1,000,000 single-record requests drawn
from adult.test (with replacement, half of them with a shifted age so the report has drift to
show) and feedback for 30% of them. Then times, as whole processes, in the same run:

* baseline: reading the same log with the same SQL and parsing every record's JSON (orjson),
  without any analysis: the floor any monitor over this log pays;
* `graft monitor --package P --log-db sqlite:///... -o report.html --json result.json`.

It prints wall time and peak memory (max RSS of the child) for each, and their ratio.

    python benchmarks/bench_monitor.py [--rows 1000000] [--runs 3] [--package dist/....tar.gz]
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT)]

from graft.serving.predlog import SQLiteBackend  # noqa: E402
from stages.schema import FEATURE_COLUMNS, NUMERIC  # noqa: E402

BASELINE = """
import sqlite3, sys, orjson
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
n = 0
for inputs, outputs in conn.execute("SELECT inputs, outputs FROM predictions"):
    n += len(orjson.loads(inputs)) + 0 * len(orjson.loads(outputs)["probability"])
fb = conn.execute("SELECT request_id, record_index, created_at, outcome FROM feedback").fetchall()
print(n, len(fb))
"""


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


def build_log(path: Path, rows: int, seed: int = 0) -> None:
    # the logged outputs are the evaluate stage's own predictions for those rows
    raw = pd.read_parquet(ROOT / "data/validated/adult.parquet")
    test = raw[raw["split"] == "test"].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(test), rows)
    sample = test.iloc[pick].reset_index(drop=True)
    shifted = np.arange(rows) >= rows // 2
    sample.loc[shifted, "age"] = np.minimum(sample.loc[shifted, "age"].astype(int) + 12, 90)
    predictions = pd.read_parquet(ROOT / "metrics/predictions.parquet").set_index("row_id")["proba"]
    proba = predictions.loc[sample["row_id"]].to_numpy()
    start = pd.Timestamp("2026-01-01", tz="UTC")
    times = [(start + pd.Timedelta(seconds=int(i))).isoformat() for i in range(rows)]
    records = sample[list(FEATURE_COLUMNS)].astype(object).where(sample[list(FEATURE_COLUMNS)].notna(), None)
    ids = [uuid.UUID(int=int(i) + 1).hex for i in range(rows)]
    backend = SQLiteBackend(path)
    conn = backend.connect()
    backend.create_schema(conn)
    conn.execute("BEGIN")
    batch = []
    for i, values in enumerate(records.itertuples(index=False)):
        record = {
            c: (int(v) if c in NUMERIC and v is not None else v)
            for c, v in zip(FEATURE_COLUMNS, values, strict=True)
        }
        label = ">50K" if proba[i] >= 0.5 else "<=50K"
        batch.append(
            (
                ids[i],
                times[i],
                "adult-income bench",
                1,
                json.dumps([record]),
                json.dumps({"probability": [float(proba[i])], "label": [label]}),
            )
        )
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?)", batch)
            batch = []
    conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?)", batch)
    labelled = np.flatnonzero(rng.random(rows) < 0.3)
    outcomes = sample["income"].astype(str).to_numpy()
    conn.executemany(
        "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)",
        [(uuid.uuid4().hex, ids[i], 0, times[i], outcomes[i], None) for i in labelled],
    )
    conn.execute("COMMIT")
    conn.close()


def timed(command: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process (its own rusage, via wait4)."""
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # graft monitor exits 1 when an alert fires
        raise SystemExit(f"{command[:3]} failed ({code}): {log.read_text()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--package", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        work = Path(tmp)
        package = args.package or build_package(work)
        log = work / "log.db"
        t0 = time.perf_counter()
        build_log(log, args.rows)
        size = log.stat().st_size / 2**20
        print(f"log: {args.rows:,} predictions, {size:.0f} MiB, built in {time.perf_counter() - t0:.0f} s")
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
        base_runs, mon_runs, base_peaks, mon_peaks = [], [], [], []
        for _ in range(args.runs):  # alternate so drift in machine speed hits both alike
            wall, peak = timed(baseline_cmd, work / "baseline.out")
            base_runs.append(wall)
            base_peaks.append(peak)
            wall, peak = timed(monitor_cmd, work / "monitor.out")
            mon_runs.append(wall)
            mon_peaks.append(peak)
        base_peak, mon_peak = max(base_peaks), max(mon_peaks)
        result = json.loads((work / "result.json").read_text())
        b, m = statistics.median(base_runs), statistics.median(mon_runs)
        print(f"baseline (read + parse the log only): median {b:.2f} s, peak RSS {base_peak:.0f} MiB")
        print(f"graft monitor (full analysis + HTML report): median {m:.2f} s, peak RSS {mon_peak:.0f} MiB")
        verdict = "met" if m <= 30 else "MISSED"
        print(f"runs: {args.runs}; ratio graft monitor / baseline: {m / b:.2f}x; target <= 30 s: {verdict}")
        kinds = [f"{a['kind']}:{a.get('feature', a.get('metric', ''))}" for a in result["alerts"]]
        print(f"monitor verdict on the synthetic log: {result['verdict']}; alerts: {kinds}")


if __name__ == "__main__":
    main()
