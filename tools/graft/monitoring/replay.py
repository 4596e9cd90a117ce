"""`graft replay`: send the rows of a table to a running `graft serve`, optionally with induced
drift, then post their observed outcomes as feedback.

Nothing here knows a project: the server says what it serves. ``GET /metadata`` gives the input
schema (``input_schema``: which columns are inputs, integer, number or string, and their
categories), the task (``task.type``; the labels of a classifier) and the default outcome column
(``label_column``: graft.yaml ``predictions.label``).

The table is Parquet (``.parquet``) or CSV (``.csv``, ``.csv.gz``; only an empty cell is a
missing value) with a column per required schema field (optional ones may be absent) and the
outcome column; other columns are ignored, except by ``--where``:

* ``--where COLUMN=VALUE`` (repeatable; every one must hold) keeps the matching rows; a numeric
  column compares as a number (``year=2020`` matches 2020.0);
* values are sent as the schema types them: integers as integers (a whole 39.0 as 39), numbers
  as floats, strings as text; a missing value is left out of its record (the server fills
  ``null`` where the schema allows it and refuses a required field). A value that cannot be
  read as its column's type is an error before anything is sent; a value the server refuses
  (unknown category, out of range) is counted as a rejected row;
* outcomes (``--label COLUMN``, default the server's ``label_column``): for a classifier, labels
  of the task (a whole number is read as its integer's text: 1 or 1.0 -> ``"1"``); for
  regression, finite numbers.
  Checked before anything is sent; a row without an outcome gets no feedback. With
  ``--feedback-rate 0`` no outcome column is needed.

Drift is induced on a copy of the rows, deterministically from ``seed``, on columns of the
schema:

* ``--shift COL=+N`` / ``-N`` / ``*N``: move a numeric (integer or number) column; integer
  columns are rounded to whole numbers;
* ``--mix COL=CATEGORY:SHARE``: rewrite a share of a string column to one category (one of its
  categories, when the schema lists them); the category mix changes, nothing else;
* ``--ratio COL=CATEGORY:SHARE``: resample whole rows so that the rows holding that value make
  up that share (the population's composition changes, each group's rows stay as they are);
* ``--flip-labels SHARE``: replace that share of the outcomes sent as feedback (the relation
  between inputs and outcome degrades, inputs do not move): binary, the other label;
  multiclass, another label drawn at random; regression, the outcome of another replayed row
  (the outcomes' distribution stays).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from pydantic import Field

from graft.core.errors import UsageError
from graft.core.results import Result

# --- drift ---------------------------------------------------------------------------------------
from graft.monitoring.replayrows import (
    OUTCOME,
    Rejected,
    ReplayError,
    Served,
    flip,
    load_rows,
    missing,
    number_of,
    parse_where,
    records,
)

__all__ = [
    "OUTCOME",
    "Rejected",
    "ReplayError",
    "ReplayResult",
    "Served",
    "flip",
    "induce",
    "load_rows",
    "parse_drift",
    "parse_where",
    "records",
    "replay",
    "run",
]


@dataclass(frozen=True)
class Drift:
    shifts: list[tuple[str, str, float]] = field(default_factory=list)
    mixes: list[tuple[str, str, float]] = field(default_factory=list)
    ratios: list[tuple[str, str, float]] = field(default_factory=list)
    flip_labels: float = 0.0


def _share(flag: str, text: str, value: str) -> float:
    share = number_of(value)
    if share is None or not 0 <= share <= 1:
        raise UsageError(f"{flag} {text!r}: the share must be a number between 0 and 1")
    return share


def parse_drift(
    shifts: Sequence[str], mixes: Sequence[str], ratios: Sequence[str], flip: float, served: Served
) -> Drift:
    """The drift options, checked against the served schema (errors name the option and the column)."""
    parsed_shifts = []
    for text in shifts:
        column, _, change = text.partition("=")
        op, amount = change[:1], number_of(change[1:]) if change[1:] else None
        if not column or op not in ("+", "-", "*") or amount is None:
            raise UsageError(f"--shift {text!r}: expected COLUMN=+N, COLUMN=-N or COLUMN=*N")
        if column not in served.numeric:
            raise UsageError(
                f"--shift {text!r}: '{column}' is not a numeric input of the served model "
                f"(numeric inputs: {', '.join(served.numeric) or 'none'})"
            )
        parsed_shifts.append((column, op, amount))

    def shares(flag: str, items: Sequence[str]) -> list[tuple[str, str, float]]:
        out = []
        for text in items:
            column, _, rest = text.partition("=")
            category, colon, share = rest.rpartition(":")
            if not column or not colon or not category:
                raise UsageError(f"{flag} {text!r}: expected COLUMN=CATEGORY:SHARE")
            if column not in served.text:
                raise UsageError(
                    f"{flag} {text!r}: '{column}' is not a categorical (string) input of the served "
                    f"model (those are: {', '.join(served.text) or 'none'})"
                )
            enum = served.rules[column].enum
            if enum is not None and category not in enum:
                raise UsageError(
                    f"{flag} {text!r}: '{category}' is not a category of '{column}' "
                    f"(expected one of {', '.join(sorted(enum))})"
                )
            out.append((column, category, _share(flag, text, share)))
        return out

    if not (isinstance(flip, (int, float)) and 0 <= flip <= 1):
        raise UsageError(f"--flip-labels {flip}: expected a share between 0 and 1")
    return Drift(parsed_shifts, shares("--mix", mixes), shares("--ratio", ratios), float(flip))


def induce(rows: pd.DataFrame, drift: Drift, served: Served, rng: np.random.Generator) -> pd.DataFrame:
    """A copy of ``rows`` with the drift applied (columns the drift does not name are unchanged)."""
    rows = rows.copy()
    for column, category, share in drift.ratios:
        if column not in rows:
            raise ReplayError(f"--ratio {column}={category}: the data has no column '{column}'")
        inside = rows[rows[column] == category]
        outside = rows[rows[column] != category]
        n = len(rows)
        k = round(share * n)
        if (k and inside.empty) or (n - k and outside.empty):
            raise ReplayError(f"--ratio {column}={category}: the data has no rows to draw from")
        none = np.zeros(0, dtype=np.int64)
        pick_in = rng.choice(len(inside), k, replace=k > len(inside)) if k else none
        pick_out = rng.choice(len(outside), n - k, replace=n - k > len(outside)) if n - k else none
        rows = pd.concat([inside.iloc[pick_in], outside.iloc[pick_out]]).sample(
            frac=1.0, random_state=int(rng.integers(2**31))
        )
        rows = rows.reset_index(drop=True)
    for column, category, share in drift.mixes:
        chosen = rng.random(len(rows)) < share
        current = rows[column] if column in rows else pd.Series([None] * len(rows), index=rows.index)
        rows[column] = current.astype(object).where(~chosen, category)
    for column, op, value in drift.shifts:
        if column not in rows:
            raise ReplayError(f"--shift {column}: the data has no column '{column}'")
        numbers = rows[column].astype("Float64")
        moved = numbers + value if op == "+" else numbers - value if op == "-" else numbers * value
        rows[column] = moved.round().astype("Int64") if served.rules[column].kind == "integer" else moved
    return rows


# --- the server ----------------------------------------------------------------------------------


class Client:
    """A keep-alive JSON client for one server on loopback or elsewhere."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"--url {url!r}: expected http://HOST:PORT")
        try:
            port = parts.port or 80
        except ValueError:
            raise UsageError(f"--url {url!r}: the port must be a number from 1 to 65535") from None
        self.host, self.port, self.timeout = parts.hostname, port, timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        try:
            self.conn.request(method, path, payload, headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise ReplayError(f"{method} {self.url(path)}: {exc}") from None
        text = data[:300].decode(errors="replace")
        if 400 <= response.status < 500:
            raise Rejected(f"{method} {path}: HTTP {response.status}: {text}")
        if response.status >= 300:
            raise ReplayError(f"{method} {self.url(path)}: HTTP {response.status}: {text}")
        try:
            return json.loads(data)
        except ValueError:
            raise ReplayError(f"{method} {self.url(path)}: the answer is not JSON: {text!r}") from None

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def served(self) -> Served:
        """What the server serves (``GET /metadata``)."""
        try:
            metadata = self.request("GET", "/metadata")
        except Rejected as exc:
            raise ReplayError(f"{self.url('/metadata')}: {exc} (is this a graft serve?)") from None
        return Served.from_metadata(metadata, self.url("/metadata"))

    def close(self) -> None:
        self.conn.close()


@dataclass
class ReplayResult:
    rows: int = 0
    requests: int = 0
    feedback: int = 0
    flipped: int = 0
    rejected: int = 0
    without_outcome: int = 0
    rejections: list[str] = field(default_factory=list)
    seconds: float = 0.0


class ReplaySummary(Result):
    """What `graft replay` sent."""

    rows: int
    """rows sent (after --where, --limit and --ratio's resampling)"""
    requests: int
    """POST /predict requests made (a batch of --batch-size rows each; one per row of a refused batch)"""
    feedback: int
    """outcomes posted to /feedback (rows accepted with an outcome, a --feedback-rate share of them)"""
    flipped: int
    """of those, outcomes replaced by --flip-labels"""
    rejected: int
    """Rows the server refused."""
    rejections: list[str]
    """The first refusals' messages."""
    without_outcome: Annotated[int, Field(ge=0)]
    """Rows replayed without an outcome to send as feedback."""
    seconds: float
    """wall time of the replay (--feedback-delay included), in seconds"""

    @classmethod
    def of(cls, r: ReplayResult) -> ReplaySummary:
        return cls(
            rows=r.rows,
            requests=r.requests,
            feedback=r.feedback,
            flipped=r.flipped,
            rejected=r.rejected,
            rejections=list(r.rejections),
            without_outcome=r.without_outcome,
            seconds=r.seconds,
        )


def replay(
    rows: pd.DataFrame,
    client: Client,
    served: Served,
    drift: Drift,
    batch_size: int = 50,
    feedback_rate: float = 1.0,
    feedback_delay: float = 0.0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Send ``rows`` (from :func:`load_rows`) to the server with the drift induced, then their
    outcomes (column :data:`OUTCOME`, if present) as feedback for a share ``feedback_rate``."""
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: expected at least 1")
    if not 0 <= feedback_rate <= 1:
        raise UsageError(f"--feedback-rate {feedback_rate}: expected a share between 0 and 1")
    rng = np.random.default_rng(seed)
    drifted = induce(rows, drift, served, rng)
    bodies = records(drifted, served)
    outcomes = drifted[OUTCOME].tolist() if OUTCOME in drifted else [None] * len(bodies)
    result = ReplayResult()
    started = time.perf_counter()
    sent: list[tuple[str, int, Any]] = []
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
    labelled = [s for s in sent if not missing(s[2])]
    result.without_outcome = len(sent) - len(labelled)
    chosen = rng.random(len(labelled)) < drift.flip_labels
    given = rng.random(len(labelled)) < feedback_rate
    values, changed = flip([s[2] for s in labelled], chosen, served, rng)
    for (request_id, index, _), outcome, gave, flipped in zip(labelled, values, given, changed, strict=True):
        if not gave:
            continue
        client.post("/feedback", {"request_id": request_id, "index": index, "outcome": outcome})
        result.feedback += 1
        result.flipped += int(flipped)
    result.seconds = time.perf_counter() - started
    return result


class ReplayOptions(TypedDict, total=False):
    """What `graft replay` does with the rows: :func:`run`'s keywords (their defaults there)."""

    where: Sequence[str]
    label: str | None
    limit: int | None
    shifts: Sequence[str]
    mixes: Sequence[str]
    ratios: Sequence[str]
    flip_labels: float
    feedback_rate: float
    feedback_delay: float
    batch_size: int
    seed: int
    progress: Callable[[int, int], None] | None


def run(
    data: Path,
    url: str,
    where: Sequence[str] = (),
    label: str | None = None,
    limit: int | None = None,
    shifts: Sequence[str] = (),
    mixes: Sequence[str] = (),
    ratios: Sequence[str] = (),
    flip_labels: float = 0.0,
    feedback_rate: float = 1.0,
    feedback_delay: float = 0.0,
    batch_size: int = 50,
    seed: int = 0,
    timeout: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Everything `graft replay` does: ask the server what it serves, read and check the table
    and the options against it, then replay."""
    filters = parse_where(where)
    if not Path(data).is_file():  # a local mistake is named before any request is made
        raise ReplayError(f"{data}: no such data file")
    client = Client(url, timeout)
    try:
        served = client.served()
        drift = parse_drift(shifts, mixes, ratios, flip_labels, served)
        rows = load_rows(Path(data), served, filters, label, outcomes=feedback_rate > 0, limit=limit)
        return replay(rows, client, served, drift, batch_size, feedback_rate, feedback_delay, seed, progress)
    finally:
        client.close()
