"""Read a window of the prediction log (SQLite or PostgreSQL) into flat frames.

The log (written by `graft serve`) keeps one row per request: ``inputs`` is a JSON array of
records, ``outputs`` a JSON object ``{"probability": [...], "label": [...]}``. Feedback rows
name a request and, for batch requests, the record's index. Here every record becomes one
row, identified as ``<request_id>#<index>``.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from graft.core.errors import GraftError, UsageError
from graft.monitoring.run import Window
from stages.schema import FEATURE_COLUMNS, POSITIVE_LABEL

PREDICTIONS_SQL = "SELECT request_id, created_at, model_version, inputs, outputs FROM predictions{where}"
FEEDBACK_SQL = "SELECT request_id, record_index, created_at, outcome FROM feedback WHERE outcome IS NOT NULL"


class LogReadError(GraftError):
    pass


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
        clauses.append(f"created_at >= {placeholder}")
        args.append(since)
    if until is not None:
        clauses.append(f"created_at < {placeholder}")
        args.append(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _fetch(url: str, since: datetime | None, until: datetime | None) -> tuple[list[tuple], list[tuple]]:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise LogReadError(f"{url}: no such prediction log")
        where, args = _where(since, until, "?")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                # SQLite stores ISO text: compare in the same format
                text_args = [a.astimezone(UTC).isoformat() for a in args]
                preds = conn.execute(PREDICTIONS_SQL.format(where=where), text_args).fetchall()
                feedback = conn.execute(FEEDBACK_SQL).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None
        return preds, feedback
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        where, args = _where(since, until, "%s")
        try:
            with psycopg.connect(url) as conn:
                preds = conn.execute(
                    PREDICTIONS_SQL.format(where=where).replace(
                        "inputs, outputs", "inputs::text, outputs::text"
                    ),
                    args,
                ).fetchall()
                feedback = conn.execute(FEEDBACK_SQL).fetchall()
        except psycopg.Error as exc:
            raise LogReadError(f"{url}: cannot read the prediction log ({exc})") from None
        return preds, feedback
    raise UsageError(f"--log-db {url!r}: expected sqlite:///PATH or postgresql://...")


def _timestamps(values: list[Any]) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")


def to_frames(pred_rows: list[tuple], feedback_rows: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per served record: record id, time, version, the inputs, probability and label."""
    records: list[dict[str, Any]] = []
    proba: list[float] = []
    ids: list[str] = []
    times: list[Any] = []
    versions: list[str] = []
    sizes: dict[str, int] = {}
    for request_id, created_at, version, inputs, outputs in pred_rows:
        batch = orjson.loads(inputs)
        n = sizes[request_id] = len(batch)
        records += batch
        proba += orjson.loads(outputs)["probability"]
        if n == 1:
            ids.append(f"{request_id}#0")
            times.append(created_at)
            versions.append(version)
        else:
            ids += [f"{request_id}#{i}" for i in range(n)]
            times += [created_at] * n
            versions += [version] * n
    inputs_frame = pd.DataFrame.from_records(records, columns=list(FEATURE_COLUMNS), nrows=len(records))
    predictions = inputs_frame.assign(
        request_id=ids,
        ts=_timestamps(times).to_numpy(),
        model_version=versions,
        proba=np.asarray(proba, dtype=float),
    )
    fb_ids, fb_times, fb_outcomes = [], [], []
    for request_id, index, created_at, outcome in feedback_rows:
        # feedback without an index speaks for every record of its request
        indices = [index] if index is not None else range(sizes.get(request_id, 1))
        for i in indices:
            fb_ids.append(f"{request_id}#{i}")
            fb_times.append(created_at)
            fb_outcomes.append(int(outcome == POSITIVE_LABEL))
    feedback = pd.DataFrame({"request_id": fb_ids, "ts": _timestamps(fb_times), "outcome": fb_outcomes})
    return predictions, feedback


def read_window(url: str, since: str | None, until: str | None) -> Window:
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    preds, feedback = _fetch(url, start, end)
    predictions, feedback_frame = to_frames(preds, feedback)
    return Window(predictions, feedback_frame, since, until)
