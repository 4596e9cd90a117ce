"""The prediction log under concurrent load and across a graceful restart: no row lost or duplicated;
with ``--log-durability commit``, no acknowledged row lost when the server is killed (SIGKILL)
under load, and a commit that fails answers 503 and keeps nothing.

Run against SQLite (WAL) and against a real PostgreSQL server started by the test set-up.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass, field

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
    for url, needle, code in (
        ("postgresql://nobody@127.0.0.1:1/none", "PostgreSQL", 3),
        # a URL graft does not read is a usage error, as for `graft monitor --log-db`
        ("mysql://x@127.0.0.1/db", "--log-db 'mysql://x@127.0.0.1/db': expected sqlite:///PATH", 2),
    ):
        result = subprocess.run(
            [graft, "serve", str(model_package.archive), "--log-db", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == code
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr


# --- --log-durability commit ---------------------------------------------------------------------

COMMIT = ("--log-durability", "commit")
CLIENTS = 8
KILLS = (200, 400)  # predictions acknowledged in each server run before its SIGKILL


@dataclass
class Acknowledged:
    """What the clients were answered: request id -> its records, and feedback ids."""

    predictions: dict[str, int] = field(default_factory=dict)
    feedback: list[str] = field(default_factory=list)


def load_until_killed(server, kill_after: int, acked: Acknowledged) -> None:
    """CLIENTS threads send predictions back to back (every 5th a 3-record batch, every 10th
    followed by feedback), adding each acknowledged id to ``acked``; once ``kill_after`` have
    been answered in this run, the server gets SIGKILL while the clients are still sending.
    Every client must end at a connection error (it was sending when the server died), none
    at an error response."""
    lock = threading.Lock()
    enough = threading.Event()
    answered: list[str] = []
    stops: list[str] = []

    def client(k: int) -> None:
        stop = "connection lost"
        with httpx.Client(base_url=server.url, timeout=60) as http:
            try:
                for i in range(1_000_000):
                    n = 3 if i % 5 == 0 else 1
                    body = [RECORD] * 3 if n == 3 else dict(RECORD, age=17 + (k * 7 + i) % 70)
                    r = http.post("/predict", json=body)
                    if r.status_code != 200:
                        stop = f"/predict {r.status_code}: {r.text}"
                        break
                    request_id = r.json()["request_id"]
                    with lock:
                        acked.predictions[request_id] = n
                        answered.append(request_id)
                        if len(answered) >= kill_after:
                            enough.set()
                    if i % 10 == 0:
                        f = http.post("/feedback", json={"request_id": request_id, "outcome": ">50K"})
                        if f.status_code != 202:
                            stop = f"/feedback {f.status_code}: {f.text}"
                            break
                        with lock:
                            acked.feedback.append(f.json()["feedback_id"])
            except httpx.TransportError:
                pass
        with lock:
            stops.append(stop)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for w in workers:
        w.start()
    enough.wait(600)  # a bound against a hung run, not a timed assertion: the counts are checked
    assert server.kill() == -9
    for w in workers:
        w.join(120)
    assert not any(w.is_alive() for w in workers)
    assert stops == ["connection lost"] * CLIENTS, stops
    assert len(answered) >= kill_after


def check_nothing_acknowledged_is_lost(
    predictions: list[tuple], feedback_ids: list[str], acked: Acknowledged, runs: int
) -> None:
    logged = {row[0]: row for row in predictions}
    assert len(logged) == len(predictions)  # no duplicate
    missing = set(acked.predictions) - set(logged)
    assert not missing, f"{len(missing)} acknowledged prediction(s) not in the log: {sorted(missing)[:3]}"
    assert not set(acked.feedback) - set(feedback_ids), "acknowledged feedback lost"
    # committed but not answered: at most the one request each client had in flight at each kill
    assert len(logged) - len(acked.predictions) <= CLIENTS * runs
    for request_id, n in acked.predictions.items():
        _rid, n_records, inputs, outputs = logged[request_id]
        inputs = json.loads(inputs) if isinstance(inputs, str) else inputs
        outputs = json.loads(outputs) if isinstance(outputs, str) else outputs
        assert n_records == n == len(inputs) == len(outputs["probability"]) == len(outputs["label"])


def test_sqlite_commit_durability_loses_no_acknowledged_row_when_killed(start_server, tmp_path):
    """Three server runs on one log, each killed (SIGKILL) under 8 clients' load; the next run
    opens the log the crash left. Every prediction and feedback acknowledged is in the log."""
    db = tmp_path / "log.db"
    acked = Acknowledged()
    for kill_after in KILLS:
        load_until_killed(start_server(f"sqlite:///{db}", *COMMIT), kill_after, acked)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        predictions = conn.execute(
            "SELECT request_id, n_records, inputs, outputs FROM predictions"
        ).fetchall()
        feedback_ids = [r[0] for r in conn.execute("SELECT feedback_id FROM feedback")]
    check_nothing_acknowledged_is_lost(predictions, feedback_ids, acked, len(KILLS))


def test_postgresql_commit_durability_loses_no_acknowledged_row_when_killed(start_server, pg_database):
    import psycopg

    acked = Acknowledged()
    for kill_after in KILLS:
        load_until_killed(start_server(pg_database, *COMMIT), kill_after, acked)
    with psycopg.connect(pg_database) as conn:
        predictions = conn.execute(
            "SELECT request_id, n_records, inputs, outputs FROM predictions"
        ).fetchall()
        feedback_ids = [r[0] for r in conn.execute("SELECT feedback_id FROM feedback")]
    check_nothing_acknowledged_is_lost(predictions, feedback_ids, acked, len(KILLS))


def refused_commit_is_a_503(server, cause: str) -> list[str]:
    """With a trigger in the log's database that refuses 3-record rows: such a
    request gets 503 naming ``cause`` and readiness reports it; the next commit that works
    answers normally and makes the server ready again. The request ids answered 200."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        first = http.post("/predict", json=RECORD)
        assert first.status_code == 200, first.text
        refused = http.post("/predict", json=[RECORD] * 3)
        assert refused.status_code == 503
        assert refused.json() == {
            "detail": f"prediction log: the commit failed ({cause}); nothing of this request was "
            "logged: retry it",
            "errors": [],
        }
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "detail": f"prediction log: {cause}"}
        second = http.post("/predict", json=[RECORD] * 2)
        assert second.status_code == 200, second.text
        assert http.get("/health/ready").status_code == 200
        f = http.post("/feedback", json={"request_id": second.json()["request_id"], "action": "accepted"})
        assert f.status_code == 202, f.text
    assert "commit failed; 1 request(s) answered 503" in server.stderr_path.read_text()
    return [first.json()["request_id"], second.json()["request_id"]]


def test_sqlite_commit_that_fails_answers_503_and_keeps_nothing(start_server, tmp_path):
    db = tmp_path / "log.db"
    server = start_server(f"sqlite:///{db}", *COMMIT)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.n_records = 3 "
            "BEGIN SELECT RAISE(ABORT, 'three records refused'); END"
        )
    ids = refused_commit_is_a_503(server, "IntegrityError: three records refused")
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT request_id FROM predictions ORDER BY n_records")] == ids
        assert conn.execute("SELECT request_id, action FROM feedback").fetchall() == [(ids[1], "accepted")]


def test_postgresql_commit_that_fails_answers_503_and_keeps_nothing(start_server, pg_database):
    import psycopg

    server = start_server(pg_database, *COMMIT)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse_three() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.n_records = 3 THEN RAISE EXCEPTION 'three records refused'; END IF; "
            "RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON predictions FOR EACH ROW EXECUTE FUNCTION refuse_three()"
        )
    ids = refused_commit_is_a_503(server, "RaiseException: three records refused")
    with psycopg.connect(pg_database) as conn:
        assert [r[0] for r in conn.execute("SELECT request_id FROM predictions ORDER BY n_records")] == ids
        assert conn.execute("SELECT request_id, action FROM feedback").fetchall() == [(ids[1], "accepted")]


def test_postgresql_commit_durability_turns_synchronous_commit_back_on(pg_database):
    """A database whose sessions default to synchronous_commit=off (commits acknowledged before
    the server's WAL flush): the commit-durability log turns it on for its own sessions only."""
    import psycopg

    from graft.serving.predlog import PredictionLog

    name = pg_database.rsplit("/", 1)[1]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    settings = {}
    for durability in ("async", "commit"):
        log = PredictionLog(pg_database, durability)
        try:
            settings[durability] = log._writer_conn.execute("SHOW synchronous_commit").fetchone()[0]
        finally:
            log.close()
    assert settings == {"async": "off", "commit": "on"}
