"""A table's summary in one streaming pass: rows and, per column, type, missing share and
distribution, in memory bounded whatever the table's size.

Per column, over every batch (:class:`ColumnProfile`):

* exact: rows, missing values (NaN included), min, max, mean and standard deviation (merged
  per batch with Chan's formulas), whether every present value is a number (then the column
  is numeric; a CSV column is read as text and typed from all of its values; a Parquet column
  by its type), and the counts of its first
  ``GRAFT_LIMIT_DATA_CATEGORIES`` distinct values (values first seen past that are counted
  together: ``distinct_capped``);
* sampled: a uniform sample of at most ``GRAFT_LIMIT_DATA_SAMPLE_VALUES`` of its numeric values
  (bottom-k of seeded random priorities, so the same table gives the same sample), from which
  the histogram is drawn and the distribution is tested; a column with fewer values keeps them all.

Histogram: :data:`HISTOGRAM_BINS` equal-width bins between the exact min and max, or one bin
per integer when an integer column spans at most that many values. Top categories: the
:data:`TOP_CATEGORIES` most common, ties by value.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graft.core import limits
from graft.data.tables import Table, open_table
from graft.data.types import CATEGORICAL, NUMERIC, Bin, Category, ColumnSummary, TableSummary

HISTOGRAM_BINS = 20
TOP_CATEGORIES = 10


@dataclass
class ColumnProfile:
    """What one pass keeps of one column (see the module docstring)."""

    name: str
    typed: str | None = None  # a Parquet column's Arrow type; None for CSV text
    typed_numeric: bool = False
    rows: int = 0
    missing: int = 0
    non_numeric: bool = False  # a present value is not a number
    integral: bool = True
    count: int = 0  # numeric values
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    counts: dict[str, int] = field(default_factory=dict)
    uncounted: int = 0  # present values first seen once counts was full
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))
    priority: np.ndarray = field(default_factory=lambda: np.empty(0))
    _rng: np.random.Generator | None = None

    @property
    def numeric(self) -> bool:
        if self.typed is not None:
            return self.typed_numeric
        return not self.non_numeric and self.count > 0

    @property
    def capped(self) -> bool:
        return self.uncounted > 0

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def add(self, column: pa.Array, sample_bound: int, category_bound: int) -> None:
        """One batch's values of the column (an Arrow array; NaN counts as missing)."""
        self.rows += len(column)
        present = _present(column)
        self.missing += len(column) - len(present)
        if not len(present):
            return
        if self.typed is not None and not self.typed_numeric:
            self.non_numeric = True
        values = None if self.non_numeric else self._numbers(present)
        if values is not None:
            self._add_numbers(values, sample_bound)
        if not (self.capped and not self.non_numeric):  # a numeric column past the bound: no more counts
            self._count(present, category_bound)

    def _numbers(self, present: pa.Array) -> np.ndarray | None:
        try:
            return np.asarray(pc.cast(present, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # text that is not a number
            self.non_numeric = True
            return None

    def _add_numbers(self, values: np.ndarray, sample_bound: int) -> None:
        finite = values[np.isfinite(values)]
        n = len(finite)
        if n:
            mean = float(finite.mean())
            m2 = float(((finite - mean) ** 2).sum())
            total = self.count + n
            delta = mean - self.mean
            self.mean += delta * n / total
            self.m2 += m2 + delta * delta * self.count * n / total
            self.count = total
            self.low = min(self.low, float(finite.min()))
            self.high = max(self.high, float(finite.max()))
            self.integral = self.integral and bool(np.all(finite == np.round(finite)))
        if self._rng is None:
            self._rng = np.random.default_rng(zlib.crc32(self.name.encode("utf-8")))
        priority = self._rng.random(n)
        sample = np.concatenate([self.sample, finite])
        priority = np.concatenate([self.priority, priority])
        if len(sample) > sample_bound:
            keep = np.argpartition(priority, sample_bound)[:sample_bound]
            sample, priority = sample[keep], priority[keep]
        self.sample, self.priority = sample, priority

    def _count(self, present: pa.Array, category_bound: int) -> None:
        """Add the batch's value counts: values already counted, then new ones while there is
        room (in the order first seen); the rest together in ``uncounted``. Python touches at
        most the counted values and the room left, never every distinct value of a batch."""
        counted = pc.value_counts(_texts(present))
        values = counted.field("values")
        counts = counted.field("counts").to_numpy(zero_copy_only=False)
        known = self.counts
        seen = np.zeros(len(values), dtype=bool)
        if known:
            found = pc.is_in(values, value_set=pa.array(list(known), type=pa.string()))
            seen = np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
            for value, n in zip(values.filter(found).to_pylist(), counts[seen].tolist(), strict=True):
                known[value] += n
        new = np.flatnonzero(~seen)
        room = max(category_bound - len(known), 0)
        taken = new[:room]
        for value, n in zip(values.take(pa.array(taken)).to_pylist(), counts[taken].tolist(), strict=True):
            known[value] = n
        self.uncounted += int(counts[new[room:]].sum())

    # --- the summary ---------------------------------------------------------------------------

    def dtype(self) -> str:
        if self.typed is not None:
            return self.typed
        if self.numeric:
            return "integer" if self.integral else "float"
        return "string"

    def summary(self) -> ColumnSummary:
        common = {
            "name": self.name,
            "dtype": self.dtype(),
            "rows": self.rows,
            "missing": self.missing,
            "missing_share": self.missing / self.rows if self.rows else 0.0,
            "distinct": len(self.counts),
            "distinct_capped": self.capped,
        }
        if self.numeric:
            std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
            return ColumnSummary(
                kind=NUMERIC,
                min=self.low if self.count else None,
                max=self.high if self.count else None,
                mean=self.mean if self.count else None,
                std=std if self.count else None,
                histogram=self.histogram(),
                sampled=len(self.sample) < self.count,
                sample_size=len(self.sample),
                **common,  # type: ignore[arg-type]
            )
        top = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES]
        return ColumnSummary(
            kind=CATEGORICAL,
            top=tuple(Category(v, n) for v, n in top),
            other=self.present - sum(n for _, n in top),
            **common,  # type: ignore[arg-type]
        )

    def histogram(self) -> tuple[Bin, ...]:
        if not len(self.sample):
            return ()
        low, high = self.low, self.high
        if low == high:
            return (Bin(low, high, len(self.sample)),)
        if self.integral and high - low + 1 <= HISTOGRAM_BINS:
            edges = np.arange(low, high + 2)
        else:
            edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
        counts, _ = np.histogram(self.sample, bins=edges)
        return tuple(
            Bin(float(a), float(b), int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
        )

    def values(self) -> np.ndarray:
        """The sampled numeric values (all of them when the column has no more than the bound)."""
        return self.sample


def _present(column: pa.Array) -> pa.Array:
    """The values that are there: nulls dropped, and NaN (how pandas writes a missing number)."""
    present = pc.drop_null(column)
    if pa.types.is_dictionary(present.type):
        present = present.dictionary_decode()
    if pa.types.is_floating(present.type):
        present = present.filter(pc.invert(pc.is_nan(present)))
    return present


def _texts(present: pa.Array) -> pa.Array:
    """The values as text (the keys of the category counts)."""
    if pa.types.is_string(present.type):
        return present
    try:
        return pc.cast(present, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # nested types: Python's text of each
        return pa.array([str(v) for v in present.to_pylist()], type=pa.string())


def numeric_type(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind))


@dataclass
class Profile:
    """A table's column profiles, filled batch by batch."""

    table: Table
    columns: dict[str, ColumnProfile]
    rows: int = 0

    @classmethod
    def start(cls, table: Table) -> Profile:
        columns = {}
        names = table.columns()
        types = table.types()
        for name in names:
            kind = types.get(name)
            typed = None if kind is None else str(kind)
            columns[name] = ColumnProfile(name, typed, kind is not None and numeric_type(kind))
        return cls(table, columns)

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def add(self, batch: pa.RecordBatch) -> None:
        sample_bound = limits.DATA_SAMPLE_VALUES.value()
        category_bound = limits.DATA_CATEGORIES.value()
        self.rows += batch.num_rows
        for name, profile in self.columns.items():
            profile.add(batch.column(name), sample_bound, category_bound)

    def summary(self) -> TableSummary:
        t = self.table
        return TableSummary(
            path=t.path,
            rev=t.rev,
            commit=t.commit,
            format=t.format,
            stored=t.stored,
            bytes=t.size,
            digest=t.digest,
            rows=self.rows,
            columns=tuple(p.summary() for p in self.columns.values()),
        )


def profile(table: Table) -> Profile:
    """One streaming pass over ``table``."""
    found = Profile.start(table)
    for batch in table.batches(found.names):
        found.add(batch)
    return found


def summarize(root: str | Path, path: str, rev: str) -> TableSummary:
    """Table ``path`` at ``rev`` of the project at ``root`` summarised (see the module docstring)."""
    from graft.project import Project

    return profile(open_table(Project(root).at(rev), path)).summary()
