"""Benchmark: opening a package archive with graft's checked reader against tarfile's own.

Builds a package of the layout ``graft package`` writes (a LightGBM-like text model, a Parquet
reference of incompressible bytes, the small JSON files, a manifest of their SHA-256) and times,
in the same run, in-process:

* ``graft.release.archive.extract``: the check pass (types, names, sizes, SHA-256 of every
  member, nothing written) then the extraction pass (exclusive creates, hashed again);
* the baseline: ``tarfile.open(...).extractall(filter="data")`` followed by one SHA-256 of every
  extracted file against the manifest (what graft did before, minus nothing).

Usage: python benchmarks/bench_archive.py [--model-mib 40] [--reference-mib 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools")]

from graft.release.archive import MANIFEST, PACKAGE_FORMAT, deterministic_targz, extract  # noqa: E402


def model_text(size: int, rng: random.Random) -> bytes:
    """Tree lines of the shape LightGBM writes (compresses about 3x, as real models do)."""
    lines = []
    total = 0
    while total < size:
        values = " ".join(f"{rng.uniform(-1, 1):.6g}" for _ in range(12))
        line = f"leaf_value={values}\nthreshold={rng.randint(0, 99)}.5\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def build(model_mib: int, reference_mib: int) -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(0)
    files = {
        "model.txt": model_text(model_mib << 20, rng),
        "reference.parquet": rng.randbytes(reference_mib << 20),
        "schema.json": json.dumps({"properties": {f"f{i}": {"type": "number"} for i in range(14)}}).encode(),
        "code/serving.py": b"def encode(records, spec):\n    return records\n" * 50,
    }
    manifest = {
        "format": PACKAGE_FORMAT,
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
    }
    files[MANIFEST] = json.dumps(manifest).encode()
    return deterministic_targz("bench-1.0.0", files, 0), files


def baseline(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    manifest = json.loads((dest / "bench-1.0.0" / MANIFEST).read_text())
    for name, digest in manifest["files"].items():
        if hashlib.sha256((dest / "bench-1.0.0" / name).read_bytes()).hexdigest() != digest:
            raise SystemExit(f"baseline: {name} differs")


def timed(func: Callable[[Path, Path], object], archive: Path, work: Path, repeat: int) -> list[float]:
    out = []
    for i in range(repeat):
        dest = work / f"{func.__name__}-{i}"
        start = time.perf_counter()
        func(archive, dest)
        out.append(time.perf_counter() - start)
        shutil.rmtree(dest)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-mib", type=int, default=40)
    parser.add_argument("--reference-mib", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="graft-bench-archive-") as tmp:
        work = Path(tmp)
        data, files = build(args.model_mib, args.reference_mib)
        archive = work / "bench-1.0.0.tar.gz"
        archive.write_bytes(data)
        size = sum(len(b) for b in files.values())
        print(f"package: {size / 2**20:.1f} MiB in {len(files)} files, archive {len(data) / 2**20:.1f} MiB")
        rows = []
        for func in (baseline, extract):  # alternated runs would not change the medians here
            times = timed(func, archive, work, args.repeat)
            rows.append((func.__name__, statistics.median(times), min(times), max(times)))
        base = rows[0][1]
        print(f"{'reader':<10} {'median s':>9} {'min':>7} {'max':>7} {'vs baseline':>12}")
        for name, median, low, high in rows:
            label = "tarfile" if name == "baseline" else "graft"
            print(f"{label:<10} {median:>9.3f} {low:>7.3f} {high:>7.3f} {median / base:>11.2f}x")
        print("baseline = tarfile.extractall(filter='data') + SHA-256 of every file, same run")


if __name__ == "__main__":
    main()
