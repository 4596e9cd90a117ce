"""Parsing the log's rows into columns: a chunk of requests in one pass of Arrow's JSON reader
(:func:`parse_fast`), or row by row (:func:`parse_slow`) when any row is unusual, which finds the
row and counts it under its reason (the ``NOT_JSON``... constants)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from graft.monitoring.window import BINARY, LogLayout
from graft.serving.logformat import LABEL, OUTPUT_KEY, PREDICTION, PROBABILITIES, PROBABILITY

NOT_JSON = "inputs are not valid JSON"
NOT_RECORDS = "inputs are not a non-empty JSON array of records"
OUTPUTS_NOT_JSON = "outputs are not valid JSON"
NO_PROBABILITIES = "outputs do not hold one probability per input record"
BAD_PROBABILITY = "a probability is not a number between 0 and 1"
NO_CLASS_PROBABILITIES = "outputs do not hold one list of class probabilities per input record"
CLASS_COUNT = "a list of class probabilities does not hold one per class"
NO_PREDICTIONS = "outputs do not hold one prediction per input record"
BAD_PREDICTION = "a prediction is not a finite number"
FEEDBACK_INDEX = "feedback names a record index its request does not have"
FEEDBACK_LABEL = "feedback outcome is not one of the model's labels"
FEEDBACK_NUMBER = "feedback outcome is not a finite number"
NUMBERS, TEXTS = {int, float, type(None)}, {str, type(None)}


def as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(as_text(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def later(new: Any, old: Any) -> bool:
    """Whether feedback time ``new`` is after ``old`` (ISO text or datetimes; unparsable: text order)."""
    try:
        return _time(new) > _time(old)
    except ValueError:
        return as_text(new) > as_text(old)


def seconds(times: list[Any]) -> np.ndarray:
    """Epoch seconds of ISO texts (SQLite) or datetimes (PostgreSQL); NaN where unparsable."""
    values = [t.decode("utf-8", "replace") if isinstance(t, bytes) else t for t in times]
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce", format="ISO8601")
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)


@dataclass
class Chunk:
    """Requests read from the log, not yet parsed (one entry per request; feedback by request)."""

    ids: list[Any] = field(default_factory=list)
    versions: list[Any] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    served: list[Any] = field(default_factory=list)
    feedback: list[tuple[int, tuple]] = field(default_factory=list)  # (request, feedback columns)
    size: int = 0  # bytes of JSON held


@dataclass
class Parsed:
    """A chunk's records as columns; ``counts`` holds each request's records (0: unreadable)."""

    counts: np.ndarray
    numeric: dict[str, np.ndarray]
    categorical: dict[str, tuple[np.ndarray, list[Any]]]  # local codes (-1 missing), their values
    outputs: np.ndarray  # one value per record (binary, regression) or (records, classes)
    not_numbers: dict[str, int] = field(default_factory=dict)


def arrow_schema(layout: LogLayout) -> Any:
    import pyarrow as pa

    record = pa.struct(
        [(c, pa.float64()) for c in layout.numeric]
        + [(c, pa.string()) for c in (*layout.categorical, *layout.text)]
    )
    labels = (LABEL, pa.list_(pa.string()))
    if layout.task == "binary":
        outputs = pa.struct([(PROBABILITY, pa.list_(pa.float64())), labels])
    elif layout.task == "multiclass":
        outputs = pa.struct([(PROBABILITIES, pa.list_(pa.list_(pa.float64()))), labels])
    else:
        outputs = pa.struct([(PREDICTION, pa.list_(pa.float64()))])
    return pa.schema([("i", pa.list_(record)), ("o", outputs)])


def parse_fast(chunk: Chunk, layout: LogLayout, schema: Any) -> Parsed | None:
    """The whole chunk in one pass of Arrow's JSON reader; None when any row is unusual (a row
    that is not valid JSON or has another shape, an unexpected field, a string where a number
    belongs...): the careful per-row parse then finds and counts what is wrong."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    pairs = zip(chunk.inputs, chunk.outputs, strict=True)
    try:
        longest = max(map(len, chunk.inputs)) + max(map(len, chunk.outputs))
        if isinstance(chunk.inputs[0], bytes):  # SQLite
            lines = b"\n".join([b'{"i":' + i + b',"o":' + o + b"}" for i, o in pairs])
        else:  # PostgreSQL
            lines = "\n".join(['{"i":' + i + ',"o":' + o + "}" for i, o in pairs]).encode()
        table = pj.read_json(
            io.BytesIO(lines),
            # blocks of 4 MiB are parsed in parallel; a block must hold the longest line
            read_options=pj.ReadOptions(block_size=max(4 << 20, 2 * longest + 64)),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        ).combine_chunks()
    except (pa.ArrowException, ValueError, TypeError):  # ValueError: not UTF-8; TypeError: mixed types
        return None
    inputs, outputs = table.column("i").chunk(0), table.column("o").chunk(0)
    if table.num_rows != len(chunk.ids) or inputs.null_count or outputs.null_count:
        return None
    records, predicted = inputs.flatten(), outputs.field(OUTPUT_KEY[layout.task])
    counts = pc.list_value_length(inputs).to_numpy(zero_copy_only=False)
    if records.null_count or predicted.null_count or not counts.all():
        return None
    values = predicted.flatten()
    if values.null_count or not np.array_equal(
        pc.list_value_length(predicted).to_numpy(zero_copy_only=False), counts
    ):
        return None
    if layout.task == "multiclass":  # one list of k probabilities per record
        k = len(layout.classes)
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if len(lengths) and (lengths.min() != k or lengths.max() != k):
            return None
        values = values.flatten()
        if values.null_count:
            return None
    output_np = values.to_numpy(zero_copy_only=False)
    if layout.task == "regression":
        if not np.isfinite(output_np).all():
            return None
    elif len(output_np) and (output_np.min() < 0 or output_np.max() > 1):
        return None
    if layout.task == "multiclass":
        output_np = output_np.reshape(-1, len(layout.classes))
    numeric = {c: records.field(c).to_numpy(zero_copy_only=False) for c in layout.numeric}
    for c in layout.text:  # free text: its length in characters (null: NaN)
        lengths = pc.cast(pc.utf8_length(records.field(c)), pa.float64())
        numeric[c] = lengths.to_numpy(zero_copy_only=False)
    categorical = {}
    for c in layout.categorical:
        encoded = pc.dictionary_encode(records.field(c))
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        categorical[c] = (codes, encoded.dictionary.to_pylist())
    return Parsed(counts.astype(np.int64), numeric, categorical, output_np)


def _number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _check_outputs(values: Any, n: int, layout: LogLayout) -> str | None:
    """Why a request's logged outputs are not ``n`` of what the task predicts (None: they are)."""
    if layout.task == "regression":
        if type(values) is not list or len(values) != n:
            return NO_PREDICTIONS
        for v in values:
            if not _number(v) or not math.isfinite(v):
                return BAD_PREDICTION
        return None
    if layout.task == "multiclass":
        if type(values) is not list or len(values) != n:
            return NO_CLASS_PROBABILITIES
        k = len(layout.classes)
        for row in values:
            if type(row) is not list:
                return NO_CLASS_PROBABILITIES
            if len(row) != k:
                return CLASS_COUNT
            for p in row:
                if not _number(p) or not 0 <= p <= 1:
                    return BAD_PROBABILITY
        return None
    if type(values) is not list or len(values) != n:
        return NO_PROBABILITIES
    for p in values:
        if not _number(p) or not 0 <= p <= 1:
            return BAD_PROBABILITY
    return None


def _parse(
    inputs: Any, outputs: Any, layout: LogLayout = BINARY
) -> tuple[list[dict[str, Any]], list[Any]] | str:
    """A logged request's records and outputs, or the reason it cannot be read."""
    try:
        records = orjson.loads(inputs)
    except orjson.JSONDecodeError:  # also NULL
        return NOT_JSON
    if type(records) is not list or not records:
        return NOT_RECORDS
    for record in records:
        if type(record) is not dict:
            return NOT_RECORDS
    missing = {"binary": NO_PROBABILITIES, "multiclass": NO_CLASS_PROBABILITIES}
    try:
        values = orjson.loads(outputs)[OUTPUT_KEY[layout.task]]
    except orjson.JSONDecodeError:
        return OUTPUTS_NOT_JSON
    except (KeyError, TypeError, IndexError):  # not an object, or not the task's key
        return missing.get(layout.task, NO_PREDICTIONS)
    problem = _check_outputs(values, len(records), layout)
    return problem if problem is not None else (records, values)


def parse_slow(chunk: Chunk, layout: LogLayout, skip: Any) -> Parsed:
    """Row by row (orjson): unreadable rows are reported through ``skip`` and left out."""
    records: list[dict[str, Any]] = []
    predicted: list[Any] = []
    counts = np.zeros(len(chunk.ids), dtype=np.int64)
    for k, (inputs, outputs) in enumerate(zip(chunk.inputs, chunk.outputs, strict=True)):
        parsed = _parse(inputs, outputs, layout)
        if isinstance(parsed, str):
            skip(parsed, chunk.ids[k])
            continue
        batch, values = parsed
        counts[k] = len(batch)
        records += batch
        predicted += values
    numeric, not_numbers = {}, {}
    for column in layout.numeric:
        values = [r.get(column) for r in records]
        if not set(map(type, values)) <= NUMBERS:
            bad = [i for i, v in enumerate(values) if type(v) not in NUMBERS]
            for i in bad:
                values[i] = None
            not_numbers[column] = len(bad)
        numeric[column] = np.array(values, dtype=float).reshape(len(values))
    for column in layout.text:
        texts = [r.get(column) for r in records]
        numeric[column] = np.array([len(v) if type(v) is str else np.nan for v in texts], dtype=float)
    categorical = {}
    for column in layout.categorical:
        values = [r.get(column) for r in records]
        if not set(map(type, values)) <= TEXTS:
            for i, v in enumerate(values):
                if type(v) not in TEXTS:
                    values[i] = orjson.dumps(v).decode()  # kept, so the schema check names it
        local: dict[Any, int] = {None: -1}
        for value in dict.fromkeys(values):  # first-appearance order, as Arrow's dictionary
            local.setdefault(value, len(local) - 1)
        codes = np.fromiter(map(local.__getitem__, values), dtype=np.int64, count=len(values))
        categorical[column] = (codes, list(local)[1:])
    outputs = np.array(predicted, dtype=float)
    if layout.task == "multiclass":
        outputs = outputs.reshape(-1, len(layout.classes))
    return Parsed(counts, numeric, categorical, outputs, not_numbers)
