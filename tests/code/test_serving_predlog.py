"""The prediction log's SQLite store: batching writer, flush on close, no duplicates, look-ups."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from graft.serving.predlog import (
    FeedbackRow,
    LogError,
    PredictionLog,
    PredictionRow,
    backend_for,
    now,
    records_json,
)


def row(i: int, n: int = 1) -> PredictionRow:
    return PredictionRow(f"r{i}", now(), "1.0.0", n, "[{}]", '{"probability": [0.5], "label": [">50K"]}')


def test_urls():
    assert backend_for("sqlite:///x/y.db").path.as_posix() == "x/y.db"
    assert backend_for("sqlite:////abs/y.db").path.as_posix() == "/abs/y.db"
    assert backend_for("postgresql://u@127.0.0.1:5/db").name == "postgresql"
    for bad in ("mysql://x", "sqlite:///", "predictions.db"):
        with pytest.raises(LogError):
            backend_for(bad)


def test_concurrent_writers_then_close_commits_everything(tmp_path):
    db = tmp_path / "log.db"
    log = PredictionLog(f"sqlite:///{db}")

    def produce(k: int) -> None:
        for i in range(200):
            log.record_prediction(row(k * 1000 + i))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.record_feedback(FeedbackRow("f1", "r1", 0, now(), ">50K", None))
    log.close()  # flushes
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT request_id) FROM predictions").fetchone() == (
            1600,
            1600,
        )
        assert conn.execute("SELECT outcome FROM feedback").fetchall() == [(">50K",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_reopen_appends_and_a_replayed_row_is_not_duplicated(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    first = PredictionLog(url)
    first.record_prediction(row(1, n=3))
    first.close()
    second = PredictionLog(url)
    assert second.request_records("r1") == 3  # committed by the first process
    second.record_prediction(row(1, n=3))  # same id again: ignored, not an error
    second.record_prediction(row(2))
    assert second.request_records("r2") == 1  # pending or committed, found either way
    assert second.request_records("nope") is None
    assert second.flush()
    second.close()
    with sqlite3.connect(tmp_path / "log.db") as conn:
        assert conn.execute("SELECT count(*) FROM predictions").fetchone() == (2,)


def test_closed_log_refuses_writes(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    log.close()
    log.close()  # idempotent
    with pytest.raises(RuntimeError):
        log.record_prediction(row(1))


def test_logged_inputs_are_the_canonical_records():
    """Every field, keys sorted, null where absent, one object per record; the parsed records,
    when complete, give the same text as the columns."""
    one = records_json({"fnlwgt": [7], "workclass": [None], "age": [39.0]}, 1)
    assert one == '[{"age":39.0,"fnlwgt":7,"workclass":null}]'
    columns = {"workclass": ["a\u00e9", None], "age": [39, 40], "fnlwgt": [1, 2]}
    many = records_json(columns, 2)
    assert json.loads(many) == [
        {"age": 39, "workclass": "a\u00e9", "fnlwgt": 1},
        {"age": 40, "workclass": None, "fnlwgt": 2},
    ]
    assert list(json.loads(many)[1]) == ["age", "fnlwgt", "workclass"]
    parsed = [{"workclass": "a\u00e9", "fnlwgt": 1, "age": 39}, {"fnlwgt": 2, "age": 40, "workclass": None}]
    assert records_json(columns, 2, complete=parsed) == many
