"""Read a window of the prediction log (SQLite or PostgreSQL) into compact columns, streaming.

The log (written by `graft serve`) keeps one row per request: ``inputs`` is a JSON array of
records, ``outputs`` a JSON object of per-record lists as the package's task predicts (binary
``{"probability": [...], "label": [...]}``, multiclass ``{"probabilities": [[p per class]],
"label": [...]}``, regression ``{"prediction": [...]}``; the tables, these keys and the URLs
are :mod:`graft.serving.logformat`'s).
Feedback rows name a request and, for batch requests, the record's index (no index: every
record of the request). Every record becomes one row of the window, with the input columns,
the task's output columns (:func:`graft.monitoring.checks.output_columns`: binary ``proba``; multiclass
``proba:0`` ... ``proba:k-1`` in the order of the task's labels; regression ``prediction``),
``outcome`` and ``feedback_delay_s``.

Contract:

* Only the window's predictions are read (``created_at`` in ``[since, until)``), and only the
  feedback naming them (whenever it arrived: outcomes come after predictions), in one query,
  so the two are one consistent snapshot even while the server keeps writing.
* Memory is bounded by the window's compact columns (a float per numeric value, float32 when
  that loses nothing; a one- or two-byte code per categorical value), not by the rows' JSON:
  rows are fetched and parsed in chunks of :data:`CHUNK_ROWS` requests (fewer when their JSON
  reaches :data:`CHUNK_BYTES`). A chunk is parsed in one pass of Arrow's JSON reader; a chunk
  holding any unusual row is parsed again row by row (orjson), which finds the row.
* A row that cannot be read (inputs or outputs not valid JSON, not the expected shape, a
  probability that is not a number in [0, 1], a prediction that is not a finite number) is
  skipped and counted per reason with example request ids; so is a feedback row naming a
  record its request does not have, or an outcome that is not one of the task's (a label the
  model does not know, a regression outcome that is not a number). Nothing read from the log
  stops the run.
* The feedback for one record follows "last word wins" (latest ``created_at``, then
  ``feedback_id``); ``outcome`` is, for a binary model, 1 for the positive label, else 0; for
  a multiclass model the index of the label in the task's labels; for regression the number.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from graft.core import timespec
from graft.core.errors import GraftError
from graft.monitoring.checks import output_columns
from graft.monitoring.logquery import CHUNK_ROWS, POSTGRES_SQL, SQLITE_SQL
from graft.monitoring.logrows import (
    FEEDBACK_INDEX,
    FEEDBACK_LABEL,
    FEEDBACK_NUMBER,
    Chunk,
    arrow_schema,
    as_text,
    later,
    parse_fast,
    parse_slow,
    seconds,
)
from graft.monitoring.window import BINARY, OWN_COLUMNS, LogLayout, Window
from graft.serving.logformat import parse_url

__all__ = ["BINARY", "OWN_COLUMNS", "LogLayout", "LogReadError", "Window", "parse_time", "read_window"]

CHUNK_BYTES = 32 << 20  # ... or fewer, when their JSON reaches this size (large batch requests)
FIRST_FETCH = 256  # rows in the first batch, before their size is known
EXAMPLES = 3  # request ids kept per reason a row could not be read


class LogReadError(GraftError):
    pass


def parse_time(value: str | None, flag: str, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 time (UTC when no zone is given) or a duration back from now: 90m, 24h, 7d."""
    return timespec.parse_time(value, flag, now)


def _where(since: datetime | None, until: datetime | None, placeholder: str) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if since is not None:
        clauses.append(f"p.created_at >= {placeholder}")
        args.append(since)
    if until is not None:
        clauses.append(f"p.created_at < {placeholder}")
        args.append(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


@contextlib.contextmanager
def _batches(url: str, since: datetime | None, until: datetime | None) -> Iterator[Iterable[list[tuple]]]:
    """The window's rows (see :mod:`graft.monitoring.logquery`) in batches; errors name the log."""
    parsed = parse_url(url)
    if parsed.path is not None:
        path = parsed.path
        if not path.is_file():
            raise LogReadError(f"{url}: no such prediction log")
        where, args = _where(since, until, "?")
        text_args = [a.astimezone(UTC).isoformat() for a in args]  # SQLite stores ISO text
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None
        conn.text_factory = bytes  # text that is not UTF-8 is then a row to skip, not a crash
        try:
            yield _fetch(conn.execute(SQLITE_SQL.format(where=where), text_args), url, sqlite3.Error)
        except sqlite3.Error as exc:
            raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None
        finally:
            conn.close()
        return
    import psycopg

    where, args = _where(since, until, "%s")
    try:
        with psycopg.connect(url) as pg, pg.cursor(name="graft_monitor_window") as cur:
            cur.execute(POSTGRES_SQL.format(where=where), args)
            yield _fetch(cur, url, psycopg.Error)
    except psycopg.Error as exc:
        raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None


def _fetch(cursor: Any, url: str, error: type[Exception]) -> Iterator[list[tuple]]:
    """Batches of rows holding about :data:`CHUNK_BYTES` of JSON (at most :data:`CHUNK_ROWS`
    rows): the first batch is small, later ones sized from the rows seen so far."""
    size, rows_seen, bytes_seen = FIRST_FETCH, 0, 0
    try:
        while rows := cursor.fetchmany(size):
            rows_seen += len(rows)
            bytes_seen += sum(len(r[3] or b"") + len(r[4] or b"") for r in rows)
            size = max(FIRST_FETCH, min(CHUNK_ROWS, CHUNK_BYTES * rows_seen // max(bytes_seen, 1)))
            yield rows
    except error as exc:
        raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None


class _WindowBuilder:
    """Accumulates the window's records chunk by chunk into compact per-column arrays."""

    def __init__(self, layout: LogLayout) -> None:
        self.layout = layout
        self.schema = arrow_schema(layout)
        labels = [layout.positive_label] if layout.task == "binary" else list(layout.classes)
        codes = [1.0] if layout.task == "binary" else [float(i) for i in range(len(labels))]
        # logged outcomes are text (bytes from SQLite): each label -> its outcome value
        self.outcome_codes: dict[str | bytes, float] = {
            **dict(zip(labels, codes, strict=True)),
            **dict(zip((x.encode() for x in labels), codes, strict=True)),
        }
        self.numeric = {c: _Column(np.float32) for c in layout.measured}
        self.codes = {c: _Column(np.int8) for c in layout.categorical}
        self.categories: dict[str, dict[Any, int]] = {c: {} for c in layout.categorical}
        self.outputs = {c: _Column(np.float64) for c in output_columns(layout.task, len(layout.classes))}
        self.floats = {
            "outcome": _Column(np.float32),
            "feedback_delay_s": _Column(np.float64),
        }
        self.chunk = Chunk()
        self.unreadable: dict[str, dict[str, Any]] = {}
        self.not_numbers: Counter[str] = Counter()
        self.versions: Counter[Any] = Counter()
        self.feedback_events = 0

    def skip(self, reason: str, request_id: Any) -> None:
        entry = self.unreadable.setdefault(reason, {"rows": 0, "examples": []})
        entry["rows"] += 1
        if len(entry["examples"]) < EXAMPLES:
            entry["examples"].append(as_text(request_id)[:80])

    def consume(self, batches: Iterable[list[tuple]]) -> None:
        """Batches of the window query's rows: one row per (request, feedback event), a
        request's rows together. A request cut by a batch's end waits for the next batch."""
        carry: list[tuple] = []
        for batch in batches:
            rows = carry + batch if carry else batch
            cut, last = len(rows), rows[-1][0]
            while cut and rows[cut - 1][0] == last:
                cut -= 1
            carry = rows[cut:]
            self.add(rows[:cut])
        self.add(carry)

    def add(self, rows: list[tuple]) -> None:
        """Whole requests' rows: appended to the pending chunk, parsed when it is full."""
        if not rows:
            return
        chunk = self.chunk
        offset = len(chunk.ids)
        ids = [r[0] for r in rows]
        request: Sequence[int]
        if len(set(ids)) == len(ids):  # no request with more than one feedback event
            heads, request = rows, range(len(rows))
        else:
            starts = [0, *(i for i in range(1, len(ids)) if ids[i] != ids[i - 1])]
            heads = [rows[i] for i in starts]
            request = list(itertools.accumulate(map(operator.ne, ids[1:], ids[:-1]), initial=0))
        chunk.ids += [r[0] for r in heads]
        chunk.served += [r[1] for r in heads]
        chunk.versions += [r[2] for r in heads]
        inputs = [r[3] for r in heads]
        chunk.inputs += inputs
        chunk.outputs += [r[4] for r in heads]
        chunk.size += sum(len(i) for i in inputs if i is not None)
        chunk.feedback += [(offset + request[i], r[5:9]) for i, r in enumerate(rows) if r[5] is not None]
        if len(chunk.ids) >= CHUNK_ROWS or chunk.size >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        chunk, self.chunk = self.chunk, Chunk()
        if not chunk.ids:
            return
        parsed = parse_fast(chunk, self.layout, self.schema) or parse_slow(chunk, self.layout, self.skip)
        self.not_numbers.update(parsed.not_numbers)
        for version, n in zip(chunk.versions, parsed.counts.tolist(), strict=True):
            self.versions[version] += n
        for column, values in parsed.numeric.items():
            self.numeric[column].append(_compact(values))
        for column, (codes, seen) in parsed.categorical.items():
            known = self.categories[column]
            mapping = np.array([known.setdefault(v, len(known)) for v in seen] + [-1], dtype=np.int64)
            self.codes[column].append(mapping[codes].astype(np.min_scalar_type(-len(known) - 1)))
        if parsed.outputs.ndim == 2:
            for i, output in enumerate(self.outputs.values()):
                output.append(parsed.outputs[:, i])
        else:
            next(iter(self.outputs.values())).append(parsed.outputs)
        outcome, delay = self._outcomes(chunk, parsed.counts)
        self.floats["outcome"].append(_compact(outcome))
        self.floats["feedback_delay_s"].append(delay)

    def _outcomes(self, chunk: Chunk, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each record's outcome (last word wins) and feedback delay; NaN without feedback."""
        total = int(counts.sum())
        outcome, delay = np.full(total, np.nan), np.full(total, np.nan)
        if not chunk.feedback:
            return outcome, delay
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        ns = counts.tolist()
        last: dict[int, tuple[Any, Any, float, int]] = {}  # record -> (time, feedback id, label, request)
        for request, (feedback_id, index, at, value) in chunk.feedback:
            n = ns[request]
            if not n:
                continue  # the request could not be read
            self.feedback_events += 1
            if index is not None and not 0 <= index < n:
                self.skip(FEEDBACK_INDEX, chunk.ids[request])
                continue
            label = self.outcome(value)
            if label is None:
                reason = FEEDBACK_NUMBER if self.layout.task == "regression" else FEEDBACK_LABEL
                self.skip(reason, chunk.ids[request])
                continue
            start = starts[request]
            for i in range(start, start + n) if index is None else (start + index,):
                word = last.get(i)
                if word is None or later(at, word[0]) or (at == word[0] and feedback_id > word[1]):
                    last[i] = (at, feedback_id, label, request)
        positions = np.fromiter(last, dtype=np.int64, count=len(last))
        words = list(last.values())
        outcome[positions] = [w[2] for w in words]
        delay[positions] = seconds([w[0] for w in words]) - seconds([chunk.served[w[3]] for w in words])
        return outcome, delay

    def outcome(self, value: Any) -> float | None:
        """A logged outcome's value in the window (see the module docstring); None: not one of the task's."""
        if self.layout.task == "regression":
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None
            return number if math.isfinite(number) else None
        code = self.outcome_codes.get(value)
        if code is None and self.layout.task == "binary":
            return 0.0
        return code

    def frame(self) -> pd.DataFrame:
        self.flush()
        columns: dict[str, Any] = {}
        for column in self.layout.measured:
            columns[column] = self.numeric[column].array()
        for column in self.layout.categorical:
            codes = self.codes[column].array()
            categories = pd.Index(list(self.categories[column]), dtype=object)
            columns[column] = pd.Categorical.from_codes(codes, categories=categories)
        for name, column_values in [*self.outputs.items(), *self.floats.items()]:
            columns[name] = column_values.array()
        return pd.DataFrame(columns, copy=False)


def _compact(values: np.ndarray) -> np.ndarray:
    """float32 when that loses nothing (counts, ages, amounts below 2**24, outcomes), else float64."""
    single = values.astype(np.float32)
    return single if np.array_equal(single, values, equal_nan=True) else values


class _Column:
    """A growing array. Chunks are copied into spare capacity (grown by half when full), so a
    column never exists twice, as its chunks and their concatenation; capacity never written
    to is never resident."""

    def __init__(self, dtype: type) -> None:
        self.data: np.ndarray = np.empty(0, dtype=dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        dtype = np.promote_types(self.data.dtype, values.dtype)
        if end > len(self.data) or dtype != self.data.dtype:
            grown = np.empty(max(end, len(self.data) * 3 // 2, 1 << 16), dtype=dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end

    def array(self) -> np.ndarray:
        return self.data[: self.size]


def read_window(url: str, since: str | None, until: str | None, layout: LogLayout) -> Window:
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    builder = _WindowBuilder(layout)
    with _batches(url, start, end) as batches:
        builder.consume(batches)
    predictions = builder.frame()
    return Window(
        predictions,
        since,
        until,
        feedback_events=builder.feedback_events,
        unreadable=builder.unreadable,
        not_numbers={c: n for c, n in builder.not_numbers.items() if n},
        model_versions={as_text(v): n for v, n in sorted(builder.versions.items())},
    )
