"""Serving adapter (graft.yaml ``package.adapter``): one record holds the four measurements
(centimetres, required) and the site (A, B or C; may be missing); ``encode`` is the training
encoding of ``src/features.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from features import MEASUREMENTS, SITES
from features import encode as encode_features


def input_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: {"type": "number", "minimum": 0, "maximum": 30} for name in MEASUREMENTS
    }
    properties["site"] = {"type": ["string", "null"], "enum": [*SITES, None]}
    return {
        "type": "object",
        "properties": properties,
        "required": list(MEASUREMENTS),
        "additionalProperties": False,
    }


def encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> np.ndarray:
    return encode_features(columns)
