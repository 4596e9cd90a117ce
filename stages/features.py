"""Feature definitions shared by `featurize` (training) and serving: one source of truth.

A *spec* (written by `featurize` to data/features/spec.json and shipped in the model
package) says which columns are features, how categories are coded and which columns
are one-hot encoded. :func:`encode` turns raw records into the model's numeric matrix
from numpy columns alone, so serving never needs a DataFrame per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# name -> (formula for humans, inputs); the arithmetic lives in `engineer`.
ENGINEERED: dict[str, tuple[str, tuple[str, ...]]] = {
    "capital_net": ("capital_gain - capital_loss", ("capital_gain", "capital_loss")),
    "hours_x_education": ("hours_per_week * education_num", ("hours_per_week", "education_num")),
}


def engineer(name: str, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    if name == "capital_net":
        return columns["capital_gain"] - columns["capital_loss"]
    if name == "hours_x_education":
        return columns["hours_per_week"] * columns["education_num"]
    raise KeyError(name)


def code_categories(values: Sequence[Any], vocabulary: Sequence[str], fill: str | None) -> np.ndarray:
    """Map category strings to their index in ``vocabulary``.

    Missing values (None/NaN) become the code of ``fill`` when the policy gives missing values
    a category of their own, else NaN (LightGBM's missing). Unknown strings map to -1 so the
    caller can reject them.
    """
    index = {v: float(i) for i, v in enumerate(vocabulary)}
    missing = index[fill] if fill is not None else np.nan
    return np.fromiter(
        (missing if v is None or v != v else index.get(v, -1.0) for v in values),
        dtype=np.float64,
        count=len(values),
    )


def encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> np.ndarray:
    """Raw columns (name -> values, None for missing) -> float64 matrix in ``spec['features']`` order."""
    n = len(next(iter(columns.values())))
    numeric = {c: np.asarray(columns[c], dtype=np.float64) for c in spec["numeric"]}
    out: dict[str, np.ndarray] = dict(numeric)
    for name in spec["engineered"]:
        out[name] = engineer(name, numeric)
    fill = spec["missing_fill"]
    for col in spec["categorical"]:
        out[col] = code_categories(columns[col], spec["categories"][col], fill)
    for col, vocabulary in spec["onehot"].items():
        codes = code_categories(columns[col], vocabulary, fill)
        for i, value in enumerate(vocabulary):
            out[f"{col}={value}"] = (codes == i).astype(np.float64)
    matrix = np.empty((n, len(spec["features"])), dtype=np.float64)
    for j, name in enumerate(spec["features"]):
        matrix[:, j] = out[name]
    return matrix
