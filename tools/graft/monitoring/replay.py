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
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from graft.core.errors import GraftError, UsageError
from graft.project.settings import TASK_TYPES
from graft.serving.validator import RecordValidator, Rule, ServingError

NUMERIC_KINDS = ("integer", "number")


class ReplayError(GraftError):
    pass


class Rejected(ReplayError):
    """The server answered 4xx: the input was refused (the log holds nothing of it)."""


# --- what the server serves ----------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What `graft serve` publishes on ``GET /metadata`` that replay needs."""

    model: str
    task: str
    labels: tuple[str, ...]
    label_column: str
    rules: dict[str, Rule]

    @property
    def numeric(self) -> list[str]:
        return [name for name, rule in self.rules.items() if rule.kind in NUMERIC_KINDS]

    @property
    def text(self) -> list[str]:
        return [name for name, rule in self.rules.items() if rule.kind == "string"]

    @classmethod
    def from_metadata(cls, metadata: Any, where: str) -> Served:
        """Read a ``/metadata`` document; ``where`` names it in errors."""
        if not isinstance(metadata, Mapping) or not isinstance(metadata.get("input_schema"), Mapping):
            raise ReplayError(
                f"{where} has no 'input_schema': replay needs a server of this graft version "
                "(`graft serve` publishes the package's input schema there)"
            )
        task = metadata.get("task")
        task_type = task.get("type") if isinstance(task, Mapping) else None
        if task_type not in TASK_TYPES:
            expected = ", ".join(TASK_TYPES)
            raise ReplayError(f"{where}: 'task.type' is {task_type!r}, expected one of {expected}")
        labels = task.get("labels") if isinstance(task, Mapping) else None
        if task_type != "regression" and (
            not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels)
        ):
            raise ReplayError(f"{where}: 'task.labels' must list the classes of a {task_type} model")
        try:
            validator = RecordValidator(metadata["input_schema"])
        except ServingError as exc:
            raise ReplayError(f"{where}: input_schema: {exc}") from None
        label_column = metadata.get("label_column")
        return cls(
            model=str(metadata.get("model", "")),
            task=task_type,
            labels=tuple(labels or ()) if task_type != "regression" else (),
            label_column=label_column if isinstance(label_column, str) and label_column else "label",
            rules={rule.name: rule for rule in validator.rules},
        )


# --- drift ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    shifts: list[tuple[str, str, float]] = field(default_factory=list)
    mixes: list[tuple[str, str, float]] = field(default_factory=list)
    ratios: list[tuple[str, str, float]] = field(default_factory=list)
    flip_labels: float = 0.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _share(flag: str, text: str, value: str) -> float:
    share = _number(value)
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
        op, amount = change[:1], _number(change[1:]) if change[1:] else None
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


# --- the table -----------------------------------------------------------------------------------


def parse_where(items: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for text in items:
        column, equals, value = text.partition("=")
        if not column or not equals or not value:
            raise UsageError(f"--where {text!r}: expected COLUMN=VALUE")
        out.append((column, value))
    return out


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet or CSV file as a DataFrame (CSV as text: only an empty cell is missing)."""
    if not path.is_file():
        raise ReplayError(f"{path}: no such data file")
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ReplayError(f"{path}: cannot be read as a table ({exc.__class__.__name__}: {exc})") from None
    raise ReplayError(f"{path}: expected a .parquet, .csv or .csv.gz file")


def _filtered(frame: pd.DataFrame, where: Sequence[tuple[str, str]], path: Path) -> pd.DataFrame:
    for column, value in where:
        if column not in frame:
            raise ReplayError(
                f"{path}: --where {column}={value}: no column '{column}' "
                f"(columns: {', '.join(map(str, frame.columns))})"
            )
        values = frame[column]
        if pd.api.types.is_bool_dtype(values.dtype):
            keep = values.astype("boolean") == (value.lower() in ("true", "1"))
        elif pd.api.types.is_numeric_dtype(values.dtype):
            number = _number(value)
            if number is None:
                raise ReplayError(
                    f"{path}: --where {column}={value}: column '{column}' is numeric, "
                    f"'{value}' is not a number"
                )
            keep = values == number
        else:
            keep = values.astype("string") == value
        frame = frame[keep.fillna(False).astype(bool)]
    return frame


def _typed(values: pd.Series, rule: Rule, path: Path) -> pd.Series:
    """A column as the schema types it: numbers (integer columns keep Int64 where whole) or text."""
    if rule.kind == "string":
        return values.astype(object).map(_text, na_action="ignore").astype(object).where(values.notna(), None)
    if pd.api.types.is_bool_dtype(values.dtype):
        raise ReplayError(f"{path}: column '{rule.name}' holds true/false, the schema expects {rule.kind}s")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values
    numbers = pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
    bad = values.notna() & numbers.isna()
    if bad.any():
        first = bad.to_numpy().nonzero()[0][0]
        raise ReplayError(
            f"{path}: column '{rule.name}' row {first}: {values.iloc[first]!r} is not a number "
            f"(the served schema types it {rule.kind})"
        )
    return numbers


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _label(value: Any, labels: frozenset[str]) -> str:
    """A class as text; a whole number in any spelling (1, 1.0, "1.0") as its integer's text
    when that is a label and the spelling is not."""
    text = _text(value)
    if text not in labels:
        number = _number(text)
        if number is not None and number.is_integer() and str(int(number)) in labels:
            return str(int(number))
    return text


def _outcomes(values: pd.Series, served: Served, column: str, path: Path) -> pd.Series:
    """The outcome column as feedback sends it: labels of the task, or finite floats (None: missing)."""
    present = values.notna()
    if served.task == "regression":
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        bad = present & ~np.isfinite(numbers.to_numpy())
        if bad.any():
            shown = ", ".join(repr(v) for v in values[bad].unique()[:3])
            raise ReplayError(
                f"{path}: outcome column '{column}' holds {shown}: "
                "a regression outcome must be a finite number"
            )
        return numbers.astype(object).where(present, None)
    labels = frozenset(served.labels)
    text = values.astype(object).map(lambda v: _label(v, labels), na_action="ignore")
    bad_values = sorted(set(text[present]) - set(served.labels))
    if bad_values:
        shown = ", ".join(repr(v) for v in bad_values[:3]) + (
            f" and {len(bad_values) - 3} more" if len(bad_values) > 3 else ""
        )
        raise ReplayError(
            f"{path}: outcome column '{column}' holds {shown}, not labels of the served model "
            f"(expected {', '.join(served.labels)}); name another column with --label"
        )
    return text.astype(object).where(present, None)


OUTCOME = "__graft_outcome__"


def load_rows(
    path: Path,
    served: Served,
    where: Sequence[tuple[str, str]] = (),
    label: str | None = None,
    outcomes: bool = True,
    limit: int | None = None,
) -> pd.DataFrame:
    """The rows to replay: every schema column the table has (typed) and, with ``outcomes``,
    the outcome column (``label``, default the server's ``label_column``) as :data:`OUTCOME`."""
    frame = _filtered(read_table(path), where, path)
    missing = [name for name, rule in served.rules.items() if rule.required and name not in frame]
    if missing:
        raise ReplayError(f"{path}: missing column(s) {', '.join(missing)} that the served model requires")
    column = label or served.label_column
    if outcomes and column not in frame:
        source = "--label" if label else "the server's label_column (graft.yaml predictions.label)"
        raise ReplayError(
            f"{path}: no outcome column '{column}' ({source}); name it with --label, "
            "or send no feedback with --feedback-rate 0"
        )
    if frame.empty:
        filters = " and ".join(f"{c}={v}" for c, v in where)
        raise ReplayError(f"{path}: no rows to replay" + (f" where {filters}" if filters else ""))
    if limit is not None:
        if limit < 1:
            raise UsageError(f"--limit {limit}: expected at least 1 row")
        frame = frame.iloc[:limit]
    out = pd.DataFrame(
        {name: _typed(frame[name], rule, path) for name, rule in served.rules.items() if name in frame}
    )
    if outcomes:
        out[OUTCOME] = _outcomes(frame[column], served, column, path)
    return out.reset_index(drop=True)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def records(rows: pd.DataFrame, served: Served) -> list[dict[str, Any]]:
    """JSON-ready records: each schema column the rows have, as the schema types it; missing
    values are left out."""
    names = [name for name in served.rules if name in rows]
    converters = [_converter(served.rules[name].kind) for name in names]
    out = []
    for values in rows[names].astype(object).itertuples(index=False):
        record = {}
        for name, convert, value in zip(names, converters, values, strict=True):
            if _missing(value):
                continue
            record[name] = convert(value)
        out.append(record)
    return out


def _converter(kind: str) -> Callable[[Any], Any]:
    if kind == "string":
        return str
    if kind == "number":
        return float

    def integer(value: Any) -> Any:
        number = float(value) if not isinstance(value, (int, np.integer)) else int(value)
        return int(number) if isinstance(number, float) and number.is_integer() else number

    return integer


def flip(
    outcomes: Sequence[Any], chosen: np.ndarray, served: Served, rng: np.random.Generator
) -> tuple[list[Any], np.ndarray]:
    """``outcomes`` with the ``chosen`` ones replaced (see the module docstring), and which were."""
    out = list(outcomes)
    n = len(out)
    changed = np.zeros(n, dtype=bool)
    if served.task == "regression" and n < 2:
        return out, changed  # no other row to take an outcome from
    for i in np.flatnonzero(chosen).tolist():
        if served.task == "binary":
            negative, positive = served.labels
            out[i] = negative if outcomes[i] == positive else positive
        elif served.task == "multiclass":
            k = len(served.labels)
            out[i] = served.labels[(served.labels.index(outcomes[i]) + int(rng.integers(1, k))) % k]
        else:
            out[i] = outcomes[(i + int(rng.integers(1, n))) % n]
        changed[i] = True
    return out, changed


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
    labelled = [s for s in sent if not _missing(s[2])]
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
