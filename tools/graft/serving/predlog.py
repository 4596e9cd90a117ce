"""The prediction log: every served prediction and every feedback event, in SQLite or PostgreSQL.

Writes go through one background writer thread that drains its queue, inserting whatever has
accumulated in one transaction: under load this batches commits (group commit); when idle each
row is committed at once. Two durabilities (``graft serve --log-durability``):

* ``async`` (the default): the request handler puts its row on the queue (microseconds) and is
  answered at once. A crash (SIGKILL, power loss) loses the rows queued but not yet committed,
  typically the last few milliseconds of traffic.
* ``commit``: the handler awaits its row's commit (:meth:`PredictionLog.record`) and is answered
  only then, so a crash of the server process loses no acknowledged row. Concurrent requests
  share one transaction: the writer takes everything queued, commits it and settles each
  waiting request's future (one wake-up of the event loop per transaction). When the commit
  fails (after one retry on a fresh connection) every request of that transaction gets
  :class:`LogUnavailable` (the server answers 503 naming the cause) and none of its rows is
  kept; a full queue (``LOG_QUEUE_ROWS`` in :mod:`graft.core.limits`) is refused the same way.

  How far a commit reaches: SQLite keeps WAL mode with ``synchronous=NORMAL``: a commit has
  written its WAL frames to the operating system before it returns, so it survives the graft
  process being killed; an OS crash or power loss can roll back the last transactions.
  ``FULL`` (an fsync of the WAL per transaction) would survive those too, but cost a third to
  a half of the throughput of 4 concurrent clients on the shared disk this was measured on
  (benchmarks/bench_serve.py; figures in the README): SQLite is the single-host log, and
  PostgreSQL is the one for power-loss durability: its commit returns once the server has
  flushed its WAL (a session whose ``synchronous_commit`` is ``off`` is switched to ``on``).

In both modes :meth:`PredictionLog.close` (called on graceful shutdown: SIGINT/SIGTERM) drains
the queue and commits before returning, so a restart loses nothing. Each row's primary key (the
request id, or the feedback id) makes a replayed insert a no-op, so a batch retried after a
transient database error is never duplicated. (A commit whose acknowledgement from the
database is lost is retried as a no-op; should the retry fail too, its requests get 503 although
their rows were kept: the one case where a refused request has a row.)

Rows (tables, output keys and URLs are owned by :mod:`graft.serving.logformat`):
``predictions`` holds one row per request: ``inputs``, a JSON array of the validated
records; ``outputs``, a JSON object of lists with one entry per record, as the package's task
predicts (:meth:`graft.serving.model.ServingModel.output_columns`). ``feedback`` holds one
row per event: ``outcome`` is a label of the task, or for regression the observed number's
JSON text (``"151.5"``). SQLite logs are in WAL mode; PostgreSQL is reached with psycopg 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson

from graft.core.errors import GraftError
from graft.core.limits import LOG_QUEUE_ROWS
from graft.serving import LOG_DURABILITIES
from graft.serving.logdb import (
    Backend,
    FeedbackRow,
    PostgresBackend,
    PredictionRow,
    SQLiteBackend,
    backend_for,
)
from graft.serving.logformat import LogError

__all__ = [
    "Backend",
    "DiscardLog",
    "FeedbackRow",
    "LogError",
    "LogUnavailable",
    "PostgresBackend",
    "PredictionLog",
    "PredictionRow",
    "Row",
    "SQLiteBackend",
    "backend_for",
    "now",
    "records_json",
]

logger = logging.getLogger("graft.serving")

ASYNC, COMMIT = DURABILITIES = LOG_DURABILITIES

BATCH_MAX = 1000
RETRY_SECONDS = 0.5
CLOSE_RETRIES = 10


class LogUnavailable(GraftError):
    """``commit`` durability: a row could not be committed (or queued); the request is refused."""


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


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (PostgreSQL adds CONTEXT lines), for logs and 503s."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


_STOP = object()

Row = PredictionRow | FeedbackRow


def _settle(waiters: list[asyncio.Future[None]], error: str | None) -> None:
    """On the waiters' event loop: each gets the commit's outcome (unless it gave up waiting)."""
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(LogUnavailable(error))


class PredictionLog:
    """Queue + background writer over a :class:`Backend`; see the module docstring."""

    def __init__(self, url: str, durability: str = ASYNC) -> None:
        if durability not in DURABILITIES:
            raise LogError(f"--log-durability {durability!r}: expected one of {', '.join(DURABILITIES)}")
        queue_rows = LOG_QUEUE_ROWS.value()  # a bad override is refused before the log is touched
        self.url = url
        self.durability = durability
        self.backend = backend_for(url, durable=durability == COMMIT)
        self._writer_conn = self.backend.connect()
        try:
            self.backend.create_schema(self._writer_conn)
        except Exception as exc:
            raise LogError(f"cannot create the log tables in {self.display_url}: {exc}") from None
        self._reader_conn = self.backend.connect()
        self._reader_lock = threading.Lock()
        # items: a row (async), or (row, the future its request awaits) (commit); or _STOP
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_rows)
        self._pending: dict[str, int] = {}  # async: request id -> n records, queued, not committed
        self._pending_lock = threading.Lock()
        self.error: str | None = None
        self.written = 0  # rows handled by the writer (committed, refused or given up)
        self.transactions = 0  # transactions committed (rows / transactions: the group commit)
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

    async def record(self, row: Row) -> None:
        """Log ``row`` as the durability says: ``async``, queue it and return at once;
        ``commit``, return once it is committed, or raise :class:`LogUnavailable` (nothing of
        it kept) when it cannot be queued or committed."""
        if self.durability == ASYNC:
            if isinstance(row, PredictionRow):
                self.record_prediction(row)
            else:
                self.record_feedback(row)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._count_lock:  # nothing is queued behind close()'s stop marker
            if self._closed:
                raise LogUnavailable(
                    "prediction log: the server is shutting down; nothing of this request was logged"
                )
            try:
                self._queue.put_nowait((row, waiter))
            except queue.Full:
                raise LogUnavailable(
                    f"prediction log: {self._queue.maxsize} rows are already waiting to be "
                    f"committed ({LOG_QUEUE_ROWS.variable}); nothing of this request was logged: "
                    "retry it"
                ) from None
            self._enqueued += 1
        await waiter

    def record_prediction(self, row: PredictionRow) -> None:
        """``async`` durability: queue the row (blocking while the queue is full)."""
        if self._closed:
            raise RuntimeError("prediction log is closed")
        with self._pending_lock:
            self._pending[row.request_id] = row.n_records
        self._put(row)

    def record_feedback(self, row: FeedbackRow) -> None:
        """``async`` durability: queue the row (blocking while the queue is full)."""
        if self._closed:
            raise RuntimeError("prediction log is closed")
        self._put(row)

    def _put(self, row: Row) -> None:
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
            if not batch:
                continue
            if self.durability == ASYNC:
                self._write(batch, retries=CLOSE_RETRIES if stopping else None)
            else:
                self._commit(batch)

    def _commit(self, batch: list[tuple[Row, asyncio.Future[None]]]) -> None:
        """``commit`` durability: one transaction (retried once on a fresh connection), then
        every waiting request learns the outcome."""
        rows = [row for row, _ in batch]
        error: str | None = None
        try:
            lost = self._write(rows, retries=1, pause=0.0)
        except Exception as exc:  # the writer must settle its waiters whatever happens
            lost, self.error = len(rows), one_line(exc)
        if lost:
            error = (
                f"prediction log: the commit failed ({self.error}); nothing of this request was "
                "logged: retry it"
            )
            logger.error("prediction log: commit failed; %d request(s) answered 503", len(batch))
        loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, waiter in batch:
            loops.setdefault(waiter.get_loop(), []).append(waiter)
        for loop, waiters in loops.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, waiters, error)

    def _write(self, batch: list[Any], retries: int | None, pause: float = RETRY_SECONDS) -> int:
        """Commit ``batch``, retrying ``retries`` times (None: until it works) on a fresh
        connection; the number of rows given up (0 or all of them)."""
        predictions = [x for x in batch if isinstance(x, PredictionRow)]
        feedback = [x for x in batch if isinstance(x, FeedbackRow)]
        attempt = lost = 0
        while True:
            try:
                self.backend.write(self._writer_conn, predictions, feedback)
                self.error = None
                self.transactions += 1
                break
            except Exception as exc:
                attempt += 1
                self.error = one_line(exc)
                if retries is not None and attempt > retries:
                    lost = len(batch)
                    if self.durability == ASYNC:
                        logger.error("prediction log: gave up; %d log row(s) lost", lost)
                    break
                logger.warning("prediction log write failed (%s); retrying", self.error)
                time.sleep(pause)
                with contextlib.suppress(Exception):
                    self._writer_conn.close()
                with contextlib.suppress(Exception):
                    self._writer_conn = self.backend.connect()
        with self._count_lock:
            self.written += len(batch)
        if self.durability == ASYNC:
            with self._pending_lock:
                for row in predictions:
                    self._pending.pop(row.request_id, None)
        return lost

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
        with self._count_lock:
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
        self.durability = ASYNC
        self.error = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        return True

    def record_prediction(self, row: PredictionRow) -> None:
        pass

    def record_feedback(self, row: FeedbackRow) -> None:
        pass

    async def record(self, row: Row) -> None:
        pass

    def request_records(self, request_id: str) -> int | None:
        return None

    def flush(self, timeout: float = 30.0) -> bool:
        return True

    def close(self, timeout: float = 60.0) -> None:
        self._closed = True
