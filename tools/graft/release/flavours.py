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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graft.core.errors import GraftError, MissingDependency

__all__ = [
    "FLAVOURS",
    "Flavour",
    "FlavourError",
    "LoadedModel",
    "detect",
    "flavour",
    "load",
    "supported",
    "task_scores",
]

HEAD_BYTES = 64  # the first bytes of a model file that recognise its flavour


class FlavourError(GraftError):
    """A model whose flavour is unknown, does not match its file, or cannot be served as its task."""


@dataclass
class LoadedModel:
    """A model in memory, with the call that scores a batch as its task defines (see :func:`task_scores`).

    ``features``: the width of the input the model expects, when the model says (else None).
    """

    flavour: str
    model: Any
    score: Callable[[Any, bool], np.ndarray]  # (inputs, large batch) -> raw predictions
    features: int | None = None

    def predict(self, inputs: Any, large: bool = False) -> np.ndarray:
        return self.score(inputs, large)


@dataclass(frozen=True)
class Flavour:
    name: str
    title: str  # the framework's name, as messages say it
    module: str  # the import the loader needs
    distribution: str  # the package whose version is recorded at packaging
    extra: str  # graft's extra that installs it ("" when nothing is needed)
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes], bool]  # the file's first HEAD_BYTES bytes are this flavour's
    loader: Callable[[Path, str, Sequence[str], str], LoadedModel] | None
    # the recorded version must equal the installed one (pickles)
    strict_version: bool = False

    def describe(self) -> str:
        return f"{self.name} ({self.title})"


def _require(flavour: Flavour) -> None:
    """Import the flavour's framework, or a one-line error naming the extra that installs it."""
    import importlib

    try:
        importlib.import_module(flavour.module)
    except ModuleNotFoundError:
        from graft.core.extras import distribution

        dist = distribution() or "graft-toolkit"
        raise MissingDependency(
            f"{a(flavour.title)} model needs {flavour.module}, which is not installed: "
            f"pip install '{dist}[{flavour.extra}]'"
        ) from None


def installed_version(flavour: Flavour) -> str | None:
    """The installed version of the flavour's framework (None: not installed, or nothing to record)."""
    from importlib import metadata

    if not flavour.distribution:
        return None
    try:
        return metadata.version(flavour.distribution)
    except metadata.PackageNotFoundError:
        return None


def a(title: str) -> str:
    """``title`` with its indefinite article, as said aloud: a LightGBM, an XGBoost, an ONNX."""
    return f"{'an' if title[:1] in 'AEIOUX' else 'a'} {title}"


def _found(title: str, kind: str, outputs: int, task: str, name: str) -> FlavourError:
    return FlavourError(
        f"{name} is {a(title)} '{kind or 'unknown'}' model with {outputs} output(s), "
        f"but the package's task.type is {task}"
    )


# --- LightGBM ------------------------------------------------------------------------------------

LGB_BINARY = ("binary", "cross_entropy", "xentropy")
LGB_MULTICLASS = ("multiclass", "multiclassova", "softmax", "ovr", "multiclass_ova", "ova")
LGB_NOT_REGRESSION = (*LGB_BINARY, *LGB_MULTICLASS, "lambdarank", "rank_xendcg", "cross_entropy_lambda")


def lightgbm_objective(model_file: Path) -> str:
    """The objective a LightGBM text model was trained with (its ``objective=`` header line)."""
    with model_file.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("objective="):
                words = line.removeprefix("objective=").split()
                return words[0] if words else ""
            if line.startswith("Tree="):
                break
    return ""


def check_lightgbm_task(task: str, objective: str, outputs: int, classes: Sequence[str], model: str) -> None:
    """Refuse a LightGBM model whose objective or output count is not the configured task's."""
    if task == "binary":
        ok = objective in LGB_BINARY and outputs == 1
    elif task == "multiclass":
        ok = objective in LGB_MULTICLASS and outputs == len(classes)
        if objective in LGB_MULTICLASS and outputs != len(classes):
            raise FlavourError(
                f"{model} is a LightGBM '{objective}' model with {outputs} output(s), but settings "
                f"task.labels list {len(classes)} classes ({', '.join(classes)})"
            )
    else:
        ok = objective not in LGB_NOT_REGRESSION and outputs == 1
    if not ok:
        raise _found("LightGBM", objective, outputs, task, model)


def _load_lightgbm(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
    import lightgbm as lgb

    try:
        booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as exc:
        raise FlavourError(f"{name}: not a readable LightGBM model ({exc})") from None
    check_lightgbm_task(task, lightgbm_objective(path), booster.num_model_per_iteration(), classes, name)

    def score(inputs: Any, large: bool) -> np.ndarray:
        # 0: LightGBM's default (every core) for a large batch, one thread otherwise
        return np.asarray(booster.predict(inputs, num_threads=0 if large else 1))

    return LoadedModel("lightgbm", booster, score, booster.num_feature())


# --- XGBoost -------------------------------------------------------------------------------------


def _load_xgboost(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise FlavourError(f"{name}: not a readable XGBoost model ({first})") from None
    booster.set_param({"nthread": 1})
    learner = json.loads(booster.save_config())["learner"]
    objective = str(learner["objective"]["name"])
    outputs = max(1, int(learner["learner_model_param"].get("num_class", "0") or 0))
    if task == "binary":
        ok = objective == "binary:logistic" and outputs == 1
    elif task == "multiclass":
        ok = objective == "multi:softprob" and outputs == len(classes)
    else:
        ok = not objective.startswith(("binary:", "multi:", "rank:")) and outputs == 1
    if not ok:
        raise _found("XGBoost", objective, outputs, task, name)

    wide = booster.copy()  # large batches on every core; requests may run concurrently, so no
    wide.set_param({"nthread": 0})  # setting is ever changed on a booster in use

    def score(inputs: Any, large: bool) -> np.ndarray:
        return np.asarray((wide if large else booster).inplace_predict(inputs))

    return LoadedModel("xgboost", booster, score, booster.num_features())


# --- CatBoost ------------------------------------------------------------------------------------

CB_BINARY = ("Logloss", "CrossEntropy")
CB_MULTICLASS = ("MultiClass", "MultiClassOneVsAll")
CB_EXPONENT = ("Poisson", "Tweedie")


def _load_catboost(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
    import catboost

    model = catboost.CatBoost()
    try:
        model.load_model(str(path), format="cbm")
    except catboost.CatBoostError as exc:
        raise FlavourError(f"{name}: not a readable CatBoost model ({exc})") from None
    loss = str(model.get_all_params().get("loss_function", "")).split(":")[0]
    known = getattr(model, "classes_", None)
    outputs = len(known) if known is not None and len(known) else 1
    if task == "binary":
        ok = loss in CB_BINARY
    elif task == "multiclass":
        ok = loss in CB_MULTICLASS and outputs == len(classes)
    else:
        ok = loss not in (*CB_BINARY, *CB_MULTICLASS)
    if not ok:
        raise _found("CatBoost", loss, outputs, task, name)
    kind = "Probability" if task != "regression" else ("Exponent" if loss in CB_EXPONENT else "RawFormulaVal")
    order = _class_order(known, classes, name) if task != "regression" else None

    def score(inputs: Any, large: bool) -> np.ndarray:
        raw = np.asarray(model.predict(inputs, prediction_type=kind, thread_count=-1 if large else 1))
        return raw if order is None else raw[:, order]

    return LoadedModel("catboost", model, score, len(model.feature_names_ or []) or None)


# --- scikit-learn (pickle / joblib) --------------------------------------------------------------


def _load_sklearn(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling runs arbitrary code: any failure is the file's
        raise FlavourError(f"{name}: cannot be unpickled ({exc.__class__.__name__}: {exc})") from None
    features = getattr(model, "n_features_in_", None)
    if task == "regression":
        if not callable(getattr(model, "predict", None)):
            raise FlavourError(f"{name}: a {type(model).__name__} has no predict(): not a regression model")
        return LoadedModel("sklearn", model, lambda x, _large: np.asarray(model.predict(x)), features)
    if not callable(getattr(model, "predict_proba", None)):
        raise FlavourError(
            f"{name}: a {type(model).__name__} has no predict_proba(), but the package's task.type is {task}"
        )
    order = _class_order(getattr(model, "classes_", None), classes, name)

    def score(inputs: Any, large: bool) -> np.ndarray:
        proba = np.asarray(model.predict_proba(inputs))
        return proba if order is None else proba[:, order]

    return LoadedModel("sklearn", model, score, features)


def _class_order(known: Any, classes: Sequence[str], name: str) -> list[int] | None:
    """Columns of predict_proba in the order of task.labels (None: keep the model's order)."""
    if known is None:
        return None
    names = [str(c) for c in known]
    if len(names) != len(classes):
        raise FlavourError(
            f"{name}: the model knows {len(names)} classes ({', '.join(names)}), "
            f"task.labels list {len(classes)} ({', '.join(classes)})"
        )
    if set(names) == set(classes):
        return [names.index(c) for c in classes]
    if names == [str(i) for i in range(len(names))] or names == ["False", "True"]:
        return None  # classes 0..k-1 (or False/True) for task.labels: the labels' order is the model's
    raise FlavourError(
        f"{name}: the model's classes ({', '.join(names)}) are not task.labels ({', '.join(classes)})"
    )


# --- ONNX ----------------------------------------------------------------------------------------

ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}


def _load_onnx(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
    import onnxruntime as ort

    def session(threads: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types per failure
            raise FlavourError(
                f"{name}: not a loadable ONNX model ({exc.__class__.__name__}: {exc})"
            ) from None

    one, many = session(1), session(0)
    inputs = one.get_inputs()
    outputs = one.get_outputs()
    if task == "regression":
        chosen = 0
    else:
        probability = [i for i, o in enumerate(outputs) if o.type in ("tensor(float)", "tensor(double)")]
        if not probability:
            raise FlavourError(
                f"{name}: an ONNX model of a {task} task needs a probability tensor output (found "
                f"{', '.join(f'{o.name}: {o.type}' for o in outputs)}; convert with zipmap=False)"
            )
        chosen = probability[-1]
    features = inputs[0].shape[-1] if len(inputs) == 1 and isinstance(inputs[0].shape[-1], int) else None

    def feed(values: Any) -> dict[str, Any]:
        if isinstance(values, dict):
            return values
        if len(inputs) != 1:
            raise FlavourError(
                f"{name}: the ONNX model takes {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}): encode() must return a dict of them"
            )
        kind = ONNX_TYPES.get(inputs[0].type)
        array = np.asarray(values, dtype=kind if kind is not None else object)
        if array.ndim == 1 and len(inputs[0].shape) == 2:
            array = array.reshape(-1, 1)
        return {inputs[0].name: array}

    def score(values: Any, large: bool) -> np.ndarray:
        result = (many if large else one).run([outputs[chosen].name], feed(values))[0]
        return np.asarray(result, dtype=np.float64)

    return LoadedModel("onnx", one, score, features)


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
            lambda head: head.startswith(b"tree\n"), _load_lightgbm,
        ),
        Flavour(
            "xgboost", "XGBoost", "xgboost", "xgboost", "xgboost", (".json", ".ubj"),
            lambda head: head.startswith((b'{"learner"', b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner")),
            _load_xgboost,
        ),
        Flavour(
            "catboost", "CatBoost", "catboost", "catboost", "catboost", (".cbm",),
            lambda head: head.startswith(b"CBM1"), _load_catboost,
        ),
        Flavour(
            "sklearn", "scikit-learn", "joblib", "scikit-learn", "sklearn", (".pkl", ".pickle", ".joblib"),
            _pickle, _load_sklearn, strict_version=True,
        ),
        Flavour(
            "onnx", "ONNX", "onnxruntime", "onnxruntime", "onnx", (".onnx",),
            lambda head: head[:1] == b"\x08", _load_onnx,
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
    _require(chosen)
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
