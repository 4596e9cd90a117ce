"""Fixed paths of the reference project, still used by modules not yet on graft.project.

Being phased out: new code reads a project's files through :mod:`graft.project`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRICS_FILE = "metrics/metrics.json"
PARAMS_FILE = "params.yaml"
DVC_LOCK = "dvc.lock"
GATE_FILE = "metrics/gate.json"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out
