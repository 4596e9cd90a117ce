"""Score the test flowers: log loss, accuracy and macro F1; per-class probabilities to Parquet."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import CLASSES, ID, TARGET, columns, write_json, write_parquet
from features import encode


def main() -> None:
    test = pd.read_parquet("work/test.parquet")
    booster = lgb.Booster(model_file="models/classifier.txt")
    proba = booster.predict(encode(columns(test)))
    actual = test[TARGET].map(CLASSES.index).to_numpy()
    predicted = proba.argmax(axis=1)
    f1 = []
    for k in range(len(CLASSES)):
        tp = np.sum((predicted == k) & (actual == k))
        both = np.sum(predicted == k) + np.sum(actual == k)
        f1.append(2 * tp / both if both else 0.0)
    write_json(
        "eval/metrics.json",
        {
            "log_loss": round(
                float(-np.mean(np.log(np.clip(proba[np.arange(len(actual)), actual], 1e-15, 1)))), 6
            ),
            "accuracy": round(float(np.mean(predicted == actual)), 6),
            "macro_f1": round(float(np.mean(f1)), 6),
        },
    )
    table = pd.DataFrame({ID: test[ID], TARGET: test[TARGET]})
    for k, name in enumerate(CLASSES):
        table[f"proba_{name}"] = proba[:, k]
    write_parquet("eval/predictions.parquet", table)


if __name__ == "__main__":
    main()
