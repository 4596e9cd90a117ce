"""Serving adapter (graft.yaml ``package.adapter``): one record holds the five measurements
(all required, positive); ``encode`` is the training encoding of ``src/common.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from common import FEATURES, matrix


def input_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "number", "minimum": 0, "maximum": 10000} for name in FEATURES},
        "required": list(FEATURES),
        "additionalProperties": False,
    }


def encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> np.ndarray:
    return matrix(dict(columns))
