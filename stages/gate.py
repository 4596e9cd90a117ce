"""Stage `gate`: absolute quality and fairness bounds on the evaluated metrics.

A breach writes the check table, then fails the pipeline naming metric, value and bound.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import model_validator

from stages import paths
from stages.common import Section, load_params
from stages.errors import StageError, run_stage
from stages.fsio import write_json

RESULT = paths.GATE


class Bound(Section):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("a bound needs 'min' or 'max'")
        return self


class GateParams(Section):
    # dotted metric key in metrics/metrics.json -> bound
    thresholds: dict[str, Bound]


class GateFailed(StageError):
    pass


def lookup(metrics: dict[str, Any], dotted: str) -> Any:
    node: Any = metrics
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise GateFailed(f"gate: metric '{dotted}' not found in {paths.METRICS}")
        node = node[part]
    return node


def check(metrics: dict[str, Any], thresholds: dict[str, Bound]) -> list[dict[str, Any]]:
    rows = []
    for name, bound in sorted(thresholds.items()):
        value = lookup(metrics, name)
        ok = isinstance(value, (int, float))
        if ok and bound.min is not None:
            ok = value >= bound.min
        if ok and bound.max is not None:
            ok = value <= bound.max
        rows.append({"metric": name, "value": value, "min": bound.min, "max": bound.max, "passed": bool(ok)})
    return rows


def describe(row: dict[str, Any]) -> str:
    value = row["value"]
    if not isinstance(value, (int, float)):
        return f"{row['metric']} = {value!r} is not a number"
    if row["min"] is not None and value < row["min"]:
        return f"{row['metric']} = {value:.6g} is below the minimum {row['min']:.6g}"
    return f"{row['metric']} = {value:.6g} is above the maximum {row['max']:.6g}"


def main() -> None:
    params = load_params("gate", GateParams)
    metrics = json.loads(paths.METRICS.read_text(encoding="utf-8"))
    rows = check(metrics, params.thresholds)
    failed = [row for row in rows if not row["passed"]]
    write_json(RESULT, {"passed": not failed, "checks": rows})
    if failed:
        raise GateFailed("gate failed: " + "; ".join(describe(row) for row in failed))


if __name__ == "__main__":
    run_stage(main, "gate")
