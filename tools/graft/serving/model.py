"""Prediction for a verified package, whatever framework trained its model.

:class:`ServingModel` holds the package's validator (:mod:`graft.serving.validator`, compiled
from schema.json), encodes validated columns with the package's own serving adapter (the
project code of the commit that trained the model, see :mod:`graft.release.adapter`) and
predicts with the model as its flavour loads it (:mod:`graft.release.flavours`: LightGBM,
XGBoost, CatBoost, scikit-learn, ONNX, or the adapter's own ``predict``), for a binary,
multiclass or regression task. A package without a recorded flavour (built before flavours
were recorded) holds a LightGBM model.
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

DEFAULT_FLAVOUR = "lightgbm"  # what a package that records no flavour holds

# Rows above which a prediction uses every core (and runs off the event loop).
BATCH_ROWS = 256


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
    model: Any  # the framework's model object, as the flavour loaded it
    adapter: Any
    # inputs (as encode() returns them), records, large batch -> scores as the task defines them
    scorer: Callable[[Any, int, bool], np.ndarray]
    flavour: str = DEFAULT_FLAVOUR
    # with `graft serve --compile` (LightGBM): an LLVM-compiled copy of the trees for large batches
    batch_predict: Callable[[np.ndarray], np.ndarray] | None = None
    # the outcome column of the project's tables (graft.yaml predictions.label)
    label_column: str = "label"

    @classmethod
    def from_package(cls, package: Any, compile_cache: Path | None = None) -> ServingModel:
        """Build from a :class:`graft.release.package.LoadedPackage` (already verified).

        Everything is read into memory here (the package folder may be deleted afterwards).
        With ``compile_cache`` (LightGBM only), batches above ``BATCH_ROWS`` rows are scored by
        the model compiled with lleaves (cached there by the model's SHA-256): several times
        faster; probabilities agree with LightGBM's to about 1e-15, not bit for bit, so single
        records and small batches keep LightGBM's exact answer.
        """
        from graft.release.flavours import check_width, flavour, load, predictor

        manifest = package.manifest
        settings = package.settings
        task = settings.task
        validator = RecordValidator(package.schema)
        spec = package.spec()
        model_file = package.model_file
        recorded = manifest.get("flavour") or {"name": DEFAULT_FLAVOUR, "version": None}
        chosen = flavour(str(recorded.get("name")), f"package {package.label}")
        if compile_cache is not None and chosen.name != "lightgbm":
            raise ServingError(
                f"package {package.label}: --compile compiles LightGBM models; {model_file.name} is "
                f"{chosen.describe()}"
            )
        if task.type == "binary":
            classes = list(task.labels or ("0", "1"))
        elif task.type == "multiclass":
            classes = list(task.labels or [])
            if not classes:
                raise ServingError(f"package {package.label}: a multiclass task needs task.labels")
        else:
            classes = []
        adapter = package.adapter()
        try:
            adapter_load = adapter.load_model if adapter.has("load_model") else None
            loaded = load(
                chosen, model_file, task.type, classes, recorded.get("version"), f"package {package.label}",
                adapter_load,
            )  # fmt: skip
            scorer = predictor(loaded, adapter, task.type, classes, model_file.name)
            check_width(loaded, adapter.encode({name: [] for name in validator.columns}, spec),
                        model_file.name, manifest["adapter"])  # fmt: skip
        except GraftError:
            adapter.close()
            raise
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
            model=loaded.model,
            adapter=adapter,
            scorer=scorer,
            flavour=chosen.name,
            batch_predict=batch_predict,
            label_column=settings.predictions.label,
        )

    def encode(self, columns: Mapping[str, Sequence[Any]]) -> Any:
        """Validated columns -> what the model takes, by the package's own code."""
        return self.adapter.encode(columns, self.spec)

    def predict_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Validated columns -> scores, float64: P(positive) (binary), (n, classes) (multiclass), value."""
        inputs = self.encode(columns)
        rows = len(next(iter(columns.values()))) if columns else 0
        if rows > BATCH_ROWS and self.batch_predict is not None:
            return self.batch_predict(inputs)
        return self.scorer(inputs, rows, rows > BATCH_ROWS)

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
        from graft.serving.logformat import LABEL, OUTPUT_KEY

        if self.task == "regression":
            return {OUTPUT_KEY[self.task]: scores.tolist()}
        labels = self._labels(scores) if labels is None else labels
        return {OUTPUT_KEY[self.task]: scores.tolist(), LABEL: labels}

    def v2_outputs(
        self, scores: np.ndarray, labels: list[str] | None = None, raw: bool = False
    ) -> list[dict[str, Any]]:
        """The same predictions as Open Inference Protocol output tensors.

        binary: ``probability`` [n] FP64 and ``label`` [n] BYTES; multiclass: ``probabilities``
        [n, classes] FP64 (row-major, flattened; ``parameters.classes`` names the columns)
        and ``label`` [n] BYTES; regression: ``prediction`` [n] FP64. With ``raw``, FP64 data
        is the float64 array itself (flattened) rather than a list.
        """
        n = len(scores)

        def fp64(values: np.ndarray) -> Any:
            flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
            return flat if raw else flat.tolist()

        if self.task == "regression":
            return [{"name": "prediction", "shape": [n], "datatype": "FP64", "data": fp64(scores)}]
        labels = self._labels(scores) if labels is None else labels
        if self.task == "binary":
            first = {"name": "probability", "shape": [n], "datatype": "FP64", "data": fp64(scores)}
        else:
            first = {
                "name": "probabilities",
                "shape": [n, len(self.classes)],
                "datatype": "FP64",
                "data": fp64(scores),
                "parameters": {"classes": self.classes},
            }
        return [first, {"name": "label", "shape": [n], "datatype": "BYTES", "data": labels}]

    def v2_output_metadata(self) -> list[dict[str, Any]]:
        """The output tensors of :meth:`v2_outputs` as the protocol's model metadata lists
        them: name, datatype and shape (-1: as many as records)."""
        if self.task == "regression":
            return [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
        if self.task == "binary":
            first = {"name": "probability", "datatype": "FP64", "shape": [-1]}
        else:
            first = {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(self.classes)]}
        return [first, {"name": "label", "datatype": "BYTES", "shape": [-1]}]


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
