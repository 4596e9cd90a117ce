"""A revision's committed test-set predictions, made ready for the task's metrics, and pairing.

:meth:`graft.project.view.View.predictions` reads the file the settings name (``predictions``:
path, id, label and score columns). Here the values are checked and shaped for the task:

* binary: ``y`` 0/1 (the label column holds the class names of ``task.labels``, or 0/1), ``p``
  the positive class's probability (one score column, or two columns in ``task.labels`` order);
* multiclass: ``y`` the class index (the label column holds a class name of ``task.labels``, or
  an index), ``p`` one probability column per class, in ``task.labels`` order;
* regression: ``y`` the target, ``p`` the prediction (one numeric score column).

Two revisions' predictions are paired on the id column: only rows both scored count, and the
labels of a shared row must agree. Every error names the revision's file and what was expected.

Sensitive groups (:func:`group_columns`): the ``fairness.columns`` of the paired rows, read from
the ``predictions.groups`` table, else the predictions file, else ``package.reference.path``
(only from the local DVC cache: a data set is not fetched for this), the first that holds the
id column and every group column, joined on the id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from graft.core import limits
from graft.core.errors import DataError

if TYPE_CHECKING:
    from graft.project.settings import Settings, Task
    from graft.project.view import View


@dataclass(frozen=True)
class Scored:
    """One revision's predictions: ``ids``, encoded labels ``y`` and scores ``p``."""

    where: str
    ids: np.ndarray
    y: np.ndarray
    p: np.ndarray


@dataclass(frozen=True)
class Paired:
    """Labels and both revisions' scores on the rows both scored (in the base's row order)."""

    y: np.ndarray
    base: np.ndarray
    head: np.ndarray
    ids: np.ndarray | None = None


def _examples(values: np.ndarray, limit: int = 3) -> str:
    shown = [repr(v.item() if hasattr(v, "item") else v) for v in values[:limit]]
    return ", ".join(shown) + (", ..." if len(values) > limit else "")


def class_indices(
    values: np.ndarray, classes: tuple[str, ...] | list[str], column: str, where: str
) -> np.ndarray:
    """Class names (or indices 0..k-1) -> class indices; an error names the values that are neither."""
    k = len(classes)
    as_text = np.asarray([str(v) for v in values.tolist()], dtype=object)
    lookup = {name: i for i, name in enumerate(classes)}
    if k and all(v in lookup for v in set(as_text.tolist())):
        return np.fromiter((lookup[v] for v in as_text), dtype=np.int64, count=len(as_text))
    integral = values.dtype.kind in "biu" or (
        values.dtype.kind == "f" and bool(np.isfinite(values).all()) and bool((values % 1 == 0).all())
    )  # 0/1 written as floats (1.0) are indices too
    if integral and (len(values) == 0 or (values.min() >= 0 and values.max() < k)):
        return values.astype(np.int64)
    bad = ~np.isin(as_text, list(lookup))
    if integral:
        bad &= (values < 0) | (values >= k)
    first: dict[str, Any] = {}  # by text: a Parquet struct or list column holds unhashable values
    for text, value in zip(as_text[bad].tolist(), values[bad].tolist(), strict=True):
        first.setdefault(text, value)
    unknown = np.empty(len(first), dtype=object)
    unknown[:] = list(first.values())
    expected = f"one of {', '.join(map(repr, classes))} or a class index 0..{k - 1}" if k else "class names"
    raise DataError(f"{where}: label column '{column}' holds {_examples(unknown)}; expected {expected}")


def _numeric(values: Any, what: str, where: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {what} must be numbers (got {_examples(np.asarray(values))})") from None
    bad = ~np.isfinite(array)
    if bad.any():
        raise DataError(f"{where}: {what} has {int(bad.sum())} missing or infinite values")
    return array


def class_names(settings: Settings) -> tuple[str, ...]:
    """A classification task's classes: ``task.labels``, else the score column names."""
    if settings.task.labels:
        return tuple(settings.task.labels)
    score = settings.predictions.score
    return (score,) if isinstance(score, str) else tuple(score)


def scored(view: View, task: Task) -> Scored | None:
    """The view's predictions shaped for ``task`` (None when the file is not committed there)."""
    predictions = view.predictions()
    if predictions is None:
        return None
    config = view.settings.predictions
    where = view.source.where(config.path or "")
    score_columns = [config.score] if isinstance(config.score, str) else list(config.score)
    scores = _numeric(predictions.scores, f"score column(s) {', '.join(score_columns)}", where)
    labels = np.asarray(predictions.labels)
    ids = np.asarray(predictions.ids)
    if len(np.unique(ids)) != len(ids):
        raise DataError(f"{where}: id column '{config.id}' repeats values; each row needs its own id")
    if task.type == "regression":
        if scores.ndim != 1:
            raise DataError(f"{where}: a regression task needs one score column (got {len(score_columns)})")
        return Scored(where, ids, _numeric(labels, f"label column '{config.label}'", where), scores)
    classes = tuple(task.labels or ())
    if task.type == "binary":
        if scores.ndim == 2:
            if scores.shape[1] != 2:
                raise DataError(
                    f"{where}: a binary task needs one score column or two (negative, positive); "
                    f"got {scores.shape[1]}"
                )
            scores = scores[:, 1]
        y = class_indices(labels, classes or ("0", "1"), config.label, where)
        return Scored(where, ids, y, scores)
    if scores.ndim != 2:
        raise DataError(
            f"{where}: a multiclass task needs one probability column per class in 'score' "
            f"(got the single column '{config.score}')"
        )
    if classes and len(classes) != scores.shape[1]:
        raise DataError(
            f"{where}: {scores.shape[1]} score columns for {len(classes)} classes in task.labels "
            f"({', '.join(classes)})"
        )
    names = classes or tuple(score_columns)
    return Scored(where, ids, class_indices(labels, names, config.label, where), scores)


def pair(base: Scored, head: Scored) -> Paired:
    """Labels and both models' scores on the rows both revisions scored (joined on the id)."""
    _, ib, ih = np.intersect1d(base.ids, head.ids, assume_unique=True, return_indices=True)
    if len(ib) == 0:
        raise DataError(f"{base.where} and {head.where}: the predictions share no row id")
    order = np.argsort(ib, kind="stable")  # keep the base's row order
    ib, ih = ib[order], ih[order]
    y = base.y[ib]
    if not np.array_equal(y, head.y[ih]):
        differ = int((y != head.y[ih]).sum())
        raise DataError(f"{base.where} and {head.where}: labels differ on {differ} shared row ids")
    return Paired(y, base.p[ib], head.p[ih], base.ids[ib])


@dataclass(frozen=True)
class Groups:
    """Group values of the paired rows per sensitive column (``columns``), or why there are none."""

    columns: dict[str, np.ndarray]
    source: str | None = None  # the table they were read from
    reason: str | None = None  # why there are none


def _table_columns(view: View, path: str, wanted: list[str], local: bool) -> dict[str, np.ndarray] | None:
    """Columns ``wanted`` of the table at ``path`` (parquet or csv) in ``view``; None when the
    file is absent or lacks one of them. ``local``: a DVC output only from the local cache."""
    read_local = getattr(view.source, "read_local", None) if local else None
    data = read_local(path) if read_local is not None else view.source.read(path)
    if data is None:
        return None
    import pyarrow as pa

    try:
        if path.endswith(".csv"):
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(pa.BufferReader(data))
        else:
            import pyarrow.parquet as pq

            names = pq.read_schema(pa.BufferReader(data)).names
            if not set(wanted) <= set(names):
                return None
            table = pq.read_table(pa.BufferReader(data), columns=wanted)
    except Exception as exc:  # pyarrow raises several types; the file is at fault
        raise DataError(
            f"{view.source.where(path)}: cannot read columns {', '.join(wanted)} ({exc})"
        ) from None
    if not set(wanted) <= set(table.column_names):
        return None
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in wanted}


def group_columns(view: View, ids: np.ndarray) -> Groups:
    """The ``fairness.columns`` of the rows ``ids`` (see the module docstring for where from)."""
    settings = view.settings
    columns = list(settings.fairness.columns)
    if not columns:
        return Groups({}, reason="no fairness.columns are configured")
    id_column = settings.predictions.id
    # the reference rows are a data set: read when in the local cache, never fetched for this
    reference = settings.package.reference
    candidates = {settings.predictions.groups: False, settings.predictions.path: False}
    if reference is not None:
        candidates.setdefault(reference.path, True)
    tried: list[str] = []
    for path, local in candidates.items():
        if not path:
            continue
        table = _table_columns(view, path, [id_column, *columns], local)
        tried.append(path)
        if table is None:
            continue
        table_ids = table[id_column]
        _, it, ip = np.intersect1d(table_ids, ids, return_indices=True)
        if len(ip) < len(ids):
            missing = len(ids) - len(ip)
            return Groups({}, path, f"{path} holds no {', '.join(columns)} for {missing} predicted rows")
        order = np.empty(len(ids), dtype=np.int64)
        order[ip] = it
        values = {c: np.asarray(table[c])[order] for c in columns}
        bound = limits.REPORT_GROUPS
        for column, column_values in values.items():
            count = len({str(v) for v in column_values.tolist()})
            if count > bound.value():
                return Groups({}, path, bound.over(f"{path}: column '{column}'", f"{count:,} groups"))
        return Groups(values, path)
    where = ", ".join(tried) if tried else "no table to read them from"
    return Groups({}, reason=f"no table with '{id_column}' and {', '.join(columns)} ({where})")
