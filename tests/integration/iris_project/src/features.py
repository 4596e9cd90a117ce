"""The model's features from the raw columns: the four measurements, the petal ratio and the
site's code (missing: NaN). Plain numpy, shared by training and the serving adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MEASUREMENTS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SITES = ["A", "B", "C"]


def encode(columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
    numbers = [np.asarray(columns[name], dtype=np.float64) for name in MEASUREMENTS]
    petal_length, petal_width = numbers[2], numbers[3]
    ratio = petal_length / np.maximum(petal_width, 0.1)
    site = np.asarray([np.nan if s is None else float(SITES.index(s)) for s in columns["site"]])
    return np.column_stack([*numbers, ratio, site.astype(np.float64)])
