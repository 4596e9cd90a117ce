"""Benchmark: `graft diff --all` against DVC's ways of comparing many experiment branches.

Builds a throwaway copy of this project (a fresh Git repository, no DVC cache needed: metrics
are committed) with N experiment branches ``exp/bench-NNN``, each with its own params.yaml
and metrics/metrics.json committed straight through pygit2 (no training), then times whole
processes, in the same run:

* ``graft diff --all --format json`` (per revision: dvc.yaml, graft.yaml, the params files and
  the shown metrics files, read through the project layer)
* ``dvc exp show -a --json`` with cold caches: the repository's ``.dvc/tmp`` and DVC's site
  cache (pointed at a private folder with ``DVC_SITE_CACHE_DIR``) are deleted before each run
* ``dvc metrics diff main <branch>`` for every branch: a sample of branches is timed and the
  loop is extrapolated to all N (said so in the output)
* a bare pygit2 read of every branch tip's two files, as a whole process (the floor)

Usage: python benchmarks/bench_diff.py [--branches 100] [--repeat 5] [--sample 10] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT)]

from tests.gitobjects import commit_files  # noqa: E402

BIN = Path(sys.executable).parent
# graft diff reads dvc.yaml, graft.yaml and every declared params/metrics file per revision and
# must stay this many times faster than DVC's ways of comparing the same branches
TARGET_SHOW = 30
TARGET_LOOP = 100
SIG = pygit2.Signature("graft bench", "bench@graft.invalid", 1_700_000_000, 0)

BARE_READ = """
import json, sys, pygit2, yaml
repo = pygit2.Repository(sys.argv[1])
n = 0
for name in ["main", *sorted(b for b in repo.branches.local if b.startswith("exp/"))]:
    tree = repo.revparse_single(name).peel(pygit2.Commit).tree
    json.loads(tree["metrics/metrics.json"].data)
    yaml.load(tree["params.yaml"].data, Loader=yaml.CSafeLoader)
    n += 1
print(n)
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def build_repo(dest: Path, branches: int, seed: int = 0) -> None:
    """Copy the project's committed files into a new repository and add the experiment branches."""
    files = git(ROOT, "ls-files", "-z").split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "-c", "user.name=bench", "-c", "user.email=bench@graft.invalid", "commit", "-q", "-m", "base")
    repo = pygit2.Repository(str(dest))
    main = repo.head.peel(pygit2.Commit)
    params = yaml.safe_load(main.tree["params.yaml"].data)
    metrics = json.loads(main.tree["metrics/metrics.json"].data)
    rng = random.Random(seed)
    for i in range(branches):
        p = json.loads(json.dumps(params))
        p["train"]["learning_rate"] = round(rng.choice([0.01, 0.02, 0.03, 0.05, 0.1]), 3)
        p["train"]["num_leaves"] = rng.choice([15, 31, 63, 127])
        p["train"]["seed"] = i
        m = json.loads(json.dumps(metrics))
        for key in ("roc_auc", "pr_auc", "accuracy", "f1"):
            m[key] = round(m[key] + rng.uniform(-0.01, 0.01), 6)
        for key in ("log_loss", "brier"):
            m[key] = round(m[key] + rng.uniform(-0.005, 0.005), 6)
        m["fairness"]["sex"]["demographic_parity_difference"] = round(rng.uniform(0.1, 0.2), 6)
        commit_files(
            repo,
            f"exp/bench-{i:03d}",
            {
                "params.yaml": yaml.safe_dump(p, sort_keys=False).encode(),
                "metrics/metrics.json": (json.dumps(m, indent=2, sort_keys=True) + "\n").encode(),
            },
            f"experiment {i}",
            parent=main,
            signature=SIG,
        )


def timed(cmd: list[str], cwd: Path, env: dict[str, str], before: object = None) -> float:
    if callable(before):
        before()
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="runs of graft diff / dvc exp show")
    parser.add_argument("--sample", type=int, default=10, help="branches timed for the metrics-diff loop")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway repository")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="graft-bench-"))
    repo = work / "repo"
    site_cache = work / "dvc-site-cache"
    env = {**os.environ, "DVC_SITE_CACHE_DIR": str(site_cache), "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("GIT_DIR", None)
    try:
        t0 = time.perf_counter()
        build_repo(repo, args.branches)
        built = time.perf_counter() - t0
        print(f"repository with {args.branches} experiment branches built in {built:.1f} s")
        branches = sorted(pygit2.Repository(str(repo)).branches.local)
        exp = [b for b in branches if b.startswith("exp/")]

        def cold() -> None:
            shutil.rmtree(repo / ".dvc" / "tmp", ignore_errors=True)
            shutil.rmtree(site_cache, ignore_errors=True)

        # sanity: graft sees every branch
        out = subprocess.run(
            [str(BIN / "graft"), "diff", "--all", "--format", "json"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert len(json.loads(out)["revisions"]) == len(exp) + 1

        graft = [
            timed([str(BIN / "graft"), "diff", "--all", "--format", "json"], repo, env)
            for _ in range(args.repeat)
        ]
        bare = [timed([sys.executable, "-c", BARE_READ, str(repo)], repo, env) for _ in range(args.repeat)]
        exp_show = [
            timed([str(BIN / "dvc"), "exp", "show", "-a", "--json"], repo, env, before=cold)
            for _ in range(max(1, min(args.repeat, 3)))
        ]
        sample = random.Random(1).sample(exp, min(args.sample, len(exp)))
        per_branch = [timed([str(BIN / "dvc"), "metrics", "diff", "main", b], repo, env) for b in sample]
        loop = statistics.median(per_branch) * len(exp)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    g = statistics.median(graft)
    e = statistics.median(exp_show)
    print()
    print(f"{'command':<48} {'median':>9}  runs")
    print(f"{'graft diff --all --format json':<48} {g:>8.3f}s  {len(graft)}")
    print(f"{'bare pygit2 read of all tips (floor)':<48} {statistics.median(bare):>8.3f}s  {len(bare)}")
    print(f"{'dvc exp show -a --json (cold caches)':<48} {e:>8.3f}s  {len(exp_show)}")
    print(
        f"{'dvc metrics diff main <branch>, one branch':<48} "
        f"{statistics.median(per_branch):>8.3f}s  {len(per_branch)}"
    )
    print(
        f"{f'  loop over all {len(exp)} branches (extrapolated)':<48} {loop:>8.1f}s  "
        f"(median of {len(per_branch)} sampled x {len(exp)})"
    )
    print()
    ratio_show, ratio_loop = e / g, loop / g
    print(f"graft diff vs cold dvc exp show: {ratio_show:6.1f}x faster (target >= {TARGET_SHOW}x)")
    print(f"graft diff vs dvc metrics diff loop: {ratio_loop:6.1f}x faster (target >= {TARGET_LOOP}x)")
    return 0 if ratio_show >= TARGET_SHOW and ratio_loop >= TARGET_LOOP else 1


if __name__ == "__main__":
    sys.exit(main())
