"""A released package as monitoring reads it: its task, reference rows, test predictions and
the realised metrics on them, and how to read its prediction log (:class:`Released`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graft.core.errors import DataError
from graft.monitoring import checks
from graft.monitoring.window import LogLayout

if TYPE_CHECKING:
    from graft.project.settings import Settings


# --- a released package on its log ---------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    """What monitoring takes from a package: its task, reference and test predictions."""

    settings: Settings
    version: str
    schema: dict[str, Any]
    reference: pd.DataFrame  # the reference rows (the schema's columns)
    scores: np.ndarray  # the test predictions, as the task defines them (see :func:`monitor`)
    classes: list[str]  # a classifier's labels, in the order of its probabilities
    quality: dict[str, float] | None  # the realised metrics on the test predictions

    @property
    def task(self) -> str:
        return self.settings.task.type

    def layout(self) -> LogLayout:
        """How to read this model's log: its input columns, task, labels."""
        from graft.release.reference import schema_columns, text_columns

        numeric, categorical = schema_columns(self.schema)
        positive = self.settings.task.positive or "1"
        text = tuple(text_columns(self.schema))
        return LogLayout(tuple(numeric), tuple(categorical), positive, self.task, tuple(self.classes), text)


def open_released(package_path: Path, workdir: Path) -> Released:
    """Read a verified package's task, reference rows and test predictions (errors name the package)."""
    from graft.compare.predictions import class_indices
    from graft.release.package import REFERENCE_ROWS, load_package
    from graft.release.reference import read_table, text_columns, text_lengths

    pkg = load_package(Path(package_path), workdir)
    settings = pkg.settings
    task = settings.task
    if REFERENCE_ROWS not in pkg.manifest["files"]:
        raise DataError(f"{pkg.label}: no {REFERENCE_ROWS} (graft.yaml package.reference names no rows)")
    path = pkg.predictions_file()
    if path is None:
        raise DataError(f"{pkg.label}: no test predictions (graft.yaml predictions.path): outputs need them")
    scores = np.asarray(pkg.reference_scores(), dtype=float)
    if task.type == "multiclass":
        if scores.ndim != 2:
            raise DataError(f"{pkg.label}: a multiclass model's test predictions need one column per class")
        classes = list(task.labels or (str(i) for i in range(scores.shape[1])))
    else:
        classes = list(task.labels or ("0", "1")) if task.type == "binary" else []
        if scores.ndim == 2 and task.type == "binary":
            scores = scores[:, -1]  # two columns (negative, positive)
    label, where = settings.predictions.label, f"{pkg.label}: {path.name}"
    labels = read_table(path.read_bytes(), where, [label])[label].to_numpy()
    y = labels.astype(float) if task.type == "regression" else class_indices(labels, classes, label, where)
    quality = checks.realised_metrics(task.type, y, scores, task.threshold) if len(y) else None
    reference = pd.read_parquet(pkg.path(REFERENCE_ROWS))
    for column in text_columns(pkg.schema):  # free text is monitored by its length, as the log is read
        reference[column] = text_lengths(reference[column])
    return Released(
        settings=settings,
        version=f"{pkg.name} {pkg.version}",
        schema=pkg.schema,
        reference=reference,
        scores=scores,
        classes=classes,
        quality={m: round(v, 6) for m, v in quality.items()} if quality else None,
    )
