"""Side-by-side comparison of revisions: params and metrics read through the project layer.

A revision's row values come from :class:`graft.project.view.View`: every params file the
pipeline declares (``params.yaml`` keys bare, others ``file:key``) and the shown metrics files
(the headline file's keys bare, others ``path:key``), all read from Git objects. Which direction
is better for a metric comes from the base revision's settings (``metrics.rules``, else the
task's own metrics); a metric with a rule gets a verdict on each revision's change from
:mod:`graft.compare.verdicts` (tolerance basis: diff has no per-row data, so never
better/worse). :mod:`graft.compare.formats` turns a :class:`DiffResult` into text.

Only pygit2, PyYAML, json and the settings model are imported, so ``graft diff`` starts fast and
never touches DVC, pandas or numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from graft.core.errors import UsageError
from graft.project import DEFAULT_BASE

if TYPE_CHECKING:
    import pygit2

    from graft.project.settings import Settings
    from graft.project.view import View

Section = Literal["params", "metrics"]
Status = Literal["value", "missing", "no_file", "not_cached"]
SECTIONS: tuple[Section, ...] = ("params", "metrics")


@dataclass(frozen=True)
class Snapshot:
    """What one revision holds: flattened params and metrics (None when no such file is there).

    ``files``: the key prefix of each shown metrics file (``""`` for the headline file's bare
    keys, ``"path:"`` for the others); ``absent``: the prefixes whose file is not committed, so
    a key of an absent file reads "no file" rather than "missing"; ``unreadable``: the shown
    metrics files recorded as DVC outputs that could not be read -> why ("not in the local
    cache"), and ``unread``: their prefixes, so their keys read "not_cached".
    """

    name: str
    sha: str
    params: dict[str, Any] | None
    metrics: dict[str, Any] | None
    files: tuple[str, ...] = ()
    absent: frozenset[str] = frozenset()
    unreadable: Mapping[str, str] = field(default_factory=dict)
    unread: frozenset[str] = frozenset()

    def section(self, section: Section) -> dict[str, Any] | None:
        return self.params if section == "params" else self.metrics

    def file_absent(self, key: str) -> bool:
        """Whether the metrics file ``key`` belongs to is not committed here."""
        owner = next((p for p in self.files if p and key.startswith(p)), "")
        return owner in self.absent

    def file_unreadable(self, key: str) -> bool:
        """Whether the metrics file ``key`` belongs to is a DVC output that could not be read."""
        owner = next((p for p in self.files if p and key.startswith(p)), "")
        return owner in self.unread


@dataclass(frozen=True)
class Column:
    name: str
    sha: str
    is_base: bool
    has_params: bool
    has_metrics: bool
    unreadable: Mapping[str, str] = field(default_factory=dict)  # file -> why it could not be read


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
    directions: dict[str, str] = field(default_factory=dict)
    tolerances: dict[str, float] = field(default_factory=dict)  # metrics.rules of the base's settings


# --- reading revisions -----------------------------------------------------------------------


def snapshot(view: View) -> Snapshot:
    """The params and metrics of one view (a revision, or the working tree: sha ``""``)."""
    has_params = bool(view.all_params) or view.has_params
    headline = view.settings.metrics.file
    prefixes = {f: "" if f == headline else f"{f}:" for f in view.shown_metrics_files()}
    unreadable = {f: why for f in prefixes if (why := view.source.unreadable(f)) is not None}
    return Snapshot(
        name=view.name,
        sha="" if view.revision is None else view.revision.sha,
        params=dict(view.all_params) if has_params else None,
        metrics=view.metrics(),
        files=tuple(prefixes.values()),
        absent=frozenset(p for f, p in prefixes.items() if not view.source.exists(f)),
        unreadable=unreadable,
        unread=frozenset(prefixes[f] for f in unreadable),
    )


def readable(
    views: Sequence[View],
    optional: Iterable[str],
    memo: MutableMapping[tuple[str, str], Snapshot] | None = None,
) -> tuple[list[View], list[Snapshot]]:
    """Each view with its snapshot; a view named in ``optional`` (listed by ``--all``, not asked
    for by name) whose files cannot be read is left out with a warning naming it and the file,
    so one bad branch does not stop a listing. Any other view's error propagates.

    ``memo``: snapshots already read, by (name, commit sha), filled as they are read (a commit
    never changes, so a long-lived caller re-reads only the revisions that moved)."""
    import logging

    from graft.core.errors import GraftError

    skippable = set(optional)
    kept: list[tuple[View, Snapshot]] = []
    for view in views:
        key = (view.name, view.revision.sha) if view.revision is not None else None
        found = memo.get(key) if memo is not None and key is not None else None
        if found is not None:
            kept.append((view, found))
            continue
        try:
            kept.append((view, snapshot(view)))
            if memo is not None and key is not None:
                memo[key] = kept[-1][1]
        except GraftError as exc:
            if view.name not in skippable:
                raise
            logging.getLogger("graft").warning("left out %s: %s", view.name, exc)
    return [v for v, _ in kept], [s for _, s in kept]


def directions(settings: Settings, keys: Iterable[str]) -> dict[str, str]:
    """Metric -> ``higher``/``lower`` for the ``keys`` whose direction ``settings`` know."""
    out: dict[str, str] = {}
    for key in keys:
        direction = settings.direction(key)
        if direction is not None:
            out[key] = direction
    return out


def revision_names(
    repo: pygit2.Repository, revisions: Sequence[str], base: str, all_experiments: bool
) -> list[str]:
    """Base first, then ``revisions`` (default ``HEAD``) and every ``exp/*`` branch; no repeats."""
    from graft.core import gitrepo

    names = list(revisions)
    if all_experiments:
        names += gitrepo.branches(repo)
    elif not names:
        names = ["HEAD"]
    return list(dict.fromkeys([base, *names]))


def compare_revisions(
    root: str | Path,
    revisions: Sequence[str] = (),
    base: str = DEFAULT_BASE,
    all_experiments: bool = False,
    only_changed: bool = False,
    sort: str | None = None,
    memo: MutableMapping[tuple[str, str], Snapshot] | None = None,
) -> DiffResult:
    """Params and metrics of ``base`` and the other revisions, read from Git objects (``memo``:
    see :func:`readable`)."""
    from graft.project import Project

    project = Project.find(root)
    names = revision_names(project.repo, revisions, base, all_experiments)
    views = [project.at(name) for name in names]  # unknown names fail here, before any reading
    listed = set(names) - {base, *(revisions or ["HEAD"])}  # by --all, not by name
    views, snapshots = readable(views, listed, memo)
    keys = _ordered_keys(s.metrics for s in snapshots)
    result = build_diff(snapshots, directions(views[0].settings, keys), only_changed, sort)
    rules = views[0].settings.metrics.rules
    return replace(result, tolerances={k: r.tolerance for k, r in rules.items()})


# --- comparing -------------------------------------------------------------------------------


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def delta(base: Any, value: Any) -> float | None:
    """``value - base`` for two numbers (rounded to 12 decimals to drop float noise), else None."""
    if not (is_number(base) and is_number(value)):
        return None
    diff = value - base
    return diff if isinstance(diff, int) else round(diff, 12)


def best_indices(values: Sequence[Any], direction: str | None) -> set[int]:
    """Indices holding the best number by ``direction``; none when no direction or all numbers equal."""
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


def _row(section: Section, key: str, snapshots: Sequence[Snapshot], directions: Mapping[str, str]) -> Row:
    flats = [s.section(section) for s in snapshots]
    raw = [_ABSENT if flat is None else flat.get(key, _ABSENT) for flat in flats]
    direction = directions.get(key) if section == "metrics" else None
    best = best_indices([None if v is _ABSENT else v for v in raw], direction)
    base_value = raw[0]
    cells: list[Cell] = []
    for i, (flat, value, snap) in enumerate(zip(flats, raw, snapshots, strict=True)):
        unread = section == "metrics" and (flat is None or value is _ABSENT) and snap.file_unreadable(key)
        if unread or (section == "metrics" and flat is None and snap.unreadable):
            cells.append(Cell("not_cached"))
        elif flat is None or (value is _ABSENT and section == "metrics" and snap.file_absent(key)):
            cells.append(Cell("no_file"))
        elif value is _ABSENT:
            cells.append(Cell("missing"))
        else:
            d = None if i == 0 or base_value is _ABSENT else delta(base_value, value)
            cells.append(Cell("value", value, d, i in best))
    # Changed: the revisions that have the file disagree (a missing key counts as a change).
    present = [(c.status, _canonical(c.value)) for c in cells if c.status not in ("no_file", "not_cached")]
    changed = len(set(present)) > 1
    return Row(section, key, direction, cells, changed)


def _canonical(value: Any) -> Any:
    """A hashable stand-in for equality checks (1, 1.0 and True stay distinct)."""
    if value is None or isinstance(value, (str, int, float)):
        return (type(value).__name__, value)
    return json.dumps(_typed_keys(value), sort_keys=True, default=str)


def _typed_keys(value: Any) -> Any:
    """``value`` with every mapping key as text tagged by its type (a params file may key a
    mapping by numbers, or by numbers and names at once, which json cannot sort)."""
    if isinstance(value, Mapping):
        return {f"{type(k).__name__}:{k}": _typed_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_typed_keys(v) for v in value]
    return value


def sort_order(snapshots: Sequence[Snapshot], metric: str, directions: Mapping[str, str]) -> list[int]:
    """Indices of the revisions (base first, always) ordered best-first by ``metric``.

    A metric without a known direction sorts highest first. Revisions without the metric go
    last, in their given order.
    """
    if not any(s.metrics and metric in s.metrics for s in snapshots):
        known = sorted(_ordered_keys(s.metrics for s in snapshots))
        hint = f" (known: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''})" if known else ""
        raise UsageError(f"--sort: no revision has metric '{metric}'{hint}")
    sign = 1.0 if directions.get(metric) == "lower" else -1.0
    rest = list(range(1, len(snapshots)))
    with_value = [i for i in rest if is_number((snapshots[i].metrics or {}).get(metric))]
    without = [i for i in rest if i not in set(with_value)]
    with_value.sort(key=lambda i: sign * snapshots[i].metrics[metric])  # type: ignore[index]
    return [0, *with_value, *without]


def build_diff(
    snapshots: Sequence[Snapshot],
    directions: Mapping[str, str] | None = None,
    only_changed: bool = False,
    sort: str | None = None,
) -> DiffResult:
    """Compare ``snapshots[0]`` (the base) with the others, key by key.

    Each row holds one cell per revision with its value, its delta against the base (numbers
    only) and whether it is the best value of the row (metrics with a direction in
    ``directions``; ties all marked; no mark when all equal).
    """
    if not snapshots:
        raise UsageError("nothing to compare")
    directions = dict(directions or {})
    order = sort_order(snapshots, sort, directions) if sort else list(range(len(snapshots)))
    ordered = [snapshots[i] for i in order]
    rows: list[Row] = []
    for section in SECTIONS:
        for key in _ordered_keys(s.section(section) for s in ordered):
            row = _row(section, key, ordered, directions)
            if not only_changed or row.changed:
                rows.append(row)
    columns = [
        Column(s.name, s.sha, i == 0, s.params is not None, s.metrics is not None, dict(s.unreadable))
        for i, s in enumerate(ordered)
    ]
    return DiffResult(columns, rows, sort, only_changed, directions)
