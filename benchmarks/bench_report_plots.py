"""Benchmark: the report's declared plots against `dvc plots diff --json`, and what drawing costs.

Set-up: a copy of the project (its five top-level plots and five stage plots outputs, one of
them 16,281 rows) with a branch ``exp/b``. Then, in the same run, medians of ``--rounds``:

1. baseline: ``dvc plots diff main exp/b --json`` (DVC builds every Vega-Lite spec);
2. the same specs built by graft (``graft.compare.plots.collect``, a fresh process each time:
   Git objects read with pygit2, DVC's converter and dvc-render's templates, no Repo);
3. ``graft report`` printed (plots listed, not drawn) against ``graft report -o`` (drawn to PNG
   with vl-convert beside the report): the cost of drawing.

A measurement, not a test: it prints its figures and exits 0. It is sensitive to other
CPU-bound work on the machine (the load average at the start and end is printed).

    python benchmarks/bench_report_plots.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import BIN, copy_project, isolate_git_env  # noqa: E402
from tests.integration.repos import branch  # noqa: E402

COLLECT = (
    "from graft.compare import plots; from graft.project import Project; p = Project.find('.'); "
    "print(len(plots.collect(p.at('main'), p.at('exp/b'), ('main', 'exp/b'))))"
)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median(argv: list[str], cwd: Path, env: dict[str, str], rounds: int) -> float:
    return statistics.median(timed(argv, cwd, env) for _ in range(rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        import pytest

        with pytest.MonkeyPatch.context() as mp:
            isolate_git_env(mp, Path(tmp))
            root = copy_project(Path(tmp) / "project", with_cache=False)
            branch(root, "exp/b", metrics={"roc_auc": 0.95})
            env = dict(os.environ)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(ROOT / "tools")
        python = sys.executable
        dvc = median(["dvc", "plots", "diff", "main", "exp/b", "--json"], root, env, args.rounds)
        graft = median([python, "-c", COLLECT], root, env, args.rounds)
        report = [str(BIN / "graft"), "report", "--head", "exp/b", "--resamples", "100", "--quiet"]
        printed = median(report, root, env, args.rounds)
        drawn = median([*report, "-o", str(Path(tmp) / "out" / "report.md")], root, env, args.rounds)
        print(f"dvc plots diff --json (baseline)      {dvc:7.2f} s")
        print(f"graft's plots, same specs             {graft:7.2f} s  ({dvc / graft:.1f}x faster)")
        print(f"graft report, printed (not drawn)     {printed:7.2f} s")
        ratio = drawn / printed
        print(f"graft report -o, 9 plots drawn (PNG)  {drawn:7.2f} s  ({ratio:.2f}x the printed report)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
