"""Split the measured flowers (seeded) and train a LightGBM multiclass model on the features."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import CLASSES, ID, TARGET, columns, params, write_bytes, write_parquet
from features import encode


def main() -> None:
    split, config = params("split"), params("model")
    frame = pd.read_csv("data/iris.csv", dtype={"site": "string"}, keep_default_na=False, na_values=[""])
    test = frame.sample(frac=split["test_size"], random_state=split["seed"]).sort_values(ID)
    train = frame.drop(test.index).sort_values(ID)
    write_parquet("work/train.parquet", train.reset_index(drop=True))
    write_parquet("work/test.parquet", test.reset_index(drop=True))
    options = {
        "objective": "multiclass",
        "num_class": len(CLASSES),
        "learning_rate": config["learning_rate"],
        "num_leaves": config["num_leaves"],
        "min_child_samples": config["min_child_samples"],
        "seed": config["seed"],
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }
    target = train[TARGET].map(CLASSES.index).to_numpy()
    booster = lgb.train(
        options, lgb.Dataset(encode(columns(train)), target), num_boost_round=config["rounds"]
    )
    write_bytes("models/classifier.txt", booster.model_to_string().encode())


if __name__ == "__main__":
    main()
