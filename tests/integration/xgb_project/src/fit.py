"""Split the tumours (seeded) and train an XGBoost binary classifier, saved as JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).parent))
from common import CLASSES, ID, TARGET, columns, matrix, params, write_bytes, write_parquet


def main() -> None:
    split, config = params("split"), params("model")
    frame = pd.read_csv("data/tumours.csv")
    test = frame.sample(frac=split["test_size"], random_state=split["seed"]).sort_values(ID)
    train = frame.drop(test.index).sort_values(ID)
    write_parquet("work/train.parquet", train.reset_index(drop=True))
    write_parquet("work/test.parquet", test.reset_index(drop=True))
    options = {
        "objective": "binary:logistic",
        "learning_rate": config["learning_rate"],
        "max_depth": config["max_depth"],
        "seed": config["seed"],
        "nthread": 1,
        "tree_method": "exact",
    }
    target = (train[TARGET] == CLASSES[1]).astype(int).to_numpy()
    booster = xgb.train(
        options, xgb.DMatrix(matrix(columns(train)), target), num_boost_round=config["rounds"]
    )
    write_bytes("models/classifier.json", bytes(booster.save_raw("json")))


if __name__ == "__main__":
    main()
