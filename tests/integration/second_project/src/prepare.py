"""Split the raw table into train and test rows (seeded)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import ID, params, write_bytes


def main() -> None:
    config = params("split")
    frame = pd.read_csv("data/diabetes.csv")
    frame.insert(0, ID, range(len(frame)))
    test = frame.sample(frac=config["test_size"], random_state=config["seed"]).sort_values(ID)
    train = frame.drop(test.index)
    for name, part in (("train", train), ("test", test)):
        buffer = io.BytesIO()
        part.reset_index(drop=True).to_parquet(buffer, index=False)
        write_bytes(f"work/{name}.parquet", buffer.getvalue())


if __name__ == "__main__":
    main()
