"""`graft package`: one reproducible archive holding everything needed to serve and monitor a model.

Everything is read through the project layer (graft.yaml, dvc.yaml, dvc.lock); the layout of
``<name>-<version>.tar.gz`` (all under the folder ``<name>-<version>/``):

===========================  ====================================================================
``<model file>``              the model artifact of dvc.yaml (``package.model``), by its file name
``code/<path>``               the serving code (``package.code``, with ``package.adapter``), as
                              committed; loaded by serving from here (graft.release.adapter)
``<name>`` of package.files   project files serving needs (e.g. a feature spec), as named there
``schema.json``               JSON Schema of one input record (the adapter's ``input_schema``)
``settings.json``             graft's settings of the project, resolved (task, monitor, ...)
``params.yaml``               the parameters the model was built with
``metrics.json``              the headline metrics file; ``fairness.json`` the per-group file
``test_predictions.<ext>``    the committed test-set predictions (``predictions.path``)
``reference.parquet``         the monitoring reference rows (``package.reference``)
``reference.json``            statistics of those rows and of the test predictions
``MODEL_CARD.md``             intended use, data, metrics, fairness, limitations
``manifest.json``             lineage (commit, data hashes, params) and SHA-256 of every file
===========================  ====================================================================

Outputs are refused when they are not the ones dvc.lock records (stale), code files when they
are not committed; the archive is deterministic: sorted members, fixed owner and modes, the
commit's time as every mtime, gzip without a name or timestamp.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from graft import __version__
from graft.core.fsio import atomic_write_bytes, dumps_json
from graft.core.results import Result, Sha256, Sparse
from graft.release.archive import (
    MANIFEST,
    PACKAGE_FORMAT,
    PackageError,
    deterministic_targz,
)
from graft.release.contents import (
    CARD,
    CODE_DIR,
    FAIRNESS,
    GENERATED,
    METRICS,
    PARAMS,
    PREDICTIONS,
    REFERENCE_ROWS,
    REFERENCE_STATS,
    SCHEMA,
    SETTINGS,
    contents_sha256,
    md5_bytes,
    sha256_bytes,
    spec_of,
)
from graft.release.loaded import LoadedPackage, load_package, verify_folder
from graft.release.tags import is_semver

__all__ = [
    "MANIFEST",
    "REFERENCE_ROWS",
    "LoadedPackage",
    "PackageError",
    "PackageResult",
    "contents_sha256",
    "load_package",
    "package",
    "sha256_bytes",
    "verify_folder",
]

if TYPE_CHECKING:
    from graft.project import Project
    from graft.project.dvcfile import Artifact
    from graft.project.settings import Settings
    from graft.project.view import View
    from graft.release.adapter import Adapter


class Flavour(Result):
    """The model's framework (graft.release.flavours) and its version at packaging."""

    name: str
    """the flavour: lightgbm, xgboost, catboost, sklearn, onnx or custom"""
    framework: str | None
    """the Python distribution the model needs (null: custom)"""
    version: str | None
    """its installed version at packaging (null: custom, or not installed)"""


class PredictionCheck(Sparse):
    """The committed test predictions reproduced by encode + predict: rows compared, worst absolute
    difference, tolerance; or why not run."""

    rows: Annotated[int, Field(ge=0)]
    """committed test predictions compared (the first GRAFT_LIMIT_PACKAGE_CHECK_ROWS; 0: not run)"""
    max_abs_difference: Annotated[float, Field(ge=0)] | None = None
    """the worst absolute difference between the packaged model's scores and the committed ones (absent:
    not run)"""
    tolerance: Annotated[float, Field(ge=0)] | None = None
    """the bound it must stay within, predictions.tolerance (absent: not run)"""
    not_run: str | None = None
    """Why the predictions were not compared (then rows is 0)."""


class PackageSummary(Result):
    """What `graft package` built."""

    path: str
    """The archive (an absolute path)."""
    name: str
    """the package and tag name (package.name, else the model artifact's name)"""
    version: str
    """the version given (default 0.0.0+gSHA8, the commit's first 8 characters)"""
    sha256: Sha256
    """the archive's SHA-256"""
    files: dict[str, Sha256]
    """File in the archive -> its SHA-256."""
    flavour: Flavour
    """the model's framework"""
    prediction_check: PredictionCheck
    """the committed test predictions reproduced by the packaged model"""

    @classmethod
    def of(cls, result: PackageResult) -> PackageSummary:
        return cls(
            path=str(result.path),
            name=result.name,
            version=result.version,
            sha256=result.sha256,
            files=dict(result.files),
            flavour=Flavour(**result.flavour),
            prediction_check=PredictionCheck(**result.prediction_check),
        )


@dataclass(frozen=True)
class PackageResult:
    path: Path
    name: str
    version: str
    sha256: str
    files: dict[str, str]
    flavour: dict[str, Any] = field(default_factory=dict)
    prediction_check: dict[str, Any] = field(default_factory=dict)


# --- what goes in ----------------------------------------------------------------------------


def head_commit(project: Project, allow_dirty: bool) -> tuple[str, int, bool]:
    head = project.resolve("HEAD")
    flags = project.repo.status(untracked_files="no")
    dirty = bool(flags)
    if dirty and not allow_dirty:
        changed = ", ".join(sorted(flags)[:5])
        raise PackageError(
            f"uncommitted changes to tracked files ({changed}): commit them, or pass --allow-dirty"
        )
    return head.sha, int(head.commit.commit_time), dirty


def copied_files(view: View) -> dict[str, str]:
    """Name in the package -> project path, for every file copied as it is."""
    from graft.project.dvcfile import DEFAULT_PARAMS
    from graft.release.artifact import model_artifact

    settings = view.settings
    artifact = model_artifact(view)
    out: dict[str, str] = {}

    def add(name: str, path: str, key: str) -> None:
        if name in out or name in GENERATED or name.startswith(f"{CODE_DIR}/"):
            raise PackageError(
                f"graft.yaml: {key} would be packaged as '{name}', a name already taken; "
                "rename it under package.files"
            )
        out[name] = path

    add(PurePosixPath(artifact.path).name, artifact.path, f"the model artifact '{artifact.name}'")
    if view.has_params:
        add(PARAMS, DEFAULT_PARAMS, "params.yaml")
    if settings.metrics.file is not None:
        add(METRICS, settings.metrics.file, "metrics.file")
    if settings.fairness.file is not None and view.source.exists(settings.fairness.file):
        add(FAIRNESS, settings.fairness.file, "fairness.file")
    if settings.predictions.path is not None:
        suffix = PurePosixPath(settings.predictions.path).suffix
        add(f"{PREDICTIONS}{suffix}", settings.predictions.path, "predictions.path")
    for name, path in settings.package.files.items():
        if "/" in name or name.startswith("."):
            raise PackageError(f"graft.yaml: package.files '{name}' must be a plain file name")
        add(name, path, f"package.files '{name}'")
    return out


def read_outputs(view: View, paths: list[str], model_path: str) -> dict[str, bytes]:
    """The workspace bytes of ``paths``, refused when dvc.lock records other bytes (stale)."""
    lock = view.lock
    out: dict[str, bytes] = {}
    for path in dict.fromkeys(paths):
        recorded = lock.md5(path)
        if path == model_path and recorded is None:
            raise PackageError(f"dvc.lock records no output '{path}' (the model): run `dvc repro` first")
        data = view.read(path)
        if data is None:
            raise PackageError(f"{path} is missing from the workspace: run `dvc repro` or `dvc checkout`")
        if recorded is not None and md5_bytes(data) != recorded:
            raise PackageError(f"{path} does not match dvc.lock (stale output): run `dvc repro` first")
        out[path] = data
    return out


def committed_code(project: Project, view: View, commit: str, allow_dirty: bool) -> dict[str, bytes]:
    """The serving code from the working tree, refused unless it is exactly what ``commit`` holds."""
    from graft.release.artifact import code_files

    files = code_files(view)
    if not allow_dirty:
        committed = project.at(commit)
        for path, data in files.items():
            if committed.read(path) != data:
                raise PackageError(
                    f"{path} (serving code in graft.yaml package.code) is not committed as it is: "
                    "commit it, or pass --allow-dirty"
                )
    return files


def check_encoding(adapter: Adapter, schema: Mapping[str, Any], spec: Mapping[str, Any]) -> int | None:
    """Encode zero records: the adapter, its spec and the schema fit together. The feature count
    (None when the adapter returns no matrix: texts, a dict of inputs)."""
    inputs = adapter.encode({name: [] for name in schema["properties"]}, spec)
    shape = getattr(inputs, "shape", None)
    return int(shape[1]) if isinstance(shape, tuple) and len(shape) == 2 else None


# --- building ----------------------------------------------------------------------------------


def training_params(view: View, model_path: str) -> dict[str, Any]:
    """The parameters of the stage that writes the model (dotted keys), for the model card."""
    from graft.project.dvcfile import DEFAULT_PARAMS

    flat = view.all_params
    for stage in view.pipeline.stages.values():
        if model_path in stage.outs:
            out: dict[str, Any] = {}
            for file, keys in stage.params.items():
                prefix = "" if file == DEFAULT_PARAMS else f"{file}:"
                for key in keys:
                    start = f"{prefix}{key}"
                    out.update({k: v for k, v in flat.items() if k == start or k.startswith(f"{start}.")})
            return out
    return {}


def fairness_tables(fairness: Mapping[str, Any]) -> dict[str, tuple[list[str], dict[str, dict[str, Any]]]]:
    """Per sensitive column: the scalar fields its groups report, and each group's values."""
    out: dict[str, tuple[list[str], dict[str, dict[str, Any]]]] = {}
    for column, groups in fairness.items():
        if not isinstance(groups, Mapping):
            continue
        rows = {str(g): dict(v) for g, v in groups.items() if isinstance(v, Mapping)}
        fields = list(
            dict.fromkeys(k for row in rows.values() for k, v in row.items() if not isinstance(v, Mapping))
        )
        out[str(column)] = (fields, rows)
    return out


def render_model_card(context: dict[str, Any]) -> str:
    from graft.core.templating import render

    return render("model_card.md.j2", **context)


def _lineage(view: View, commit: str, dirty: bool, outputs: Mapping[str, bytes]) -> dict[str, Any]:
    """Where the package comes from: the commit, the data inputs, the outputs' and params' values."""
    lock = view.lock
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "data": lock.data_inputs,
        "outputs": {p: lock.md5(p) for p in sorted(outputs) if lock.md5(p) is not None},
        "params": view.params,
    }


def _model_card(
    view: View,
    name: str,
    version: str,
    artifact: Artifact,
    model_file: str,
    metrics: Mapping[str, Any],
    stats: dict[str, Any] | None,
    lineage: Mapping[str, Any],
) -> bytes:
    """The package's model card (``templates/model_card.md.j2``), rendered."""
    settings = view.settings
    return render_model_card(
        {
            "name": name,
            "version": version,
            "task": settings.task,
            "artifact": artifact,
            "model_file": model_file,
            "card": settings.package.card,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
            "headline": settings.metrics.headline,
            "fairness": fairness_tables(view.fairness() or {}),
            "reference": stats,
            "lineage": lineage,
            "train_params": training_params(view, artifact.path),
        }
    ).encode()


def build_files(
    project: Project, view: View, name: str, version: str, commit: str, dirty: bool, allow_dirty: bool
) -> dict[str, bytes]:
    from graft.release.adapter import load
    from graft.release.artifact import code_paths, model_artifact
    from graft.release.modelcheck import check_model

    settings = view.settings
    artifact = model_artifact(view)
    copied = copied_files(view)
    outputs = read_outputs(view, _needed(settings, list(copied.values())), artifact.path)
    files = {package_name: outputs[path] for package_name, path in copied.items()}

    code = committed_code(project, view, commit, allow_dirty)
    entry, _ = code_paths(view)
    model_name = PurePosixPath(artifact.path).name
    predictions = view.predictions()
    adapter = load(code, entry, view.name)
    try:
        schema = adapter.input_schema(view.params)
        spec = spec_of(settings, files)
        check_encoding(adapter, schema, spec)
        flavour, checked = check_model(
            settings, model_name, files[model_name], adapter, schema, spec, predictions, outputs.get,
            view.source.where,
        )  # fmt: skip
    finally:
        adapter.close()
    files.update({f"{CODE_DIR}/{path}": data for path, data in code.items()})
    files[SCHEMA] = dumps_json(schema).encode()
    files[SETTINGS] = dumps_json(settings.model_dump(mode="json")).encode()

    stats = _reference_files(files, view, schema, outputs, predictions)
    metrics = view.headline_metrics() or {}
    lineage = _lineage(view, commit, dirty, outputs)
    files[CARD] = _model_card(view, name, version, artifact, model_name, metrics, stats, lineage)
    manifest = {
        "format": PACKAGE_FORMAT,
        "model": name,
        "version": version,
        "created_by": f"graft {__version__}",
        "task": settings.task.type,
        "model_file": model_name,
        "flavour": flavour,
        "prediction_check": checked,
        "adapter": f"{CODE_DIR}/{entry}",
        "lineage": lineage,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))},
    }
    files[MANIFEST] = dumps_json(
        {**manifest, "files": {n: sha256_bytes(b) for n, b in sorted(files.items())}}
    ).encode()
    return files


def _needed(settings: Settings, copied: list[str]) -> list[str]:
    """Every pipeline output the package reads: the copied files, the reference's and the
    predictions' inputs."""
    reference = settings.package.reference
    if reference is not None:
        copied += [reference.path] + ([reference.rows_from] if reference.rows_from else [])
    if settings.predictions.inputs is not None:
        copied.append(settings.predictions.inputs)
    return copied


def _reference_files(
    files: dict[str, bytes], view: View, schema: dict[str, Any], outputs: dict[str, bytes], predictions: Any
) -> dict[str, Any] | None:
    """The reference rows (parquet) and their statistics, added to ``files`` when the settings
    name a reference (``package.reference``); the statistics, or None."""
    from graft.release.reference import reference_rows, reference_stats

    reference = view.settings.package.reference
    if reference is None:
        return None
    rows = reference_rows(reference, schema, outputs.get, view.source.where)
    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False, compression="zstd", engine="pyarrow")
    files[REFERENCE_ROWS] = buffer.getvalue()
    stats = reference_stats(rows, schema, predictions, view.settings)
    files[REFERENCE_STATS] = dumps_json(stats).encode()
    return stats


def package(
    root: Path, out_dir: Path, version: str | None = None, allow_dirty: bool = False
) -> PackageResult:
    """Build ``<out_dir>/<name>-<version>.tar.gz`` from the current, up-to-date pipeline outputs."""
    from graft.project import Project
    from graft.release.artifact import release_name

    project = Project.find(root)
    view = project.work()
    name = release_name(view)
    commit, commit_time, dirty = head_commit(project, allow_dirty)
    version = version or f"0.0.0+g{commit[:8]}"
    if not is_semver(version):
        raise PackageError(f"version '{version}' is not of the form X.Y.Z (semantic versioning)")
    files = build_files(project, view, name, version, commit, dirty, allow_dirty)
    folder = f"{name}-{version}"
    archive = deterministic_targz(folder, files, commit_time)
    path = atomic_write_bytes(Path(out_dir) / f"{folder}.tar.gz", archive)
    manifest = json.loads(files[MANIFEST])
    return PackageResult(
        path, name, version, sha256_bytes(archive), manifest["files"], manifest["flavour"],
        manifest["prediction_check"],
    )  # fmt: skip
