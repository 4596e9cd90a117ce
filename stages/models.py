"""The model families the train stage fits, and the one model file `evaluate` and serving read.

Families: ``lightgbm``, ``xgboost`` and ``catboost`` (CatBoost with its native categorical
handling: the category codes go in as categories; XGBoost as categories too, via its
``enable_categorical``). Every fit is deterministic: fixed seed, fixed thread count.

The model file (``models/model.txt``):

* one LightGBM model: LightGBM's own text format (what graft's ``lightgbm`` flavour serves);
* anything else (an XGBoost or CatBoost model, or an averaged ensemble of several seeds): a
  JSON *bundle* ``{"format", "family", "categorical", "members"}``, each member the family's
  native model bytes in base64 (LightGBM text, XGBoost UBJSON, CatBoost ``cbm``); the
  prediction is the mean of the members' probabilities. No pickle anywhere. It is served with
  the adapter's ``load_model`` and ``predict`` (stages/serving.py).

Inputs are the float64 matrix of stages/features.py, columns in the spec's order.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

FAMILIES = ("lightgbm", "xgboost", "catboost")
BUNDLE_FORMAT = "adult-income-bundle/1"


@dataclass(frozen=True)
class Knobs:
    """What a fit needs, in family-neutral names (see stages/train.py's params for each one)."""

    family: str
    learning_rate: float
    num_leaves: int
    depth: int
    min_child_samples: int
    feature_fraction: float
    bagging_fraction: float
    bagging_freq: int
    lambda_l2: float
    cat_smooth: float
    min_data_per_group: int
    max_rounds: int
    early_stopping_rounds: int
    num_threads: int


class Scorer(Protocol):
    def predict(self, data: Any) -> Any: ...


# --- fitting -------------------------------------------------------------------------------------


def _lgb_params(k: Knobs, seed: int) -> dict[str, Any]:
    return {
        "objective": "binary",
        "metric": ["binary_logloss", "auc"],
        "learning_rate": k.learning_rate,
        "num_leaves": k.num_leaves,
        "min_child_samples": k.min_child_samples,
        "feature_fraction": k.feature_fraction,
        "bagging_fraction": k.bagging_fraction,
        "bagging_freq": k.bagging_freq,
        "lambda_l2": k.lambda_l2,
        "cat_smooth": k.cat_smooth,
        "min_data_per_group": k.min_data_per_group,
        "seed": seed,
        "num_threads": k.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def _fit_lightgbm(
    k: Knobs, names: Sequence[str], cats: Sequence[int], x: np.ndarray, y: np.ndarray,
    valid: tuple[np.ndarray, np.ndarray] | None, rounds: int | None, seed: int,
) -> tuple[bytes, int]:  # fmt: skip
    import lightgbm as lgb

    def data(xs: np.ndarray, ys: np.ndarray, reference: Any = None) -> Any:
        return lgb.Dataset(
            xs, label=ys, feature_name=list(names), categorical_feature=[names[i] for i in cats],
            reference=reference, free_raw_data=True,
        )  # fmt: skip

    train_set = data(x, y)
    if valid is None:
        booster = lgb.train(_lgb_params(k, seed), train_set, num_boost_round=rounds or k.max_rounds)
        return booster.model_to_string().encode(), booster.current_iteration()
    booster = lgb.train(
        _lgb_params(k, seed),
        train_set,
        num_boost_round=k.max_rounds,
        valid_sets=[data(*valid, reference=train_set)],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(k.early_stopping_rounds, first_metric_only=True, verbose=False)],
    )
    return booster.model_to_string(num_iteration=booster.best_iteration).encode(), booster.best_iteration


def _xgb_matrix(x: np.ndarray, y: np.ndarray | None, cats: Sequence[int], threads: int) -> Any:
    import xgboost as xgb

    kinds = ["c" if j in set(cats) else "q" for j in range(x.shape[1])]
    return xgb.DMatrix(x, label=y, feature_types=kinds, enable_categorical=True, nthread=threads)


def _fit_xgboost(
    k: Knobs, names: Sequence[str], cats: Sequence[int], x: np.ndarray, y: np.ndarray,
    valid: tuple[np.ndarray, np.ndarray] | None, rounds: int | None, seed: int,
) -> tuple[bytes, int]:  # fmt: skip
    import xgboost as xgb

    params = {
        "objective": "binary:logistic",
        "eval_metric": ["auc", "logloss"],  # the last one stops early
        "eta": k.learning_rate,
        "tree_method": "hist",
        "grow_policy": "lossguide",
        "max_leaves": k.num_leaves,
        "max_depth": 0,
        "subsample": k.bagging_fraction,
        "colsample_bytree": k.feature_fraction,
        "reg_lambda": k.lambda_l2,
        "max_cat_to_onehot": 1,
        "seed": seed,
        "nthread": k.num_threads,
        "verbosity": 0,
    }
    train_set = _xgb_matrix(x, y, cats, k.num_threads)
    if valid is None:
        booster = xgb.train(params, train_set, num_boost_round=rounds or k.max_rounds)
        return bytes(booster.save_raw("ubj")), booster.num_boosted_rounds()
    booster = xgb.train(
        params,
        train_set,
        num_boost_round=k.max_rounds,
        evals=[(_xgb_matrix(*valid, cats, k.num_threads), "valid")],
        early_stopping_rounds=k.early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(booster.best_iteration) + 1
    return bytes(booster[:best].save_raw("ubj")), best


def _cb_frame(x: np.ndarray, names: Sequence[str], cats: Sequence[int]) -> pd.DataFrame:
    frame = pd.DataFrame(x, columns=list(names))
    for j in cats:  # CatBoost takes categories as integers or strings; a missing code is -1
        frame[names[j]] = np.nan_to_num(x[:, j], nan=-1.0).astype(np.int64)
    return frame


CB_VARYING = ("train_finish_time", "model_guid")  # CatBoost's metadata that differs run to run


def _fit_catboost(
    k: Knobs, names: Sequence[str], cats: Sequence[int], x: np.ndarray, y: np.ndarray,
    valid: tuple[np.ndarray, np.ndarray] | None, rounds: int | None, seed: int,
) -> tuple[bytes, int]:  # fmt: skip
    import catboost

    model = catboost.CatBoostClassifier(
        loss_function="Logloss",
        eval_metric="Logloss",
        iterations=rounds or k.max_rounds,
        learning_rate=k.learning_rate,
        depth=k.depth,
        l2_leaf_reg=k.lambda_l2,
        rsm=k.feature_fraction,
        random_seed=seed,
        thread_count=k.num_threads,
        allow_writing_files=False,
        verbose=False,
    )
    cat_names = [names[j] for j in cats]
    if valid is None:
        model.fit(_cb_frame(x, names, cats), y, cat_features=cat_names)
    else:
        model.fit(
            _cb_frame(x, names, cats), y, cat_features=cat_names,
            eval_set=(_cb_frame(valid[0], names, cats), valid[1]),
            early_stopping_rounds=k.early_stopping_rounds, use_best_model=True,
        )  # fmt: skip
    metadata = model.get_metadata()
    for varying in CB_VARYING:  # the same fit must give the same bytes
        if varying in metadata:
            del metadata[varying]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.cbm"
        model.save_model(str(path), format="cbm")
        data = path.read_bytes()
    return data, int(model.tree_count_)


_FIT = {"lightgbm": _fit_lightgbm, "xgboost": _fit_xgboost, "catboost": _fit_catboost}


def fit(
    k: Knobs,
    names: Sequence[str],
    cats: Sequence[int],
    x: np.ndarray,
    y: np.ndarray,
    valid: tuple[np.ndarray, np.ndarray] | None,
    seed: int,
    rounds: int | None = None,
) -> tuple[bytes, int]:
    """One model: early-stopped on ``valid`` (then at its best round), else ``rounds`` rounds.
    Returns the native model bytes and the number of rounds kept."""
    return _FIT[k.family](k, names, cats, x, y, valid, rounds, seed)


# --- the model file -------------------------------------------------------------------------------


def model_file(family: str, names: Sequence[str], cats: Sequence[int], members: Sequence[bytes]) -> bytes:
    """One LightGBM model as its text; anything else as a bundle (see the module docstring)."""
    if family == "lightgbm" and len(members) == 1:
        return members[0]
    bundle = {
        "format": BUNDLE_FORMAT,
        "family": family,
        "features": list(names),
        "categorical": list(cats),
        "members": [base64.b64encode(m).decode("ascii") for m in members],
    }
    return (json.dumps(bundle, sort_keys=True) + "\n").encode()


@dataclass
class Bundle:
    """The members of a model file, loaded; :meth:`predict` averages their probabilities."""

    family: str
    names: list[str]
    cats: list[int]
    members: list[Any]

    def predict(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.family == "lightgbm":
            scores = [m.predict(x) for m in self.members]
        elif self.family == "xgboost":
            data = _xgb_matrix(x, None, self.cats, 1)
            scores = [m.predict(data) for m in self.members]
        else:
            frame = _cb_frame(x, self.names, self.cats)
            scores = [m.predict_proba(frame)[:, 1] for m in self.members]
        return np.mean(np.vstack(scores), axis=0)

    def importance(self, kind: str) -> np.ndarray:
        """Per-feature importance summed over the members (``gain`` or ``split``)."""
        total = np.zeros(len(self.names))
        for m in self.members:
            if self.family == "lightgbm":
                total += m.feature_importance(importance_type=kind)
            elif self.family == "xgboost":
                scores = m.get_score(importance_type="total_gain" if kind == "gain" else "weight")
                total += np.array([scores.get(n, 0.0) for n in self.names])
            else:
                total += np.asarray(m.get_feature_importance(), dtype=np.float64)
        return total


def _member(family: str, data: bytes) -> Any:
    if family == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_str=data.decode())
    if family == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(data))
        booster.set_param({"nthread": 1})
        return booster
    import catboost

    model = catboost.CatBoostClassifier()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.cbm"
        path.write_bytes(data)
        model.load_model(str(path), format="cbm")
    return model


def load(data: bytes) -> Bundle:
    """A model file's bytes (LightGBM text or a bundle) as a :class:`Bundle`."""
    if not data.lstrip().startswith(b"{"):
        booster = _member("lightgbm", data)
        names = list(booster.feature_name())
        return Bundle("lightgbm", names, [], [booster])
    bundle = json.loads(data)
    if bundle.get("format") != BUNDLE_FORMAT or bundle.get("family") not in FAMILIES:
        raise ValueError(f"not a model bundle of format {BUNDLE_FORMAT}")
    members = [_member(bundle["family"], base64.b64decode(m)) for m in bundle["members"]]
    return Bundle(bundle["family"], list(bundle["features"]), list(bundle["categorical"]), members)
