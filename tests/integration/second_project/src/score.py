"""Score the test rows: RMSE, MAE and R² to eval/metrics.json, predictions to Parquet."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import FEATURES, ID, TARGET, write_bytes, write_json


def main() -> None:
    test = pd.read_parquet("work/test.parquet")
    booster = lgb.Booster(model_file="models/regressor.txt")
    predicted = booster.predict(test[FEATURES].to_numpy(dtype=float))
    actual = test[TARGET].to_numpy(dtype=float)
    error = predicted - actual
    total = float(np.sum((actual - actual.mean()) ** 2))
    write_json(
        "eval/metrics.json",
        {
            "rmse": round(float(np.sqrt(np.mean(error**2))), 6),
            "mae": round(float(np.mean(np.abs(error))), 6),
            "r2": round(1.0 - float(np.sum(error**2)) / total, 6),
            "rows": len(test),
        },
    )
    table = pd.DataFrame({ID: test[ID], TARGET: actual, "predicted": predicted})
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    write_bytes("eval/predictions.parquet", buffer.getvalue())


if __name__ == "__main__":
    main()
