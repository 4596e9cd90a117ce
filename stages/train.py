"""Stage `train`: a gradient-boosted model (LightGBM, XGBoost or CatBoost), deterministic.

* ``cv_folds: 0``: one fit on the train split, early-stopped on the validation split.
* ``cv_folds: k`` (2 or more): stratified k-fold cross-validation on the train split (each fold
  early-stopped on its held-out rows; ``seed`` only); the mean and standard error of the folds'
  log loss and ROC AUC go to the metrics as ``cv_*``, the fairness gaps of the out-of-fold
  predictions as ``cv_fairness``; then a refit at the folds' mean number
  of rounds on the train split (``refit_rows: train``) or on train and validation rows
  (``all``; the validation metrics are then those of the folds' models, which never saw them).
* ``seeds: n``: the final model averages ``n`` fits with seeds ``seed``, ``seed + 1``, ...

Validation metrics (``valid_*``): log loss, ROC AUC and, per ``group_columns``, the
demographic-parity and equalized-odds gaps at ``threshold`` (``valid_fairness``), named like
the test-split metrics of `evaluate` so the search's constraints can read them.

Determinism: fixed seeds and thread counts (see stages/models.py); the model file is written
by :func:`stages.models.model_file` (no pickle anywhere).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from pydantic import Field
from sklearn import metrics as skm
from sklearn.model_selection import StratifiedKFold

from stages import models, paths
from stages.common import Section, load_params
from stages.errors import run_stage
from stages.fsio import atomic_write_bytes, write_json
from stages.schema import ROW_ID, TARGET

MODEL = paths.MODEL
METRICS = paths.TRAIN_METRICS
DIGITS = 6


class TrainParams(Section):
    objective: Literal["binary"]
    model: Literal["lightgbm", "xgboost", "catboost"] = "lightgbm"
    learning_rate: float = Field(gt=0, le=1)
    num_leaves: int = Field(ge=2)  # LightGBM, XGBoost (lossguide)
    depth: int = Field(default=6, ge=1, le=16)  # CatBoost (symmetric trees)
    min_child_samples: int = Field(ge=1)  # LightGBM
    feature_fraction: float = Field(gt=0, le=1)
    bagging_fraction: float = Field(gt=0, le=1)  # LightGBM (with bagging_freq), XGBoost
    bagging_freq: int = Field(ge=0)
    lambda_l2: float = Field(ge=0)
    cat_smooth: float = Field(ge=0)  # LightGBM
    min_data_per_group: int = Field(ge=1)  # LightGBM
    max_rounds: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)
    cv_folds: int = Field(default=0, ge=0, le=20)
    refit_rows: Literal["train", "all"] = "train"
    seeds: int = Field(default=1, ge=1, le=20)
    seed: int
    num_threads: int = Field(ge=1)
    group_columns: list[str] = Field(default_factory=list)
    threshold: float = Field(default=0.5, gt=0, lt=1)


def knobs(p: TrainParams) -> models.Knobs:
    return models.Knobs(
        p.model, p.learning_rate, p.num_leaves, p.depth, p.min_child_samples, p.feature_fraction,
        p.bagging_fraction, p.bagging_freq, p.lambda_l2, p.cat_smooth, p.min_data_per_group,
        p.max_rounds, p.early_stopping_rounds, p.num_threads,
    )  # fmt: skip


def r(value: float) -> float:
    return round(float(value), DIGITS)


def scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return {"log_loss": r(skm.log_loss(y, proba, labels=[0, 1])), "roc_auc": r(skm.roc_auc_score(y, proba))}


def fairness_gaps(y: np.ndarray, proba: np.ndarray, groups: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Per sensitive column: the demographic-parity and equalized-odds gaps of the decisions."""
    pred = (proba >= threshold).astype(int)
    return {
        column: {
            "demographic_parity_difference": r(
                demographic_parity_difference(y, pred, sensitive_features=groups[column].to_numpy())
            ),
            "equalized_odds_difference": r(
                equalized_odds_difference(y, pred, sensitive_features=groups[column].to_numpy())
            ),
        }
        for column in groups.columns
    }


def mean_and_se(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return r(array.mean()), r(array.std(ddof=1) / np.sqrt(len(array)))


def predict(
    members: list[bytes], k: models.Knobs, names: list[str], cats: list[int], x: np.ndarray
) -> np.ndarray:
    return models.load(models.model_file(k.family, names, cats, members)).predict(x)


def cross_validate(
    k: models.Knobs, names: list[str], cats: list[int], x: np.ndarray, y: np.ndarray, folds: int, seed: int,
    x_valid: np.ndarray,
) -> tuple[dict[str, Any], int, np.ndarray, np.ndarray]:  # fmt: skip
    """k folds of the train rows: the cv metrics, the folds' mean rounds, the out-of-fold
    predictions of the train rows, and the mean of the folds' models' predictions on the
    validation rows."""
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    losses, aucs, rounds, valid_scores = [], [], [], []
    out_of_fold = np.zeros(len(y))
    for fit_rows, held_rows in split.split(x, y):
        held = (x[held_rows], y[held_rows])
        member, best = models.fit(k, names, cats, x[fit_rows], y[fit_rows], held, seed)
        fold = predict([member], k, names, cats, held[0])
        out_of_fold[held_rows] = fold
        got = scores(held[1], fold)
        losses.append(got["log_loss"])
        aucs.append(got["roc_auc"])
        rounds.append(best)
        valid_scores.append(predict([member], k, names, cats, x_valid))
    loss, loss_se = mean_and_se(losses)
    auc, auc_se = mean_and_se(aucs)
    cv = {
        "cv_folds": folds,
        "cv_log_loss": loss,
        "cv_log_loss_se": loss_se,
        "cv_roc_auc": auc,
        "cv_roc_auc_se": auc_se,
    }
    return cv, round(float(np.mean(rounds))), out_of_fold, np.mean(np.vstack(valid_scores), axis=0)


def train(
    train_df: pd.DataFrame, valid_df: pd.DataFrame, groups: pd.DataFrame, spec: dict[str, Any], p: TrainParams
) -> tuple[bytes, dict[str, Any]]:
    """The model file's bytes and the stage's metrics."""
    k = knobs(p)
    names = list(spec["features"])
    cats = [names.index(c) for c in spec["categorical"]]
    x, y = train_df[names].to_numpy(dtype=np.float64), train_df[TARGET].to_numpy()
    xv, yv = valid_df[names].to_numpy(dtype=np.float64), valid_df[TARGET].to_numpy()
    seeds = [p.seed + i for i in range(p.seeds)]
    summary: dict[str, Any] = {}

    def gaps(rows: pd.DataFrame, labels: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
        found = groups.set_index(ROW_ID).loc[rows[ROW_ID]].reset_index(drop=True)
        return fairness_gaps(labels, proba, found.astype(str), p.threshold)

    if p.cv_folds >= 2:
        cv, rounds, out_of_fold, fold_valid = cross_validate(k, names, cats, x, y, p.cv_folds, p.seed, xv)
        summary.update(cv)
        if p.group_columns:  # out-of-fold: more rows than validation, none seen by its model
            summary["cv_fairness"] = gaps(train_df, y, out_of_fold)
        fit_x, fit_y = (x, y) if p.refit_rows == "train" else (np.vstack([x, xv]), np.concatenate([y, yv]))
        members = [models.fit(k, names, cats, fit_x, fit_y, None, s, rounds)[0] for s in seeds]
        proba = predict(members, k, names, cats, xv) if p.refit_rows == "train" else fold_valid
    else:
        fitted = [models.fit(k, names, cats, x, y, (xv, yv), s) for s in seeds]
        members = [m for m, _ in fitted]
        rounds = round(float(np.mean([b for _, b in fitted])))
        proba = predict(members, k, names, cats, xv)
    valid = scores(yv, proba)
    summary.update(
        {
            "best_iteration": rounds,
            "valid_log_loss": valid["log_loss"],
            "valid_roc_auc": valid["roc_auc"],
            "num_features": len(names),
            "train_rows": len(train_df),
            "valid_rows": len(valid_df),
        }
    )
    if p.group_columns:
        summary["valid_fairness"] = gaps(valid_df, yv, proba)
    return models.model_file(p.model, names, cats, members), summary


def main() -> None:
    params = load_params("train", TrainParams)
    spec = json.loads(paths.FEATURE_SPEC.read_text(encoding="utf-8"))
    train_df = pd.read_parquet(paths.features_split("train"))
    valid_df = pd.read_parquet(paths.features_split("valid"))
    groups = pd.read_parquet(paths.VALIDATED, columns=[ROW_ID, *params.group_columns])
    model, summary = train(train_df, valid_df, groups, spec, params)
    atomic_write_bytes(MODEL, model)
    write_json(METRICS, summary)


if __name__ == "__main__":
    run_stage(main, "train")
