"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.compare import DiffResult
    from graft.packaging import LoadedPackage, PackageResult
    from graft.report import ReportResult


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


def monitor(
    package_path: Path,
    log_db: str,
    since: str | None = None,
    until: str | None = None,
    report: Path | None = None,
    json_out: Path | None = None,
    params_path: Path | None = None,
) -> dict[str, Any]:
    """Monitor the logged traffic of a released model; returns the result (``alert`` says whether to fail).

    Thresholds come from the package's own params.yaml (``monitor`` section) unless ``params_path``
    names another file.
    """
    import tempfile

    import pandas as pd
    import yaml

    from graft.monitoring import report as reporting
    from graft.monitoring.logreader import read_window
    from graft.monitoring.run import monitor as run_monitor
    from graft.monitoring.run import parse_params

    with tempfile.TemporaryDirectory(prefix="graft-monitor-") as tmp:
        pkg = open_package(Path(package_path), Path(tmp))
        source = params_path or pkg.path("params.yaml")
        all_params = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        params = parse_params(all_params.get("monitor"), str(source))
        threshold = float(yaml.safe_load(pkg.path("params.yaml").read_text())["evaluate"]["threshold"])
        reference = pd.read_parquet(pkg.path("reference.parquet"))
        reference_proba = pd.read_parquet(pkg.path("test_predictions.parquet"))["proba"].to_numpy()
        schema = pkg.json("schema.json")
        spec = pkg.json("features.json")
        version = f"{pkg.manifest['model']} {pkg.manifest['version']}"
    window = read_window(log_db, since, until)
    result = run_monitor(window, reference, reference_proba, schema, spec, params, threshold, version)
    result["outputs_written"] = []
    if report is not None:
        images = reporting.make_plots(result, reference, window.predictions, reference_proba, threshold)
        result["outputs_written"] += [str(p) for p in reporting.write_report(Path(report), result, images)]
    if json_out is not None:
        result["outputs_written"].append(str(reporting.write_json(Path(json_out), result)))
    return result


def diff(
    root: Path,
    revisions: list[str] | None = None,
    base: str = "main",
    all_experiments: bool = False,
    only_changed: bool = False,
    sort: str | None = None,
) -> DiffResult:
    """Params and metrics of ``base`` and ``revisions`` side by side, read from Git objects.

    No revisions and no ``all_experiments``: compare ``HEAD``. ``all_experiments`` adds every
    ``exp/*`` branch. A revision named twice (or equal to the base name) is shown once.
    Directions for best marks come from the base revision's ``compare.metrics``.
    """
    from graft import gitrepo
    from graft.compare import SnapshotReader, build_diff, rules_from

    repo = gitrepo.open_repo(root)
    names = list(revisions or [])
    if all_experiments:
        names += gitrepo.branches(repo)
    elif not names:
        names = ["HEAD"]
    ordered = list(dict.fromkeys([base, *names]))
    resolved = [gitrepo.resolve(repo, name) for name in ordered]  # unknown names fail here
    reader = SnapshotReader()
    snapshots = [reader.read(rev) for rev in resolved]
    return build_diff(snapshots, rules_from(snapshots[0]), only_changed=only_changed, sort=sort)


def report(
    root: Path,
    base: str = "main",
    head: str = "HEAD",
    also: list[str] | None = None,
    all_experiments: bool = False,
    png_dir: Path | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> ReportResult:
    """The Markdown comparison report of ``head`` against ``base`` (wording: templates/report.md.j2).

    With ``png_dir``, PNG charts are written there too (needs matplotlib).
    """
    from graft import report as rep

    context = rep.build_context(root, base, head, also or [], all_experiments, resamples, seed)
    pngs = rep.write_pngs(context, png_dir) if png_dir is not None else []
    context["png"] = [str(p) for p in pngs]
    return rep.ReportResult(rep.render(context), context, pngs)
