"""Rows of two versions of a table matched by a key column, in bounded memory.

Each version is read once, in batches. Rows are spread by their key over ``partitions``
temporary Arrow files per version (the key, as text, and the compared columns' values as
read), so the rows of one key are in the same partition of both versions, and one
partition's rows of both versions fit in ``GRAFT_LIMIT_DATA_MEMORY_BYTES``
(:func:`partitions_for` sizes them from the files' sizes). Partitions are then compared one
at a time, joined on the key (Arrow's hash join): keys only in B are added, only in A
removed, in both with some compared value differing changed (per column: ``changed_cells``;
two missing values are equal, and so are two NaN). A key present twice in one version, or an
empty key, is refused (counted over every partition, one named). The temporary files are
removed when the diff ends, however it ends.

A column whose type differs between the versions is compared as numbers when both are
numeric, else as text.
"""

from __future__ import annotations

import heapq
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graft.core import limits
from graft.core.errors import DataError
from graft.data.types import KeyDiff

if TYPE_CHECKING:
    from graft.data.tables import Table

EXAMPLES = 5
MAX_PARTITIONS = 256
# memory of a partition's rows once loaded and joined, per byte of file, by format (Parquet
# compresses; the join holds both versions' values once more)
EXPANSION = {"csv": 3, "tsv": 3, "parquet": 12}
IN_A, IN_B = "__graft_in_a", "__graft_in_b"


def partitions_for(a: Table, b: Table) -> int:
    """Partitions so one partition of both versions, loaded and joined, fits the memory bound."""
    budget = limits.DATA_MEMORY_BYTES.value() // 4  # a partition, joined, takes about twice itself
    expected = sum(t.size * EXPANSION.get(t.format, 3) for t in (a, b))
    return max(1, min(MAX_PARTITIONS, math.ceil(expected / budget)))


def key_texts(column: pa.Array) -> pa.Array:
    """Keys as text (a Parquet integer 7 as "7"), NaN as missing."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    if pa.types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())


_WEIGHTS = np.random.default_rng(20).integers(1, 2**63, 256, dtype=np.uint64) | np.uint64(1)


def spread(keys: pa.Array, partitions: int) -> np.ndarray:
    """Each key's partition, from a hash of its bytes computed in numpy over the Arrow buffers
    (no Python object per key): the same key lands in the same partition in both versions."""
    if partitions == 1 or not len(keys):
        return np.zeros(len(keys), dtype=np.int64)
    wide = pa.types.is_large_string(keys.type)
    _, offsets_buffer, data_buffer = keys.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64 if wide else np.int32)
    offsets = offsets[keys.offset : keys.offset + len(keys) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    data = data[offsets[0] : offsets[-1]].astype(np.uint64)
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    position = np.arange(len(data)) - np.repeat(starts, lengths)
    mixed = np.append((data + np.uint64(1)) * _WEIGHTS[position % 256], np.uint64(0))
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(mixed, np.minimum(starts, len(data)))
        sums[lengths == 0] = 0
        sums ^= sums >> np.uint64(31)
        sums *= np.uint64(0x9E3779B97F4A7C15)
        sums ^= sums >> np.uint64(29)
    return (sums % np.uint64(partitions)).astype(np.int64)


def _plain(column: pa.Array) -> pa.Array:
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


@dataclass
class Side:
    """One version's rows spread over partition files."""

    table: Table
    folder: Path
    key: str
    compared: list[str]
    partitions: int
    writers: dict[int, Any] = field(default_factory=dict)
    empty_keys: int = 0
    rows: int = 0

    def _writer(self, part: int, schema: pa.Schema) -> Any:
        if part not in self.writers:
            sink = pa.OSFile(str(self.folder / f"{part}.arrow"), "wb")
            self.writers[part] = (sink, pa.ipc.new_stream(sink, schema))
        return self.writers[part][1]

    def add(self, batch: pa.RecordBatch) -> None:
        keys = key_texts(batch.column(self.key))
        self.empty_keys += keys.null_count
        columns = {"key": keys, **{f"c{i}": _plain(batch.column(n)) for i, n in enumerate(self.compared)}}
        rows = pa.table(columns)
        if keys.null_count:
            rows = rows.filter(pc.is_valid(keys))
        self.rows += rows.num_rows
        if not rows.num_rows:
            return
        part = spread(rows.column("key").combine_chunks(), self.partitions)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        for p in range(self.partitions):
            if bounds[p] < bounds[p + 1]:
                piece = rows.take(pa.array(order[bounds[p] : bounds[p + 1]]))
                self._writer(p, piece.schema).write_table(piece)

    def close(self) -> None:
        for sink, writer in self.writers.values():
            writer.close()
            sink.close()
        self.writers = {}

    def read(self, part: int) -> pa.Table | None:
        path = self.folder / f"{part}.arrow"
        if not path.exists():
            return None
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_stream(source).read_all()


@dataclass
class Duplicates:
    keys: int = 0
    example: tuple[str, int] | None = None

    def add(self, rows: pa.Table | None) -> None:
        if rows is None:
            return
        counted = pc.value_counts(rows.column("key"))
        counts = counted.field("counts")
        repeated = pc.greater(counts, 1)
        found = int(pc.sum(repeated).as_py() or 0)
        if not found:
            return
        self.keys += found
        values = counted.field("values").filter(repeated).to_pylist()
        times = counts.filter(repeated).to_pylist()
        first = min(zip(values, times, strict=True))
        if self.example is None or first[0] < self.example[0]:
            self.example = (str(first[0]), int(first[1]))


def _comparable(a: pa.ChunkedArray, b: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    if a.type == b.type:
        return a, b
    numeric = all(pa.types.is_integer(x.type) or pa.types.is_floating(x.type) for x in (a, b))
    target = pa.float64() if numeric else pa.string()
    return pc.cast(a, target), pc.cast(b, target)


def differs(a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    """Where two aligned columns hold different values (missing equals missing, NaN equals NaN)."""
    a, b = _comparable(a, b)
    same = pc.fill_null(pc.equal(a, b), False)
    same = pc.or_(same, pc.and_(pc.is_null(a), pc.is_null(b)))
    if pa.types.is_floating(a.type):
        same = pc.or_(same, pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False))
    return ~np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)


def smallest(keys: pa.ChunkedArray) -> list[str]:
    """The :data:`EXAMPLES` smallest keys (sorted in Arrow, not in Python)."""
    if not len(keys):
        return []
    order = pc.array_sort_indices(keys.combine_chunks())
    return [str(k) for k in keys.take(order[:EXAMPLES]).to_pylist()]


class KeyedDiff:
    """The key diff of two versions, filled batch by batch (``a.add``, ``b.add``), then
    :meth:`result`; a context manager that removes its temporary files."""

    def __init__(self, a: Table, b: Table, key: str, compared: list[str]) -> None:
        self.key = key
        self.compared = compared
        self.partitions = partitions_for(a, b)
        self._tmp = tempfile.TemporaryDirectory(prefix="graft-data-")
        root = Path(self._tmp.name)
        (root / "a").mkdir()
        (root / "b").mkdir()
        self.a = Side(a, root / "a", key, compared, self.partitions)
        self.b = Side(b, root / "b", key, compared, self.partitions)
        self.peak_bytes = 0  # the most memory one partition's rows of both versions took, loaded

    def __enter__(self) -> KeyedDiff:
        return self

    def __exit__(self, *exc: object) -> None:
        self.a.close()
        self.b.close()
        self._tmp.cleanup()

    def _check_empty(self, side: Side) -> None:
        if side.empty_keys:
            where = side.table.where
            raise DataError(f"{where}: key column '{self.key}' is empty in {side.empty_keys:,} row(s)")

    def _check(self, side: Side, duplicates: Duplicates) -> None:
        if duplicates.keys and duplicates.example is not None:
            value, times = duplicates.example
            raise DataError(
                f"{side.table.where}: key column '{self.key}' is not unique: {duplicates.keys:,} key(s) "
                f"appear more than once (e.g. '{value}', {times} times)"
            )

    def _empty(self, like: pa.Table | None) -> pa.Table:
        if like is not None:
            return like.schema.empty_table()
        names = ["key", *(f"c{i}" for i in range(len(self.compared)))]
        return pa.table({n: pa.array([], type=pa.string()) for n in names})

    def result(self) -> KeyDiff:
        self.a.close()
        self.b.close()
        self._check_empty(self.a)
        self._check_empty(self.b)
        dup_a, dup_b = Duplicates(), Duplicates()
        added = removed = changed = unchanged = 0
        cells = np.zeros(len(self.compared), dtype=np.int64)
        examples: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
        for part in range(self.partitions):
            rows_a, rows_b = self.a.read(part), self.b.read(part)
            dup_a.add(rows_a)
            dup_b.add(rows_b)
            if dup_a.keys or dup_b.keys:  # the diff is refused: only count the duplicates
                continue
            if rows_a is None and rows_b is None:
                continue
            left = rows_a if rows_a is not None else self._empty(rows_b)
            right = rows_b if rows_b is not None else self._empty(rows_a)
            left = left.append_column(IN_A, pa.array(np.ones(left.num_rows, dtype=bool)))
            right = right.append_column(IN_B, pa.array(np.ones(right.num_rows, dtype=bool)))
            joined = left.join(right, keys="key", join_type="full outer", left_suffix="_a", right_suffix="_b")
            self.peak_bytes = max(self.peak_bytes, left.nbytes + right.nbytes + joined.nbytes)
            in_a = np.asarray(pc.is_valid(joined.column(IN_A)).to_numpy(zero_copy_only=False), dtype=bool)
            in_b = np.asarray(pc.is_valid(joined.column(IN_B)).to_numpy(zero_copy_only=False), dtype=bool)
            both = in_a & in_b
            cell = np.zeros((joined.num_rows, len(self.compared)), dtype=bool)
            for i in range(len(self.compared)):
                cell[:, i] = differs(joined.column(f"c{i}_a"), joined.column(f"c{i}_b")) & both
            row_changed = cell.any(axis=1)
            added += int((in_b & ~in_a).sum())
            removed += int((in_a & ~in_b).sum())
            changed += int(row_changed.sum())
            unchanged += int((both & ~row_changed).sum())
            cells += cell.sum(axis=0)
            keys = joined.column("key")
            for kind, picked in (
                ("added", keys.filter(pa.array(in_b & ~in_a))),
                ("removed", keys.filter(pa.array(in_a & ~in_b))),
                ("changed", keys.filter(pa.array(row_changed))),
            ):
                examples[kind] = heapq.nsmallest(EXAMPLES, [*examples[kind], *smallest(picked)])
        self._check(self.a, dup_a)
        self._check(self.b, dup_b)
        return KeyDiff(
            key=self.key,
            added=added,
            removed=removed,
            changed=changed,
            unchanged=unchanged,
            changed_cells={name: int(n) for name, n in zip(self.compared, cells, strict=True)},
            examples={k: [str(v) for v in vs] for k, vs in examples.items()},
            partitions=self.partitions,
        )
