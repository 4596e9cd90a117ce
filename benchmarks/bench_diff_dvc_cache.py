"""Benchmark: `graft diff --all` over experiment branches whose metrics live in DVC's cache.

Builds two throwaway DVC projects with N experiment branches ``exp/bench-NNN`` committed
straight through pygit2 (no training), the same branches two ways:

* **git-committed**: the metrics file committed to Git (``cache: false``);
* **dvc-cached**: the metrics are an ordinary DVC output (never in Git): each branch commits its
  params.yaml and a dvc.lock recording the metrics' hash, and the objects are written into the
  DVC cache and a local-folder DVC remote as DVC 3 lays them out.

``--project reference`` (default): this project (UCI Adult, as ``bench_diff.py`` builds it: its
dvc.yaml of five stages, its params), with ``metrics/metrics.json`` made a DVC-cached output;
``--project minimal``: a one-stage project shaped like DVC's get-started, ``eval/`` (metrics and
a plot) a DVC-cached directory output with a ``.dir`` manifest.

Then times whole processes, in the same run:

* ``graft diff --all --format json`` on each (warm local cache): the ratio is the cost of
  reading through dvc.lock + the cache (target <= 1.5x the Git-committed metrics);
* ``dvc exp show -a --json`` on the dvc-cached project with cold caches (``.dvc/tmp`` and DVC's
  site cache deleted before each run): target graft >= 20x faster;
* ``graft diff --all`` on a clone with an empty cache, every object fetched from the
  local-folder remote (the cache deleted before each run): reported beside ``dvc exp show``.

Usage: python benchmarks/bench_diff_dvc_cache.py [--project reference|minimal] [--branches 100]
       [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
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
TARGET_VS_GIT = 1.5  # at most this many times the Git-committed metrics' time
TARGET_VS_SHOW = 20  # at least this many times faster than a cold `dvc exp show -a`
SIG = pygit2.Signature("graft bench", "bench@graft.invalid", 1_700_000_000, 0)

DVC_YAML = """stages:
  evaluate:
    cmd: python evaluate.py
    deps:
    - evaluate.py
    params:
    - train
    outs:
    - eval{options}
metrics:
- eval/metrics.json
plots:
- eval/plots/roc.json
"""
GRAFT_YAML = """task: {type: binary}
metrics:
  file: eval/metrics.json
  headline: [roc_auc.test]
  rules:
    roc_auc.test: {direction: higher, tolerance: 0.0}
    avg_prec.test: {direction: higher, tolerance: 0.0}
"""


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def put(folder: Path, oid: str, data: bytes) -> None:
    """An object in a DVC 3 cache or local remote (files/md5/ab/cdef...)."""
    path = folder / "files" / "md5" / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def eval_files(rng: random.Random) -> dict[str, bytes]:
    metrics = {
        split: {"roc_auc": round(rng.uniform(0.85, 0.97), 6), "avg_prec": round(rng.uniform(0.8, 0.95), 6)}
        for split in ("train", "test")
    }
    nested = {name: {split: metrics[split][name] for split in metrics} for name in ("roc_auc", "avg_prec")}
    roc = {"roc": [{"fpr": i / 20, "tpr": min(1.0, (i / 20) ** 0.3)} for i in range(21)]}
    return {
        "metrics.json": (json.dumps(nested, indent=4) + "\n").encode(),
        "plots/roc.json": (json.dumps(roc, indent=4) + "\n").encode(),
    }


def lock_text(params: dict[str, object], eval_oid: str, nfiles: int, size: int) -> bytes:
    lock = {
        "schema": "2.0",
        "stages": {
            "evaluate": {
                "cmd": "python evaluate.py",
                "deps": [{"path": "evaluate.py", "hash": "md5", "md5": "0" * 32, "size": 1}],
                "params": {"params.yaml": {"train": params["train"]}},
                "outs": [{"path": "eval", "hash": "md5", "md5": eval_oid, "size": size, "nfiles": nfiles}],
            }
        },
    }
    return yaml.safe_dump(lock, sort_keys=False).encode()


def build_minimal(dest: Path, branches: int, cached: bool, remote: Path | None, env: dict[str, str]) -> None:
    dest.mkdir(parents=True)
    run(dest, "git", "init", "-q", "-b", "main")
    run(dest, str(BIN / "dvc"), "init", "-q", env=env)
    if remote is not None:
        run(dest, str(BIN / "dvc"), "remote", "add", "-q", "-d", "storage", str(remote), env=env)
    (dest / "dvc.yaml").write_text(DVC_YAML.format(options="" if cached else ":\n        cache: false"))
    (dest / "graft.yaml").write_text(GRAFT_YAML)
    (dest / "evaluate.py").write_text("print('evaluate')\n")
    (dest / ".gitignore").write_text("/eval\n" if cached else "")
    (dest / "params.yaml").write_text("train:\n  C: 1.0\n  seed: 0\n")
    run(dest, "git", "add", "-A")
    run(dest, "git", "-c", "user.name=b", "-c", "user.email=b@graft.invalid", "commit", "-q", "-m", "base")
    repo = pygit2.Repository(str(dest))
    main = repo.head.peel(pygit2.Commit)
    rng = random.Random(0)
    for i in range(branches + 1):
        params = {"train": {"C": round(rng.choice([0.1, 0.3, 1.0, 3.0, 10.0]), 2), "seed": i}}
        files = eval_files(rng)
        entries = [{"md5": md5(data), "relpath": rel} for rel, data in sorted(files.items())]
        manifest = json.dumps(entries, sort_keys=True).encode()
        eval_oid = md5(manifest) + ".dir"
        changes: dict[str, bytes | None] = {
            "params.yaml": yaml.safe_dump(params, sort_keys=False).encode(),
            "dvc.lock": lock_text(params, eval_oid, len(files), sum(len(d) for d in files.values())),
        }
        if cached:
            for folder in [dest / ".dvc" / "cache", *([remote] if remote else [])]:
                put(folder, eval_oid, manifest)
                for entry, data in zip(entries, (files[e["relpath"]] for e in entries), strict=True):
                    put(folder, str(entry["md5"]), data)
        else:
            changes.update({f"eval/{rel}": data for rel, data in files.items()})
        name = "main" if i == 0 else f"exp/bench-{i:03d}"
        commit = commit_files(repo, name, changes, f"results {i}", parent=main, signature=SIG)
        if i == 0:
            main = commit
    run(dest, "git", "reset", "-q", "--hard", "main")


def build_reference(
    dest: Path, branches: int, cached: bool, remote: Path | None, env: dict[str, str]
) -> None:
    """bench_diff.py's copy of this project; ``cached``: metrics/metrics.json a DVC output."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_diff

    dest.mkdir(parents=True)
    bench_diff.build_repo(dest, branches)
    if not cached:
        return
    if remote is not None:
        run(dest, str(BIN / "dvc"), "remote", "add", "-q", "--local", "-d", "bench", str(remote), env=env)
    repo = pygit2.Repository(str(dest))
    main = repo.revparse_single("main").peel(pygit2.Commit)
    dvc_yaml = main.tree["dvc.yaml"].data.decode()
    declared = "      - metrics/metrics.json:\n          cache: false\n"
    assert declared in dvc_yaml, "dvc.yaml no longer declares metrics/metrics.json as expected"
    dvc_yaml = dvc_yaml.replace(declared, "      - metrics/metrics.json\n")
    ignore = main.tree[".gitignore"].data.decode() + "/metrics/metrics.json\n"
    old_md5 = md5(main.tree["metrics/metrics.json"].data)
    names = ["main", *sorted(b for b in repo.branches.local if b.startswith("exp/"))]
    for name in names:
        tip = repo.revparse_single(name).peel(pygit2.Commit)
        metrics = tip.tree["metrics/metrics.json"].data
        new_md5 = md5(metrics)
        for folder in [dest / ".dvc" / "cache", *([remote] if remote else [])]:
            put(folder, new_md5, metrics)
        lock = tip.tree["dvc.lock"].data.decode().replace(old_md5, new_md5)
        changes: dict[str, bytes | None] = {
            "dvc.yaml": dvc_yaml.encode(),
            ".gitignore": ignore.encode(),
            "dvc.lock": lock.encode(),
            "metrics/metrics.json": None,
        }
        commit_files(repo, name, changes, "metrics as a DVC-cached output", parent=tip, signature=SIG)
    run(dest, "git", "reset", "-q", "--hard", "main")


def timed(cmd: list[str], cwd: Path, env: dict[str, str], before: object = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process; CPU (user + system of the process and its
    children) is what a busy shared machine does not inflate."""
    if callable(before):
        before()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run(cwd, *cmd, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)


def metric_values(cwd: Path, env: dict[str, str], *extra: str) -> dict[str, object]:
    out = json.loads(run(cwd, str(BIN / "graft"), "diff", "--all", "--format", "json", *extra, env=env))
    return {r["key"]: r["values"] for r in out["rows"] if r["section"] == "metrics"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", choices=("reference", "minimal"), default="reference")
    parser.add_argument("--branches", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each graft diff / dvc exp show")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway repositories")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="graft-bench-dvc-"))
    site_cache = work / "dvc-site-cache"
    env = {**os.environ, "DVC_SITE_CACHE_DIR": str(site_cache), "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("GIT_DIR", None)
    cached, committed, remote, clone = work / "cached", work / "committed", work / "remote", work / "clone"
    try:
        t0 = time.perf_counter()
        build = build_reference if args.project == "reference" else build_minimal
        build(cached, args.branches, True, remote, env)
        build(committed, args.branches, False, None, env)
        run(work, "git", "clone", "-q", "--mirror", str(cached), str(work / "mirror.git"))
        run(work, "git", "clone", "-q", str(work / "mirror.git"), str(clone))
        for name in pygit2.Repository(str(cached)).branches.local:
            if name != "main":
                run(clone, "git", "branch", "-q", name, f"origin/{name}")
        run(
            clone,
            str(BIN / "dvc"),
            "remote",
            "add",
            "-q",
            "--local",
            "-f",
            "-d",
            "bench",
            str(remote),
            env=env,
        )
        built = time.perf_counter() - t0
        print(f"two {args.project} projects with {args.branches} experiment branches built in {built:.1f} s")

        # sanity: the same values every way, and every branch read
        expected = metric_values(committed, env)
        assert len(next(iter(expected.values()))) == args.branches + 1  # type: ignore[arg-type]
        assert metric_values(cached, env) == expected, "DVC-cached metrics differ from Git-committed ones"
        assert metric_values(clone, env) == expected, "metrics fetched from the remote differ"

        def cold_show() -> None:
            shutil.rmtree(cached / ".dvc" / "tmp", ignore_errors=True)
            shutil.rmtree(site_cache, ignore_errors=True)

        def empty_cache() -> None:
            shutil.rmtree(clone / ".dvc" / "cache", ignore_errors=True)
            shutil.rmtree(clone / ".dvc" / "tmp", ignore_errors=True)
            shutil.rmtree(site_cache, ignore_errors=True)

        diff = [str(BIN / "graft"), "diff", "--all", "--format", "json"]
        show = [str(BIN / "dvc"), "exp", "show", "-a", "--json"]
        git_runs, warm_runs, cold_runs, show_runs = [], [], [], []
        for i in range(args.repeat):  # interleaved, so a change in the machine's load hits all alike
            git_runs.append(timed(diff, committed, env))
            warm_runs.append(timed(diff, cached, env))
            if i < 3:
                cold_runs.append(timed(diff, clone, env, before=empty_cache))
                show_runs.append(timed(show, cached, env, before=cold_show))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("graft diff --all, metrics committed to Git", git_runs),
        ("graft diff --all, metrics DVC-cached (warm local cache)", warm_runs),
        ("graft diff --all, empty cache (fetched from a local remote)", cold_runs),
        ("dvc exp show -a --json (cold caches)", show_runs),
    ]
    med = {
        label: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        for label, runs in rows
    }
    print()
    print(f"{'command':<62} {'wall':>8} {'CPU':>8}  runs (medians)")
    for label, runs in rows:
        print(f"{label:<62} {med[label][0]:>7.3f}s {med[label][1]:>7.3f}s  {len(runs)}")
    print()
    (g, g_cpu), (w, w_cpu), (c, c_cpu), (s, s_cpu) = (med[label] for label, _ in rows)
    ratio_git, ratio_show = w / g, s / w
    print(
        f"DVC-cached vs Git-committed metrics: {ratio_git:5.2f}x the wall time, "
        f"{w_cpu / g_cpu:5.2f}x the CPU (target <= {TARGET_VS_GIT}x)"
    )
    print(
        f"graft diff (warm) vs cold dvc exp show: {ratio_show:5.1f}x faster wall, {s_cpu / w_cpu:5.1f}x CPU "
        f"(target >= {TARGET_VS_SHOW}x)"
    )
    print(
        f"graft diff (empty cache, fetched) vs cold dvc exp show: {s / c:5.1f}x faster wall, "
        f"{s_cpu / c_cpu:5.1f}x CPU"
    )
    return 0 if ratio_git <= TARGET_VS_GIT and ratio_show >= TARGET_VS_SHOW else 1


if __name__ == "__main__":
    sys.exit(main())
