"""Serving adapter: what a released model of this project needs from its code (graft.yaml
``package.adapter``; `graft package` ships this file and ``src/common.py`` with the model).

* ``input_schema``: one record holds the ten baseline measurements, all numbers, all required.
* ``encode``: those columns, in the order ``src/fit.py`` trains on, as a float matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from common import FEATURES


def input_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "number"} for name in FEATURES},
        "required": list(FEATURES),
        "additionalProperties": False,
    }


def encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> np.ndarray:
    return np.column_stack([np.asarray(columns[name], dtype=np.float64) for name in FEATURES])
