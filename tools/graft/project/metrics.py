"""Metric names, directions and tolerances: the `compare` section of params.yaml.

Metrics are addressed by dotted keys into metrics/metrics.json
(``roc_auc``, ``fairness.sex.demographic_parity_difference``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graft.core.errors import ParamsError

METRICS_FILE = "metrics/metrics.json"
PARAMS_FILE = "params.yaml"
DVC_LOCK = "dvc.lock"
PREDICTIONS_FILE = "metrics/predictions.parquet"
FAIRNESS_FILE = "metrics/fairness.json"
GATE_FILE = "metrics/gate.json"

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricRule:
    direction: Direction
    tolerance: float


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


def compare_rules(params: Mapping[str, Any], source: str = PARAMS_FILE) -> dict[str, MetricRule]:
    """Parse ``compare.metrics`` (metric -> {direction, tolerance}); errors name the key."""
    section = params.get("compare")
    if not isinstance(section, Mapping) or not isinstance(section.get("metrics"), Mapping):
        raise ParamsError(f"{source}: missing section 'compare.metrics'")
    rules: dict[str, MetricRule] = {}
    for name, rule in section["metrics"].items():
        key = f"compare.metrics.{name}"
        if not isinstance(rule, Mapping) or set(rule) != {"direction", "tolerance"}:
            raise ParamsError(f"{source}: '{key}' needs exactly 'direction' and 'tolerance'")
        if rule["direction"] not in ("higher", "lower"):
            raise ParamsError(
                f"{source}: '{key}.direction' must be 'higher' or 'lower' (got {rule['direction']!r})"
            )
        tol = rule["tolerance"]
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol < 0:
            raise ParamsError(f"{source}: '{key}.tolerance' must be a number >= 0 (got {tol!r})")
        rules[str(name)] = MetricRule(rule["direction"], float(tol))
    return rules
