"""The edges of ingest and validate, case by case with exact messages: every compression fault,
every byte-order mark, numbers at the limits of their type, header rows, duplicates and overlap.
(tests/data/test_bad_inputs.py runs the same classes through the real stages.)"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import ingest, validate
from stages.errors import DataError

TEXT = b"39, State-gov\n50, Private\n"
INT64_RANGE = "is out of range for a 64-bit integer (-9223372036854775808 to 9223372036854775807)"
ENDS_EARLY = "the file ends before the compressed data does (an interrupted download or copy?)"


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        call(*args, **kwargs)
    return str(err.value)


# --- bytes ---------------------------------------------------------------------------------------


def written(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.data", TEXT),
        ("a.data.gz", gzip.compress(TEXT, mtime=0)),
        ("a.data", gzip.compress(TEXT, mtime=0)),  # the content decides, the name need not say it
        ("a.data.gz", gzip.compress(TEXT[:14], mtime=0) + gzip.compress(TEXT[14:], mtime=0)),  # two members
        ("a.data.gz", gzip.compress(TEXT, mtime=0) + b"\0" * 8),  # zero padding after the stream
        ("a.data.bz2", bz2.compress(TEXT)),
        ("a.data.xz", lzma.compress(TEXT)),
        ("a.data.xz", lzma.compress(TEXT) + lzma.compress(b"")),  # xz streams concatenated
    ],
)
def test_read_bytes_decompresses(tmp_path, name, data):
    assert ingest.read_bytes(written(tmp_path, name, data)) == TEXT


GZ = gzip.compress(TEXT * 50, mtime=0)
BZ2 = bz2.compress(TEXT * 50)
XZ = lzma.compress(TEXT * 50)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.gz", GZ[: len(GZ) // 2], "{p}: corrupt gzip stream: " + ENDS_EARLY),
        ("a.gz", GZ[:10], "{p}: corrupt gzip stream: " + ENDS_EARLY),
        ("a.gz", GZ[:-8] + bytes([GZ[-8] ^ 0xFF]) + GZ[-7:],
         "{p}: corrupt gzip stream (Error -3 while decompressing data: incorrect data check)"),
        ("a.gz", GZ + b"junk", "{p}: corrupt gzip stream: 4 byte(s) of other data after the compressed data"),
        ("a.gz", GZ[:2] + b"\x07" + GZ[3:],
         "{p}: corrupt gzip stream (Error -3 while decompressing data: unknown compression method)"),
        ("a.gz", TEXT, "{p}: not gzip data (it starts with b'39, State-gov\\n50'); a file named *.gz must be "
         "gzip-compressed"),
        ("a.gz", b"", "{p}: not gzip data (it is empty); a file named *.gz must be gzip-compressed"),
        ("a.gz", BZ2, "{p}: not gzip data (it is bz2-compressed data); a file named *.gz must be "
         "gzip-compressed"),
        ("a.bz2", GZ, "{p}: not bz2 data (it is gzip-compressed data); a file named *.bz2 must be "
         "bz2-compressed"),
        ("a.xz", b"PK\x03\x04rest", "{p}: not xz data (it is a zip archive); a file named *.xz must be "
         "xz-compressed"),
        ("a.bz2", BZ2[: len(BZ2) - 10], "{p}: corrupt bz2 stream: " + ENDS_EARLY),
        ("a.bz2", BZ2[:20] + b"\xff" * 16 + BZ2[36:], "{p}: corrupt bz2 stream (Invalid data stream)"),
        ("a.xz", XZ[:-12], "{p}: corrupt xz stream: " + ENDS_EARLY),
        ("a.gz", gzip.compress(GZ, mtime=0),
         "{p}: compressed twice (gzip data inside the gzip data); decompress it and compress it once"),
        ("a.data", b"(\xb5/\xfd rest", "{p}: zstd-compressed data, not text; ingest reads text compressed "
         "with gzip, bz2 or xz, or uncompressed"),
        ("a.data", b"7z\xbc\xaf\x27\x1c rest", "{p}: a 7-Zip archive, not text; unpack it (ingest reads text "
         "compressed with gzip, bz2 or xz, or uncompressed)"),
        ("a.data", b"Rar!\x1a\x07\x00 rest", "{p}: a RAR archive, not text; unpack it (ingest reads text "
         "compressed with gzip, bz2 or xz, or uncompressed)"),
        ("a.data", b"PAR1 rest", "{p}: a Parquet file, not text; give the source format: parquet in "
         "params.yaml"),
    ],
)  # fmt: skip
def test_read_bytes_names_the_file_for_every_fault(tmp_path, name, data, message):
    path = written(tmp_path, name, data)
    assert error_of(ingest.read_bytes, path) == message.format(p=path)


def test_read_bytes_missing_and_directory(tmp_path):
    assert (
        error_of(ingest.read_bytes, tmp_path / "nope.data") == f"{tmp_path}/nope.data: source file not found"
    )
    assert error_of(ingest.read_bytes, tmp_path) == f"{tmp_path}: a directory, not a data file"


# --- text ----------------------------------------------------------------------------------------


def test_a_utf8_byte_order_mark_is_dropped():
    assert ingest.decode_utf8(codecs.BOM_UTF8 + TEXT, "f") == TEXT.decode()
    assert ingest.decode_utf8(codecs.BOM_UTF8 + b"|1x3 Cross validator\n", "f") == "|1x3 Cross validator\n"


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-16", "UTF-16 (little-endian)"),  # Python's own utf-16 writes the machine's (LE) mark
        ("utf-32", "UTF-32 (little-endian)"),  # whose first two bytes are UTF-16 LE's mark
        ("utf-16-be", "UTF-16 (big-endian)"),
        ("utf-32-be", "UTF-32 (big-endian)"),
    ],
)
def test_other_byte_order_marks_name_the_encoding(encoding, name):
    raw = ("\ufeff" if encoding.endswith("-be") else "").encode(encoding) + TEXT.decode().encode(encoding)
    assert error_of(ingest.decode_utf8, raw, "f.data") == (
        f"f.data: {name} text (the file starts with its byte-order mark); "
        "expected UTF-8: save the file as UTF-8"
    )


def test_nul_bytes_and_a_mark_inside_the_text():
    assert error_of(ingest.decode_utf8, b"39, a\n40, b\x00\n", "f") == (
        "f line 2: a NUL byte; expected UTF-8 text (UTF-16 or UTF-32 without a byte-order mark, "
        "or not text at all?)"
    )
    assert error_of(ingest.decode_utf8, codecs.BOM_UTF8 + b"39, a\n" + codecs.BOM_UTF8 + b"40, b\n", "f") == (
        "f line 2: a byte-order mark (U+FEFF) inside the text, where only the start of a file may have one "
        "(files joined together?)"
    )


# --- structure -----------------------------------------------------------------------------------

ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, United-States, <=50K"
)
UCI_HEADER = ", ".join(ingest.RAW_COLUMNS)


def test_parse_uci_first_line_header_in_any_spelling():
    header = ", ".join(c.upper().replace("-", "_") for c in ingest.RAW_COLUMNS)
    assert ingest.parse_uci(f"{header}\n{ROW}\n", "f").index.tolist() == [2]


def test_parse_uci_repeated_headers_are_one_message_in_file_order():
    text = "\n".join([UCI_HEADER, ROW, ROW, UCI_HEADER, ROW, UCI_HEADER, ROW, "short, row"]) + "\n"
    assert error_of(ingest.parse_uci, text, "f") == (
        "f line 4: the header row again, after data rows (again at line(s) 6); only the first line may "
        "name the columns (files joined together?)"
    )
    # a fault before the repeated header is the one reported
    assert error_of(ingest.parse_uci, "\n".join([ROW, "short, row", UCI_HEADER, ROW]), "f").startswith(
        "f line 2: expected 15 comma-separated fields, found 2"
    )


CSV_HEADER = ",".join(ingest.RAW_COLUMNS)
CSV_ROW = ROW.replace(", ", ",")


def test_read_csv_line_numbers_count_blank_lines_and_quoted_newlines():
    quoted = CSV_ROW.replace("State-gov", '"State-\ngov"')
    text = f"{CSV_HEADER}\n\n{CSV_ROW}\n{quoted}\n\n{CSV_ROW}\n".encode()
    frame = ingest.read_csv(text, "f.csv")
    assert frame.index.tolist() == [3, 4, 7]
    assert frame.loc[4, "workclass"] == "State-\ngov"
    bad = f"{CSV_HEADER}\n{quoted}\n{CSV_ROW},extra\n".encode()
    assert error_of(ingest.read_csv, bad, "f.csv") == (
        "f.csv line 4: expected 15 comma-separated fields (as in the header), found 16"
    )


def test_read_csv_short_rows_repeated_and_doubled_header_names():
    assert error_of(ingest.read_csv, f"{CSV_HEADER}\n{CSV_ROW}\n39,State-gov\n".encode(), "f.csv") == (
        "f.csv line 3: expected 15 comma-separated fields (as in the header), found 2"
    )
    joined = f"{CSV_HEADER}\n{CSV_ROW}\n{CSV_HEADER}\n{CSV_ROW}\n{CSV_HEADER}\n{CSV_ROW},x\n".encode()
    assert error_of(ingest.read_csv, joined, "f.csv") == (
        "f.csv line 3: the header row again, after data rows (again at line(s) 5); only the first line may "
        "name the columns (files joined together?)"
    )
    doubled = CSV_HEADER.replace("fnlwgt", "age").replace("income", "Age")
    assert error_of(ingest.read_csv, f"{doubled}\n{CSV_ROW}\n".encode(), "f.csv") == (
        "f.csv line 1: column(s) ['age'] named twice in the header"
    )


# --- numbers -------------------------------------------------------------------------------------


def typed(values: list | pd.Series, **kwargs) -> pd.Series:
    """``values`` typed as the column fnlwgt of f.data, whose first value is on line (row) 10."""
    series = pd.Series(values).set_axis(range(10, 10 + len(values))).rename("fnlwgt")
    return ingest.type_numeric(series, "f.data", **kwargs)


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (["9223372036854775807", "-9223372036854775808", None], "Int64", [2**63 - 1, -(2**63), pd.NA]),
        (["9007199254740993"], "Int64", [2**53 + 1]),  # exact, not rounded through a float
        (["9007199254740993.0", "1e3", "+7"], "Int64", [2**53 + 1, 1000, 7]),
        (["1.5", None, "-2"], "Float64", [1.5, pd.NA, -2.0]),
        (["1", "inf"], "string", ["1", "inf"]),  # not a number a column can hold: validate names it
        (["1", "nan"], "string", ["1", "nan"]),
        (["1", "1_000"], "string", ["1", "1_000"]),
        ([None, None], "Int64", [pd.NA, pd.NA]),
    ],
)
def test_type_numeric_keeps_the_value_as_written(values, dtype, expected):
    result = typed(pd.Series(values, dtype=object).tolist())
    assert str(result.dtype) == dtype
    assert result.tolist() == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["1", "9223372036854775808"], f"f.data line 11, column 'fnlwgt': 9223372036854775808 {INT64_RANGE}"),
        (["-9223372036854775809"], f"f.data line 10, column 'fnlwgt': -9223372036854775809 {INT64_RANGE}"),
        (["1e19", "1", "2e30"],
         f"f.data line 10, column 'fnlwgt': 1e19 {INT64_RANGE}; and 1 more in this column"),
        (["0.5", "1e400"], "f.data line 11, column 'fnlwgt': 1e400 is out of range for a 64-bit float "
         "(magnitudes up to about 1.8e308)"),
        (["0.5", "-1e-400"],
         "f.data line 11, column 'fnlwgt': -1e-400 is too close to zero for a 64-bit float "
         "(it would become 0)"),
    ],
)  # fmt: skip
def test_type_numeric_refuses_what_the_type_cannot_hold(values, message):
    assert error_of(typed, values) == message


def test_native_numbers_from_parquet():
    series = pd.Series(np.array([1, 2**64 - 1, 2**64 - 2], dtype="uint64"))
    assert error_of(typed, series, unit="row") == (
        f"f.data row 11, column 'fnlwgt': 18446744073709551615 {INT64_RANGE}; and 1 more in this column"
    )
    assert error_of(typed, pd.Series([1.0, None, 1e19]), unit="row") == (
        f"f.data row 12, column 'fnlwgt': 1e+19 {INT64_RANGE}"
    )
    assert typed(pd.Series([1, 2**62 + 1], dtype="int64")).tolist() == [1, 2**62 + 1]  # no float on the way
    assert typed(pd.Series([39.0, None])).tolist() == [39, pd.NA]
    assert typed(pd.Series([1.0, float("inf")])).tolist() == ["1.0", "inf"]


# --- validate: duplicate rows and overlap --------------------------------------------------------


def table(rows: list[tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": range(len(rows)),
            "age": pd.array([a for _, a in rows], dtype="Int64"),
            "workclass": pd.array([None if a % 2 else "Private" for _, a in rows], dtype="string"),
            "split": pd.array([s for s, _ in rows], dtype="string"),
        }
    )


def test_duplicates_are_counted_within_each_split():
    frame = table(
        [("train", 1), ("train", 2), ("train", 1), ("train", 1), ("test", 2), ("test", 3), ("test", 3)]
    )
    failures = validate.duplicate_failures(frame, 0.0)
    assert [(f["split"], f["failures"], f["rows"], f["examples"]) for f in failures] == [
        ("train", 2, 4, ["row_id 2 repeats row_id 0", "row_id 3 repeats row_id 0"]),
        ("test", 1, 3, ["row_id 6 repeats row_id 5"]),
    ]
    assert failures[0]["detail"] == (
        "duplicate rows: 2 of 4 train rows (50.00%) repeat an earlier train row, more than "
        "validate.max_duplicate_fraction (0.00%) allows"
    )
    assert validate.duplicate_failures(frame, 0.5) == []  # 2 of 4 is not more than half


def test_overlap_counts_test_rows_repeating_a_train_row():
    frame = table(
        [("train", 1), ("train", 2), ("train", 1), ("test", 1), ("test", 3), ("test", 2), ("test", 1)]
    )
    [failure] = validate.overlap_failures(frame, 0.5)
    assert {k: failure[k] for k in ("check", "column", "split", "failures", "rows", "share")} == {
        "check": "train_test_overlap",
        "column": None,
        "split": "test",
        "failures": 3,
        "rows": 4,
        "share": 0.75,
    }
    assert failure["examples"] == [
        "row_id 3 repeats row_id 0",
        "row_id 5 repeats row_id 1",
        "row_id 6 repeats row_id 0",
    ]
    assert validate.overlap_failures(frame, 0.75) == []


def test_the_one_line_names_columns_then_checks_of_whole_rows():
    frame = table([("train", 1), ("train", 1), ("test", 1)])
    failures = [
        {"column": "age", "check": "in_range(17, 90)", "failures": 1, "examples": []},
        *validate.duplicate_failures(frame, 0.0),
        *validate.overlap_failures(frame, 0.0),
    ]
    assert validate.one_line(failures) == (
        "age; duplicate rows: 1 of 2 train rows; train/test overlap: 1 of 1 test rows"
    )
    assert validate.human_summary(failures, "t.parquet").splitlines()[2:] == [
        "  duplicate rows: 1 of 2 train rows (50.00%) repeat an earlier train row, more than "
        "validate.max_duplicate_fraction (0.00%) allows; e.g. row_id 1 repeats row_id 0",
        "  train/test overlap: 1 of 1 test rows (100.00%) repeat a train row, more than "
        "validate.max_overlap_fraction (0.00%) allows (test metrics would overstate the model); "
        "e.g. row_id 2 repeats row_id 0",
    ]


def test_a_column_twice_in_a_parquet_source():
    frame = pd.DataFrame([[1] * 16], columns=[*ingest.COLUMNS, "Education-Num"])
    frame.columns = [ingest.snake(c) for c in frame.columns]
    assert error_of(ingest.check_columns, frame, "f.parquet") == (
        "f.parquet: column(s) ['education_num'] appear more than once (names compared in snake_case)"
    )
