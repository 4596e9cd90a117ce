"""Train a LightGBM regressor; report its validation error (a quarter of the training rows)."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import FEATURES, TARGET, params, write_bytes, write_json


def main() -> None:
    config = params("model")
    train = pd.read_parquet("work/train.parquet")
    valid_mask = np.arange(len(train)) % 4 == 0
    options = {
        "objective": config["objective"],
        "learning_rate": config["learning_rate"],
        "num_leaves": config["num_leaves"],
        "min_child_samples": config["min_child_samples"],
        "seed": config["seed"],
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }
    fit_rows, valid_rows = train[~valid_mask], train[valid_mask]
    booster = lgb.train(
        options, lgb.Dataset(fit_rows[FEATURES], fit_rows[TARGET]), num_boost_round=config["rounds"]
    )
    error = booster.predict(valid_rows[FEATURES]) - valid_rows[TARGET].to_numpy()
    write_json("eval/validation.json", {"valid_rmse": round(float(np.sqrt(np.mean(error**2))), 6)})
    write_bytes("models/regressor.txt", booster.model_to_string().encode())


if __name__ == "__main__":
    main()
