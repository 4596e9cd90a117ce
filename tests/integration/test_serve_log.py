"""The prediction log under concurrent load and across a graceful restart: no row lost or duplicated.

Run against SQLite (WAL) and against a real PostgreSQL server started by the test set-up.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter

import httpx
import pytest

from tests.samples import RECORD

pytestmark = pytest.mark.slow

# (threads, requests per thread) for the first server run, then for the run after the restart
LOAD = ((8, 50), (4, 25))


def hammer(url: str, threads: int, per_thread: int) -> tuple[list[str], list[str]]:
    """``threads`` clients x ``per_thread`` predictions (every 5th a 3-record batch, every 10th
    followed by feedback). Returns the request ids and feedback ids the server acknowledged."""
    ids: list[str] = []
    feedback: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        mine, fb = [], []
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(per_thread):
                body = [RECORD] * 3 if i % 5 == 0 else dict(RECORD, age=17 + (k * per_thread + i) % 70)
                r = http.post("/predict", json=body)
                if r.status_code != 200:
                    failures.append(r.text)
                    continue
                mine.append(r.json()["request_id"])
                if i % 10 == 0:
                    f = http.post("/feedback", json={"request_id": mine[-1], "outcome": ">50K"})
                    if f.status_code != 202:
                        failures.append(f.text)
                        continue
                    fb.append(f.json()["feedback_id"])
        with lock:
            ids.extend(mine)
            feedback.extend(fb)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not failures, failures[:3]
    assert len(ids) == threads * per_thread
    return ids, feedback


def load_restart_load(start_server, log_db: str) -> tuple[list[str], list[str]]:
    ids, fb = [], []
    for threads, per_thread in LOAD:
        server = start_server(log_db)
        a, b = hammer(server.url, threads, per_thread)
        # SIGTERM: graceful shutdown; uvicorn re-raises the signal after it, which graft turns
        # into its documented exit 143 (-15 when killed by the default handler)
        assert server.stop() in (0, -15, 143), server.stderr_path.read_text()
        assert "lost" not in server.stderr_path.read_text()
        ids += a
        fb += b
    return ids, fb


def check_rows(predictions: list[tuple], feedback_ids: list[str], ids: list[str], fb: list[str]) -> None:
    logged = Counter(row[0] for row in predictions)
    assert len(predictions) == len(ids), f"{len(predictions)} rows for {len(ids)} served predictions"
    assert set(logged) == set(ids) and max(logged.values()) == 1
    assert Counter(feedback_ids) == Counter(fb)
    for _rid, n, inputs, outputs in predictions:
        inputs = json.loads(inputs) if isinstance(inputs, str) else inputs
        outputs = json.loads(outputs) if isinstance(outputs, str) else outputs
        assert len(inputs) == n == len(outputs["probability"]) == len(outputs["label"])


def test_sqlite_log_no_loss_no_duplicates_across_restart(start_server, tmp_path):
    db = tmp_path / "log.db"
    ids, fb = load_restart_load(start_server, f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        predictions = conn.execute(
            "SELECT request_id, n_records, inputs, outputs FROM predictions"
        ).fetchall()
        feedback_ids = [r[0] for r in conn.execute("SELECT feedback_id FROM feedback")]
    check_rows(predictions, feedback_ids, ids, fb)


def test_postgresql_log_no_loss_no_duplicates_across_restart(start_server, pg_database):
    import psycopg

    ids, fb = load_restart_load(start_server, pg_database)
    with psycopg.connect(pg_database) as conn:
        predictions = conn.execute(
            "SELECT request_id, n_records, inputs, outputs FROM predictions"
        ).fetchall()
        feedback_ids = [r[0] for r in conn.execute("SELECT feedback_id FROM feedback")]
    check_rows(predictions, feedback_ids, ids, fb)


def test_unreachable_or_bad_log_url_is_refused_in_one_line(model_package, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    graft = str(Path(sys.executable).parent / "graft")
    for url, needle in (
        ("postgresql://nobody@127.0.0.1:1/none", "PostgreSQL"),
        ("mysql://x@127.0.0.1/db", "--log-db"),
    ):
        result = subprocess.run(
            [graft, "serve", str(model_package.archive), "--log-db", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 3
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr
