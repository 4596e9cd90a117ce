"""Benchmark: the report's paired bootstrap of every metric against the four-metric bootstrap it replaced.

On the committed test-set predictions (``metrics/predictions.parquet``, 16,281 rows) as the
base and a perturbed copy as the head, with three sensitive group columns drawn once from a
seeded generator (2, 5 and 4 groups: the reference rows are DVC-cached, not committed), times in
the same run, each the median of ``--repeat`` runs of ``--resamples`` resamples:

* **baseline** ``main-4``: ``paired_bootstrap`` of the four metrics (ROC AUC, log loss, accuracy,
  Brier) by the ``graft/compare/stats.py`` of ``--baseline-rev`` (default ``main``), loaded from
  ``git show`` as its own module (the code the report ran before intervals for every metric);
* ``new-4``: this tree's ``paired_bootstrap`` restricted to the same four metrics;
* ``new-all``: this tree's ``paired_bootstrap`` of every metric the report bootstraps (eight
  binary metrics and two fairness gaps per group column: 14 metrics), with p-values, plus the
  Holm adjustment.

Prints each time and the ratio to the baseline; the target is ``new-all`` within 2x of
``main-4``. Usage: python benchmarks/bench_report.py [--resamples 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools")]

from graft.compare.scorers import Extras  # noqa: E402
from graft.compare.stats import paired_bootstrap  # noqa: E402
from graft.compare.verdicts import holm  # noqa: E402

TARGET = 2.0  # new-all may take at most this many times the baseline's four metrics
FOUR = ("roc_auc", "log_loss", "accuracy", "brier")
PREDICTIONS = ROOT / "metrics" / "predictions.parquet"
STATS = "tools/graft/compare/stats.py"


def baseline_module(rev: str) -> Any:
    """``stats.py`` as committed at ``rev``, imported under its own name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{STATS}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType("baseline_stats")
    module.__file__ = f"{rev}:{STATS}"
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    table = pq.read_table(PREDICTIONS, columns=["label", "proba"])
    y = table.column("label").to_numpy().astype(np.int64)
    base = table.column("proba").to_numpy().astype(np.float64)
    rng = np.random.default_rng(0)
    head = np.clip(base + rng.normal(0, 0.01, len(base)), 0, 1)
    groups = {
        "a": rng.integers(0, 2, len(y)),
        "b": rng.integers(0, 5, len(y)),
        "c": rng.integers(0, 4, len(y)),
    }
    return y, base, head, groups


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-rev", default="main")
    args = parser.parse_args()
    old = baseline_module(args.baseline_rev)
    y, base, head, groups = data()
    extras = Extras(threshold=0.5, groups=groups)
    n = args.resamples

    def new_all() -> int:
        intervals = paired_bootstrap(y, base, head, resamples=n, extras=extras)
        holm([i.p_value for i in intervals.values()])
        return len(intervals)

    runs: list[tuple[str, Callable[[], Any]]] = [
        (
            f"main-4 ({args.baseline_rev}'s stats.py)",
            lambda: len(old.paired_bootstrap(y, base, head, n, metrics=FOUR)),
        ),
        ("new-4", lambda: len(paired_bootstrap(y, base, head, n, metrics=FOUR, extras=extras))),
        ("new-all", new_all),
    ]
    # warm-up: imports, allocator, BLAS threads
    paired_bootstrap(y, base, head, resamples=100, extras=extras)
    old.paired_bootstrap(y, base, head, 100, metrics=FOUR)
    print(f"{len(y)} rows, {n} resamples, median of {args.repeat} runs")
    results = []
    for name, run in runs:
        seconds, metrics = timed(run, args.repeat)
        results.append((name, seconds, metrics))
    baseline = results[0][1]
    width = max(len(r[0]) for r in results)
    for name, seconds, metrics in results:
        print(
            f"  {name:<{width}}  {metrics:>2} metrics  {seconds:7.3f} s  {seconds / baseline:5.2f}x baseline"
        )
    ratio = results[2][1] / baseline
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"target: new-all within {TARGET:g}x of the baseline's four metrics: {ratio:.2f}x ({verdict})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
