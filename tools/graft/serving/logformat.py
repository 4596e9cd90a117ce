"""The prediction log's format: its tables, its URLs and the keys of a row's ``outputs``.

The one owner of what `graft serve` writes (:mod:`graft.serving.predlog`) and `graft monitor`
reads (:mod:`graft.monitoring.logreader`), so the two cannot disagree. Pure Python, no imports
beyond graft's errors: the command line and the monitor load it without a database driver.

Tables (:data:`TABLES`): ``predictions`` holds one row per request, ``feedback`` one row per
feedback event. Their columns are declared once; :func:`schema_sql` spells them for SQLite
(times as ISO text, JSON as text) or PostgreSQL (``TIMESTAMPTZ``, ``JSONB``).

Outputs (:data:`OUTPUT_KEY`): a row's ``outputs`` is a JSON object of per-record lists, keyed
as the task predicts: binary ``{"probability": [p], "label": [l]}``, multiclass
``{"probabilities": [[p per class]], "label": [l]}``, regression ``{"prediction": [v]}``.

URLs (:func:`parse_url`): ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
``postgresql://user@host:port/dbname`` (``postgres://`` too); anything else is a usage error
naming ``--log-db``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from graft.core.errors import GraftError, UsageError

PROBABILITY = "probability"
PROBABILITIES = "probabilities"
PREDICTION = "prediction"
LABEL = "label"
OUTPUT_KEY = {"binary": PROBABILITY, "multiclass": PROBABILITIES, "regression": PREDICTION}
"""The key of a row's ``outputs`` holding the model's scores, per task type."""

Dialect = Literal["sqlite", "postgresql"]
TIME, JSON = "<time>", "<json>"  # column types that differ per dialect
_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {TIME: "TEXT", JSON: "TEXT"},
    "postgresql": {TIME: "TIMESTAMPTZ", JSON: "JSONB"},
}
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "predictions": (
        ("request_id", "TEXT PRIMARY KEY"),
        ("created_at", f"{TIME} NOT NULL"),
        ("model_version", "TEXT NOT NULL"),
        ("n_records", "INTEGER NOT NULL"),
        ("inputs", f"{JSON} NOT NULL"),
        ("outputs", f"{JSON} NOT NULL"),
    ),
    "feedback": (
        ("feedback_id", "TEXT PRIMARY KEY"),
        ("request_id", "TEXT NOT NULL"),
        ("record_index", "INTEGER"),
        ("created_at", f"{TIME} NOT NULL"),
        ("outcome", "TEXT"),
        ("action", "TEXT"),
    ),
}
"""Each table's columns in order (an insert gives every column, in this order)."""
INDEXES = ("CREATE INDEX IF NOT EXISTS feedback_request_id ON feedback (request_id)",)

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def schema_sql(dialect: Dialect) -> list[str]:
    """The statements creating the log's tables and indexes (idempotent) in ``dialect``."""
    types = _TYPES[dialect]
    statements = []
    for table, columns in TABLES.items():
        spelt = []
        for name, kind in columns:
            for placeholder, real in types.items():
                kind = kind.replace(placeholder, real)
            spelt.append(f"{name} {kind}")
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(spelt)})")
    return [*statements, *INDEXES]


def insert_sql(table: str, placeholder: str, casts: dict[str, str] | None = None) -> str:
    """``INSERT INTO table VALUES (...) ON CONFLICT DO NOTHING`` with one ``placeholder`` per
    column (``casts``: a suffix per column, e.g. ``::jsonb``): a replayed insert is a no-op."""
    casts = casts or {}
    values = ", ".join(placeholder + casts.get(name, "") for name, _ in TABLES[table])
    return f"INSERT INTO {table} VALUES ({values}) ON CONFLICT DO NOTHING"


class LogError(GraftError):
    """The prediction log cannot be opened (bad URL, unreachable database)."""


class LogUrlError(LogError, UsageError):
    """A ``--log-db`` URL graft does not read (a usage error)."""


@dataclass(frozen=True)
class LogUrl:
    """A parsed ``--log-db``: SQLite with its file path, or PostgreSQL with its URL."""

    dialect: Dialect
    url: str
    path: Path | None = None  # SQLite only


def parse_url(url: str) -> LogUrl:
    """``url`` as a :class:`LogUrl`, or :class:`LogUrlError` naming ``--log-db`` and what is accepted."""
    if url.startswith(SQLITE_PREFIX):
        path = url.removeprefix(SQLITE_PREFIX)
        if not path:
            raise LogUrlError(f"--log-db {url}: no file path after {SQLITE_PREFIX}")
        from graft.core.fsio import os_path_problem

        problem = os_path_problem(path)
        if problem is not None:
            raise LogUrlError(f"--log-db: {problem}")
        return LogUrl("sqlite", url, Path(path))
    if url.startswith(POSTGRES_PREFIXES):
        return LogUrl("postgresql", url)
    raise LogUrlError(f"--log-db {url!r}: expected {SQLITE_PREFIX}PATH or postgresql://USER@HOST:PORT/DB")
