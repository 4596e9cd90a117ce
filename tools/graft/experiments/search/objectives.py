"""What a search optimises and which of its trials count: objectives, constraints, the Pareto front.

Objective: ``search.objective`` of graft.yaml (a metric key as ``graft diff`` shows it, e.g.
``metrics/train.json:valid_loss``) and ``search.direction``. It must be a *validation* metric:
choosing on the test split overfits the test split, which then no longer measures anything.
``search.objectives`` (a list of ``{metric, direction}``) makes a multi-objective study: the
trials kept are those of its Pareto front (feasible and dominated by no other), best first by
the first objective (:func:`ranked`).

Constraints: ``search.constraints`` (validation metric -> ``{min, max}``; by default the gate's
bounds, each read at the validation counterpart of its metric, see :func:`validation_prefix`)
are each trial's Optuna constraints (``Trial.set_constraint``, what Optuna 5 made of the
sampler's ``constraints_func``): its violations (``value - max``, ``min - value``; met when
<= 0) are stored with it, the TPE sampler ranks infeasible trials below feasible ones,
``show`` marks infeasible trials, and an infeasible trial is never kept nor best
(:func:`feasible`).

:func:`goals_of` reads and checks them at the base (a :class:`GraftError` naming the setting and
the metrics the base has); the rest reads finished Optuna trials and studies, never writes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from graft.core import gitrepo
from graft.core.errors import GraftError
from graft.project import Project


@dataclass(frozen=True)
class Objective:
    key: str
    direction: Literal["lower", "higher"]
    stage: str | None = None  # the stage writing it: trials reproduce only up to there

    @property
    def optuna_direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.direction == "lower" else "maximize"


@dataclass(frozen=True)
class Constraint:
    """A bound on a validation metric: a trial outside it is infeasible (never kept)."""

    key: str
    min: float | None = None
    max: float | None = None

    def text(self) -> str:
        """``key <= 0.25``, ``key >= 0.9`` or ``0.1 <= key <= 0.2``, as stored in the study."""
        low = "" if self.min is None else f"{self.min!r} <= "
        high = "" if self.max is None else f" <= {self.max!r}"
        if self.min is not None and self.max is None:
            return f"{self.key} >= {self.min!r}"
        return f"{low}{self.key}{high}"

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bound (<= 0: inside), as Optuna's constraints take it."""
        over = [] if self.max is None else [value - self.max]
        under = [] if self.min is None else [self.min - value]
        return max(over + under)


@dataclass(frozen=True)
class Goals:
    """What a search optimises (one objective, or several: a multi-objective study) and the
    constraints a trial must meet; ``stages``: the stages writing them (trials stop there)."""

    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    stages: tuple[str, ...] = ()

    @property
    def first(self) -> Objective:
        return self.objectives[0]

    def texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The objectives (``key (direction)``) and constraints as a study stores them."""
        return (
            tuple(f"{o.key} ({o.direction})" for o in self.objectives),
            tuple(c.text() for c in self.constraints),
        )


def _metric_names(settings: Any) -> list[str]:
    """Names a validation metric may end with: the gate's, the rules' and the headline's, longest first."""
    names = {*settings.gate.thresholds, *settings.metrics.rules, *settings.metrics.headline}
    return sorted(names, key=lambda n: (-len(n), n))


def validation_prefix(settings: Any) -> str | None:
    """``search.validation``, else the first objective's key less the metric name it ends with."""
    search = settings.search
    if search.validation is not None:
        return str(search.validation)
    first = search.objectives[0].metric if search.objectives else search.objective
    if not first:
        return None
    for name in _metric_names(settings):
        if first.endswith(name) and len(first) > len(name):
            return str(first[: -len(name)])
    return None


def goals_of(project: Project, base: gitrepo.Revision) -> Goals:
    """``search.objective`` (or ``objectives``) and ``constraints`` of graft.yaml at the base;
    each must be a metric the base has. Without ``constraints``: the gate's bounds on the
    validation metrics the base has (see :func:`validation_prefix`)."""
    view = project.at(base)
    settings = view.settings
    search = settings.search
    wanted = [(o.metric, o.direction) for o in search.objectives]
    if not wanted and search.objective:
        wanted = [(search.objective, search.direction)]
    if not wanted:
        raise GraftError(
            "graft.yaml: search.objective is not set; name a validation metric as `graft diff` shows "
            "it (e.g. search: {objective: metrics/train.json:valid_loss, direction: lower})"
        )
    metrics = view.metrics() or {}

    def check(key: str, setting: str) -> None:
        if key not in metrics:
            known = ", ".join(sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))[:12])
            raise GraftError(
                f"graft.yaml: {setting} '{key}' is not a metric of '{base.name}' "
                f"({base.short}); metrics there: {known or 'none'}"
            )

    setting = "search.objectives" if search.objectives else "search.objective"
    for key, _ in wanted:
        check(key, setting)
    if search.constraints is not None:
        bounds = dict(search.constraints)
        for key in bounds:
            check(key, "search.constraints")
    else:
        prefix = validation_prefix(settings)
        bounds = {}
        if prefix is not None:
            gate = settings.gate.thresholds
            bounds = {f"{prefix}{k}": b for k, b in gate.items() if f"{prefix}{k}" in metrics}
    constraints = tuple(Constraint(k, b.min, b.max) for k, b in sorted(bounds.items()))

    def stage_of(key: str) -> str | None:
        path = key.split(":", 1)[0] if ":" in key else view.metrics_file
        return next((n for n, s in view.pipeline.stages.items() if path in s.metrics or path in s.outs), None)

    objectives = tuple(Objective(k, d, stage_of(k)) for k, d in wanted)
    keys = [k for k, _ in wanted] + [c.key for c in constraints]
    found = [stage_of(k) for k in keys]  # a metric no stage declares: the whole pipeline runs
    stages = () if None in found else tuple(dict.fromkeys(s for s in found if s is not None))
    return Goals(objectives, constraints, stages)


def is_number(value: Any) -> TypeGuard[int | float]:
    """A metric value a trial can be told: a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def violations(trial: Any) -> tuple[float, ...] | None:
    """The trial's constraint violations (Optuna's ``Trial.set_constraint``, which superseded the
    sampler's ``constraints_func`` in Optuna 5), in the order of the constraints' keys (None:
    not measured)."""
    found = trial.constraints
    return tuple(float(found[k]) for k in sorted(found)) if found else None


def feasible(trial: Any) -> bool:
    """Every constraint met (a trial of a search without constraints is feasible)."""
    return all(v <= 0 for v in violations(trial) or ())


def signs(study: Any) -> list[float]:
    """Per objective of ``study``: 1.0 where it is minimised, -1.0 where maximised."""
    return [1.0 if d.name == "MINIMIZE" else -1.0 for d in study.directions]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every (minimised) value and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def ranked(study: Any) -> list[Any]:
    """The trials a search keeps, best first: complete and feasible ones; with several
    objectives only the non-dominated (the Pareto front). Order: the first objective, then the
    next ones, then the trial number."""
    from optuna.trial import TrialState

    directions = signs(study)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and feasible(t)]
    scored = [(tuple(s * v for s, v in zip(directions, t.values, strict=True)), t) for t in done]
    if len(directions) > 1:
        scored = [(v, t) for v, t in scored if not any(dominates(w, v) for w, _ in scored)]
    return [t for _, t in sorted(scored, key=lambda item: (item[0], item[1].number))]
