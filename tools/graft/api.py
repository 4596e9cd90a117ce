"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.packaging import LoadedPackage, PackageResult


def package(
    root: Path, out_dir: Path, version: str | None = None, allow_dirty: bool = False
) -> PackageResult:
    """Build the release archive of the current (up-to-date, committed) pipeline outputs."""
    from graft.packaging import package as build

    return build(Path(root), Path(out_dir), version=version, allow_dirty=allow_dirty)


def open_package(path: Path, workdir: Path | None = None) -> LoadedPackage:
    """Verify a package (archive or folder) against its manifest and open it."""
    from graft.packaging import load_package

    return load_package(Path(path), workdir)


def headline_metrics(root: Path) -> dict[str, Any]:
    """The working tree's metrics (flattened, dotted keys) and whether the gate passed (None: not run)."""
    import json

    from graft.errors import GraftError
    from graft.metrics import GATE_FILE, METRICS_FILE, flatten

    path = Path(root) / METRICS_FILE
    try:
        metrics = flatten(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise GraftError(f"{path}: no metrics yet (run `dvc repro`)") from None
    gate_path = Path(root) / GATE_FILE
    gate = json.loads(gate_path.read_text(encoding="utf-8"))["passed"] if gate_path.is_file() else None
    return {"metrics": metrics, "gate": gate}
