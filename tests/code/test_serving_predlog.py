"""The prediction log's SQLite store: batching writer, flush on close, no duplicates, look-ups;
with ``commit`` durability, answers only once committed, group commit, refusals that keep nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading

import pytest

from graft.serving.predlog import (
    FeedbackRow,
    LogError,
    LogUnavailable,
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


# --- --log-durability commit -------------------------------------------------------------------


def committed_ids(db) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT request_id FROM predictions")}


def test_commit_durability_returns_once_committed_and_concurrent_rows_share_a_transaction(tmp_path):
    """While another connection holds the write lock nothing can commit, so all 200 concurrent
    requests wait; once it is released they are committed together, in at most two transactions
    (what the writer took before the lock, and the rest), and each has its row when it returns."""
    db = tmp_path / "log.db"
    log = PredictionLog(f"sqlite:///{db}", "commit")
    assert log.durability == "commit"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # NORMAL: in WAL mode a commit survives a killed process (the module docstring says why not FULL)
    assert log._writer_conn.execute("PRAGMA synchronous").fetchone() == (1,)

    async def main() -> list[str]:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        tasks = [asyncio.create_task(log.record(row(i))) for i in range(200)]
        await asyncio.sleep(0)  # every task has queued its row and awaits its commit
        assert not any(t.done() for t in tasks)
        assert committed_ids(db) == set()
        blocker.execute("ROLLBACK")
        blocker.close()
        seen = []
        for i, task in enumerate(tasks):
            await task
            seen.append(f"r{i}")
            assert f"r{i}" in committed_ids(db)  # committed by the time its request is answered
        return seen

    seen = asyncio.run(main())
    assert len(seen) == 200 and log.written == 200
    assert 1 <= log.transactions <= 2
    log.close()
    assert committed_ids(db) == {f"r{i}" for i in range(200)}


def test_commit_durability_failed_commit_refuses_the_request_and_keeps_nothing(tmp_path):
    """A real failing commit (a trigger refusing 3-record rows): the request gets LogUnavailable
    naming the cause, its row is not kept, the log reports unhealthy until a commit works again."""
    db = tmp_path / "log.db"
    log = PredictionLog(f"sqlite:///{db}", "commit")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.n_records = 3 "
            "BEGIN SELECT RAISE(ABORT, 'three records refused'); END"
        )

    async def main() -> None:
        with pytest.raises(LogUnavailable) as caught:
            await log.record(row(1, n=3))
        assert str(caught.value) == (
            "prediction log: the commit failed (IntegrityError: three records refused); "
            "nothing of this request was logged: retry it"
        )
        assert not log.healthy
        await log.record(row(2))
        assert log.healthy
        await log.record(FeedbackRow("f1", "r2", 0, now(), ">50K", None))

    asyncio.run(main())
    log.close()
    assert committed_ids(db) == {"r2"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT feedback_id, request_id FROM feedback").fetchall() == [("f1", "r2")]


def test_commit_durability_full_queue_is_refused_at_once(tmp_path, monkeypatch):
    """GRAFT_LIMIT_LOG_QUEUE_ROWS=2 and the writer stuck behind another connection's write lock:
    the rows past the queue's room are refused with the limit named; every request that
    returned has its row, every one refused has none."""
    monkeypatch.setenv("GRAFT_LIMIT_LOG_QUEUE_ROWS", "2")
    db = tmp_path / "log.db"
    log = PredictionLog(f"sqlite:///{db}", "commit")

    async def main() -> list[BaseException | None]:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        tasks = [asyncio.create_task(log.record(row(i))) for i in range(50)]
        await asyncio.sleep(0)
        refused = [t for t in tasks if t.done()]
        assert refused and all(isinstance(t.exception(), LogUnavailable) for t in refused)
        blocker.execute("ROLLBACK")
        blocker.close()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    outcomes = asyncio.run(main())
    log.close()
    ok = {f"r{i}" for i, outcome in enumerate(outcomes) if outcome is None}
    errors = {str(outcome) for outcome in outcomes if outcome is not None}
    assert errors == {
        "prediction log: 2 rows are already waiting to be committed (GRAFT_LIMIT_LOG_QUEUE_ROWS); "
        "nothing of this request was logged: retry it"
    }
    assert 2 <= len(ok) < 50 and committed_ids(db) == ok


def test_unknown_durability_is_refused(tmp_path):
    with pytest.raises(LogError, match="--log-durability 'sync': expected one of async, commit"):
        PredictionLog(f"sqlite:///{tmp_path / 'log.db'}", "sync")
    assert not (tmp_path / "log.db").exists()


def test_bad_queue_limit_is_refused_before_the_log_is_created(tmp_path, monkeypatch):
    from graft.core.errors import UsageError

    monkeypatch.setenv("GRAFT_LIMIT_LOG_QUEUE_ROWS", "0")
    with pytest.raises(
        UsageError, match="GRAFT_LIMIT_LOG_QUEUE_ROWS='0': expected a positive whole number of rows"
    ):
        PredictionLog(f"sqlite:///{tmp_path / 'log.db'}", "commit")
    assert not (tmp_path / "log.db").exists()
