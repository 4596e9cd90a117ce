"""Quality gate between two revisions: no metric may fall behind its base by more than its tolerance
(``compare.metrics`` in params.yaml) and none may break an absolute bound (``gate.thresholds``).

Both the rules and the bounds are taken from the head's params.yaml: the change under review
states what it must satisfy, and a change to the rules shows up in the same diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graft.core.errors import ParamsError
from graft.project.metrics import PARAMS_FILE, MetricRule, flatten

# Absorbs float noise in "head == base - tolerance" (values are JSON round-tripped floats).
EPSILON = 1e-12

CheckKind = Literal["regression", "threshold"]


@dataclass(frozen=True)
class Bound:
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Check:
    metric: str
    kind: CheckKind
    head: float | None
    base: float | None
    passed: bool
    detail: str
    direction: str | None = None
    tolerance: float | None = None
    bound: Bound | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def metric_values(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """metrics.json flattened to dotted keys; non-numbers become None."""
    return {k: _number(v) for k, v in flatten(metrics).items()}


def thresholds(params: Mapping[str, Any], source: str = PARAMS_FILE) -> dict[str, Bound]:
    """``gate.thresholds`` (metric -> {min, max}); a missing section means no bounds."""
    section = params.get("gate")
    if section is None:
        return {}
    raw = section.get("thresholds", {}) if isinstance(section, Mapping) else None
    if not isinstance(raw, Mapping):
        raise ParamsError(f"{source}: 'gate.thresholds' must be a mapping of metric -> {{min, max}}")
    out: dict[str, Bound] = {}
    for name, bound in raw.items():
        key = f"gate.thresholds.{name}"
        if not isinstance(bound, Mapping) or not bound or set(bound) - {"min", "max"}:
            raise ParamsError(f"{source}: '{key}' needs 'min' and/or 'max' (got {bound!r})")
        lo, hi = bound.get("min"), bound.get("max")
        for side, value in (("min", lo), ("max", hi)):
            if value is not None and _number(value) is None:
                raise ParamsError(f"{source}: '{key}.{side}' must be a number (got {value!r})")
        out[str(name)] = Bound(_number(lo), _number(hi))
    return out


def regression_check(metric: str, rule: MetricRule, base: float | None, head: float | None) -> Check:
    def make(passed: bool, detail: str) -> Check:
        return Check(metric, "regression", head, base, passed, detail, rule.direction, rule.tolerance)

    if head is None:
        return make(base is None, "missing at head" if base is not None else "missing at base and head")
    if base is None:
        return make(True, "no base value to compare with")
    delta = head - base
    worse = -delta if rule.direction == "higher" else delta
    if worse > rule.tolerance + EPSILON:
        return make(False, f"{'fell' if rule.direction == 'higher' else 'rose'} by {abs(delta):.6g}")
    return make(True, f"change {delta:+.6g}")


def threshold_check(metric: str, bound: Bound, base: float | None, head: float | None) -> Check:
    def make(passed: bool, detail: str) -> Check:
        return Check(metric, "threshold", head, base, passed, detail, bound=bound)

    if head is None:
        return make(False, "missing at head")
    if bound.min is not None and head < bound.min:
        return make(False, f"below the minimum {bound.min:.6g}")
    if bound.max is not None and head > bound.max:
        return make(False, f"above the maximum {bound.max:.6g}")
    return make(True, "within bounds")


def evaluate(
    base_metrics: Mapping[str, Any],
    head_metrics: Mapping[str, Any],
    rules: Mapping[str, MetricRule],
    bounds: Mapping[str, Bound],
) -> list[Check]:
    """Every regression check (one per rule), then every absolute bound, in name order."""
    base_values = metric_values(base_metrics)
    head_values = metric_values(head_metrics)
    checks = [
        regression_check(name, rule, base_values.get(name), head_values.get(name))
        for name, rule in sorted(rules.items())
    ]
    checks += [
        threshold_check(name, bound, base_values.get(name), head_values.get(name))
        for name, bound in sorted(bounds.items())
    ]
    return checks


def describe_failure(check: Check) -> str:
    """One line naming the metric, its value at head and base, and the tolerance or bound."""
    head = "missing" if check.head is None else f"{check.head:.6g}"
    base = "missing" if check.base is None else f"{check.base:.6g}"
    if check.kind == "regression":
        return (
            f"{check.metric}: head {head}, base {base}, {check.detail} "
            f"({check.direction} is better, tolerance {check.tolerance:.6g})"
        )
    bound = check.bound or Bound(None, None)
    limits = ", ".join(
        f"{side} {value:.6g}" for side, value in (("min", bound.min), ("max", bound.max)) if value is not None
    )
    return f"{check.metric}: head {head}, base {base}, {check.detail} (gate.thresholds: {limits})"


@dataclass(frozen=True)
class Report:
    """The gate's verdict: what was compared and every check."""

    base: str
    base_sha: str
    head: str
    head_sha: str | None  # None: the working tree
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)
