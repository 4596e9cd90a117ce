"""Serving adapter of the Adult pipeline: what a released model needs from this project's code.

`graft package` ships this file with stages/schema.py and stages/features.py (graft.yaml
``package.code``) and serving calls the two functions below from the shipped copies, so a
served model encodes records with the code of the commit that trained it.

* :func:`input_schema`: JSON Schema of one raw record, from the schema module and the
  ``validate`` section of params.yaml (ranges, nullable columns).
* :func:`encode`: validated raw columns -> the model's feature matrix, with the feature spec
  `featurize` wrote (shipped as ``features.json``).
* :func:`load_model` and :func:`predict`: the model file as stages/models.py writes it. One
  LightGBM model is LightGBM text, served by graft's ``lightgbm`` flavour (``model`` is then
  its Booster); any other (XGBoost, CatBoost, an ensemble of seeds) is a bundle, which graft
  does not recognise and serves with the ``custom`` flavour through these two functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stages.features import encode as encode_features
from stages.models import Bundle
from stages.models import load as load_bundle
from stages.schema import CATEGORIES, FEATURE_COLUMNS, NUMERIC

SPEC_FILE = "features.json"
SINGLE_THREAD_ROWS = 256  # rows a prediction scores on one thread; more use every core


def input_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    """JSON Schema of one input record (types, ranges, categories, required columns)."""
    validate = params["validate"]
    nullable = set(validate["nullable"])
    properties: dict[str, Any] = {}
    for column in FEATURE_COLUMNS:
        if column in NUMERIC:
            low, high = validate["ranges"][column]
            prop: dict[str, Any] = {"type": ["integer", "null"] if column in nullable else "integer"}
            prop.update(minimum=low, maximum=high)
        else:
            values: list[Any] = list(CATEGORIES[column])
            prop = {
                "type": ["string", "null"] if column in nullable else "string",
                "enum": values + ([None] if column in nullable else []),
            }
        properties[column] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Adult income input record",
        "type": "object",
        "properties": properties,
        "required": [c for c in FEATURE_COLUMNS if c not in nullable],
        "additionalProperties": False,
    }


def encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> np.ndarray:
    """Validated columns (None = missing) -> float64 matrix in the trained feature order."""
    features = spec[SPEC_FILE]
    cols = dict(columns)
    for name in features["numeric"]:
        values = cols[name]
        if None in values:  # a nullable numeric input: missing for LightGBM
            cols[name] = [math.nan if v is None else v for v in values]
    return encode_features(cols, features)


def load_model(path: Path) -> Bundle:
    """The model file (LightGBM text or a bundle) with its members loaded."""
    return load_bundle(path.read_bytes())


def predict(model: Any, inputs: np.ndarray) -> np.ndarray:
    """P(>50K) per row of ``inputs``: a bundle averages its members; a LightGBM Booster (the
    ``lightgbm`` flavour) predicts a few rows on one thread and a batch on every core (thread
    start-up costs more than a few rows' trees)."""
    if isinstance(model, Bundle):
        return model.predict(inputs)
    threads = 0 if len(inputs) > SINGLE_THREAD_ROWS else 1  # 0: LightGBM's default, every core
    return np.asarray(model.predict(inputs, num_threads=threads))
