"""Rows of two versions of a table matched by a key column, in bounded memory.

Each version is read once, in chunks; each row becomes its key (as text) and one 64-bit hash
per compared column (pandas' ``hash_array`` of the value: numbers as float64, anything else as
text, a missing value hashing the same everywhere). Rows are spread by the hash of their key
over ``partitions`` temporary Arrow files per version, so the rows of one key are in the same
partition of both versions, and a partition's rows fit in ``GRAFT_LIMIT_DATA_MEMORY_BYTES``
(:func:`partitions_for` sizes them from the files' sizes). Partitions are then compared one
at a time: keys only in B are added, only in A removed, in both with some column's hash
differing changed (per column: ``changed_cells``). A key present twice in one version, or an
empty key, is refused (counted over every partition, one named). The temporary files are
removed when the diff ends, however it ends.

A 64-bit hash per cell means two different values are taken as equal with a chance of about
1 in 1.8e19 per compared cell.
"""

from __future__ import annotations

import heapq
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graft.core import limits
from graft.core.errors import DataError
from graft.data.types import KeyDiff

if TYPE_CHECKING:
    import pyarrow as pa

    from graft.data.tables import Table

EXAMPLES = 5
MAX_PARTITIONS = 256
ROW_BYTES = 100  # a partition row's memory once loaded: its key as a Python str and hashes
# in-memory key rows per byte of file, by format (Parquet compresses)
EXPANSION = {"csv": 2, "tsv": 2, "parquet": 8}


def partitions_for(a: Table, b: Table) -> int:
    """Partitions so one partition's keys and hashes (both versions) fit in the memory bound."""
    budget = limits.DATA_MEMORY_BYTES.value() // 2
    expected = sum(t.size * EXPANSION.get(t.format, 2) for t in (a, b))
    return max(1, min(MAX_PARTITIONS, math.ceil(expected / budget)))


def _as_hashable(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    return column.astype(object).where(column.notna(), None).to_numpy(dtype=object)


def key_texts(column: pd.Series) -> pd.Series:
    """Keys as text (a number read from Parquet as its text: 7, not 7.0, for an integer)."""
    if pd.api.types.is_float_dtype(column.dtype):
        present = column.dropna()
        if len(present) and bool(np.all(present == np.round(present))):
            return column.map(lambda v: None if pd.isna(v) else str(int(v)))
    return column.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))


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

    def _writer(self, part: int, schema: pa.Schema) -> Any:
        import pyarrow as pa

        if part not in self.writers:
            sink = pa.OSFile(str(self.folder / f"{part}.arrow"), "wb")
            self.writers[part] = (sink, pa.ipc.new_stream(sink, schema))
        return self.writers[part][1]

    def add(self, chunk: pd.DataFrame) -> None:
        import pyarrow as pa

        keys = key_texts(chunk[self.key])
        empty = keys.isna().to_numpy()
        self.empty_keys += int(empty.sum())
        if empty.all():
            return
        keep = ~empty
        texts = keys.to_numpy(dtype=object)[keep]
        arrays = {"key": pa.array(texts, type=pa.string())}
        for i, name in enumerate(self.compared):
            arrays[f"h{i}"] = pa.array(pd.util.hash_array(_as_hashable(chunk[name])[keep]))
        batch = pa.table(arrays)
        part = pd.util.hash_array(texts) % np.uint64(self.partitions)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        for p in range(self.partitions):
            if bounds[p] < bounds[p + 1]:
                piece = batch.take(pa.array(order[bounds[p] : bounds[p + 1]]))
                self._writer(p, piece.schema).write_table(piece)

    def close(self) -> None:
        for sink, writer in self.writers.values():
            writer.close()
            sink.close()
        self.writers = {}

    def read(self, part: int) -> pd.DataFrame:
        import pyarrow as pa

        path = self.folder / f"{part}.arrow"
        if not path.exists():
            columns = {"key": pd.Series([], dtype=object)}
            columns.update({f"h{i}": pd.Series([], dtype="uint64") for i in range(len(self.compared))})
            return pd.DataFrame(columns)
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_stream(source).read_all().to_pandas()


@dataclass
class Duplicates:
    keys: int = 0
    example: tuple[str, int] | None = None

    def add(self, frame: pd.DataFrame) -> None:
        counts = frame["key"].value_counts()
        repeated = counts[counts > 1]
        if len(repeated):
            self.keys += len(repeated)
            first = min(repeated.index)
            if self.example is None or first < self.example[0]:
                self.example = (str(first), int(repeated[first]))


class KeyedDiff:
    """The key diff of two versions, filled chunk by chunk (:meth:`add_a`, :meth:`add_b`)."""

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
        self.peak_rows = 0  # the most rows of one partition loaded at once (both versions)

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
        where = side.table.where
        if duplicates.keys and duplicates.example is not None:
            value, times = duplicates.example
            raise DataError(
                f"{where}: key column '{self.key}' is not unique: {duplicates.keys:,} key(s) appear "
                f"more than once (e.g. '{value}', {times} times)"
            )

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
            fa, fb = self.a.read(part), self.b.read(part)
            self.peak_rows = max(self.peak_rows, len(fa) + len(fb))
            dup_a.add(fa)
            dup_b.add(fb)
            if dup_a.keys or dup_b.keys:  # the diff is refused: only count the duplicates
                continue
            merged = fa.merge(fb, on="key", how="outer", suffixes=("_a", "_b"), indicator=True)
            side = merged["_merge"].to_numpy()
            only_b, only_a = side == "right_only", side == "left_only"
            both = merged[side == "both"]
            differs = np.zeros((len(both), len(self.compared)), dtype=bool)
            for i in range(len(self.compared)):
                differs[:, i] = both[f"h{i}_a"].to_numpy() != both[f"h{i}_b"].to_numpy()
            row_changed = differs.any(axis=1)
            added += int(only_b.sum())
            removed += int(only_a.sum())
            changed += int(row_changed.sum())
            unchanged += int((~row_changed).sum())
            cells += differs.sum(axis=0)
            for kind, keys in (
                ("added", merged["key"].to_numpy()[only_b]),
                ("removed", merged["key"].to_numpy()[only_a]),
                ("changed", both["key"].to_numpy()[row_changed]),
            ):
                examples[kind] = heapq.nsmallest(
                    EXAMPLES, [*examples[kind], *heapq.nsmallest(EXAMPLES, keys)]
                )
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
