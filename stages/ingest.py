"""Stage `ingest`: the raw train and test sources -> one typed table (Parquet).

Handles the UCI quirks: no header, comma + space separators, ``?`` for missing values,
the ``|1x3 Cross validator`` banner of adult.test and the trailing ``.`` on its labels.
Structural faults (encoding, field counts, empty files) fail here naming the file and line;
content faults (ranges, categories, dtypes) are left to `validate`, so ingest keeps a
column it cannot type as text rather than guessing.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Literal

import pandas as pd

from stages import paths
from stages.common import Section, load_params
from stages.errors import DataError, run_stage
from stages.fsio import write_parquet
from stages.schema import COLUMNS, LABEL, NUMERIC, RAW_COLUMNS, ROW_ID, SPLIT, snake

OUTPUT = paths.INGESTED
MISSING_MARKERS = frozenset({"?", ""})


class Source(Section):
    path: str
    format: Literal["uci", "csv", "parquet"]


class IngestParams(Section):
    train: Source
    test: Source


def read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: source file not found") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip stream ({exc})") from None
    return raw


def decode_utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.end]
        raise DataError(
            f"{name} line {line}: not valid UTF-8 (byte {bad!r} at offset {exc.start}); expected UTF-8 text"
        ) from None


def _field_count_hint(line: str, n_fields: int, is_last: bool) -> str:
    if n_fields == 1 and any(sep in line for sep in (";", "\t", "|")):
        return " (wrong delimiter? fields must be separated by ', ')"
    if is_last and n_fields < len(RAW_COLUMNS):
        return " (truncated last line?)"
    if n_fields < len(RAW_COLUMNS):
        return " (a column is missing?)"
    return " (an extra column?)"


def parse_uci(text: str, name: str) -> pd.DataFrame:
    """Parse UCI Adult text into a frame of strings (None for missing), one row per record."""
    lines = text.splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("|")]
    rows: list[list[str | None]] = []
    header = {c for c in RAW_COLUMNS} | set(COLUMNS)
    for pos, (lineno, line) in enumerate(numbered):
        fields = [f.strip() for f in line.split(",")]
        if pos == 0 and set(fields) <= header:
            continue  # a header line: allowed, but the file still needs data rows
        if len(fields) != len(RAW_COLUMNS):
            hint = _field_count_hint(line, len(fields), pos == len(numbered) - 1)
            raise DataError(
                f"{name} line {lineno}: expected {len(RAW_COLUMNS)} comma-separated fields, "
                f"found {len(fields)}{hint}"
            )
        rows.append([None if f in MISSING_MARKERS else f for f in fields])
    if not rows:
        raise DataError(f"{name}: no data rows (the file is empty, or holds only a header or banner)")
    return pd.DataFrame(rows, columns=list(COLUMNS), dtype=object)


def read_csv(raw: bytes, name: str) -> pd.DataFrame:
    text = decode_utf8(raw, name)
    if not text.strip():
        raise DataError(f"{name}: no data rows (the file is empty)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found is None:
            raise DataError(f"{name}: not a readable CSV file ({exc})") from None
        expected, line, got = found.groups()
        raise DataError(
            f"{name} line {line}: expected {expected} comma-separated fields (as in the header), found {got}"
        ) from None
    if frame.empty:
        raise DataError(f"{name}: no data rows (the file holds only a header)")
    frame.columns = [snake(c) for c in frame.columns]
    return frame.astype(object).map(lambda v: None if str(v).strip() in MISSING_MARKERS else str(v).strip())


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"{path}: source file not found") from None
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    frame.columns = [snake(str(c)) for c in frame.columns]
    return frame


def check_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A header-named source must hold exactly the Adult columns (any order)."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in COLUMNS]
    if missing or extra:
        found = "; ".join(
            part
            for part in (
                f"missing column(s) {missing}" if missing else "",
                f"unexpected column(s) {extra}" if extra else "",
            )
            if part
        )
        raise DataError(f"{name}: {found}; expected the columns {list(COLUMNS)}")
    return frame[list(COLUMNS)]


def read_source(source: Source) -> pd.DataFrame:
    path = Path(source.path)
    if source.format == "parquet":
        return check_columns(read_parquet(path), str(path))
    raw = read_bytes(path)
    if source.format == "csv":
        return check_columns(read_csv(raw, str(path)), str(path))
    return parse_uci(decode_utf8(raw, str(path)), str(path))


def normalise_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """adult.test writes labels as ``<=50K.``: drop the trailing dot."""
    if LABEL in frame.columns:
        frame = frame.assign(
            **{LABEL: frame[LABEL].map(lambda v: v.rstrip(".") if isinstance(v, str) else v)}
        )
    return frame


def type_numeric(series: pd.Series) -> pd.Series:
    """Integers -> Int64, other numbers -> Float64; a column with non-numbers stays text."""
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.astype("Float64")
    else:
        numbers = pd.to_numeric(series, errors="coerce").astype("Float64")
        if (series.notna() & numbers.isna()).any():
            return series.astype("string")
    whole = numbers.dropna()
    if (whole == whole.round()).all():
        return numbers.astype("Int64")
    return numbers


def type_table(frame: pd.DataFrame) -> pd.DataFrame:
    typed = {}
    for column in frame.columns:
        if column in NUMERIC:
            typed[column] = type_numeric(frame[column])
        else:
            typed[column] = frame[column].astype("string")
    return pd.DataFrame(typed, index=frame.index)


def combine(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Stack the splits, tag each row with its split and a stable row id."""
    table = pd.concat([train.assign(**{SPLIT: "train"}), test.assign(**{SPLIT: "test"})], ignore_index=True)
    table.insert(0, ROW_ID, pd.RangeIndex(len(table), dtype="int64"))
    table[SPLIT] = table[SPLIT].astype("string")
    for column in table.columns:
        if table[column].dtype == object:  # typed as numbers in one source, kept as text in the other
            table[column] = table[column].astype("string")
    return table


def ingest(params: IngestParams) -> pd.DataFrame:
    parts = [type_table(normalise_labels(read_source(src))) for src in (params.train, params.test)]
    return combine(*parts)


def main() -> None:
    params = load_params("ingest", IngestParams)
    write_parquet(OUTPUT, ingest(params))


if __name__ == "__main__":
    run_stage(main, "ingest")
