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
import io
import itertools
import math
import operator
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from graft.core import timespec
from graft.core.errors import GraftError, UsageError
from graft.monitoring.checks import output_columns
from graft.monitoring.logquery import CHUNK_ROWS, POSTGRES_SQL, SQLITE_SQL
from graft.project.settings import TASK_TYPES
from graft.serving.logformat import LABEL, OUTPUT_KEY, PREDICTION, PROBABILITIES, PROBABILITY, parse_url

CHUNK_BYTES = 32 << 20  # ... or fewer, when their JSON reaches this size (large batch requests)
FIRST_FETCH = 256  # rows in the first batch, before their size is known
EXAMPLES = 3  # request ids kept per reason a row could not be read


class LogReadError(GraftError):
    pass


@dataclass(frozen=True)
class Window:
    """One window of the log, as :func:`read_window` returns it: a row per served record."""

    predictions: pd.DataFrame  # input columns, proba, outcome (0/1, NaN), feedback_delay_s
    since: str | None = None
    until: str | None = None
    feedback_events: int = 0  # feedback rows naming the window's requests
    unreadable: dict[str, dict[str, Any]] = field(default_factory=dict)  # reason -> rows, examples
    not_numbers: dict[str, int] = field(default_factory=dict)  # column -> values that are not numbers
    model_versions: dict[str, int] = field(default_factory=dict)  # version -> records


OWN_COLUMNS = ("outcome", "feedback_delay_s")


@dataclass(frozen=True)
class LogLayout:
    """What the reader needs to know about the model's inputs and outputs (from the package).

    ``classes``: a multiclass model's labels, in the order its probabilities are logged.
    ``text``: free-text inputs (strings without categories), read as their length in characters.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    positive_label: str = "1"
    task: str = "binary"
    classes: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    @property
    def measured(self) -> tuple[str, ...]:
        """The columns the window holds as numbers: numeric inputs, then text lengths."""
        return (*self.numeric, *self.text)

    def __post_init__(self) -> None:
        if self.task not in TASK_TYPES:
            raise UsageError(f"task type {self.task!r}: expected one of {', '.join(TASK_TYPES)}")
        if self.task == "multiclass" and len(self.classes) < 2:
            raise UsageError("a multiclass model needs its labels (task.labels) to read its log")
        taken = set(output_columns(self.task, len(self.classes))) | set(OWN_COLUMNS)
        clash = [c for c in (*self.numeric, *self.categorical, *self.text) if c in taken]
        if clash:
            raise UsageError(
                f"input column(s) {', '.join(clash)}: the monitoring window uses these names for "
                f"the model's outputs and feedback ({', '.join(sorted(taken))})"
            )

    @classmethod
    def from_package(cls, schema: dict[str, Any], spec: dict[str, Any]) -> LogLayout:
        """Columns from the package's input schema (``enum``: categorical); label from its spec."""
        props = schema["properties"]
        return cls(
            numeric=tuple(c for c, p in props.items() if "enum" not in p),
            categorical=tuple(c for c, p in props.items() if "enum" in p),
            positive_label=str(spec["positive_label"]),
        )


BINARY = LogLayout((), ())  # the outputs of a binary model, for reading a row on its own


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


NOT_JSON = "inputs are not valid JSON"
NOT_RECORDS = "inputs are not a non-empty JSON array of records"
OUTPUTS_NOT_JSON = "outputs are not valid JSON"
NO_PROBABILITIES = "outputs do not hold one probability per input record"
BAD_PROBABILITY = "a probability is not a number between 0 and 1"
NO_CLASS_PROBABILITIES = "outputs do not hold one list of class probabilities per input record"
CLASS_COUNT = "a list of class probabilities does not hold one per class"
NO_PREDICTIONS = "outputs do not hold one prediction per input record"
BAD_PREDICTION = "a prediction is not a finite number"
FEEDBACK_INDEX = "feedback names a record index its request does not have"
FEEDBACK_LABEL = "feedback outcome is not one of the model's labels"
FEEDBACK_NUMBER = "feedback outcome is not a finite number"
NUMBERS, TEXTS = {int, float, type(None)}, {str, type(None)}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(_text(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _later(new: Any, old: Any) -> bool:
    """Whether feedback time ``new`` is after ``old`` (ISO text or datetimes; unparsable: text order)."""
    try:
        return _time(new) > _time(old)
    except ValueError:
        return _text(new) > _text(old)


def _seconds(times: list[Any]) -> np.ndarray:
    """Epoch seconds of ISO texts (SQLite) or datetimes (PostgreSQL); NaN where unparsable."""
    values = [t.decode("utf-8", "replace") if isinstance(t, bytes) else t for t in times]
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce", format="ISO8601")
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)


@dataclass
class _Chunk:
    """Requests read from the log, not yet parsed (one entry per request; feedback by request)."""

    ids: list[Any] = field(default_factory=list)
    versions: list[Any] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    served: list[Any] = field(default_factory=list)
    feedback: list[tuple[int, tuple]] = field(default_factory=list)  # (request, feedback columns)
    size: int = 0  # bytes of JSON held


@dataclass
class _Parsed:
    """A chunk's records as columns; ``counts`` holds each request's records (0: unreadable)."""

    counts: np.ndarray
    numeric: dict[str, np.ndarray]
    categorical: dict[str, tuple[np.ndarray, list[Any]]]  # local codes (-1 missing), their values
    outputs: np.ndarray  # one value per record (binary, regression) or (records, classes)
    not_numbers: dict[str, int] = field(default_factory=dict)


def _arrow_schema(layout: LogLayout) -> Any:
    import pyarrow as pa

    record = pa.struct(
        [(c, pa.float64()) for c in layout.numeric]
        + [(c, pa.string()) for c in (*layout.categorical, *layout.text)]
    )
    labels = (LABEL, pa.list_(pa.string()))
    if layout.task == "binary":
        outputs = pa.struct([(PROBABILITY, pa.list_(pa.float64())), labels])
    elif layout.task == "multiclass":
        outputs = pa.struct([(PROBABILITIES, pa.list_(pa.list_(pa.float64()))), labels])
    else:
        outputs = pa.struct([(PREDICTION, pa.list_(pa.float64()))])
    return pa.schema([("i", pa.list_(record)), ("o", outputs)])


def _parse_fast(chunk: _Chunk, layout: LogLayout, schema: Any) -> _Parsed | None:
    """The whole chunk in one pass of Arrow's JSON reader; None when any row is unusual (a row
    that is not valid JSON or has another shape, an unexpected field, a string where a number
    belongs...): the careful per-row parse then finds and counts what is wrong."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    pairs = zip(chunk.inputs, chunk.outputs, strict=True)
    try:
        longest = max(map(len, chunk.inputs)) + max(map(len, chunk.outputs))
        if isinstance(chunk.inputs[0], bytes):  # SQLite
            lines = b"\n".join([b'{"i":' + i + b',"o":' + o + b"}" for i, o in pairs])
        else:  # PostgreSQL
            lines = "\n".join(['{"i":' + i + ',"o":' + o + "}" for i, o in pairs]).encode()
        table = pj.read_json(
            io.BytesIO(lines),
            # blocks of 4 MiB are parsed in parallel; a block must hold the longest line
            read_options=pj.ReadOptions(block_size=max(4 << 20, 2 * longest + 64)),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        ).combine_chunks()
    except (pa.ArrowException, ValueError, TypeError):  # ValueError: not UTF-8; TypeError: mixed types
        return None
    inputs, outputs = table.column("i").chunk(0), table.column("o").chunk(0)
    if table.num_rows != len(chunk.ids) or inputs.null_count or outputs.null_count:
        return None
    records, predicted = inputs.flatten(), outputs.field(OUTPUT_KEY[layout.task])
    counts = pc.list_value_length(inputs).to_numpy(zero_copy_only=False)
    if records.null_count or predicted.null_count or not counts.all():
        return None
    values = predicted.flatten()
    if values.null_count or not np.array_equal(
        pc.list_value_length(predicted).to_numpy(zero_copy_only=False), counts
    ):
        return None
    if layout.task == "multiclass":  # one list of k probabilities per record
        k = len(layout.classes)
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths.min() != k or lengths.max() != k):
            return None
        values = values.flatten()
        if values.null_count:
            return None
    output_np = values.to_numpy(zero_copy_only=False)
    if layout.task == "regression":
        if not np.isfinite(output_np).all():
            return None
    elif len(output_np) and (output_np.min() < 0 or output_np.max() > 1):
        return None
    if layout.task == "multiclass":
        output_np = output_np.reshape(-1, len(layout.classes))
    numeric = {c: records.field(c).to_numpy(zero_copy_only=False) for c in layout.numeric}
    for c in layout.text:  # free text: its length in characters (null: NaN)
        lengths = pc.cast(pc.utf8_length(records.field(c)), pa.float64())
        numeric[c] = lengths.to_numpy(zero_copy_only=False)
    categorical = {}
    for c in layout.categorical:
        encoded = pc.dictionary_encode(records.field(c))
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        categorical[c] = (codes, encoded.dictionary.to_pylist())
    return _Parsed(counts.astype(np.int64), numeric, categorical, output_np)


def _number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _check_outputs(values: Any, n: int, layout: LogLayout) -> str | None:
    """Why a request's logged outputs are not ``n`` of what the task predicts (None: they are)."""
    if layout.task == "regression":
        if type(values) is not list or len(values) != n:
            return NO_PREDICTIONS
        for v in values:
            if not _number(v) or not math.isfinite(v):
                return BAD_PREDICTION
        return None
    if layout.task == "multiclass":
        if type(values) is not list or len(values) != n:
            return NO_CLASS_PROBABILITIES
        k = len(layout.classes)
        for row in values:
            if type(row) is not list:
                return NO_CLASS_PROBABILITIES
            if len(row) != k:
                return CLASS_COUNT
            for p in row:
                if not _number(p) or not 0 <= p <= 1:
                    return BAD_PROBABILITY
        return None
    if type(values) is not list or len(values) != n:
        return NO_PROBABILITIES
    for p in values:
        if not _number(p) or not 0 <= p <= 1:
            return BAD_PROBABILITY
    return None


def _parse(
    inputs: Any, outputs: Any, layout: LogLayout = BINARY
) -> tuple[list[dict[str, Any]], list[Any]] | str:
    """A logged request's records and outputs, or the reason it cannot be read."""
    try:
        records = orjson.loads(inputs)
    except orjson.JSONDecodeError:  # also NULL
        return NOT_JSON
    if type(records) is not list or not records:
        return NOT_RECORDS
    for record in records:
        if type(record) is not dict:
            return NOT_RECORDS
    missing = {"binary": NO_PROBABILITIES, "multiclass": NO_CLASS_PROBABILITIES}
    try:
        values = orjson.loads(outputs)[OUTPUT_KEY[layout.task]]
    except orjson.JSONDecodeError:
        return OUTPUTS_NOT_JSON
    except (KeyError, TypeError, IndexError):  # not an object, or not the task's key
        return missing.get(layout.task, NO_PREDICTIONS)
    problem = _check_outputs(values, len(records), layout)
    return problem if problem is not None else (records, values)


def _parse_slow(chunk: _Chunk, layout: LogLayout, skip: Any) -> _Parsed:
    """Row by row (orjson): unreadable rows are reported through ``skip`` and left out."""
    records: list[dict[str, Any]] = []
    predicted: list[Any] = []
    counts = np.zeros(len(chunk.ids), dtype=np.int64)
    for k, (inputs, outputs) in enumerate(zip(chunk.inputs, chunk.outputs, strict=True)):
        parsed = _parse(inputs, outputs, layout)
        if isinstance(parsed, str):
            skip(parsed, chunk.ids[k])
            continue
        batch, values = parsed
        counts[k] = len(batch)
        records += batch
        predicted += values
    numeric, not_numbers = {}, {}
    for column in layout.numeric:
        values = [r.get(column) for r in records]
        if not set(map(type, values)) <= NUMBERS:
            bad = [i for i, v in enumerate(values) if type(v) not in NUMBERS]
            for i in bad:
                values[i] = None
            not_numbers[column] = len(bad)
        numeric[column] = np.array(values, dtype=float).reshape(len(values))
    for column in layout.text:
        texts = [r.get(column) for r in records]
        numeric[column] = np.array([len(v) if type(v) is str else np.nan for v in texts], dtype=float)
    categorical = {}
    for column in layout.categorical:
        values = [r.get(column) for r in records]
        if not set(map(type, values)) <= TEXTS:
            for i, v in enumerate(values):
                if type(v) not in TEXTS:
                    values[i] = orjson.dumps(v).decode()  # kept, so the schema check names it
        local: dict[Any, int] = {None: -1}
        for value in dict.fromkeys(values):  # first-appearance order, as Arrow's dictionary
            local.setdefault(value, len(local) - 1)
        codes = np.fromiter(map(local.__getitem__, values), dtype=np.int64, count=len(values))
        categorical[column] = (codes, list(local)[1:])
    outputs = np.array(predicted, dtype=float)
    if layout.task == "multiclass":
        outputs = outputs.reshape(-1, len(layout.classes))
    return _Parsed(counts, numeric, categorical, outputs, not_numbers)


class _WindowBuilder:
    """Accumulates the window's records chunk by chunk into compact per-column arrays."""

    def __init__(self, layout: LogLayout) -> None:
        self.layout = layout
        self.schema = _arrow_schema(layout)
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
        self.chunk = _Chunk()
        self.unreadable: dict[str, dict[str, Any]] = {}
        self.not_numbers: Counter[str] = Counter()
        self.versions: Counter[Any] = Counter()
        self.feedback_events = 0

    def skip(self, reason: str, request_id: Any) -> None:
        entry = self.unreadable.setdefault(reason, {"rows": 0, "examples": []})
        entry["rows"] += 1
        if len(entry["examples"]) < EXAMPLES:
            entry["examples"].append(_text(request_id)[:80])

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
        chunk, self.chunk = self.chunk, _Chunk()
        if not chunk.ids:
            return
        parsed = _parse_fast(chunk, self.layout, self.schema) or _parse_slow(chunk, self.layout, self.skip)
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

    def _outcomes(self, chunk: _Chunk, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
                if word is None or _later(at, word[0]) or (at == word[0] and feedback_id > word[1]):
                    last[i] = (at, feedback_id, label, request)
        positions = np.fromiter(last, dtype=np.int64, count=len(last))
        words = list(last.values())
        outcome[positions] = [w[2] for w in words]
        delay[positions] = _seconds([w[0] for w in words]) - _seconds([chunk.served[w[3]] for w in words])
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
        model_versions={_text(v): n for v, n in sorted(builder.versions.items())},
    )
