"""What `graft replay` sends: the served model as ``GET /metadata`` describes it (:class:`Served`)
and the rows of a table read, filtered and typed against its input schema, with their
outcomes (:func:`load_rows`, :func:`records`). Errors name the file, column or server."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
            number = number_of(value)
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
        number = number_of(text)
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


def missing(value: Any) -> bool:
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
            if missing(value):
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


def number_of(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
