"""The monitoring reference a package carries: the rows the model learnt from, and their statistics.

``package.reference`` in graft.yaml says where the rows are: ``path`` (a Parquet or CSV table
holding the raw input columns), optionally ``rows_from`` (a table whose ``id`` column lists the
rows to keep, e.g. the training split) and ``id``. The columns kept are the ``id`` and the
input schema's properties, so monitoring compares served records with training records
column for column; nothing here names a project column.

Statistics (``reference.json``): per numeric property (schema type integer/number) mean, std,
range, quantiles and missing rate; per string property with categories (``enum``) category
frequencies and missing rate; per free-text property (a string without ``enum``) the same
numeric statistics of its length in characters, under ``text``;
and the committed test predictions' distribution as the task defines it (binary: probability
histogram and positive rate at the threshold; multiclass: mean probability and predicted
share per class; regression: mean, std, quantiles and histogram of the predictions).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graft.core.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from graft.project.settings import Reference, Settings
    from graft.project.view import Predictions

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
DIGITS = 6


def read_table(data: bytes, where: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet (or, by suffix, CSV) table from bytes; unknown columns are named."""
    import pandas as pd
    import pyarrow as pa

    try:
        if where.endswith(".csv"):
            frame = pd.read_csv(io.BytesIO(data))
        else:
            import pyarrow.parquet as pq

            frame = pq.read_table(pa.BufferReader(data)).to_pandas()
    except Exception as exc:  # pandas/pyarrow raise several types; the file is at fault
        raise DataError(f"{where}: cannot be read as a table ({exc.__class__.__name__}: {exc})") from None
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{where}: no column(s) {', '.join(missing)}")
        frame = frame[columns]
    return frame


def schema_columns(schema: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The schema's numeric and categorical properties, in schema order (free text: neither)."""
    numeric: list[str] = []
    strings: list[str] = []
    text = set(text_columns(schema))
    for name, prop in schema["properties"].items():
        kind = prop.get("type")
        kinds = {kind} if isinstance(kind, str) else set(kind or ())
        if name not in text:
            (numeric if kinds & {"integer", "number"} else strings).append(name)
    return numeric, strings


def text_columns(schema: Mapping[str, Any]) -> list[str]:
    """Free-text properties: strings without ``enum`` (monitored by their length in characters)."""
    out = []
    for name, prop in schema["properties"].items():
        kind = prop.get("type")
        kinds = {kind} if isinstance(kind, str) else set(kind or ())
        if "string" in kinds and not kinds & {"integer", "number"} and "enum" not in prop:
            out.append(name)
    return out


def text_lengths(values: pd.Series) -> pd.Series:
    """A free-text column as its length in characters (missing stays missing), float64."""
    return values.map(lambda v: float(len(v)) if isinstance(v, str) else float("nan")).astype("float64")


def reference_rows(config: Reference, schema: Mapping[str, Any], read: Any, where: Any) -> pd.DataFrame:
    """The reference table's id and schema columns, limited to ``rows_from``'s ids, sorted by id."""
    columns = list(schema["properties"])
    keep = ([config.id] if config.id else []) + [c for c in columns if c != config.id]
    data = read(config.path)
    if data is None:
        raise DataError(f"{where(config.path)}: package.reference.path is not in the workspace")
    rows = read_table(data, where(config.path), keep)
    if config.rows_from is not None:
        if config.id is None:
            raise DataError(f"{where(config.path)}: package.reference.rows_from needs package.reference.id")
        source = read(config.rows_from)
        if source is None:
            raise DataError(f"{where(config.rows_from)}: package.reference.rows_from is not in the workspace")
        ids = read_table(source, where(config.rows_from), [config.id])[config.id]
        rows = rows[rows[config.id].isin(ids)]
    if config.id is not None:
        rows = rows.sort_values(config.id, kind="stable")
    if rows.empty:
        raise DataError(f"{where(config.path)}: the monitoring reference has no rows")
    return rows.reset_index(drop=True)


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def _numeric(values: np.ndarray) -> dict[str, Any]:
    import numpy as np

    return {
        "mean": _r(values.mean()),
        "std": _r(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "quantiles": {str(q): _r(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True)},
    }


def prediction_stats(predictions: Predictions, settings: Settings) -> dict[str, Any]:
    """The distribution of the committed test predictions, as the task defines it."""
    import numpy as np

    task = settings.task
    scores = np.asarray(predictions.scores, dtype=float)
    out: dict[str, Any] = {"rows": len(scores), "task": task.type}
    if task.type == "binary":
        hist, edges = np.histogram(scores, bins=10, range=(0.0, 1.0))
        out.update(
            mean=_r(scores.mean()),
            threshold=task.threshold,
            positive_rate=_r((scores >= task.threshold).mean()),
            histogram={"edges": [_r(e) for e in edges], "counts": [int(c) for c in hist]},
        )
    elif task.type == "multiclass":
        classes = list(task.labels or range(scores.shape[1]))
        chosen = scores.argmax(axis=1)
        out.update(
            mean={str(c): _r(scores[:, i].mean()) for i, c in enumerate(classes)},
            predicted_share={str(c): _r((chosen == i).mean()) for i, c in enumerate(classes)},
        )
    else:
        hist, edges = np.histogram(scores, bins=10)
        out.update(
            _numeric(scores),
            histogram={"edges": [_r(e) for e in edges], "counts": [int(c) for c in hist]},
        )
    return out


def reference_stats(
    rows: pd.DataFrame, schema: Mapping[str, Any], predictions: Predictions | None, settings: Settings
) -> dict[str, Any]:
    numeric_columns, string_columns = schema_columns(schema)
    numeric = {}
    for column in numeric_columns:
        values = rows[column].astype("Float64").dropna().to_numpy(dtype=float)
        stats = _numeric(values) if len(values) else {}
        numeric[column] = {**stats, "missing_rate": _r(rows[column].isna().mean())}
    categorical = {}
    for column in string_columns:
        counts = rows[column].value_counts(dropna=True)
        categorical[column] = {
            "frequencies": {str(k): _r(v / len(rows)) for k, v in sorted(counts.items())},
            "missing_rate": _r(rows[column].isna().mean()),
        }
    text = {}
    for column in text_columns(schema):
        lengths = text_lengths(rows[column]).dropna().to_numpy(dtype=float)
        text[column] = {
            "length": _numeric(lengths) if len(lengths) else {},
            "missing_rate": _r(rows[column].isna().mean()),
        }
    out: dict[str, Any] = {"rows": len(rows), "numeric": numeric, "categorical": categorical}
    if text:
        out["text"] = text
    if predictions is not None:
        out["predictions"] = {"source": "test_predictions", **prediction_stats(predictions, settings)}
    return out
