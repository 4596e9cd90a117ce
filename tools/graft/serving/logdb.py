"""The prediction log's rows and its databases: :class:`PredictionRow`, :class:`FeedbackRow`,
and one :class:`Backend` per dialect (SQLite in WAL mode, PostgreSQL through psycopg 3) that
connects, creates the tables and writes a batch in one transaction; :func:`backend_for` picks
one from a ``--log-db`` URL. The tables and URLs are :mod:`graft.serving.logformat`'s; the
writer thread and the durabilities are :mod:`graft.serving.predlog`'s."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from graft.serving.logformat import LogError, insert_sql, parse_url, schema_sql


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

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # survives a killed process (module docstring)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def create_schema(self, conn: sqlite3.Connection) -> None:
        conn.executescript("".join(f"{statement};\n" for statement in schema_sql("sqlite")))

    def write(
        self, conn: sqlite3.Connection, predictions: list[PredictionRow], feedback: list[FeedbackRow]
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if predictions:
                conn.executemany(
                    insert_sql("predictions", "?"),
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
                    insert_sql("feedback", "?"),
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

    def __init__(self, url: str, durable: bool = False) -> None:
        self.url = url
        self.durable = durable

    def connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise LogError("a postgresql:// log needs psycopg: pip install 'psycopg[binary]'") from None
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            if self.durable:
                setting = conn.execute("SHOW synchronous_commit").fetchone()
                if setting is not None and setting[0] == "off":
                    conn.execute("SET synchronous_commit TO on")  # a commit returns once on disk
            return conn
        except psycopg.Error as exc:
            raise LogError(f"cannot connect to the PostgreSQL log: {exc}") from None

    def create_schema(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(4711)")  # two servers starting at once
            for statement in schema_sql("postgresql"):
                conn.execute(statement)

    def write(self, conn: Any, predictions: list[PredictionRow], feedback: list[FeedbackRow]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            if predictions:
                cur.executemany(
                    insert_sql("predictions", "%s", {"inputs": "::jsonb", "outputs": "::jsonb"}),
                    [
                        (p.request_id, p.created_at, p.model_version, p.n_records, p.inputs, p.outputs)
                        for p in predictions
                    ],
                )
            if feedback:
                cur.executemany(
                    insert_sql("feedback", "%s"),
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


def backend_for(url: str, durable: bool = False) -> Backend:
    """``sqlite:///path`` or ``postgresql://...`` -> a backend; anything else is refused.

    ``durable``: PostgreSQL commits wait for the server's WAL flush, whatever the session's default.
    """
    parsed = parse_url(url)
    if parsed.path is not None:
        return SQLiteBackend(parsed.path)
    return PostgresBackend(url, durable)
