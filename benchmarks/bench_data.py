"""Benchmark: `graft data diff` of a ~1M-row CSV against a plain pandas read and merge.

Builds a throwaway Git + DVC project whose ``data/big.csv`` (``--rows`` rows: an id, four
numeric and two text columns, one with 5% missing) is ``dvc add``-ed on main, then changed on
branch ``exp``: 1% of the rows removed, 1% added, one text column changed on 2% of them, one
numeric column shifted. Then, in the same run, each in a fresh process (so its peak resident
memory is its own), ``--repeat`` times:

* graft: ``graft data diff data/big.csv main exp --key id --format json`` (both versions read
  from DVC's cache in batches; summaries, distribution tests, key diff in partitions);
* the baseline: pandas reads both versions (the same cache files) whole, merges them on ``id``
  (outer, with indicator) and counts the added, removed and changed rows, which must equal
  graft's.

Prints the median wall time, CPU time (user + system: steadier than wall time on a shared
machine) and peak RSS of each, and graft / pandas ratios. graft's process also imports scipy
(its distribution tests), which the baseline does not need.

Usage: python benchmarks/bench_data.py [--rows 1000000] [--repeat 3]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"

GRAFT = """
import sys
from graft.cli import main
sys.exit(main(["data", "diff", "data/big.csv", "main", "exp", "--key", "id", "--format", "json"]))
"""

PANDAS = """
import json, sys
import pandas as pd
a, b = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
merged = a.merge(b, on="id", how="outer", suffixes=("_a", "_b"), indicator=True)
both = merged[merged["_merge"] == "both"]
columns = [c for c in a.columns if c != "id"]
changed = pd.Series(False, index=both.index)
for c in columns:
    x, y = both[c + "_a"], both[c + "_b"]
    changed |= ~((x == y) | (x.isna() & y.isna()))
print(json.dumps({
    "added": int((merged["_merge"] == "right_only").sum()),
    "removed": int((merged["_merge"] == "left_only").sum()),
    "changed": int(changed.sum()),
}))
"""


def sh(cwd: Path, *argv: str) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write_table(path: Path, rows: int, version: str) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    names = np.array([f"name{i}" for i in range(500)])
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "a": rng.normal(0, 1, rows).round(6),
            "b": rng.normal(5, 2, rows).round(6),
            "c": rng.integers(0, 1_000, rows),
            "d": rng.choice(["red", "green", "blue"], rows),
            "e": names[rng.integers(0, 500, rows)],
            "f": rng.random(rows).round(6),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "f"] = np.nan
    if version == "exp":
        cut = rows // 100
        frame = frame.iloc[cut:].copy()  # 1% removed
        frame.loc[frame.index[: 2 * cut], "d"] = "violet"  # 2% changed
        frame["b"] = (frame["b"] + 0.5).round(6)  # every row changed: a shifted column
        added = frame.iloc[:cut].copy()
        added["id"] = np.arange(rows, rows + cut)  # 1% added
        frame = pd.concat([frame, added])
    frame.to_csv(path, index=False)


def build(root: Path, rows: int) -> tuple[Path, Path]:
    """The project; returns the DVC cache files of main's and exp's table."""
    root.mkdir(parents=True)
    (root / "data").mkdir()
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, sys.executable, "-m", "dvc", "init", "-q")
    cached = []
    for i, version in enumerate(["main", "exp"]):
        if i:
            sh(root, "git", "checkout", "-qb", version)
        write_table(root / "data" / "big.csv", rows, version)
        sh(root, sys.executable, "-m", "dvc", "add", "-q", "data/big.csv")
        sh(root, "git", "add", "-A")
        sh(
            root,
            "git",
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@graft.invalid",
            "commit",
            "-qm",
            version,
        )
        md5 = next(
            line.split()[-1]
            for line in (root / "data" / "big.csv.dvc").read_text().splitlines()
            if "md5" in line
        )
        cached.append(root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:])
    sh(root, "git", "checkout", "-q", "main")
    return cached[0], cached[1]


def measure(argv: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS bytes and stdout of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(TOOLS)}
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        err = child.stderr.read().decode() if child.stderr else ""
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"{argv[:3]} failed ({child.returncode}): {err}")
        out.seek(0)
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        root = Path(tmp) / "project"
        started = time.perf_counter()
        a, b = build(root, args.rows)
        size = a.stat().st_size + b.stat().st_size
        took = time.perf_counter() - started
        print(f"built a {args.rows:,}-row table, two versions ({size / 2**20:.0f} MiB of CSV), {took:.0f} s")
        runs: dict[str, list[tuple[float, float, int]]] = {"graft": [], "pandas": []}
        answers = {}
        for _ in range(args.repeat):
            seconds, cpu, peak, out = measure([sys.executable, "-c", GRAFT], root)
            keys = json.loads(out)["keys"]
            answers["graft"] = {k: keys[k] for k in ("added", "removed", "changed")}
            runs["graft"].append((seconds, cpu, peak))
            seconds, cpu, peak, out = measure([sys.executable, "-c", PANDAS, str(a), str(b)], root)
            answers["pandas"] = json.loads(out)
            runs["pandas"].append((seconds, cpu, peak))
        if answers["graft"] != answers["pandas"]:
            raise SystemExit(f"the counts differ: {answers}")
        print(f"both count {answers['graft']}")
        print(f"{'':8}{'wall s':>10}{'CPU s':>10}{'peak RSS MiB':>14}   (medians of {args.repeat})")
        medians = {}
        for name, values in runs.items():
            wall, cpu, peak = (statistics.median(v[i] for v in values) for i in range(3))
            medians[name] = (wall, cpu, peak)
            print(f"{name:8}{wall:>10.2f}{cpu:>10.2f}{peak / 2**20:>14.0f}")
        (gw, gc, gp), (pw, pc, pp) = medians["graft"], medians["pandas"]
        ratios = f"wall time {gw / pw:.2f}x, CPU time {gc / pc:.2f}x, peak memory {gp / pp:.2f}x"
        print(f"graft / pandas: {ratios}")


if __name__ == "__main__":
    main()
