"""`graft replay`: send recorded rows to a running `graft serve`, optionally with induced drift,
then post the observed outcomes as feedback.

Drift is induced on a copy of the rows, deterministically from ``seed``:

* ``--shift age=+10`` / ``--shift hours_per_week=*1.5``: move a numeric feature;
* ``--mix workclass=Self-emp-inc:0.4``: rewrite a share of a categorical column to one category
  (the category mix changes, nothing else);
* ``--ratio sex=Female:0.8``: resample whole rows so a group makes up that share (the
  population's composition changes, each group's rows stay as they are);
* ``--flip-labels 0.3``: flip that share of the outcomes sent as feedback (the relation between
  inputs and label degrades, inputs do not move).
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from graft.core.errors import GraftError, UsageError
from stages.schema import CATEGORIES, FEATURE_COLUMNS, LABEL, LABELS, NUMERIC, SPLIT

SHIFT_RE = re.compile(r"^(?P<col>\w+)=(?P<op>[+*-])(?P<value>[0-9.]+)$")
SHARE_RE = re.compile(r"^(?P<col>\w+)=(?P<cat>[^:]+):(?P<share>[0-9.]+)$")


class ReplayError(GraftError):
    pass


class Rejected(ReplayError):
    """The server answered 4xx: the input was refused (the log holds nothing of it)."""


@dataclass(frozen=True)
class Drift:
    shifts: list[tuple[str, str, float]] = field(default_factory=list)
    mixes: list[tuple[str, str, float]] = field(default_factory=list)
    ratios: list[tuple[str, str, float]] = field(default_factory=list)
    flip_labels: float = 0.0


def parse_drift(shifts: list[str], mixes: list[str], ratios: list[str], flip: float) -> Drift:
    parsed_shifts = []
    for text in shifts:
        m = SHIFT_RE.match(text)
        if not m or m["col"] not in NUMERIC:
            raise UsageError(
                f"--shift {text!r}: expected NUMERIC_COLUMN=+N, -N or *N with a column of {list(NUMERIC)}"
            )
        parsed_shifts.append((m["col"], m["op"], float(m["value"])))

    def shares(flag: str, items: list[str]) -> list[tuple[str, str, float]]:
        out = []
        for text in items:
            m = SHARE_RE.match(text)
            if not m or m["col"] not in CATEGORIES or m["cat"] not in CATEGORIES[m["col"]]:
                raise UsageError(
                    f"{flag} {text!r}: expected COLUMN=CATEGORY:SHARE with a known column and category"
                )
            share = float(m["share"])
            if not 0 <= share <= 1:
                raise UsageError(f"{flag} {text!r}: the share must be between 0 and 1")
            out.append((m["col"], m["cat"], share))
        return out

    if not 0 <= flip <= 1:
        raise UsageError(f"--flip-labels {flip}: expected a share between 0 and 1")
    return Drift(parsed_shifts, shares("--mix", mixes), shares("--ratio", ratios), flip)


def load_rows(path: Path, split: str | None) -> pd.DataFrame:
    """Raw records with their label: Parquet/CSV with the project's columns (others are kept
    aside, e.g. ``split``), or a UCI file."""
    from stages.ingest import (
        decode_utf8,
        normalise_labels,
        parse_uci,
        read_bytes,
        read_csv,
        read_parquet,
        type_table,
    )

    if not path.is_file():
        raise ReplayError(f"{path}: no such data file")
    suffixes = "".join(path.suffixes)
    if suffixes.endswith(".parquet"):
        frame = read_parquet(path)
    elif ".csv" in suffixes:
        frame = read_csv(read_bytes(path), str(path))
    else:
        frame = parse_uci(decode_utf8(read_bytes(path), str(path)), str(path))
    frame = type_table(normalise_labels(frame))
    if split is not None:
        if SPLIT not in frame:
            raise ReplayError(f"{path}: --split {split} given but the file has no '{SPLIT}' column")
        frame = frame[frame[SPLIT] == split]
    missing = [c for c in (*FEATURE_COLUMNS, LABEL) if c not in frame]
    if missing:
        raise ReplayError(f"{path}: missing column(s) {missing}")
    if frame.empty:
        raise ReplayError(f"{path}: no rows to replay" + (f" in split '{split}'" if split else ""))
    return frame.reset_index(drop=True)


def induce(rows: pd.DataFrame, drift: Drift, rng: np.random.Generator) -> pd.DataFrame:
    rows = rows.copy()
    for column, category, share in drift.ratios:
        inside = rows[rows[column] == category]
        outside = rows[rows[column] != category]
        n = len(rows)
        k = round(share * n)
        if (k and inside.empty) or (n - k and outside.empty):
            raise ReplayError(f"--ratio {column}={category}: the data has no rows to draw from")
        pick_in = rng.choice(len(inside), k, replace=k > len(inside)) if k else []
        pick_out = rng.choice(len(outside), n - k, replace=n - k > len(outside)) if n - k else []
        rows = pd.concat([inside.iloc[pick_in], outside.iloc[pick_out]]).sample(
            frac=1.0, random_state=rng.integers(2**31)
        )
        rows = rows.reset_index(drop=True)
    for column, category, share in drift.mixes:
        chosen = rng.random(len(rows)) < share
        rows[column] = rows[column].astype(object).where(~chosen, category)
    for column, op, value in drift.shifts:
        numbers = rows[column].astype("Float64")
        moved = numbers + value if op == "+" else numbers - value if op == "-" else numbers * value
        rows[column] = moved.round().astype("Int64")
    return rows


def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for values in rows[list(FEATURE_COLUMNS)].astype(object).itertuples(index=False):
        out.append(
            {
                c: (None if pd.isna(v) else int(v) if c in NUMERIC else str(v))
                for c, v in zip(FEATURE_COLUMNS, values, strict=True)
            }
        )
    return out


class Client:
    """A keep-alive JSON client for one server on loopback or elsewhere."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"--url {url!r}: expected http://HOST:PORT")
        self.host, self.port, self.timeout = parts.hostname, parts.port or 80, timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        payload = json.dumps(body).encode()
        try:
            self.conn.request("POST", path, payload, {"Content-Type": "application/json"})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise ReplayError(f"POST http://{self.host}:{self.port}{path}: {exc}") from None
        if 400 <= response.status < 500:
            raise Rejected(f"POST {path}: HTTP {response.status}: {data[:300].decode(errors='replace')}")
        if response.status >= 500:
            raise ReplayError(f"POST {path}: HTTP {response.status}: {data[:300].decode(errors='replace')}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()


@dataclass
class ReplayResult:
    rows: int = 0
    requests: int = 0
    feedback: int = 0
    flipped: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    seconds: float = 0.0


def replay(
    rows: pd.DataFrame,
    url: str,
    drift: Drift,
    batch_size: int = 50,
    feedback_rate: float = 1.0,
    feedback_delay: float = 0.0,
    seed: int = 0,
    timeout: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    rng = np.random.default_rng(seed)
    drifted = induce(rows, drift, rng)
    bodies = records(drifted)
    outcomes = drifted[LABEL].astype(str).tolist()
    client = Client(url, timeout)
    result = ReplayResult()
    started = time.perf_counter()
    sent: list[tuple[str, int, str]] = []
    try:
        for start in range(0, len(bodies), batch_size):
            batch = bodies[start : start + batch_size]
            try:
                answer = client.post("/predict", batch)
                sent += [(answer["request_id"], i, outcomes[start + i]) for i in range(len(batch))]
                result.requests += 1
            except Rejected:
                # drifted rows can leave the schema: send them one by one, count the refusals
                for i, record in enumerate(batch):
                    result.requests += 1
                    try:
                        answer = client.post("/predict", record)
                    except Rejected as exc:
                        result.rejected += 1
                        if len(result.rejections) < 5:
                            result.rejections.append(str(exc))
                        continue
                    sent.append((answer["request_id"], 0, outcomes[start + i]))
            result.rows += len(batch)
            if progress:
                progress(result.rows, len(bodies))
        if feedback_delay > 0:
            time.sleep(feedback_delay)
        flip = rng.random(len(sent)) < drift.flip_labels
        give = rng.random(len(sent)) < feedback_rate
        negative, positive = LABELS
        for (request_id, index, outcome), flipped, gave in zip(sent, flip, give, strict=True):
            if not gave:
                continue
            if flipped:
                outcome = negative if outcome == positive else positive
                result.flipped += 1
            client.post("/feedback", {"request_id": request_id, "index": index, "outcome": outcome})
            result.feedback += 1
    finally:
        client.close()
    result.seconds = time.perf_counter() - started
    return result
