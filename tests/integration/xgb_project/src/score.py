"""Score the test tumours: ROC AUC, accuracy and log loss; P(malignant) per tumour to Parquet."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).parent))
from common import CLASSES, ID, TARGET, columns, matrix, write_json, write_parquet


def main() -> None:
    test = pd.read_parquet("work/test.parquet")
    booster = xgb.Booster()
    booster.load_model("models/classifier.json")
    booster.set_param({"nthread": 1})
    proba = booster.inplace_predict(matrix(columns(test))).astype(np.float64)
    actual = (test[TARGET] == CLASSES[1]).to_numpy()
    positives, negatives = proba[actual], proba[~actual]
    auc = (np.sum(positives[:, None] > negatives) + 0.5 * np.sum(positives[:, None] == negatives)) / (
        len(positives) * len(negatives)
    )
    clipped = np.clip(proba, 1e-15, 1 - 1e-15)
    write_json(
        "eval/metrics.json",
        {
            "roc_auc": round(float(auc), 6),
            "accuracy": round(float(np.mean((proba >= 0.5) == actual)), 6),
            "log_loss": round(float(-np.mean(np.where(actual, np.log(clipped), np.log(1 - clipped)))), 6),
        },
    )
    write_parquet(
        "eval/predictions.parquet", pd.DataFrame({ID: test[ID], TARGET: test[TARGET], "proba": proba})
    )


if __name__ == "__main__":
    main()
