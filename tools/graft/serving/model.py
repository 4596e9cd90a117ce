"""Prediction straight from numpy for a verified package.

:class:`ServingModel` holds the package's validator (:mod:`graft.serving.validator`, compiled
from schema.json), encodes validated columns with the package's own serving adapter (the
project code of the commit that trained the model, see :mod:`graft.release.adapter`) and
predicts with the LightGBM Booster (binary, multiclass or regression); no DataFrame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graft.core.errors import GraftError
from graft.serving.validator import RecordValidator, ServingError

__all__ = ["BATCH_ROWS", "ServingError", "ServingModel", "compiled_predictor"]

# Rows above which a prediction uses every core (and runs off the event loop).
BATCH_ROWS = 256


# LightGBM objectives (the model file's ``objective=`` line, first word) per task type.
BINARY_OBJECTIVES = ("binary", "cross_entropy", "xentropy")
MULTICLASS_OBJECTIVES = ("multiclass", "multiclassova", "softmax", "ovr", "multiclass_ova", "ova")
NOT_REGRESSION = (
    *BINARY_OBJECTIVES,
    *MULTICLASS_OBJECTIVES,
    "lambdarank",
    "rank_xendcg",
    "cross_entropy_lambda",
)


def model_objective(model_file: Path) -> str:
    """The objective a LightGBM text model was trained with (its ``objective=`` header line)."""
    with model_file.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("objective="):
                words = line.removeprefix("objective=").split()
                return words[0] if words else ""
            if line.startswith("Tree="):
                break
    return ""


def check_task(task: str, objective: str, outputs: int, classes: Sequence[str], model: str) -> None:
    """Refuse a model whose objective or output count is not the configured task's."""
    found = f"{model} is a LightGBM '{objective or 'unknown'}' model with {outputs} output(s)"
    if task == "binary":
        ok = objective in BINARY_OBJECTIVES and outputs == 1
    elif task == "multiclass":
        ok = objective in MULTICLASS_OBJECTIVES and outputs == len(classes)
        if objective in MULTICLASS_OBJECTIVES and outputs != len(classes):
            raise ServingError(
                f"{found}, but settings task.labels list {len(classes)} classes ({', '.join(classes)})"
            )
    else:
        ok = objective not in NOT_REGRESSION and outputs == 1
    if not ok:
        raise ServingError(f"{found}, but the package's task.type is {task}")


@dataclass
class ServingModel:
    """A verified package, ready to predict what its task predicts.

    * binary: ``predict_columns`` gives the positive class's probability, ``labels`` applies
      ``threshold`` (``labels[1]`` at or above it);
    * multiclass: a (records, classes) probability matrix, the label of the largest;
    * regression: the predicted value (no labels, no threshold).

    Features come from the package's own adapter (``encode``), never from installed code.
    """

    name: str
    version: str
    manifest: dict[str, Any]
    spec: dict[str, Any]
    validator: RecordValidator
    task: str
    classes: list[str]
    threshold: float | None
    booster: Any
    adapter: Any
    # with `graft serve --compile`: an LLVM-compiled copy of the trees for large batches
    batch_predict: Callable[[np.ndarray], np.ndarray] | None = None
    # the outcome column of the project's tables (graft.yaml predictions.label)
    label_column: str = "label"

    @classmethod
    def from_package(cls, package: Any, compile_cache: Path | None = None) -> ServingModel:
        """Build from a :class:`graft.release.package.LoadedPackage` (already verified).

        Everything is read into memory here (the package folder may be deleted afterwards).
        With ``compile_cache``, batches above ``BATCH_ROWS`` rows are scored by the model
        compiled with lleaves (cached there by the model's SHA-256): several times faster;
        probabilities agree with LightGBM's to about 1e-15, not bit for bit, so single records
        and small batches keep LightGBM's exact answer.
        """
        import lightgbm as lgb

        manifest = package.manifest
        settings = package.settings
        task = settings.task
        validator = RecordValidator(package.schema)
        spec = package.spec()
        model_file = package.model_file
        booster = lgb.Booster(model_file=str(model_file))
        outputs = booster.num_model_per_iteration()
        if task.type == "binary":
            classes = list(task.labels or ("0", "1"))
        elif task.type == "multiclass":
            classes = list(task.labels or (str(i) for i in range(outputs)))
        else:
            classes = []
        check_task(task.type, model_objective(model_file), outputs, classes, model_file.name)
        adapter = package.adapter()
        try:
            width = adapter.encode({name: [] for name in validator.columns}, spec).shape[1]
        except GraftError:
            adapter.close()
            raise
        if booster.num_feature() != width:
            adapter.close()
            raise ServingError(
                f"{model_file.name} expects {booster.num_feature()} features, the package's "
                f"adapter ({manifest['adapter']}) encodes {width}"
            )
        batch_predict = None
        if compile_cache is not None:
            batch_predict = compiled_predictor(model_file, manifest["files"][model_file.name], compile_cache)
        return cls(
            name=package.name,
            version=package.version,
            manifest=manifest,
            spec=spec,
            validator=validator,
            task=task.type,
            classes=classes,
            threshold=task.threshold if task.type == "binary" else None,
            booster=booster,
            adapter=adapter,
            batch_predict=batch_predict,
            label_column=settings.predictions.label,
        )

    def encode(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Validated columns -> the model's feature matrix, by the package's own code."""
        return self.adapter.encode(columns, self.spec)

    def predict_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Validated columns -> scores, float64: P(positive) (binary), (n, classes) (multiclass), value."""
        matrix = self.encode(columns)
        if len(matrix) <= BATCH_ROWS:
            return self.booster.predict(matrix, num_threads=1)
        if self.batch_predict is not None:
            return self.batch_predict(matrix)
        return self.booster.predict(matrix, num_threads=0)  # 0: LightGBM's default (all cores)

    def labels(self, scores: np.ndarray) -> list[str] | None:
        """The predicted label per record (None for regression, which predicts a value)."""
        return None if self.task == "regression" else self._labels(scores)

    def _labels(self, scores: np.ndarray) -> list[str]:
        if self.task == "binary":
            neg, pos = self.classes
            t = self.threshold
            return [pos if p >= t else neg for p in scores.tolist()]
        return [self.classes[i] for i in scores.argmax(axis=1).tolist()]

    def outputs(self, scores: np.ndarray, labels: list[str] | None = None) -> list[dict[str, Any]]:
        """One JSON-ready prediction per record, as the task defines it (``labels``, if known).

        binary ``{"probability", "label"}``; multiclass ``{"probabilities": {class: p}, "label"}``;
        regression ``{"prediction"}``.
        """
        if self.task == "regression":
            return [{"prediction": v} for v in scores.tolist()]
        labels = self._labels(scores) if labels is None else labels
        if self.task == "binary":
            return [{"probability": p, "label": lab} for p, lab in zip(scores.tolist(), labels, strict=True)]
        return [
            {"probabilities": dict(zip(self.classes, row, strict=True)), "label": lab}
            for row, lab in zip(scores.tolist(), labels, strict=True)
        ]

    def output_columns(self, scores: np.ndarray, labels: list[str] | None = None) -> dict[str, Any]:
        """The same predictions column-wise: the ``outputs`` of a prediction log row.

        binary ``{"probability": [p], "label": [l]}``; multiclass ``{"probabilities": [[p per
        class, in the order of task.labels]], "label": [l]}``; regression ``{"prediction": [v]}``.
        """
        if self.task == "regression":
            return {"prediction": scores.tolist()}
        labels = self._labels(scores) if labels is None else labels
        key = "probability" if self.task == "binary" else "probabilities"
        return {key: scores.tolist(), "label": labels}

    def v2_outputs(self, scores: np.ndarray, labels: list[str] | None = None) -> list[dict[str, Any]]:
        """The same predictions as Open Inference Protocol output tensors.

        binary: ``probability`` [n] FP64 and ``label`` [n] BYTES; multiclass: ``probabilities``
        [n, classes] FP64 (row-major, flattened; ``parameters.classes`` names the columns)
        and ``label`` [n] BYTES; regression: ``prediction`` [n] FP64.
        """
        n = len(scores)
        if self.task == "regression":
            return [{"name": "prediction", "shape": [n], "datatype": "FP64", "data": scores.tolist()}]
        labels = self._labels(scores) if labels is None else labels
        if self.task == "binary":
            first = {"name": "probability", "shape": [n], "datatype": "FP64", "data": scores.tolist()}
        else:
            first = {
                "name": "probabilities",
                "shape": [n, len(self.classes)],
                "datatype": "FP64",
                "data": scores.ravel().tolist(),
                "parameters": {"classes": self.classes},
            }
        return [first, {"name": "label", "shape": [n], "datatype": "BYTES", "data": labels}]


def compiled_predictor(model_file: Path, sha256: str, cache_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Compile the trees to machine code with lleaves (once per model; cached by SHA-256)."""
    from graft.core.extras import require

    require("lleaves", "graft serve --compile", "fast")
    import lleaves

    cache_dir.mkdir(parents=True, exist_ok=True)
    compiled = lleaves.Model(model_file=str(model_file))
    compiled.compile(cache=str(cache_dir / f"{sha256}.so"))
    jobs = os.cpu_count() or 1
    return lambda matrix: compiled.predict(matrix, n_jobs=jobs)
