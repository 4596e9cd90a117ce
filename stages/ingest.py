"""Stage `ingest`: the raw train and test sources -> one typed table (Parquet).

Handles the UCI quirks: no header, comma + space separators, ``?`` for missing values,
the ``|1x3 Cross validator`` banner of adult.test and the trailing ``.`` on its labels.

A text source (``uci`` or ``csv``) may be gzip-, bz2- or xz-compressed; the content says
which, and a name ending in ``.gz``, ``.bz2`` or ``.xz`` must hold that compression. Text is
UTF-8; a UTF-8 byte-order mark at the start (a file re-saved by a spreadsheet or editor) is
read as the mark it is.

Structural faults fail here with a one-line message naming the file (and the line and column
where there is one): a file that cannot be read or decompressed (damaged, truncated, not the
compression its name says, an archive format ingest does not read), text that is not UTF-8
(UTF-16/32, NUL bytes, a byte-order mark in the middle), field counts, a repeated header row,
no data rows, missing or unexpected columns, and a number the table cannot hold exactly (too
large for 64-bit integers or floats), shown as written. Content faults (ranges, categories,
values that are not numbers) are left to `validate`, so ingest keeps a column it cannot type
as text rather than guessing.

Rows are indexed by where they came from (the line of a text file, the 1-based row of a
Parquet file) until `combine` numbers them with ``row_id``.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import io
import lzma
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from stages import paths
from stages.common import Section, load_params
from stages.errors import DataError, run_stage
from stages.fsio import write_parquet
from stages.schema import COLUMNS, LABEL, NUMERIC, RAW_COLUMNS, ROW_ID, SPLIT, snake

OUTPUT = paths.INGESTED
MISSING_MARKERS = frozenset({"?", ""})
INT64 = (-(2**63), 2**63 - 1)
# a number as a person or a program writes it; anything else ("nan", "inf", "1_000") is text
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")


class Source(Section):
    path: str
    format: Literal["uci", "csv", "parquet"]


class IngestParams(Section):
    train: Source
    test: Source


# --- bytes: reading and decompression --------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    name: str
    suffix: str
    signature: bytes
    decompressor: Callable[[], Any]  # a fresh zlib/bz2/lzma decompressor object (eof, unused_data)


CODECS: tuple[Codec, ...] = (
    Codec("gzip", ".gz", b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),
    Codec("bz2", ".bz2", b"BZh", bz2.BZ2Decompressor),
    Codec("xz", ".xz", b"\xfd7zXZ\x00", lzma.LZMADecompressor),
)
# formats recognised by their first bytes that ingest does not read as text: what, and what to do
READABLE = "ingest reads text compressed with gzip, bz2 or xz, or uncompressed"
FOREIGN: tuple[tuple[bytes, str, str], ...] = (
    (b"PK\x03\x04", "a zip archive", f"unpack it ({READABLE})"),
    (b"(\xb5/\xfd", "zstd-compressed data", READABLE),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", f"unpack it ({READABLE})"),
    (b"Rar!\x1a\x07", "a RAR archive", f"unpack it ({READABLE})"),
    (b"PAR1", "a Parquet file", "give the source format: parquet in params.yaml"),
)


def sniff(raw: bytes) -> Codec | None:
    return next((c for c in CODECS if raw.startswith(c.signature)), None)


def describe(raw: bytes) -> str:
    """What the first bytes of a file say it is, for messages: "it is ..." or "it starts with ..."."""
    codec = sniff(raw)
    if codec is not None:
        return f"it is {codec.name}-compressed data"
    found = next((what for signature, what, _ in FOREIGN if raw.startswith(signature)), None)
    if found is not None:
        return f"it is {found}"
    return "it is empty" if not raw else f"it starts with {raw[:16]!r}"


def decompress(raw: bytes, codec: Codec, name: str) -> bytes:
    """All the streams of ``raw`` (concatenated gzip members are one file), or a DataError saying
    whether the data is damaged or ends early."""
    parts: list[bytes] = []
    rest = raw
    while True:
        stream = codec.decompressor()
        try:
            parts.append(stream.decompress(rest))
        except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
            raise DataError(f"{name}: corrupt {codec.name} stream ({exc})") from None
        if not stream.eof:
            raise DataError(
                f"{name}: corrupt {codec.name} stream: the file ends before the compressed data does "
                "(an interrupted download or copy?)"
            )
        rest = stream.unused_data
        if not rest.strip(b"\0"):  # the end, or the zero padding some tools add
            return b"".join(parts)
        if not rest.startswith(codec.signature):
            raise DataError(
                f"{name}: corrupt {codec.name} stream: {len(rest)} byte(s) of other data after the "
                "compressed data"
            )


def read_bytes(path: Path) -> bytes:
    """The content of a text source, decompressed; every fault names the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: source file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    name = str(path)
    codec = sniff(raw)
    named = next((c for c in CODECS if path.name.lower().endswith(c.suffix)), None)
    if named is not None and codec is not named:
        raise DataError(
            f"{name}: not {named.name} data ({describe(raw)}); a file named *{named.suffix} "
            f"must be {named.name}-compressed"
        )
    if codec is None:
        for signature, what, advice in FOREIGN:
            if raw.startswith(signature):
                raise DataError(f"{name}: {what}, not text; {advice}")
        return raw
    text = decompress(raw, codec, name)
    inner = sniff(text)
    if inner is not None:
        raise DataError(
            f"{name}: compressed twice ({inner.name} data inside the {codec.name} data); "
            "decompress it and compress it once"
        )
    return text


# --- text: encoding ----------------------------------------------------------------------------

OTHER_BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its LE mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    (codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
)
BOM = "\ufeff"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def decode_utf8(raw: bytes, name: str) -> str:
    """UTF-8 text without its byte-order mark; any other encoding is refused, naming it."""
    for mark, encoding in OTHER_BOMS:
        if raw.startswith(mark):
            raise DataError(
                f"{name}: {encoding} text (the file starts with its byte-order mark); "
                "expected UTF-8: save the file as UTF-8"
            )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.end]
        raise DataError(
            f"{name} line {line}: not valid UTF-8 (byte {bad!r} at offset {exc.start}); expected UTF-8 text"
        ) from None
    text = text.removeprefix(BOM)
    if (at := text.find("\x00")) >= 0:
        raise DataError(
            f"{name} line {_line_of(text, at)}: a NUL byte; expected UTF-8 text (UTF-16 or UTF-32 "
            "without a byte-order mark, or not text at all?)"
        )
    if (at := text.find(BOM)) >= 0:
        raise DataError(
            f"{name} line {_line_of(text, at)}: a byte-order mark (U+FEFF) inside the text, "
            "where only the start of a file may have one (files joined together?)"
        )
    return text


# --- text: structure ---------------------------------------------------------------------------


def _field_count_hint(line: str, n_fields: int, is_last: bool) -> str:
    if n_fields == 1 and any(sep in line for sep in (";", "\t", "|")):
        return " (wrong delimiter? fields must be separated by ', ')"
    if is_last and n_fields < len(RAW_COLUMNS):
        return " (truncated last line?)"
    if n_fields < len(RAW_COLUMNS):
        return " (a column is missing?)"
    return " (an extra column?)"


def is_header(fields: list[str]) -> bool:
    """Every field a column name (UCI's hyphenated names or the table's, any case)."""
    return snake(fields[0]) in COLUMNS and all(snake(f) in COLUMNS for f in fields)


def repeated_header(name: str, lines: list[int]) -> DataError:
    more = f" (again at line(s) {', '.join(map(str, lines[1:4]))}{', ...' if len(lines) > 4 else ''})"
    return DataError(
        f"{name} line {lines[0]}: the header row again, after data rows{more if len(lines) > 1 else ''}; "
        "only the first line may name the columns (files joined together?)"
    )


def parse_uci(text: str, name: str) -> pd.DataFrame:
    """Parse UCI Adult text into a frame of strings (None for missing), one row per record,
    indexed by line number."""
    numbered = [
        (i + 1, [f.strip() for f in ln.split(",")], ln)
        for i, ln in enumerate(text.splitlines())
        if ln.strip() and not ln.startswith("|")
    ]
    if numbered and is_header(numbered[0][1]):
        numbered = numbered[1:]  # a header line: allowed, but the file still needs data rows
    headers = [lineno for lineno, fields, _ in numbered if is_header(fields)]
    for pos, (lineno, fields, line) in enumerate(numbered):
        if headers and lineno == headers[0]:
            raise repeated_header(name, headers)
        if len(fields) != len(RAW_COLUMNS):
            hint = _field_count_hint(line, len(fields), pos == len(numbered) - 1)
            raise DataError(
                f"{name} line {lineno}: expected {len(RAW_COLUMNS)} comma-separated fields, "
                f"found {len(fields)}{hint}"
            )
    if not numbered:
        raise DataError(f"{name}: no data rows (the file is empty, or holds only a header or banner)")
    rows = [[None if f in MISSING_MARKERS else f for f in fields] for _, fields, _ in numbered]
    return pd.DataFrame(rows, columns=list(COLUMNS), index=[n for n, _, _ in numbered], dtype=object)


def read_csv(raw: bytes, name: str) -> pd.DataFrame:
    """A CSV file with a header row into a frame of strings (None for missing), indexed by the
    line each record starts on."""
    text = decode_utf8(raw, name)
    if not text.strip():
        raise DataError(f"{name}: no data rows (the file is empty)")
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header: list[str] | None = None
    rows: list[list[str | None]] = []
    starts: list[int] = []
    headers: list[int] = []
    end = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            values = [v.strip() for v in record]
            if not any(values):
                continue  # a blank line
            if header is None:
                header = [snake(v) for v in values]
                twice = sorted({c for c in header if header.count(c) > 1})
                if twice:
                    raise DataError(f"{name} line {start}: column(s) {twice} named twice in the header")
                continue
            if [snake(v) for v in values] == header:
                headers.append(start)
            if headers:
                continue  # past a repeated header only more of them are looked for
            if len(values) != len(header):
                raise DataError(
                    f"{name} line {start}: expected {len(header)} comma-separated fields "
                    f"(as in the header), found {len(values)}"
                )
            rows.append([None if v in MISSING_MARKERS else v for v in values])
            starts.append(start)
    except csv.Error as exc:
        raise DataError(f"{name} line {reader.line_num}: not readable as CSV ({exc})") from None
    if headers:
        raise repeated_header(name, headers)
    if not rows:
        raise DataError(f"{name}: no data rows (the file holds only a header)")
    return pd.DataFrame(rows, columns=header, index=starts, dtype=object)


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet source with its own column types, indexed by 1-based row."""
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(f"{path}: source file not found") from None
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    frame.columns = [snake(str(c)) for c in frame.columns]
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


def check_columns(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A header-named source must hold exactly the Adult columns (any order), each once."""
    twice = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if twice:
        raise DataError(f"{name}: column(s) {twice} appear more than once (names compared in snake_case)")
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


# --- typing: numbers exactly as written ----------------------------------------------------------


def _out_of_range(
    series: pd.Series,
    present: np.ndarray,
    written: list[str],
    bad: list[bool],
    what: str,
    name: str,
    unit: str,
) -> DataError:
    """One message for the column: the first offending value as written, and how many more."""
    labels = series.index[present]
    first = bad.index(True)
    where = f"{name} {unit} {labels[first]}" if name else f"{unit} {labels[first]}"
    more = f"; and {sum(bad) - 1} more in this column" if sum(bad) > 1 else ""
    return DataError(f"{where}, column '{series.name}': {written[first]} {what}{more}")


TOO_LARGE_INT = f"is out of range for a 64-bit integer ({INT64[0]} to {INT64[1]})"
TOO_LARGE_FLOAT = "is out of range for a 64-bit float (magnitudes up to about 1.8e308)"
TOO_SMALL_FLOAT = "is too close to zero for a 64-bit float (it would become 0)"


def _type_native(series: pd.Series, name: str, unit: str) -> pd.Series:
    """A column the source already typed as numbers (Parquet)."""
    present = series.notna().to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        if pd.api.types.is_unsigned_integer_dtype(series.dtype):
            ints = [int(v) for v in series[present]]
            bad = [v > INT64[1] for v in ints]
            if any(bad):
                raise _out_of_range(series, present, [str(v) for v in ints], bad, TOO_LARGE_INT, name, unit)
        return series.astype("Int64")
    floats = [float(v) for v in series[present]]
    if not all(math.isfinite(v) for v in floats):  # not a number a column can hold: validate names it
        return series.map(lambda v: None if pd.isna(v) else repr(float(v))).astype("string")
    if all(v.is_integer() for v in floats):
        bad = [abs(v) >= 2**63 for v in floats]
        if any(bad):
            raise _out_of_range(series, present, [repr(v) for v in floats], bad, TOO_LARGE_INT, name, unit)
        return series.astype("Float64").astype("Int64")  # whole floats inside the range convert exactly
    return series.astype("Float64")


def type_numeric(series: pd.Series, name: str = "", unit: str = "line") -> pd.Series:
    """Whole numbers -> Int64, other numbers -> Float64, exactly as written; a column holding
    anything else stays text (for `validate` to report). A number the type cannot hold is a
    DataError naming ``name``, the ``unit`` (line or row) and the column, showing the value."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return _type_native(series, name, unit)
    present = series.notna().to_numpy(dtype=bool)
    written = [str(v) for v in series.to_numpy(dtype=object)[present]]
    if not all(NUMBER.fullmatch(v) for v in written):
        return series.astype("string")
    whole: list[Any]
    if all(INTEGER.fullmatch(v) for v in written):
        whole = [int(v) for v in written]
    else:
        exact = [Decimal(v) for v in written]
        if not all(d == d.to_integral_value() for d in exact):
            floats = [float(d) for d in exact]
            for what, bad in (
                (TOO_LARGE_FLOAT, [math.isinf(f) for f in floats]),
                (TOO_SMALL_FLOAT, [f == 0 and d != 0 for f, d in zip(floats, exact, strict=True)]),
            ):
                if any(bad):
                    raise _out_of_range(series, present, written, bad, what, name, unit)
            return _spread(series, present, floats, "Float64")
        whole = exact
    outside = [not INT64[0] <= v <= INT64[1] for v in whole]
    if any(outside):
        raise _out_of_range(series, present, written, outside, TOO_LARGE_INT, name, unit)
    return _spread(series, present, [int(v) for v in whole], "Int64")


def _spread(series: pd.Series, present: np.ndarray, values: list[Any], dtype: str) -> pd.Series:
    """``values`` (one per present value of ``series``, in order) back in place, missing elsewhere."""
    data = np.zeros(len(series), dtype="int64" if dtype == "Int64" else "float64")
    data[present] = values
    array = pd.array(data, dtype=dtype)
    array[~present] = pd.NA
    return pd.Series(array, index=series.index, name=series.name)


def type_table(frame: pd.DataFrame, name: str = "", unit: str = "line") -> pd.DataFrame:
    typed = {}
    for column in frame.columns:
        if column in NUMERIC:
            typed[column] = type_numeric(frame[column], name, unit)
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
    parts = [
        type_table(normalise_labels(read_source(src)), src.path, "row" if src.format == "parquet" else "line")
        for src in (params.train, params.test)
    ]
    return combine(*parts)


def main() -> None:
    params = load_params("ingest", IngestParams)
    write_parquet(OUTPUT, ingest(params))


if __name__ == "__main__":
    run_stage(main, "ingest")
