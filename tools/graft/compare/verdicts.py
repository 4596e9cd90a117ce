"""The one rule, and the one wording, for judging a metric's change between a base and a head.

Every place that says whether a head is better or worse than its base (``graft report``'s
headline and table, ``graft diff``, ``graft gate``'s table, the web view's badges) asks this
module; none words a verdict itself. The rule, in order:

1. **bootstrap** — the metric has a confidence interval of Δ = head - base (a paired bootstrap
   over the test rows): ``better`` / ``worse`` when the interval excludes 0 on the side the
   metric's direction calls better / worse; ``within noise`` when it contains 0. Without a
   known direction, an interval that excludes 0 gets kind ``changed`` ("differs (no
   direction)"), never better/worse.
2. **tolerance** — no interval, but a ``metrics.rules`` entry: ``beyond tolerance`` when
   ``|Δ|`` exceeds the rule's tolerance, else ``within tolerance`` (neither says better/worse:
   a point difference is not evidence).
3. **none** — neither: no verdict (kind ``none``, empty label).

A change is never called better or worse from the sign of Δ alone.

Multiple comparisons: :func:`holm` turns the bootstrap p-values of a family of metrics into
Holm-adjusted p-values; :func:`judge` with ``adjusted_p`` downgrades a better/worse whose
adjusted p-value is not below ``1 - level`` to ``within noise`` (the interval itself is shown
unadjusted). ``graft report`` adjusts the table (``report.adjust: holm``), not the headline.

API (stable; the web view renders from it):

* :class:`Verdict` — ``kind`` (:data:`Kind`), ``label`` (the words shown), ``basis``
  (:data:`Basis`: ``bootstrap`` | ``tolerance`` | ``none``), ``adjusted`` (Holm applied);
  ``to_dict()`` -> ``{"kind", "label", "basis", "adjusted"}`` (the JSON shape);
* :func:`judge` — the rule above; :func:`no_verdict`;
* :func:`holm` — Holm's step-down adjusted p-values; :func:`bootstrap_p` — a two-sided
  bootstrap p-value from resampled differences;
* :data:`LABELS` — kind -> label; :data:`KINDS`, :data:`BASES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from graft.core.results import Result

Kind = Literal["better", "worse", "within_noise", "changed", "beyond_tolerance", "within_tolerance", "none"]
Basis = Literal["bootstrap", "tolerance", "none"]
Direction = Literal["higher", "lower"]

KINDS: tuple[Kind, ...] = (
    "better",
    "worse",
    "within_noise",
    "changed",
    "beyond_tolerance",
    "within_tolerance",
    "none",
)
BASES: tuple[Basis, ...] = ("bootstrap", "tolerance", "none")
LABELS: dict[Kind, str] = {
    "better": "better",
    "worse": "worse",
    "within_noise": "within noise",
    "changed": "differs (no direction)",
    "beyond_tolerance": "beyond tolerance",
    "within_tolerance": "within tolerance",
    "none": "",
}
# Absorbs float noise in "|delta| == tolerance" (values are JSON round-tripped floats), as the gate.
EPSILON = 1e-12


@dataclass(frozen=True)
class Verdict:
    """A judged change: what it is (``kind``), how it reads (``label``), what backs it (``basis``)."""

    kind: Kind
    label: str
    basis: Basis
    adjusted: bool = False

    @property
    def decisive(self) -> bool:
        """Whether the verdict claims better or worse."""
        return self.kind in ("better", "worse")

    def to_dict(self) -> dict[str, str | bool]:
        return {"kind": self.kind, "label": self.label, "basis": self.basis, "adjusted": self.adjusted}


class VerdictJson(Result):
    """graft.compare.verdicts on the change."""

    kind: Kind
    """better/worse only when the interval excludes 0 in that direction (within_noise otherwise);
    without an interval within/beyond its metrics.rules tolerance, or changed (no direction);
    else none"""
    label: str
    """the words shown (empty for none)"""
    basis: Basis
    """what backs the verdict: an interval, the metrics.rules tolerance, or nothing"""
    adjusted: bool
    """the Holm-adjusted p-value decided it"""

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictJson:
        return cls(kind=verdict.kind, label=verdict.label, basis=verdict.basis, adjusted=verdict.adjusted)


def _make(kind: Kind, basis: Basis, adjusted: bool = False) -> Verdict:
    return Verdict(kind, LABELS[kind], basis, adjusted)


def no_verdict() -> Verdict:
    return _make("none", "none")


def judge(
    delta: float | None,
    direction: str | None,
    interval: tuple[float, float] | None = None,
    tolerance: float | None = None,
    adjusted_p: float | None = None,
    level: float = 0.95,
) -> Verdict:
    """The verdict on one metric's change ``delta`` (head - base), by the rule of this module.

    ``interval``: (low, high) of Δ, when bootstrapped (a NaN bound counts as no interval);
    ``direction``: ``higher``/``lower`` is better (None: unknown); ``tolerance``: the metric's
    ``metrics.rules`` tolerance (None: no rule); ``adjusted_p``: its Holm-adjusted p-value, when
    the caller adjusts for multiple comparisons (a better/worse needs it below ``1 - level``).
    """
    if interval is not None and all(bound == bound for bound in interval):  # NaN != NaN
        low, high = interval
        if low <= 0 <= high:
            return _make("within_noise", "bootstrap")
        if direction not in ("higher", "lower"):
            return _make("changed", "bootstrap")
        if adjusted_p is not None and adjusted_p >= 1 - level:
            return _make("within_noise", "bootstrap", adjusted=True)
        up = low > 0
        better = up if direction == "higher" else not up
        return _make("better" if better else "worse", "bootstrap", adjusted=adjusted_p is not None)
    if tolerance is not None and delta is not None and delta == delta:
        beyond = abs(delta) > tolerance + EPSILON
        return _make("beyond_tolerance" if beyond else "within_tolerance", "tolerance")
    return no_verdict()


def bootstrap_p(differences: Sequence[float] | object) -> float:
    """Two-sided bootstrap p-value of "Δ = 0": twice the smaller share of resampled differences
    on either side of 0 (at most 1; NaN resamples left out; NaN when none is left)."""
    import numpy as np

    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan")
    below = float((d <= 0).mean())
    above = float((d >= 0).mean())
    return min(1.0, 2.0 * min(below, above))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order (NaN stays NaN and is not counted).

    With the ``m`` finite p-values sorted ascending, the i-th (from 0) is multiplied by
    ``m - i``, then made non-decreasing along that order and capped at 1. A hypothesis is
    rejected at family-wise level ``alpha`` exactly when its adjusted p-value is below ``alpha``.
    """
    finite = [i for i, p in enumerate(p_values) if p == p]
    order = sorted(finite, key=lambda i: p_values[i])
    m = len(order)
    adjusted = [float("nan")] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
