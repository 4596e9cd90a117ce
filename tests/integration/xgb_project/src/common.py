"""Shared by the scripts: the columns, reading params, writing files atomically."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

CLASSES = ["benign", "malignant"]  # negative, positive
TARGET = "diagnosis"
ID = "id"
FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "worst_concavity", "worst_area"]


def matrix(columns: dict[str, Any]) -> Any:
    """The model's features: the five measurements, in this order (float64)."""
    import numpy as np

    return np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in FEATURES]).reshape(
        -1, len(FEATURES)
    )


def params(section: str) -> dict[str, Any]:
    return dict(yaml.safe_load(Path("params.yaml").read_text())[section])


def columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """A table as the feature code takes it: lists of values, None where one is missing."""
    return {name: frame[name].astype(object).where(frame[name].notna(), None).tolist() for name in frame}


def write_bytes(path: str, data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    Path(tmp).replace(target)


def write_json(path: str, value: dict[str, Any]) -> None:
    write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def write_parquet(path: str, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_bytes(path, buffer.getvalue())
