"""The prediction log: every served prediction and every feedback event, in SQLite or PostgreSQL.

Writes go through one background writer thread: the request handler puts a row on a queue
(microseconds) and the writer drains the queue, inserting whatever has accumulated in one
transaction. Under load this batches commits; when idle each row is committed at once.

Durability: :meth:`PredictionLog.close` (called on graceful shutdown: SIGINT/SIGTERM) drains the
queue and commits before returning, so a restart loses nothing. A crash (SIGKILL, power loss)
loses at most the rows queued but not yet committed, typically the last few milliseconds of
traffic. Each row's primary key (the request id, or the feedback id) makes a replayed insert a
no-op, so a batch retried after a transient database error is never duplicated.

Rows: ``predictions`` holds one row per request: ``inputs``, a JSON array of the validated
records; ``outputs``, a JSON object of lists with one entry per record, as the package's task
predicts (:meth:`graft.serving.model.ServingModel.output_columns`): binary
``{"probability": [p], "label": [l]}``, multiclass ``{"probabilities": [[p per class, in the
order of task.labels]], "label": [l]}``, regression ``{"prediction": [v]}``. ``feedback``
holds one row per event: ``outcome`` is a label of the task, or for regression the observed
number's JSON text (``"151.5"``).

URLs: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (WAL mode) or
``postgresql://user@host:port/dbname`` (psycopg 3).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import orjson

from graft.core.errors import GraftError

logger = logging.getLogger("graft.serving")

BATCH_MAX = 1000
QUEUE_MAX = 100_000
RETRY_SECONDS = 0.5
CLOSE_RETRIES = 10


class LogError(GraftError):
    """The prediction log cannot be opened (bad URL, unreachable database)."""


@dataclass(frozen=True)
class PredictionRow:
    request_id: str
    created_at: datetime
    model_version: str
    n_records: int
    inputs: str  # JSON array of the validated input records (see records_json)
    outputs: str  # JSON object of per-record lists, as the task predicts (see the module docstring)


@dataclass(frozen=True)
class FeedbackRow:
    feedback_id: str
    request_id: str
    record_index: int | None
    created_at: datetime
    outcome: str | None  # a label of the task, or (regression) the observed number's JSON text
    action: str | None


class Backend:
    """One database connection per role (writer thread, readers); SQL differs per dialect."""

    name = "base"

    def connect(self) -> Any:
        raise NotImplementedError

    def create_schema(self, conn: Any) -> None:
        raise NotImplementedError

    def write(self, conn: Any, predictions: list[PredictionRow], feedback: list[FeedbackRow]) -> None:
        raise NotImplementedError

    def count_records(self, conn: Any, request_id: str) -> int | None:
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS predictions (
        request_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        model_version TEXT NOT NULL,
        n_records INTEGER NOT NULL,
        inputs TEXT NOT NULL,
        outputs TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS feedback (
        feedback_id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        record_index INTEGER,
        created_at TEXT NOT NULL,
        outcome TEXT,
        action TEXT
    );
    CREATE INDEX IF NOT EXISTS feedback_request_id ON feedback (request_id);
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def create_schema(self, conn: sqlite3.Connection) -> None:
        conn.executescript(self.SCHEMA)

    def write(
        self, conn: sqlite3.Connection, predictions: list[PredictionRow], feedback: list[FeedbackRow]
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if predictions:
                conn.executemany(
                    "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [
                        (
                            p.request_id,
                            p.created_at.isoformat(),
                            p.model_version,
                            p.n_records,
                            p.inputs,
                            p.outputs,
                        )
                        for p in predictions
                    ],
                )
            if feedback:
                conn.executemany(
                    "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [
                        (
                            f.feedback_id,
                            f.request_id,
                            f.record_index,
                            f.created_at.isoformat(),
                            f.outcome,
                            f.action,
                        )
                        for f in feedback
                    ],
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def count_records(self, conn: sqlite3.Connection, request_id: str) -> int | None:
        row = conn.execute("SELECT n_records FROM predictions WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else int(row[0])


class PostgresBackend(Backend):
    name = "postgresql"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS predictions (
        request_id TEXT PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL,
        model_version TEXT NOT NULL,
        n_records INTEGER NOT NULL,
        inputs JSONB NOT NULL,
        outputs JSONB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS feedback (
        feedback_id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        record_index INTEGER,
        created_at TIMESTAMPTZ NOT NULL,
        outcome TEXT,
        action TEXT
    );
    CREATE INDEX IF NOT EXISTS feedback_request_id ON feedback (request_id);
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise LogError("a postgresql:// log needs psycopg: pip install 'psycopg[binary]'") from None
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise LogError(f"cannot connect to the PostgreSQL log: {exc}") from None

    def create_schema(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(4711)")  # two servers starting at once
            for statement in filter(str.strip, self.SCHEMA.split(";")):
                conn.execute(statement)

    def write(self, conn: Any, predictions: list[PredictionRow], feedback: list[FeedbackRow]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            if predictions:
                cur.executemany(
                    "INSERT INTO predictions VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb)"
                    " ON CONFLICT DO NOTHING",
                    [
                        (p.request_id, p.created_at, p.model_version, p.n_records, p.inputs, p.outputs)
                        for p in predictions
                    ],
                )
            if feedback:
                cur.executemany(
                    "INSERT INTO feedback VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [
                        (f.feedback_id, f.request_id, f.record_index, f.created_at, f.outcome, f.action)
                        for f in feedback
                    ],
                )

    def count_records(self, conn: Any, request_id: str) -> int | None:
        row = conn.execute(
            "SELECT n_records FROM predictions WHERE request_id = %s", (request_id,)
        ).fetchone()
        return None if row is None else int(row[0])


def backend_for(url: str) -> Backend:
    """``sqlite:///path`` or ``postgresql://...`` -> a backend; anything else is refused."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise LogError(f"--log-db {url}: no file path after sqlite:///")
        return SQLiteBackend(Path(path))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(url)
    raise LogError(f"--log-db {url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


def records_json(
    columns: Mapping[str, Sequence[Any]], n: int, complete: list[dict[str, Any]] | None = None
) -> str:
    """The ``inputs`` of a log row: ``n`` validated records as a JSON array.

    Canonical: one object per record holding every field of ``columns``, keys sorted, ``null``
    for a missing value, values as scored; whatever the request's key order, omissions or
    spelling of strings. ``complete`` may pass the parsed records themselves when each holds
    exactly those fields (no more, none missing): they are then written as they are, keys
    sorted, without being rebuilt from the columns (the same text, several times faster).
    """
    if complete is not None:
        return orjson.dumps(complete, option=orjson.OPT_SORT_KEYS).decode()
    names = sorted(columns)
    if n == 1:
        return orjson.dumps([{name: columns[name][0] for name in names}]).decode()
    rows = zip(*(columns[name] for name in names), strict=True)
    return orjson.dumps(list(map(dict, map(zip, repeat(names), rows)))).decode()


def now() -> datetime:
    return datetime.now(UTC)


_STOP = object()


class PredictionLog:
    """Queue + background writer over a :class:`Backend`; see the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = backend_for(url)
        self._writer_conn = self.backend.connect()
        try:
            self.backend.create_schema(self._writer_conn)
        except Exception as exc:
            raise LogError(f"cannot create the log tables in {self.display_url}: {exc}") from None
        self._reader_conn = self.backend.connect()
        self._reader_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_MAX)
        self._pending: dict[str, int] = {}  # request id -> n records, queued but not yet committed
        self._pending_lock = threading.Lock()
        self.error: str | None = None
        self.written = 0  # rows handled by the writer (committed, or given up after retries)
        self._enqueued = 0
        self._count_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="graft-predlog", daemon=True)
        self._thread.start()

    @property
    def display_url(self) -> str:
        """The URL without a password."""
        if "@" in self.url and "://" in self.url:
            scheme, rest = self.url.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
        return self.url

    @property
    def healthy(self) -> bool:
        return self.error is None and self._thread.is_alive()

    # --- producers (request handlers) -------------------------------------------------

    def record_prediction(self, row: PredictionRow) -> None:
        if self._closed:
            raise RuntimeError("prediction log is closed")
        with self._pending_lock:
            self._pending[row.request_id] = row.n_records
        self._put(row)

    def record_feedback(self, row: FeedbackRow) -> None:
        if self._closed:
            raise RuntimeError("prediction log is closed")
        self._put(row)

    def _put(self, row: PredictionRow | FeedbackRow) -> None:
        with self._count_lock:
            self._enqueued += 1
        self._queue.put(row)

    def request_records(self, request_id: str) -> int | None:
        """How many records the request held, or None when no prediction has that id."""
        with self._pending_lock:
            n = self._pending.get(request_id)
        if n is not None:
            return n
        with self._reader_lock:
            n = self.backend.count_records(self._reader_conn, request_id)
        if n is None:  # committed between the two look-ups
            with self._pending_lock:
                n = self._pending.get(request_id)
            if n is None:
                with self._reader_lock:
                    n = self.backend.count_records(self._reader_conn, request_id)
        return n

    # --- the writer ----------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if any(item is _STOP for item in batch):
                stopping = True
                batch = [item for item in batch if item is not _STOP]
                # drain what arrived before the stop marker
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        batch.append(item)
            if batch:
                self._write(batch, retries=CLOSE_RETRIES if stopping else None)

    def _write(self, batch: list[Any], retries: int | None) -> None:
        predictions = [x for x in batch if isinstance(x, PredictionRow)]
        feedback = [x for x in batch if isinstance(x, FeedbackRow)]
        attempt = 0
        while True:
            try:
                self.backend.write(self._writer_conn, predictions, feedback)
                self.error = None
                break
            except Exception as exc:
                attempt += 1
                self.error = f"{type(exc).__name__}: {exc}"
                logger.warning("prediction log write failed (%s); retrying", self.error)
                if retries is not None and attempt > retries:
                    logger.error("prediction log: gave up; %d log row(s) lost", len(batch))
                    break
                time.sleep(RETRY_SECONDS)
                with contextlib.suppress(Exception):
                    self._writer_conn.close()
                with contextlib.suppress(Exception):
                    self._writer_conn = self.backend.connect()
        with self._count_lock:
            self.written += len(batch)
        with self._pending_lock:
            for row in predictions:
                self._pending.pop(row.request_id, None)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is committed (tests, benchmarks)."""
        with self._count_lock:
            target = self._enqueued
        deadline = time.monotonic() + timeout
        while self.written < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.002)
        return True

    def close(self, timeout: float = 60.0) -> None:
        """Commit everything queued, stop the writer and close the connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        for conn in (self._writer_conn, self._reader_conn):
            with contextlib.suppress(Exception):
                conn.close()


class DiscardLog(PredictionLog):
    """A log that keeps nothing: for generating the OpenAPI document without a database."""

    def __init__(self) -> None:  # no backend, no writer thread
        self.url = "discard:"
        self.error = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        return True

    def record_prediction(self, row: PredictionRow) -> None:
        pass

    def record_feedback(self, row: FeedbackRow) -> None:
        pass

    def request_records(self, request_id: str) -> int | None:
        return None

    def flush(self, timeout: float = 30.0) -> bool:
        return True

    def close(self, timeout: float = 60.0) -> None:
        self._closed = True
