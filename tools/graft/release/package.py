"""`graft package`: one reproducible archive holding everything needed to serve and monitor a model.

Layout of ``<model>-<version>.tar.gz`` (all under the folder ``<model>-<version>/``):

==========================  ==========================================================
``model.txt``               the LightGBM model, text format
``features.json``           the feature spec: order, category codes, one-hot groups
``schema.json``             JSON Schema of one input record (types, ranges, categories)
``reference.parquet``       the training rows' raw inputs (monitoring reference)
``reference.json``          summary statistics of those rows and of the test predictions
``test_predictions.parquet`` the evaluate stage's test-set predictions (row_id, label, proba)
``metrics.json``            headline metrics; ``fairness.json`` per-group metrics
``params.yaml``             the parameters the model was built with
``MODEL_CARD.md``           intended use, data, metrics, fairness, limitations
``manifest.json``           lineage (commit, data hashes, params) and SHA-256 of every file
==========================  ==========================================================

The archive is deterministic: sorted members, fixed owner and modes, the commit's time as
every mtime, gzip without a name or timestamp.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from graft import __version__
from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.core.fsio import atomic_write_bytes, dumps_json

MANIFEST = "manifest.json"
PACKAGE_FORMAT = 1
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
# repo path -> name in the package, for files copied as they are
COPIED = {
    "models/model.txt": "model.txt",
    "data/features/spec.json": "features.json",
    "metrics/metrics.json": "metrics.json",
    "metrics/fairness.json": "fairness.json",
    "metrics/predictions.parquet": "test_predictions.parquet",
    "params.yaml": "params.yaml",
}
VALIDATED = "data/validated/adult.parquet"
TRAIN_FEATURES = "data/features/train.parquet"


class PackageError(GraftError):
    pass


@dataclass(frozen=True)
class PackageResult:
    path: Path
    name: str
    version: str
    sha256: str
    files: dict[str, str]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


# --- inputs ---------------------------------------------------------------------------------


def lock_outputs(lock: dict[str, Any]) -> dict[str, str]:
    """Every output path recorded in dvc.lock -> its md5."""
    return {
        out["path"]: out["md5"]
        for stage in lock.get("stages", {}).values()
        for out in stage.get("outs", [])
        if "md5" in out
    }


def data_hashes(lock: dict[str, Any]) -> dict[str, str]:
    """The raw data the pipeline started from: non-code dependencies of dvc.lock."""
    out = {}
    for stage in lock.get("stages", {}).values():
        for dep in stage.get("deps", []):
            path = dep["path"]
            if path.startswith("data/") and path not in lock_outputs(lock) and "md5" in dep:
                out[path] = dep["md5"]
    return dict(sorted(out.items()))


def check_outputs_match_lock(root: Path, lock: dict[str, Any]) -> None:
    """Refuse to package outputs that are not the ones dvc.lock records."""
    recorded = lock_outputs(lock)
    needed = [p for p in COPIED if p != "params.yaml"] + [VALIDATED, TRAIN_FEATURES]
    for rel in needed:
        path = root / rel
        if rel not in recorded:
            raise PackageError(f"dvc.lock records no output '{rel}': run `dvc repro` first")
        if not path.is_file():
            raise PackageError(f"{rel} is missing from the workspace: run `dvc repro` or `dvc checkout`")
        if md5_file(path) != recorded[rel]:
            raise PackageError(f"{rel} does not match dvc.lock (stale output): run `dvc repro` first")


def head_commit(root: Path, allow_dirty: bool) -> tuple[str, int, bool]:
    repo = gitrepo.open_repo(root)
    head = gitrepo.resolve(repo, "HEAD")
    flags = repo.status(untracked_files="no")
    dirty = bool(flags)
    if dirty and not allow_dirty:
        changed = ", ".join(sorted(flags)[:5])
        raise PackageError(
            f"uncommitted changes to tracked files ({changed}): commit them, or pass --allow-dirty"
        )
    return head.sha, int(head.commit.commit_time), dirty


# --- derived files --------------------------------------------------------------------------


def input_schema(params: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of one input record, from the raw schema and the validate params."""
    from stages.schema import CATEGORIES, FEATURE_COLUMNS, NUMERIC

    return build_input_schema(params, FEATURE_COLUMNS, NUMERIC, CATEGORIES)


def build_input_schema(
    params: dict[str, Any],
    feature_columns: Sequence[str],
    numeric: Sequence[str],
    categories: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """JSON Schema of one input record from explicit column lists (also used for past commits)."""
    validate = params["validate"]
    properties: dict[str, Any] = {}
    for column in feature_columns:
        nullable = column in validate["nullable"]
        if column in numeric:
            low, high = validate["ranges"][column]
            prop: dict[str, Any] = {"type": ["integer", "null"] if nullable else "integer"}
            prop.update(minimum=low, maximum=high)
        else:
            values: list[Any] = list(categories[column])
            prop = {
                "type": ["string", "null"] if nullable else "string",
                "enum": values + ([None] if nullable else []),
            }
        properties[column] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Adult income input record",
        "type": "object",
        "properties": properties,
        "required": [c for c in feature_columns if c not in validate["nullable"]],
        "additionalProperties": False,
    }


def reference_rows(root: Path) -> Any:
    """The raw input columns of exactly the rows the model was trained on."""
    import pandas as pd

    from stages.schema import FEATURE_COLUMNS, LABEL, ROW_ID

    train_ids = pd.read_parquet(root / TRAIN_FEATURES, columns=[ROW_ID])[ROW_ID]
    raw = pd.read_parquet(root / VALIDATED)
    rows = raw[raw[ROW_ID].isin(train_ids)].sort_values(ROW_ID)
    return rows[[ROW_ID, *FEATURE_COLUMNS, LABEL]].reset_index(drop=True)


def reference_stats(rows: Any, predictions: Any, threshold: float) -> dict[str, Any]:
    import numpy as np

    from stages.schema import CATEGORIES, LABEL, NUMERIC, POSITIVE_LABEL

    quantiles = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]
    numeric = {}
    for column in NUMERIC:
        values = rows[column].astype("Float64").dropna().to_numpy(dtype=float)
        numeric[column] = {
            "mean": round(float(values.mean()), 6),
            "std": round(float(values.std()), 6),
            "min": float(values.min()),
            "max": float(values.max()),
            "quantiles": {
                str(q): round(float(v), 6)
                for q, v in zip(quantiles, np.quantile(values, quantiles), strict=True)
            },
            "missing_rate": round(float(rows[column].isna().mean()), 6),
        }
    categorical = {}
    for column in CATEGORIES:
        counts = rows[column].value_counts(dropna=True)
        categorical[column] = {
            "frequencies": {str(k): round(float(v / len(rows)), 6) for k, v in sorted(counts.items())},
            "missing_rate": round(float(rows[column].isna().mean()), 6),
        }
    proba = predictions["proba"].to_numpy()
    hist, edges = np.histogram(proba, bins=10, range=(0.0, 1.0))
    return {
        "rows": len(rows),
        "label_positive_rate": round(float((rows[LABEL] == POSITIVE_LABEL).mean()), 6),
        "numeric": numeric,
        "categorical": categorical,
        "predictions": {
            "source": "test_predictions.parquet",
            "rows": len(proba),
            "mean": round(float(proba.mean()), 6),
            "threshold": threshold,
            "positive_rate": round(float((proba >= threshold).mean()), 6),
            "histogram": {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in hist]},
        },
    }


def render_model_card(context: dict[str, Any]) -> str:
    from graft.core.templating import render

    return render("model_card.md.j2", **context)


# --- archive --------------------------------------------------------------------------------


def deterministic_targz(folder: str, files: dict[str, bytes], mtime: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(files[name])
            info.mtime = mtime
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build_files(root: Path, name: str, version: str, commit: str, dirty: bool) -> dict[str, bytes]:
    import pandas as pd

    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    files = {dest: (root / src).read_bytes() for src, dest in COPIED.items()}
    rows = reference_rows(root)
    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False, compression="zstd", engine="pyarrow")
    files["reference.parquet"] = buffer.getvalue()
    predictions = pd.read_parquet(io.BytesIO(files["test_predictions.parquet"]))
    threshold = float(params["evaluate"]["threshold"])
    reference = reference_stats(rows, predictions, threshold)
    files["reference.json"] = dumps_json(reference).encode()
    files["schema.json"] = dumps_json(input_schema(params)).encode()
    metrics = json.loads(files["metrics.json"])
    lineage = {
        "git_commit": commit,
        "git_dirty": dirty,
        "data": data_hashes(lock),
        "outputs": {p: m for p, m in sorted(lock_outputs(lock).items()) if p in COPIED or p == VALIDATED},
        "params": params,
    }
    card_context = {
        "name": name,
        "version": version,
        "metrics": metrics,
        "fairness": json.loads(files["fairness.json"]),
        "reference": reference,
        "lineage": lineage,
        "train_params": params.get("train", {}),
        "package": params.get("package", {}),
    }
    files["MODEL_CARD.md"] = render_model_card(card_context).encode()
    manifest = {
        "format": PACKAGE_FORMAT,
        "model": name,
        "version": version,
        "created_by": f"graft {__version__}",
        "lineage": lineage,
        "metrics": {k: v for k, v in metrics.items() if not isinstance(v, dict)},
        "files": {n: sha256_bytes(b) for n, b in sorted(files.items())},
    }
    files[MANIFEST] = dumps_json(manifest).encode()
    return files


def model_name(root: Path) -> str:
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    name = (params.get("package") or {}).get("model_name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise PackageError(f"params.yaml: 'package.model_name' must be a lowercase slug (got {name!r})")
    return name


def package(
    root: Path, out_dir: Path, version: str | None = None, allow_dirty: bool = False
) -> PackageResult:
    """Build ``<out_dir>/<model>-<version>.tar.gz`` from the current, up-to-date pipeline outputs."""
    root = root.resolve()
    name = model_name(root)
    commit, commit_time, dirty = head_commit(root, allow_dirty)
    version = version or f"0.0.0+g{commit[:8]}"
    if not VERSION_RE.match(version):
        raise PackageError(f"version '{version}' is not of the form X.Y.Z (semantic versioning)")
    lock = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8"))
    check_outputs_match_lock(root, lock)
    files = build_files(root, name, version, commit, dirty)
    folder = f"{name}-{version}"
    archive = deterministic_targz(folder, files, commit_time)
    path = atomic_write_bytes(out_dir / f"{folder}.tar.gz", archive)
    manifest = json.loads(files[MANIFEST])
    return PackageResult(path, name, version, sha256_bytes(archive), manifest["files"])


# --- reading a package back ---------------------------------------------------------------


@dataclass(frozen=True)
class LoadedPackage:
    root: Path
    manifest: dict[str, Any]

    def path(self, name: str) -> Path:
        return self.root / name

    def json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))


def _extract(archive: Path, dest: Path) -> Path:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"{archive}: not a readable package archive ({exc})") from None
    folders = [p for p in dest.iterdir() if p.is_dir()]
    if len(folders) != 1:
        raise PackageError(f"{archive}: expected one top-level folder in the archive")
    return folders[0]


def verify_folder(folder: Path) -> dict[str, Any]:
    """Check every file against the manifest; an extra, missing or altered file is refused by name."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise PackageError(f"{folder}: no {MANIFEST} (not a graft package)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise PackageError(f"{manifest_path}: unreadable manifest") from None
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(set(expected) - present):
        raise PackageError(f"{folder}: file '{name}' listed in the manifest is missing")
    for name in sorted(present - set(expected)):
        raise PackageError(f"{folder}: file '{name}' is not listed in the manifest")
    for name, digest in sorted(expected.items()):
        if sha256_bytes((folder / name).read_bytes()) != digest:
            raise PackageError(
                f"{folder}: file '{name}' does not match its SHA-256 in the manifest (tampered?)"
            )
    return manifest


def load_package(path: Path, workdir: Path | None = None) -> LoadedPackage:
    """Open a package (archive or extracted folder) after verifying it against its manifest."""
    path = Path(path)
    if not path.exists():
        raise PackageError(f"{path}: no such package")
    if path.is_dir() and not (path / MANIFEST).is_file():
        archives = sorted(path.glob("*.tar.gz"))
        if len(archives) != 1:
            raise PackageError(
                f"{path}: expected a package folder or a folder with one .tar.gz, found {len(archives)}"
            )
        path = archives[0]
    if path.is_dir():
        folder = path
    else:
        target = Path(workdir or tempfile.mkdtemp(prefix="graft-package-"))
        folder = _extract(path, target)
    return LoadedPackage(folder, verify_folder(folder))
