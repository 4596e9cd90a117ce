"""Read a window of the prediction log (SQLite or PostgreSQL) into compact columns, streaming.

The log (written by `graft serve`) keeps one row per request: ``inputs`` is a JSON array of
records, ``outputs`` a JSON object ``{"probability": [...], "label": [...]}``. Feedback rows
name a request and, for batch requests, the record's index (no index: every record of the
request). Every record becomes one row of the window.

Contract:

* Only the window's predictions are read (``created_at`` in ``[since, until)``), and only the
  feedback naming them (whenever it arrived: outcomes come after predictions), in one query,
  so the two are one consistent snapshot even while the server keeps writing.
* Memory is bounded by the window's compact columns (a float per numeric value, a small
  integer code per categorical value), not by the rows' JSON: rows are fetched and parsed in
  chunks of :data:`CHUNK_ROWS` records.
* A row that cannot be read (inputs or outputs not valid JSON, not the expected shape, a
  probability that is not a number in [0, 1]) is skipped and counted per reason with example
  request ids; so is a feedback row naming a record its request does not have. Nothing read
  from the log stops the run.
* The feedback for one record follows "last word wins" (latest ``created_at``, then
  ``feedback_id``); ``outcome`` is 1 for the model's positive label, else 0.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from graft.errors import GraftError, UsageError
from graft.monitoring.run import Window

CHUNK_ROWS = 20_000  # records parsed into columns at a time (and rows fetched per round trip)
EXAMPLES = 3  # request ids kept per reason a row could not be read

_SELECT = """
SELECT p.request_id, p.created_at, p.model_version, {inputs}, {outputs},
       f.feedback_id, f.record_index, f.created_at, f.outcome
FROM predictions AS p
LEFT JOIN feedback AS f ON f.request_id = p.request_id AND f.outcome IS NOT NULL
{where}
ORDER BY {order}
"""
# SQLite walks the table in rowid order (no sort); PostgreSQL sorts by the primary key. Either
# way the rows of one request (one per feedback event) arrive together.
SQLITE_SQL = (
    _SELECT.replace("{inputs}", "p.inputs").replace("{outputs}", "p.outputs").replace("{order}", "p.rowid")
)
POSTGRES_SQL = (
    _SELECT.replace("{inputs}", "p.inputs::text")
    .replace("{outputs}", "p.outputs::text")
    .replace("{order}", "p.request_id")
)


class LogReadError(GraftError):
    pass


@dataclass(frozen=True)
class LogLayout:
    """What the reader needs to know about the model's inputs (from the package)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    positive_label: str

    @classmethod
    def from_package(cls, schema: dict[str, Any], spec: dict[str, Any]) -> LogLayout:
        """Columns from the package's input schema (``enum``: categorical); label from its spec."""
        props = schema["properties"]
        return cls(
            numeric=tuple(c for c, p in props.items() if "enum" not in p),
            categorical=tuple(c for c, p in props.items() if "enum" in p),
            positive_label=str(spec["positive_label"]),
        )


DURATION_RE = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_time(value: str | None, flag: str, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 time (UTC when no zone is given) or a duration back from now: 90m, 24h, 7d."""
    if value is None:
        return None
    duration = DURATION_RE.match(value)
    if duration:
        amount, unit = duration.groups()
        return (now or datetime.now(UTC)) - timedelta(**{UNITS[unit]: int(amount)})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{flag} {value!r}: expected an ISO 8601 time such as 2026-11-27T10:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
def _rows(url: str, since: datetime | None, until: datetime | None) -> Iterator[Iterable[tuple]]:
    """The window's rows (see the SQL above), fetched in chunks; errors name the log."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
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
            yield _chunked(conn.execute(SQLITE_SQL.format(where=where), text_args), url, sqlite3.Error)
        except sqlite3.Error as exc:
            raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None
        finally:
            conn.close()
        return
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        where, args = _where(since, until, "%s")
        try:
            with psycopg.connect(url) as conn, conn.cursor(name="graft_monitor_window") as cur:
                cur.itersize = CHUNK_ROWS
                cur.execute(POSTGRES_SQL.format(where=where), args)
                yield _chunked(cur, url, psycopg.Error)
        except psycopg.Error as exc:
            raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None
        return
    raise UsageError(f"--log-db {url!r}: expected sqlite:///PATH or postgresql://...")


def _chunked(cursor: Any, url: str, error: type[Exception]) -> Iterator[tuple]:
    try:
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield from rows
    except error as exc:
        raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None


class _Unreadable(Exception):
    pass


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(_text(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse(inputs: Any, outputs: Any) -> tuple[list[dict[str, Any]], list[float]]:
    try:
        records = orjson.loads(inputs)
    except orjson.JSONDecodeError:
        raise _Unreadable("inputs are not valid JSON") from None
    if not isinstance(records, list) or not records or not all(type(r) is dict for r in records):
        raise _Unreadable("inputs are not a non-empty JSON array of records")
    try:
        out = orjson.loads(outputs)
    except orjson.JSONDecodeError:
        raise _Unreadable("outputs are not valid JSON") from None
    probs = out.get("probability") if isinstance(out, dict) else None
    if not isinstance(probs, list) or len(probs) != len(records):
        raise _Unreadable("outputs do not hold one probability per input record")
    for p in probs:
        if type(p) not in (float, int) or not 0 <= p <= 1:
            raise _Unreadable("a probability is not a number between 0 and 1")
    return records, probs


class _WindowBuilder:
    """Accumulates parsed records chunk by chunk into compact per-column arrays."""

    def __init__(self, layout: LogLayout) -> None:
        self.layout = layout
        self.positive = layout.positive_label
        self.numeric_parts: dict[str, list[np.ndarray]] = {c: [] for c in layout.numeric}
        self.code_parts: dict[str, list[np.ndarray]] = {c: [] for c in layout.categorical}
        self.categories: dict[str, dict[Any, int]] = {c: {} for c in layout.categorical}
        self.float_parts: dict[str, list[np.ndarray]] = {"proba": [], "outcome": [], "feedback_delay_s": []}
        self.records: list[dict[str, Any]] = []
        self.proba: list[float] = []
        self.outcome: list[float] = []
        self.delay: list[float] = []
        self.unreadable: dict[str, dict[str, Any]] = {}
        self.not_numbers: Counter[str] = Counter()
        self.versions: Counter[Any] = Counter()
        self.feedback_events = 0

    def skip(self, reason: str, request_id: Any) -> None:
        entry = self.unreadable.setdefault(reason, {"rows": 0, "examples": []})
        entry["rows"] += 1
        if len(entry["examples"]) < EXAMPLES:
            entry["examples"].append(_text(request_id)[:80])

    def add(self, head: tuple, feedback: list[tuple]) -> None:
        request_id, created_at, version, inputs, outputs = head
        try:
            records, probs = _parse(inputs, outputs)
        except _Unreadable as exc:
            self.skip(str(exc), request_id)
            return
        n = len(records)
        self.versions[version] += n
        outcome, delay = [np.nan] * n, [np.nan] * n
        if feedback:
            self._feedback(request_id, created_at, n, feedback, outcome, delay)
        self.records += records
        self.proba += probs
        self.outcome += outcome
        self.delay += delay
        if len(self.records) >= CHUNK_ROWS:
            self.flush()

    def _feedback(
        self,
        request_id: Any,
        created_at: Any,
        n: int,
        feedback: list[tuple],
        outcome: list[float],
        delay: list[float],
    ) -> None:
        latest: list[tuple[datetime, str] | None] = [None] * n
        for feedback_id, index, at, value in feedback:
            self.feedback_events += 1
            if index is not None and not 0 <= index < n:
                self.skip("feedback names a record index its request does not have", request_id)
                continue
            try:
                key = (_time(at), _text(feedback_id))
            except ValueError:
                self.skip("feedback time is not an ISO 8601 time", request_id)
                continue
            label = 1.0 if _text(value) == self.positive else 0.0
            for i in range(n) if index is None else (index,):
                if latest[i] is None or key > latest[i]:  # type: ignore[operator]
                    latest[i], outcome[i] = key, label
        try:
            served = _time(created_at)
        except ValueError:
            return
        for i, key in enumerate(latest):
            if key is not None:
                delay[i] = (key[0] - served).total_seconds()

    def flush(self) -> None:
        if not self.records:
            return
        records = self.records
        for column in self.layout.numeric:
            values = [r.get(column) for r in records]
            bad = [i for i, v in enumerate(values) if v is not None and type(v) not in (int, float)]
            for i in bad:
                values[i] = None
            self.not_numbers[column] += len(bad)
            self.numeric_parts[column].append(np.array(values, dtype=float))
        for column in self.layout.categorical:
            values = [r.get(column) for r in records]
            for i, v in enumerate(values):
                if v is not None and type(v) is not str:
                    values[i] = orjson.dumps(v).decode()  # kept, so the schema check names it
            codes, uniques = pd.factorize(np.array(values, dtype=object))
            known = self.categories[column]
            mapping = np.array([known.setdefault(u, len(known)) for u in uniques] + [-1], dtype=np.int32)
            self.code_parts[column].append(mapping[codes])  # code -1 (missing) maps to the -1 appended
        for name, values in (
            ("proba", self.proba),
            ("outcome", self.outcome),
            ("feedback_delay_s", self.delay),
        ):
            self.float_parts[name].append(np.array(values, dtype=float))
        self.records, self.proba, self.outcome, self.delay = [], [], [], []

    def frame(self) -> pd.DataFrame:
        self.flush()
        columns: dict[str, Any] = {}
        for column in self.layout.numeric:
            columns[column] = _concat(self.numeric_parts.pop(column), np.float64)
        for column in self.layout.categorical:
            codes = _concat(self.code_parts.pop(column), np.int32)
            categories = list(self.categories[column])
            columns[column] = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
        for name in ("proba", "outcome", "feedback_delay_s"):
            columns[name] = _concat(self.float_parts.pop(name), np.float64)
        return pd.DataFrame(columns, copy=False)


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _requests(rows: Iterable[tuple]) -> Iterator[tuple[tuple, list[tuple]]]:
    """Group the joined rows by request: (prediction columns, its feedback rows)."""
    head: tuple | None = None
    feedback: list[tuple] = []
    for row in rows:
        if head is None or row[0] != head[0]:
            if head is not None:
                yield head, feedback
            head, feedback = row[:5], []
        if row[5] is not None:
            feedback.append(row[5:])
    if head is not None:
        yield head, feedback


def read_window(url: str, since: str | None, until: str | None, layout: LogLayout) -> Window:
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    builder = _WindowBuilder(layout)
    with _rows(url, start, end) as rows:
        for head, feedback in _requests(rows):
            builder.add(head, feedback)
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
