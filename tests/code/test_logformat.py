"""The prediction log's format has one owner: the writer (serving) and the reader (monitoring)
create, insert and parse URLs through graft.serving.logformat, and refuse a bad URL alike."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graft.core.errors import ExitCode
from graft.monitoring.logreader import BINARY, LogLayout, read_window
from graft.serving.logformat import (
    OUTPUT_KEY,
    LogError,
    LogUrlError,
    insert_sql,
    parse_url,
    schema_sql,
)
from graft.serving.predlog import backend_for


def test_the_tables_are_spelt_per_dialect():
    sqlite, postgres = schema_sql("sqlite"), schema_sql("postgresql")
    assert sqlite[0] == (
        "CREATE TABLE IF NOT EXISTS predictions (request_id TEXT PRIMARY KEY, "
        "created_at TEXT NOT NULL, model_version TEXT NOT NULL, n_records INTEGER NOT NULL, "
        "inputs TEXT NOT NULL, outputs TEXT NOT NULL)"
    )
    assert "created_at TIMESTAMPTZ NOT NULL" in postgres[0] and "inputs JSONB NOT NULL" in postgres[0]
    assert (
        sqlite[2] == postgres[2] == "CREATE INDEX IF NOT EXISTS feedback_request_id ON feedback (request_id)"
    )
    assert (
        insert_sql("feedback", "?") == "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
    )
    assert insert_sql("predictions", "%s", {"inputs": "::jsonb"}) == (
        "INSERT INTO predictions VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING"
    )
    assert OUTPUT_KEY == {"binary": "probability", "multiclass": "probabilities", "regression": "prediction"}


def test_urls_parse_once():
    assert parse_url("sqlite:///x/y.db").path == Path("x/y.db")
    assert parse_url("sqlite:////abs/y.db").path == Path("/abs/y.db")
    assert parse_url("postgres://u@h:5/db").dialect == "postgresql"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://h/db",
            "--log-db 'mysql://h/db': expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        ),
        ("sqlite:///", "--log-db sqlite:///: no file path after sqlite:///"),
        (  # a file name the OS refuses: was OSError (monitor) or sqlite's OperationalError (serve)
            "sqlite:///logs/" + "n" * 300 + ".db",
            f"--log-db: 'logs/{'n' * 52}...': a name of 303 bytes in the path; file names hold at most 255",
        ),
    ],
)
def test_a_bad_url_is_the_same_usage_error_for_the_writer_and_the_reader(url, message):
    with pytest.raises(LogUrlError) as written:
        backend_for(url)
    with pytest.raises(LogUrlError) as read:
        read_window(url, None, None, BINARY)
    assert str(written.value) == str(read.value) == message
    assert isinstance(written.value, LogError) and written.value.exit_code == ExitCode.USAGE


def test_what_the_writer_creates_the_reader_reads(tmp_path):
    db = tmp_path / "log.db"
    conn = sqlite3.connect(db)
    conn.executescript("".join(f"{s};\n" for s in schema_sql("sqlite")))
    at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    conn.execute(
        insert_sql("predictions", "?"),
        ("r1", at, "m 1", 1, '[{"x": 1.5}]', '{"probability": [0.25], "label": ["0"]}'),
    )
    conn.commit()
    conn.close()
    window = read_window(f"sqlite:///{db}", None, None, LogLayout(("x",), ()))
    assert window.predictions["proba"].tolist() == [0.25] and window.predictions["x"].tolist() == [1.5]
