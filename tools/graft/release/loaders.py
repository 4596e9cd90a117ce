"""One loader per model library (LightGBM, XGBoost, CatBoost, scikit-learn pickles, ONNX): each
reads the file, checks that the model's kind matches the task and returns a
:class:`~graft.release.modeltypes.LoadedModel`. The registry is :mod:`graft.release.flavours`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graft.release.modeltypes import FlavourError, LoadedModel, mismatch

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
        raise mismatch("LightGBM", objective, outputs, task, model)


def load_lightgbm(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
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


def load_xgboost(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
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
        raise mismatch("XGBoost", objective, outputs, task, name)

    wide = booster.copy()  # large batches on every core; requests may run concurrently, so no
    wide.set_param({"nthread": 0})  # setting is ever changed on a booster in use

    def score(inputs: Any, large: bool) -> np.ndarray:
        return np.asarray((wide if large else booster).inplace_predict(inputs))

    return LoadedModel("xgboost", booster, score, booster.num_features())


# --- CatBoost ------------------------------------------------------------------------------------

CB_BINARY = ("Logloss", "CrossEntropy")
CB_MULTICLASS = ("MultiClass", "MultiClassOneVsAll")
CB_EXPONENT = ("Poisson", "Tweedie")


def load_catboost(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
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
        raise mismatch("CatBoost", loss, outputs, task, name)
    kind = "Probability" if task != "regression" else ("Exponent" if loss in CB_EXPONENT else "RawFormulaVal")
    order = _class_order(known, classes, name) if task != "regression" else None

    def score(inputs: Any, large: bool) -> np.ndarray:
        raw = np.asarray(model.predict(inputs, prediction_type=kind, thread_count=-1 if large else 1))
        return raw if order is None else raw[:, order]

    return LoadedModel("catboost", model, score, len(model.feature_names_ or []) or None)


# --- scikit-learn (pickle / joblib) --------------------------------------------------------------


def load_sklearn(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
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


def load_onnx(path: Path, task: str, classes: Sequence[str], name: str) -> LoadedModel:
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
