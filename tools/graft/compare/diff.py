"""Side-by-side comparison of revisions: params and metrics read from Git objects, deltas, best marks.

Pure logic on plain values; :mod:`graft.compare.formats` turns a :class:`DiffResult` into text. Only
pygit2 (through :mod:`graft.core.gitrepo`), PyYAML and json are imported, so ``graft diff`` starts
fast and never touches DVC, pandas or numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pygit2

from graft.core.errors import DataError, UsageError
from graft.core.gitrepo import Revision
from graft.project.metrics import METRICS_FILE, PARAMS_FILE, MetricRule, compare_rules, flatten

Section = Literal["params", "metrics"]
Status = Literal["value", "missing", "no_file"]
SECTIONS: tuple[Section, ...] = ("params", "metrics")
FILES: dict[Section, str] = {"params": PARAMS_FILE, "metrics": METRICS_FILE}


@dataclass(frozen=True)
class Snapshot:
    """What one revision holds: flattened params and metrics (None when the file is absent)."""

    name: str
    sha: str
    params: dict[str, Any] | None
    metrics: dict[str, Any] | None
    raw_params: Mapping[str, Any] | None = None

    def section(self, section: Section) -> dict[str, Any] | None:
        return self.params if section == "params" else self.metrics


@dataclass(frozen=True)
class Column:
    name: str
    sha: str
    is_base: bool
    has_params: bool
    has_metrics: bool


@dataclass(frozen=True)
class Cell:
    status: Status
    value: Any = None
    delta: float | None = None
    best: bool = False


@dataclass(frozen=True)
class Row:
    section: Section
    key: str
    direction: str | None
    cells: list[Cell]
    changed: bool


@dataclass(frozen=True)
class DiffResult:
    columns: list[Column]
    rows: list[Row]
    sort: str | None = None
    only_changed: bool = False
    rules: dict[str, MetricRule] = field(default_factory=dict)


# --- reading revisions -----------------------------------------------------------------------


def _yaml_load(data: bytes) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data, Loader=loader)


class SnapshotReader:
    """Reads params.yaml and metrics/metrics.json of revisions; parses each distinct blob once."""

    def __init__(self) -> None:
        self._parsed: dict[str, Any] = {}

    def _parse(self, commit: pygit2.Commit, path: str, rev: str) -> Any:
        try:
            entry = commit.tree[path]
        except KeyError:
            return None
        key = str(entry.id)
        if key not in self._parsed:
            blob = entry.peel(pygit2.Blob)
            try:
                value = json.loads(blob.data) if path.endswith(".json") else _yaml_load(blob.data)
            except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError
                raise DataError(f"{rev}:{path}: cannot be parsed ({exc.__class__.__name__})") from None
            if not isinstance(value, Mapping):
                raise DataError(f"{rev}:{path}: expected a mapping at the top level")
            self._parsed[key] = value
        return self._parsed[key]

    def read(self, rev: Revision) -> Snapshot:
        params = self._parse(rev.commit, PARAMS_FILE, rev.name)
        metrics = self._parse(rev.commit, METRICS_FILE, rev.name)
        return Snapshot(
            name=rev.name,
            sha=rev.sha,
            params=None if params is None else flatten(params),
            metrics=None if metrics is None else flatten(metrics),
            raw_params=params,
        )


def rules_from(snapshot: Snapshot) -> dict[str, MetricRule]:
    """The compare rules of a revision's params.yaml; none when it has no `compare` section."""
    raw = snapshot.raw_params
    if raw is None or "compare" not in raw:
        return {}
    return compare_rules(raw, source=f"{snapshot.name}:{PARAMS_FILE}")


# --- comparing -------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def delta(base: Any, value: Any) -> float | None:
    """``value - base`` for two numbers (rounded to 12 decimals to drop float noise), else None."""
    if not (is_number(base) and is_number(value)):
        return None
    diff = value - base
    return diff if isinstance(diff, int) else round(diff, 12)


def best_indices(values: Sequence[Any], direction: str | None) -> set[int]:
    """Indices holding the best number by ``direction``; none when no rule or all numbers equal."""
    if direction not in ("higher", "lower"):
        return set()
    numbers = {i: v for i, v in enumerate(values) if is_number(v)}
    if len(set(numbers.values())) < 2:
        return set()
    target = max(numbers.values()) if direction == "higher" else min(numbers.values())
    return {i for i, v in numbers.items() if v == target}


def _ordered_keys(sections: Iterable[dict[str, Any] | None]) -> list[str]:
    seen: dict[str, None] = {}
    for flat in sections:
        for key in flat or {}:
            seen.setdefault(key, None)
    return list(seen)


_ABSENT = object()


def _row(section: Section, key: str, snapshots: Sequence[Snapshot], rules: Mapping[str, MetricRule]) -> Row:
    flats = [s.section(section) for s in snapshots]
    raw = [_ABSENT if flat is None else flat.get(key, _ABSENT) for flat in flats]
    direction = rules[key].direction if section == "metrics" and key in rules else None
    best = best_indices([None if v is _ABSENT else v for v in raw], direction)
    base_value = raw[0]
    cells: list[Cell] = []
    for i, (flat, value) in enumerate(zip(flats, raw, strict=True)):
        if flat is None:
            cells.append(Cell("no_file"))
        elif value is _ABSENT:
            cells.append(Cell("missing"))
        else:
            d = None if i == 0 or base_value is _ABSENT else delta(base_value, value)
            cells.append(Cell("value", value, d, i in best))
    # Changed: the revisions that have the file disagree (a missing key counts as a change).
    present = [(c.status, _canonical(c.value)) for c in cells if c.status != "no_file"]
    changed = len(set(present)) > 1
    return Row(section, key, direction, cells, changed)


def _canonical(value: Any) -> Any:
    """A hashable stand-in for equality checks (1, 1.0 and True stay distinct)."""
    if value is None or isinstance(value, (str, int, float)):
        return (type(value).__name__, value)
    return json.dumps(value, sort_keys=True, default=str)


def sort_order(snapshots: Sequence[Snapshot], metric: str, rules: Mapping[str, MetricRule]) -> list[int]:
    """Indices of the revisions (base first, always) ordered best-first by ``metric``.

    Direction comes from ``compare.metrics``; a metric without a rule sorts highest first.
    Revisions without the metric go last, in their given order.
    """
    if not any(s.metrics and metric in s.metrics for s in snapshots):
        known = sorted(_ordered_keys(s.metrics for s in snapshots))
        hint = f" (known: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})" if known else ""
        raise UsageError(f"--sort: no revision has metric '{metric}'{hint}")
    sign = 1.0 if metric in rules and rules[metric].direction == "lower" else -1.0
    rest = list(range(1, len(snapshots)))
    with_value = [i for i in rest if is_number((snapshots[i].metrics or {}).get(metric))]
    without = [i for i in rest if i not in set(with_value)]
    with_value.sort(key=lambda i: sign * snapshots[i].metrics[metric])  # type: ignore[index]
    return [0, *with_value, *without]


def build_diff(
    snapshots: Sequence[Snapshot],
    rules: Mapping[str, MetricRule] | None = None,
    only_changed: bool = False,
    sort: str | None = None,
) -> DiffResult:
    """Compare ``snapshots[0]`` (the base) with the others, key by key.

    Params and metrics are flattened to dotted keys; each row holds one cell per revision with
    its value, its delta against the base (numbers only) and whether it is the best value of
    the row (metrics with a direction in ``rules``; ties all marked; no mark when all equal).
    """
    if not snapshots:
        raise UsageError("nothing to compare")
    rules = dict(rules or {})
    order = sort_order(snapshots, sort, rules) if sort else list(range(len(snapshots)))
    ordered = [snapshots[i] for i in order]
    rows: list[Row] = []
    for section in SECTIONS:
        for key in _ordered_keys(s.section(section) for s in ordered):
            row = _row(section, key, ordered, rules)
            if not only_changed or row.changed:
                rows.append(row)
    columns = [
        Column(s.name, s.sha, i == 0, s.params is not None, s.metrics is not None)
        for i, s in enumerate(ordered)
    ]
    return DiffResult(columns, rows, sort, only_changed, rules)
