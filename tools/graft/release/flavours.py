"""Model flavours: how a packaged model file is recognised, loaded and asked for predictions.

One registry, :data:`FLAVOURS`, owns every fact about a framework graft serves: its name (what
graft.yaml ``package.flavour`` and the package's manifest say), how its file is recognised
(suffix and first bytes), the module it needs and the extra that installs it, the framework
version recorded at packaging, the loader and the prediction call. Frameworks are imported only
when a model of theirs is loaded, so no other command imports one.

* ``lightgbm``: a LightGBM text model (``tree`` header), ``Booster.predict``; extra ``serve``
* ``xgboost``: XGBoost JSON (``.json``) or UBJSON (``.ubj``), ``Booster.inplace_predict``;
  extra ``xgboost``
* ``catboost``: a CatBoost model (``.cbm``), ``CatBoost.predict``; extra ``catboost``
* ``sklearn``: a pickle or joblib file (``.pkl``, ``.pickle``, ``.joblib``), ``predict_proba``
  (classifiers) or ``predict``; extra ``sklearn``
* ``onnx``: an ONNX graph (``.onnx``), onnxruntime on the CPU; extra ``onnx``
* ``custom``: anything; the adapter's ``load_model(path)`` and ``predict(model, inputs)``

The adapter (:mod:`graft.release.adapter`) may define ``predict(model, inputs)`` for any
flavour; it then replaces the flavour's own call (``model`` is what the flavour loaded).
Whatever predicts, :func:`task_scores` shapes the result as the task defines it: binary the
positive class's probability ``(n,)``, multiclass ``(n, classes)`` probabilities, regression
the value ``(n,)``.

A scikit-learn model is a pickle: it loads only under the scikit-learn version it was packaged
with (recorded in the manifest), and a different installed version is refused naming both.
Pickles execute code when loaded: serve only packages you built or trust.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graft.release.loaders import load_catboost, load_lightgbm, load_onnx, load_sklearn, load_xgboost
from graft.release.modeltypes import (
    HEAD_BYTES,
    Flavour,
    FlavourError,
    LoadedModel,
    a,
    installed_version,
    require_library,
)

__all__ = [
    "FLAVOURS",
    "Flavour",
    "FlavourError",
    "LoadedModel",
    "a",
    "detect",
    "flavour",
    "installed_version",
    "load",
    "supported",
    "task_scores",
]

# --- the registry ----------------------------------------------------------------------------------


def _pickle(head: bytes) -> bool:
    # a pickle (protocol 2+), or joblib's compressed formats (zlib, gzip, bz2, xz, lz4)
    return (
        (len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5)
        or head[:1] == b"x"
        or head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18", b"ZF"))
    )


FLAVOURS: dict[str, Flavour] = {
    f.name: f
    for f in (
        Flavour(
            "lightgbm", "LightGBM", "lightgbm", "lightgbm", "serve", (".txt", ".lgb", ".model"),
            lambda head: head.startswith(b"tree\n"), load_lightgbm,
        ),
        Flavour(
            "xgboost", "XGBoost", "xgboost", "xgboost", "xgboost", (".json", ".ubj"),
            lambda head: head.startswith((b'{"learner"', b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner")),
            load_xgboost,
        ),
        Flavour(
            "catboost", "CatBoost", "catboost", "catboost", "catboost", (".cbm",),
            lambda head: head.startswith(b"CBM1"), load_catboost,
        ),
        Flavour(
            "sklearn", "scikit-learn", "joblib", "scikit-learn", "sklearn", (".pkl", ".pickle", ".joblib"),
            _pickle, load_sklearn, strict_version=True,
        ),
        Flavour(
            "onnx", "ONNX", "onnxruntime", "onnxruntime", "onnx", (".onnx",),
            lambda head: head[:1] == b"\x08", load_onnx,
        ),
        Flavour("custom", "custom (the adapter's predict)", "", "", "", (), lambda head: False, None),
    )
}  # fmt: skip


def supported() -> str:
    """The flavours, as an error message lists them."""
    return ", ".join(FLAVOURS)


def flavour(name: str, where: str) -> Flavour:
    """The flavour called ``name``; an unknown name is refused listing the supported ones."""
    found = FLAVOURS.get(name)
    if found is None:
        raise FlavourError(f"{where}: unknown model flavour '{name}' (supported: {supported()})")
    return found


def detect(file_name: str, head: bytes) -> Flavour | None:
    """The flavour a model file is, from its suffix and first bytes (None: none of them)."""
    suffix = Path(file_name).suffix.lower()
    for candidate in FLAVOURS.values():
        if suffix in candidate.suffixes and candidate.sniff(head[:HEAD_BYTES]):
            return candidate
    return None


def load(
    chosen: Flavour,
    path: Path,
    task: str,
    classes: Sequence[str],
    recorded: str | None,
    where: str,
    adapter_load: Callable[[Path], Any] | None = None,
) -> LoadedModel:
    """Load ``path`` as ``chosen`` for ``task``; ``recorded``: the framework version at packaging.

    A flavour whose version must match (scikit-learn pickles) is refused before unpickling when
    the installed version differs. The ``custom`` flavour loads with the adapter's ``load_model``
    (``adapter_load``); without one the model is the file's bytes.
    """
    name = path.name
    if chosen.loader is None:
        model = adapter_load(path) if adapter_load is not None else path.read_bytes()
        return LoadedModel(chosen.name, model, _no_predict(where))
    require_library(chosen)
    if chosen.strict_version and recorded is not None:
        installed = installed_version(chosen)
        if installed != recorded:
            raise FlavourError(
                f"{where}: {name} was packaged with {chosen.title} {recorded}, this environment has "
                f"{chosen.title} {installed or 'not installed'}: a pickle loads only under the version "
                f"that wrote it (pip install '{chosen.distribution}=={recorded}', or package it again)"
            )
    return chosen.loader(path, task, classes, name)


def _no_predict(where: str) -> Callable[[Any, bool], np.ndarray]:
    def refuse(inputs: Any, large: bool) -> np.ndarray:
        raise FlavourError(f"{where}: the custom flavour needs predict(model, inputs) in the adapter")

    return refuse


def predictor(
    loaded: LoadedModel, adapter: Any, task: str, classes: Sequence[str], where: str
) -> Callable[[Any, int, bool], np.ndarray]:
    """``(inputs, records, large batch) -> scores`` as the task defines them: the adapter's
    ``predict(model, inputs)`` when it has one, else the flavour's own call."""
    if adapter is not None and adapter.has("predict"):
        who = f"{where}: the adapter's predict()"

        def own(inputs: Any, rows: int, large: bool) -> np.ndarray:
            return task_scores(adapter.predict(loaded.model, inputs), task, classes, rows, who)

        return own
    if loaded.flavour == "custom":
        raise FlavourError(f"{where}: the custom flavour needs predict(model, inputs) in the serving adapter")
    who = f"{where}: the {FLAVOURS[loaded.flavour].title} model"

    def call(inputs: Any, rows: int, large: bool) -> np.ndarray:
        return task_scores(loaded.predict(inputs, large), task, classes, rows, who)

    return call


def check_width(loaded: LoadedModel, empty: Any, model: str, adapter: str) -> None:
    """Refuse an adapter whose encoding of no records is not as wide as the model's input."""
    shape = getattr(empty, "shape", None)
    if loaded.features is None or not isinstance(shape, tuple) or len(shape) != 2:
        return
    if int(shape[1]) != loaded.features:
        raise FlavourError(
            f"{model} expects {loaded.features} features, "
            f"the package's adapter ({adapter}) encodes {shape[1]}"
        )


def task_scores(raw: Any, task: str, classes: Sequence[str], rows: int, who: str) -> np.ndarray:
    """A model's raw predictions shaped as the task defines (binary ``(n,)`` P(positive),
    multiclass ``(n, classes)``, regression ``(n,)``); a shape that cannot be is refused naming ``who``."""
    try:
        scores = np.asarray(raw, dtype=np.float64)
    except (ValueError, TypeError):  # ragged, or not numbers
        raise FlavourError(f"{who} must return an array of numbers, got {type(raw).__name__}") from None
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    elif task == "binary" and scores.ndim == 2 and scores.shape[1] == 2:
        scores = scores[:, 1]
    want = (rows, len(classes)) if task == "multiclass" else (rows,)
    if scores.shape != want:
        raise FlavourError(
            f"{who} returned predictions of shape {tuple(scores.shape)} for {rows} records; a {task} "
            f"task needs {want}"
            + (" (one probability per class, in task.labels order)" if task == "multiclass" else "")
        )
    return scores


def check_scores(scores: np.ndarray, task: str, who: str) -> None:
    """Refuse predictions that are not finite, or probabilities outside [0, 1]."""
    if not np.isfinite(scores).all():
        raise FlavourError(f"{who} returned a prediction that is not a finite number")
    if task != "regression" and scores.size and (scores.min() < 0 or scores.max() > 1):
        raise FlavourError(
            f"{who} returned probabilities outside [0, 1] (from {scores.min():.6g} to {scores.max():.6g})"
        )
