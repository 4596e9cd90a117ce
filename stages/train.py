"""Stage `train`: LightGBM with early stopping on the validation split, deterministic.

Determinism: fixed seed, fixed thread count, ``deterministic`` and ``force_row_wise``; the
model is saved in LightGBM's text format at its best iteration (no pickle anywhere).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import Field

from stages import paths
from stages.common import Section, load_params
from stages.errors import run_stage
from stages.fsio import write_json, write_text
from stages.schema import TARGET

MODEL = paths.MODEL
METRICS = paths.TRAIN_METRICS


class TrainParams(Section):
    objective: Literal["binary"]
    learning_rate: float = Field(gt=0, le=1)
    num_leaves: int = Field(ge=2)
    min_child_samples: int = Field(ge=1)
    feature_fraction: float = Field(gt=0, le=1)
    bagging_fraction: float = Field(gt=0, le=1)
    bagging_freq: int = Field(ge=0)
    lambda_l2: float = Field(ge=0)
    cat_smooth: float = Field(ge=0)
    min_data_per_group: int = Field(ge=1)
    max_rounds: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)
    seed: int
    num_threads: int = Field(ge=1)


def lgb_params(params: TrainParams) -> dict[str, Any]:
    return {
        "objective": params.objective,
        "metric": ["binary_logloss", "auc"],
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": params.bagging_freq,
        "lambda_l2": params.lambda_l2,
        "cat_smooth": params.cat_smooth,
        "min_data_per_group": params.min_data_per_group,
        "seed": params.seed,
        "num_threads": params.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def dataset(frame: pd.DataFrame, spec: dict[str, Any], reference: lgb.Dataset | None = None) -> lgb.Dataset:
    return lgb.Dataset(
        frame[spec["features"]].to_numpy(dtype=np.float64),
        label=frame[TARGET].to_numpy(),
        feature_name=spec["features"],
        categorical_feature=spec["categorical"],
        reference=reference,
        free_raw_data=True,
    )


def train(
    train_df: pd.DataFrame, valid_df: pd.DataFrame, spec: dict[str, Any], params: TrainParams
) -> tuple[lgb.Booster, dict[str, Any]]:
    train_set = dataset(train_df, spec)
    valid_set = dataset(valid_df, spec, reference=train_set)
    booster = lgb.train(
        lgb_params(params),
        train_set,
        num_boost_round=params.max_rounds,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False)],
    )
    scores = booster.best_score["valid"]
    summary = {
        "best_iteration": booster.best_iteration,
        "valid_log_loss": round(float(scores["binary_logloss"]), 6),
        "valid_roc_auc": round(float(scores["auc"]), 6),
        "num_features": len(spec["features"]),
        "train_rows": len(train_df),
        "valid_rows": len(valid_df),
    }
    return booster, summary


def model_text(booster: lgb.Booster) -> str:
    return booster.model_to_string(num_iteration=booster.best_iteration)


def main() -> None:
    params = load_params("train", TrainParams)
    spec = json.loads(paths.FEATURE_SPEC.read_text(encoding="utf-8"))
    train_df = pd.read_parquet(paths.features_split("train"))
    valid_df = pd.read_parquet(paths.features_split("valid"))
    booster, summary = train(train_df, valid_df, spec, params)
    write_text(MODEL, model_text(booster))
    write_json(METRICS, summary)


if __name__ == "__main__":
    run_stage(main, "train")
