"""Two revisions of one declared table compared: what changed inside it.

* Rows, by a key column when one is set (``--key``, else graft.yaml ``data.keys`` at revision
  B): added, removed and changed, in bounded memory (:mod:`graft.data.keys`).
* Columns added and removed, by name.
* Distributions: each column in both is judged as `graft monitor` judges a feature of a window
  against its training reference, with the same code (:mod:`graft.monitoring.drift`,
  :mod:`graft.monitoring.significance`) and the same thresholds (graft.yaml ``monitor`` at B;
  defaults where absent): A is the reference, B the window. B with at most ``small_window``
  rows gets a hypothesis test per column (Kolmogorov-Smirnov; for categories chi-squared or
  Fisher's exact test), every p-value of the diff (distributions and missing shares) adjusted
  together with Holm's method; a larger B gets the distances (Wasserstein normed by A's
  standard deviation, Jensen-Shannon), moved at ``distance_threshold``. The missing share is
  tested exactly (binomial) on the full counts. Numeric columns are judged on their samples
  (:mod:`graft.data.profile`: every value up to ``GRAFT_LIMIT_DATA_SAMPLE_VALUES``); a column
  whose distinct values passed ``GRAFT_LIMIT_DATA_CATEGORIES`` is not tested, and a column
  numeric at one revision and text at the other has "type changed".

Each revision is read once, in chunks, whatever its size.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from graft.core.errors import ParamsError, UsageError
from graft.data.keys import KeyedDiff
from graft.data.profile import ColumnProfile, Profile
from graft.data.tables import Table, open_table
from graft.data.types import INSUFFICIENT, KIND_CHANGED, MOVED, STABLE, UNTESTED, ColumnMove, TableDiff

if TYPE_CHECKING:
    from graft.monitoring.drift import DriftConfig, FeatureDrift
    from graft.project.view import View


def drift_config(view: View) -> DriftConfig:
    """The monitor's thresholds as graft.yaml sets them at ``view`` (defaults where absent)."""
    from graft.monitoring.run import parse_params
    from graft.project.settings import SETTINGS_FILE

    raw = view.settings.monitor or None if view.has_settings else None
    return parse_params(raw, view.source.where(SETTINGS_FILE), required=False).drift_config()


def _with_missing(column: ColumnProfile) -> np.ndarray:
    """The column's sampled values and its missing ones as NaN, in their proportion (all of
    them when the sample holds every value)."""
    values = column.values()
    if not column.present:
        return np.full(column.missing, np.nan)
    missing = round(column.missing * len(values) / column.present)
    return np.concatenate([values, np.full(missing, np.nan)])


def _raw(name: str, a: ColumnProfile, b: ColumnProfile, config: DriftConfig) -> FeatureDrift | str:
    """The monitor's raw result for one column (before Holm), or the status when it is not tested."""
    from graft.monitoring import drift

    if a.present and b.present and a.numeric != b.numeric:
        return KIND_CHANGED
    share_a = a.missing / a.rows if a.rows else 0.0
    if a.numeric or b.numeric:
        reference = drift.NumericReference.build(pd.Series(_with_missing(a), dtype=float))
        found = drift.numeric_drift(name, replace(reference, missing_rate=share_a), _with_missing(b), config)
    elif a.capped or b.capped:
        return UNTESTED
    else:
        categorical = drift.CategoricalReference(dict(a.counts), share_a)
        aligned = drift.aligned_counts(categorical, b.counts)
        found = drift.categorical_drift_counts(name, categorical, aligned, b.rows, config)
    return replace(
        found,
        reference_missing_rate=share_a,
        current_missing_rate=b.missing / b.rows if b.rows else 0.0,
        current_rows=b.rows,
        missing_p_value=drift.missing_test(b.missing, b.rows, share_a, config),
    )


def _kind(a: ColumnProfile, b: ColumnProfile) -> str:
    kinds = ["numeric" if c.numeric else "categorical" for c in (a, b)]
    return kinds[0] if kinds[0] == kinds[1] else f"{kinds[0]} -> {kinds[1]}"


def column_moves(
    a: Profile, b: Profile, config: DriftConfig, skip: str | None = None
) -> tuple[list[ColumnMove], int]:
    """One :class:`ColumnMove` per column in both profiles but ``skip`` (the key: an identity,
    not a distribution), in A's order, and the Holm family's size."""
    from graft.monitoring import drift
    from graft.monitoring.significance import holm

    shared = [n for n in a.columns if n in b.columns and n != skip]
    raw = {n: _raw(n, a.columns[n], b.columns[n], config) for n in shared}
    family: list[tuple[str, str, float]] = []
    for name, found in raw.items():
        if isinstance(found, str):
            continue
        if found.is_test and found.score is not None:
            family.append(("feature", name, found.score))
        if found.missing_p_value is not None:
            family.append(("missing", name, found.missing_p_value))
    adjusted = dict(zip([(k, n) for k, n, _ in family], holm([p for *_, p in family]), strict=True))
    status_of = {drift.DRIFT: MOVED, drift.OK: STABLE, drift.INSUFFICIENT: INSUFFICIENT}
    moves: list[ColumnMove] = []
    for name, found in raw.items():
        ca, cb = a.columns[name], b.columns[name]
        share_a = ca.missing / ca.rows if ca.rows else 0.0
        share_b = cb.missing / cb.rows if cb.rows else 0.0
        if isinstance(found, str):
            moves.append(
                ColumnMove(name, _kind(ca, cb), found, "none", None, config.p_value, None, None,
                           share_a, share_b, False, None)
            )  # fmt: skip
            continue
        decided = drift.decide(
            found, adjusted.get(("feature", name)), adjusted.get(("missing", name)), config
        )
        moves.append(
            ColumnMove(
                name=name,
                kind=decided.kind,
                status=status_of[decided.status],
                method=decided.method,
                score=decided.score,
                threshold=decided.threshold,
                p_adjusted=decided.p_adjusted,
                psi=decided.psi,
                missing_share_a=share_a,
                missing_share_b=share_b,
                missing_moved=decided.missing_alert,
                missing_p_adjusted=decided.missing_p_adjusted,
                new_categories=dict(decided.new_categories),
            )
        )
    return moves, len(family)


def _key(
    key: str | None, view_b: View, path: str, a: list[str], b: list[str], tables: list[Table]
) -> str | None:
    """The key column (``--key``, else graft.yaml ``data.keys`` at B), checked in both versions."""
    from graft.project.settings import SETTINGS_FILE

    given = key
    if key is None and view_b.has_settings:
        key = view_b.settings.data.keys.get(path)
    if key is None:
        return None
    for table, columns in zip(tables, (a, b), strict=True):
        if key not in columns:
            message = f"{table.where}: no column '{key}' to match rows by; its columns: {', '.join(columns)}"
            if given is None:
                where = view_b.source.where(SETTINGS_FILE)
                raise ParamsError(f"{message} (the key data.keys['{path}'] in {where})")
            raise UsageError(f"{message} (--key)")
    return key


def compare(root: str | Path, path: str, rev_a: str, rev_b: str, key: str | None = None) -> TableDiff:
    """Table ``path`` at ``rev_a`` against ``rev_b`` in the project at ``root`` (see the module
    docstring)."""
    from graft.project import Project

    project = Project(root)
    path = path.strip("/")
    view_a, view_b = project.at(rev_a), project.at(rev_b)
    table_a, table_b = open_table(view_a, path), open_table(view_b, path)
    profile_a, profile_b = Profile.start(table_a), Profile.start(table_b)
    names_a, names_b = list(profile_a.columns), list(profile_b.columns)
    key = _key(key, view_b, path, names_a, names_b, [table_a, table_b])
    config = drift_config(view_b)
    compared = [c for c in names_a if c in names_b and c != key]
    with KeyedDiff(table_a, table_b, key, compared) if key else contextlib.nullcontext() as keyed:
        for batch in table_a.batches(names_a):
            profile_a.add(batch)
            if keyed is not None:
                keyed.a.add(batch)
        for batch in table_b.batches(names_b):
            profile_b.add(batch)
            if keyed is not None:
                keyed.b.add(batch)
        rows = keyed.result() if keyed is not None else None
    moves, tests = column_moves(profile_a, profile_b, config, skip=key)
    return TableDiff(
        path=path,
        a=profile_a.summary(),
        b=profile_b.summary(),
        columns_added=tuple(n for n in names_b if n not in profile_a.columns),
        columns_removed=tuple(n for n in names_a if n not in profile_b.columns),
        columns=tuple(moves),
        keys=rows,
        tests=tests,
        config={
            "p_value": config.p_value,
            "distance_threshold": config.distance_threshold,
            "small_window": config.small_window,
            "min_window": config.min_window,
            "max_missing_rate_change": config.max_missing_rate_change,
        },
    )
