"""A corpus of bad raw inputs, each built from a few real lines of data/raw/adult.data.gz.

Every case is a function ``build(lines, dest) -> (path, format)`` writing one small bad
source under ``dest``, the way a new user's bad day would produce it (a truncated download,
an error page saved as .gz, a file re-saved as UTF-16, two exports joined with ``cat``...);
``lines`` are the first rows of adult.data as text. Cases that must fail in `ingest` expect
a message naming the file (and line and column where there is one); cases that pass ingest
must fail in `validate` with a report entry naming the column (or the check of whole rows),
the check and the count.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import ROOT

N_ROWS = 200
SEP = ", "
HEADER = (
    "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,"
    "race,sex,capital-gain,capital-loss,hours-per-week,native-country,income"
)


def good_lines(n: int = N_ROWS, name: str = "adult.data.gz") -> list[str]:
    text = gzip.decompress((ROOT / "data" / "raw" / name).read_bytes()).decode("utf-8")
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("|")]
    return rows[:n]


def fields(line: str) -> list[str]:
    return line.split(SEP)


def join(values: list[str]) -> str:
    return SEP.join(values)


def set_field(line: str, index: int, value: str) -> str:
    values = fields(line)
    values[index] = value
    return join(values)


def write_lines(dest: Path, name: str, lines: list[str], trailing_newline: bool = True) -> Path:
    path = dest / name
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf-8")
    return path


def as_frame(lines: list[str], nulls: bool = False) -> pd.DataFrame:
    """Rows as a header-named table of strings (UCI hyphenated names, as an export would have);
    with ``nulls`` the ``?`` markers become real missing values (as in a Parquet export)."""
    frame = pd.DataFrame([fields(ln) for ln in lines], columns=HEADER.split(","))
    return frame.mask(frame == "?") if nulls else frame


@dataclass(frozen=True)
class Case:
    """One bad input and what the pipeline must say about it."""

    id: str
    build: Callable[[list[str], Path], tuple[Path, str]]
    stage: str  # the stage that must reject it: "ingest" or "validate"
    # the one-line error (stderr) exactly, or, where it quotes a library's own wording, a tuple
    # of fragments it must contain; "{path}" is replaced by the bad file
    message: str | tuple[str, ...]
    # validate only: (column, check fragment, failure count) entries expected in the report;
    # checks of whole rows (duplicates, overlap) have no column (None)
    report: tuple[tuple[str | None, str, int], ...] = ()
    # validate only: fragments the human summary on stderr must contain
    summary: tuple[str, ...] = field(default_factory=tuple)


# --- builders -------------------------------------------------------------------------------


def missing_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    # drop fnlwgt (third field) from every row
    return write_lines(dest, "bad.data", [join(fields(ln)[:2] + fields(ln)[3:]) for ln in lines]), "uci"


def extra_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.data", [ln + ", extra" for ln in lines]), "uci"


def wrong_dtype(lines: list[str], dest: Path) -> tuple[Path, str]:
    lines = list(lines)
    lines[5] = set_field(lines[5], 0, "abc")  # age of the 6th record
    return write_lines(dest, "bad.data", lines), "uci"


def out_of_range(lines: list[str], dest: Path) -> tuple[Path, str]:
    lines = list(lines)
    lines[10] = set_field(lines[10], 0, "150")
    lines[11] = set_field(lines[11], 12, "0")  # hours_per_week below 1
    return write_lines(dest, "bad.data", lines), "uci"


def unknown_category(lines: list[str], dest: Path) -> tuple[Path, str]:
    lines = list(lines)
    lines[3] = set_field(lines[3], 1, "Pirate")
    return write_lines(dest, "bad.data", lines), "uci"


def bad_label(lines: list[str], dest: Path) -> tuple[Path, str]:
    lines = list(lines)
    lines[7] = set_field(lines[7], 14, "rich")
    lines[8] = set_field(lines[8], 14, "rich")
    return write_lines(dest, "bad.data", lines), "uci"


def empty_file(lines: list[str], dest: Path) -> tuple[Path, str]:
    path = dest / "bad.data"
    path.write_bytes(b"")
    return path, "uci"


def header_only(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.data", [HEADER.replace(",", SEP)]), "uci"


def banner_only(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.data", ["|1x3 Cross validator"]), "uci"


def truncated_last_line(lines: list[str], dest: Path) -> tuple[Path, str]:
    last = lines[-1]
    return write_lines(dest, "bad.data", [*lines[:-1], last[: len(last) // 2]], trailing_newline=False), "uci"


def semicolon_delimiter(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.data", [ln.replace(SEP, ";") for ln in lines]), "uci"


def tab_delimiter(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.data", [ln.replace(SEP, "\t") for ln in lines]), "uci"


def non_utf8(lines: list[str], dest: Path) -> tuple[Path, str]:
    # the 42nd line names its country in Latin-1 ("Per\xfa"), not UTF-8
    encoded = [ln.encode("utf-8") for ln in lines]
    values = fields(lines[41])
    encoded[41] = (join(values[:13]) + ", Per").encode("utf-8") + b"\xfa, " + values[14].encode("utf-8")
    path = dest / "bad.data"
    path.write_bytes(b"\n".join(encoded) + b"\n")
    return path, "uci"


def all_null_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.data", [set_field(ln, 0, "?") for ln in lines]), "uci"


def all_null_nullable_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    # workclass may hold missing values, but not only missing values
    return write_lines(dest, "bad.data", [set_field(ln, 1, "?") for ln in lines]), "uci"


def duplicates(lines: list[str], dest: Path) -> tuple[Path, str]:
    # 3 exact copies of one record in 203 rows: 1.5% > max_duplicate_fraction 0.2%
    return write_lines(dest, "bad.data", [*lines, lines[0], lines[0], lines[0]]), "uci"


def gzip_corrupt(lines: list[str], dest: Path) -> tuple[Path, str]:
    path = dest / "bad.data.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))[:300])
    return path, "uci"


def csv_missing_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    path = dest / "bad.csv"
    as_frame(lines).drop(columns=["hours-per-week"]).to_csv(path, index=False)
    return path, "csv"


def csv_extra_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    path = dest / "bad.csv"
    as_frame(lines).assign(zip_code="12345").to_csv(path, index=False)
    return path, "csv"


def csv_ragged_row(lines: list[str], dest: Path) -> tuple[Path, str]:
    text = HEADER + "\n" + "\n".join(ln.replace(SEP, ",") for ln in lines) + "\n"
    rows = text.splitlines()
    rows[21] = rows[21] + ",surplus"  # the 21st record (line 22 of the file) has 16 fields
    path = dest / "bad.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, "csv"


def parquet_missing_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    path = dest / "bad.parquet"
    as_frame(lines, nulls=True).drop(columns=["education"]).to_parquet(path, index=False)
    return path, "parquet"


def parquet_extra_column(lines: list[str], dest: Path) -> tuple[Path, str]:
    path = dest / "bad.parquet"
    as_frame(lines, nulls=True).assign(zip_code="12345").to_parquet(path, index=False)
    return path, "parquet"


def parquet_not_parquet(lines: list[str], dest: Path) -> tuple[Path, str]:
    return write_lines(dest, "bad.parquet", lines), "parquet"


def compressed(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def gzip_damaged(lines: list[str], dest: Path) -> tuple[Path, str]:
    # a bit rot / bad copy in the middle of the deflate stream (same length, wrong bytes)
    data = bytearray(gzip.compress(compressed(lines), mtime=0))
    data[1000:1016] = bytes(range(16))
    path = dest / "bad.data.gz"
    path.write_bytes(bytes(data))
    return path, "uci"


def gzip_error_page(lines: list[str], dest: Path) -> tuple[Path, str]:
    # `curl -o adult.data.gz` of a URL that answered with an HTML error page
    path = dest / "bad.data.gz"
    path.write_bytes(b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n")
    return path, "uci"


def zip_archive(lines: list[str], dest: Path) -> tuple[Path, str]:
    # "compressed" with the desktop's zip instead of gzip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("adult.data", compressed(lines))
    path = dest / "bad.data.zip"
    path.write_bytes(buffer.getvalue())
    return path, "uci"


def bz2_truncated(lines: list[str], dest: Path) -> tuple[Path, str]:
    data = bz2.compress(compressed(lines))
    path = dest / "bad.data.bz2"
    path.write_bytes(data[: len(data) // 2])
    return path, "uci"


def xz_damaged(lines: list[str], dest: Path) -> tuple[Path, str]:
    data = bytearray(lzma.compress(compressed(lines)))
    data[200:216] = bytes(range(16))
    path = dest / "bad.data.xz"
    path.write_bytes(bytes(data))
    return path, "uci"


def directory(lines: list[str], dest: Path) -> tuple[Path, str]:
    # params.yaml pointed at the folder instead of the file in it
    path = dest / "raw"
    path.mkdir()
    write_lines(path, "adult.data", lines)
    return path, "uci"


def re_encoded(encoding: str, bom: bytes) -> Callable[[list[str], Path], tuple[Path, str]]:
    """The file re-saved by an editor as ``encoding`` (Python's codecs write no mark for these)."""

    def build(lines: list[str], dest: Path) -> tuple[Path, str]:
        path = dest / "bad.data"
        path.write_bytes(bom + "\n".join([*lines, ""]).encode(encoding))
        return path, "uci"

    return build


def bom_inside(lines: list[str], dest: Path) -> tuple[Path, str]:
    # `cat part1.csv part2.csv`, both saved by a spreadsheet with a UTF-8 byte-order mark
    part = "\ufeff" + HEADER + "\n" + "\n".join(ln.replace(SEP, ",") for ln in lines[:100]) + "\n"
    path = dest / "bad.csv"
    path.write_bytes((part + part).encode("utf-8"))
    return path, "csv"


def huge_integer(lines: list[str], dest: Path) -> tuple[Path, str]:
    lines = list(lines)
    lines[30] = set_field(lines[30], 2, "99999999999999999999")  # fnlwgt: 20 digits
    return write_lines(dest, "bad.data", lines), "uci"


def csv_huge_integer(lines: list[str], dest: Path) -> tuple[Path, str]:
    frame = as_frame(lines)
    frame.loc[9, "capital-gain"] = "18446744073709551616"  # 2**64: one past what uint64 holds
    path = dest / "bad.csv"
    frame.to_csv(path, index=False)
    return path, "csv"


def parquet_uint64(lines: list[str], dest: Path) -> tuple[Path, str]:
    # an export that typed fnlwgt as unsigned 64-bit, with one value past int64
    frame = as_frame(lines, nulls=True)
    fnlwgt = frame["fnlwgt"].astype("uint64")
    fnlwgt[7] = np.uint64(2**64 - 1)
    path = dest / "bad.parquet"
    frame.assign(fnlwgt=fnlwgt).to_parquet(path, index=False)
    return path, "parquet"


def repeated_header(lines: list[str], dest: Path) -> tuple[Path, str]:
    # two exports with a header each, joined with `cat`
    header = HEADER.replace(",", SEP)
    return write_lines(dest, "bad.data", [header, *lines[:100], header, *lines[100:]]), "uci"


def csv_repeated_header(lines: list[str], dest: Path) -> tuple[Path, str]:
    first, second = dest / "part1.csv", dest / "part2.csv"
    as_frame(lines[:100]).to_csv(first, index=False)
    as_frame(lines[100:]).to_csv(second, index=False)
    path = dest / "bad.csv"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return path, "csv"


def train_holds_test(lines: list[str], dest: Path) -> tuple[Path, str]:
    # the test file appended to the train file (the test rows keep their trailing dots)
    test = [ln + "." for ln in good_lines(100, "adult.test.gz")]
    return write_lines(dest, "bad.data", [*lines, *test]), "uci"


ISIN = "isin("
REPORT_IN = "; report in reports/validation.json"
COLUMNS_EXPECTED = (
    "expected the columns ['age', 'workclass', 'fnlwgt', 'education', 'education_num', 'marital_status', "
    "'occupation', 'relationship', 'race', 'sex', 'capital_gain', 'capital_loss', 'hours_per_week', "
    "'native_country', 'income']"
)
INT64_RANGE = "is out of range for a 64-bit integer (-9223372036854775808 to 9223372036854775807)"
TRUNCATED = "the file ends before the compressed data does (an interrupted download or copy?)"
JOINED = "only the first line may name the columns (files joined together?)"
# every byte-order mark Python's codecs name, other than UTF-8's (which is read as text)
FOREIGN_BOMS = (
    ("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 (little-endian)"),
    ("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 (big-endian)"),
    ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32 (little-endian)"),
    ("utf-32-be", codecs.BOM_UTF32_BE, "UTF-32 (big-endian)"),
)
CASES: tuple[Case, ...] = (
    Case(
        "missing-column",
        missing_column,
        "ingest",
        "{path} line 1: expected 15 comma-separated fields, found 14 (a column is missing?)",
    ),
    Case(
        "extra-column",
        extra_column,
        "ingest",
        "{path} line 1: expected 15 comma-separated fields, found 16 (an extra column?)",
    ),
    Case(
        "wrong-dtype",
        wrong_dtype,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (age)" + REPORT_IN,
        report=(("age", "coerce_dtype('Int64')", 1),),
        summary=("column 'age'", "abc"),
    ),
    Case(
        "out-of-range",
        out_of_range,
        "validate",
        "data/interim/adult.parquet: 2 validation check(s) failed (age, hours_per_week)" + REPORT_IN,
        report=(("age", "in_range(17, 90)", 1), ("hours_per_week", "in_range(1, 99)", 1)),
        summary=("column 'age': check in_range(17, 90) failed for 1 value(s); e.g. 150",),
    ),
    Case(
        "unknown-category",
        unknown_category,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (workclass)" + REPORT_IN,
        report=(("workclass", ISIN, 1),),
        summary=("column 'workclass'", "Pirate"),
    ),
    Case(
        "bad-label",
        bad_label,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (income)" + REPORT_IN,
        report=(("income", "isin(['<=50K', '>50K'])", 2),),
        summary=("column 'income'", "rich"),
    ),
    Case(
        "empty-file",
        empty_file,
        "ingest",
        "{path}: no data rows (the file is empty, or holds only a header or banner)",
    ),
    Case(
        "header-only",
        header_only,
        "ingest",
        "{path}: no data rows (the file is empty, or holds only a header or banner)",
    ),
    Case(
        "banner-only",
        banner_only,
        "ingest",
        "{path}: no data rows (the file is empty, or holds only a header or banner)",
    ),
    Case(
        "truncated-last-line",
        truncated_last_line,
        "ingest",
        "{path} line 200: expected 15 comma-separated fields, found 7 (truncated last line?)",
    ),
    Case(
        "semicolon-delimiter",
        semicolon_delimiter,
        "ingest",
        "{path} line 1: expected 15 comma-separated fields, found 1 "
        "(wrong delimiter? fields must be separated by ', ')",
    ),
    Case(
        "tab-delimiter",
        tab_delimiter,
        "ingest",
        "{path} line 1: expected 15 comma-separated fields, found 1 "
        "(wrong delimiter? fields must be separated by ', ')",
    ),
    Case(
        "non-utf8",
        non_utf8,
        "ingest",
        "{path} line 42: not valid UTF-8 (byte b'\\xfa' at offset 5149); expected UTF-8 text",
    ),
    Case(
        "all-null-column",
        all_null_column,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (age)" + REPORT_IN,
        report=(("age", "not_nullable", N_ROWS),),
        summary=("column 'age': check not_nullable failed for 200 value(s)",),
    ),
    Case(
        "all-null-nullable-column",
        all_null_nullable_column,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (workclass)" + REPORT_IN,
        report=(("workclass", "not_all_null", N_ROWS),),
        summary=("column 'workclass': check not_all_null failed for 200 value(s); e.g. split train",),
    ),
    Case(
        "duplicates",
        duplicates,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (duplicate rows: 3 of 203 train rows)"
        + REPORT_IN,
        report=((None, "duplicate_rows", 3),),
        summary=(
            "  duplicate rows: 3 of 203 train rows (1.48%) repeat an earlier train row, more than "
            "validate.max_duplicate_fraction (0.20%) allows; e.g. row_id 200 repeats row_id 0, "
            "row_id 201 repeats row_id 0, row_id 202 repeats row_id 0\n",
        ),
    ),
    Case(
        "train-holds-test",
        train_holds_test,
        "validate",
        "data/interim/adult.parquet: 1 validation check(s) failed (train/test overlap: 100 of 100 test rows)"
        + REPORT_IN,
        report=((None, "train_test_overlap", 100),),
        summary=(
            "  train/test overlap: 100 of 100 test rows (100.00%) repeat a train row, more than "
            "validate.max_overlap_fraction (0.20%) allows (test metrics would overstate the model); "
            "e.g. row_id 300 repeats row_id 200, row_id 301 repeats row_id 201,",
        ),
    ),
    Case("corrupt-gzip", gzip_corrupt, "ingest", "{path}: corrupt gzip stream: " + TRUNCATED),
    Case(
        "gzip-damaged",
        gzip_damaged,
        "ingest",
        ("{path}: corrupt gzip stream (Error -3 while decompressing data: ",),  # zlib's words follow
    ),
    Case(
        "gzip-error-page",
        gzip_error_page,
        "ingest",
        "{path}: not gzip data (it starts with b'<!DOCTYPE html>\\n'); a file named *.gz must be "
        "gzip-compressed",
    ),
    Case(
        "zip-archive",
        zip_archive,
        "ingest",
        "{path}: a zip archive, not text; unpack it (ingest reads text compressed with gzip, bz2 or xz, "
        "or uncompressed)",
    ),
    Case("bz2-truncated", bz2_truncated, "ingest", "{path}: corrupt bz2 stream: " + TRUNCATED),
    Case("xz-damaged", xz_damaged, "ingest", ("{path}: corrupt xz stream (",)),  # liblzma's words follow
    Case("directory", directory, "ingest", "{path}: a directory, not a data file"),
    *(
        Case(
            f"{encoding}-bom",
            re_encoded(encoding, bom),
            "ingest",
            f"{{path}}: {name} text (the file starts with its byte-order mark); expected UTF-8: "
            "save the file as UTF-8",
        )
        for encoding, bom, name in FOREIGN_BOMS
    ),
    Case(
        "utf-16-without-bom",
        re_encoded("utf-16-le", b""),
        "ingest",
        "{path} line 1: a NUL byte; expected UTF-8 text (UTF-16 or UTF-32 without a byte-order mark, "
        "or not text at all?)",
    ),
    Case(
        "bom-inside",
        bom_inside,
        "ingest",
        "{path} line 102: a byte-order mark (U+FEFF) inside the text, where only the start of a file "
        "may have one (files joined together?)",
    ),
    Case(
        "huge-integer",
        huge_integer,
        "ingest",
        f"{{path}} line 31, column 'fnlwgt': 99999999999999999999 {INT64_RANGE}",
    ),
    Case(
        "csv-huge-integer",
        csv_huge_integer,
        "ingest",
        f"{{path}} line 11, column 'capital_gain': 18446744073709551616 {INT64_RANGE}",
    ),
    Case(
        "parquet-uint64",
        parquet_uint64,
        "ingest",
        f"{{path}} row 8, column 'fnlwgt': 18446744073709551615 {INT64_RANGE}",
    ),
    Case(
        "repeated-header",
        repeated_header,
        "ingest",
        f"{{path}} line 102: the header row again, after data rows; {JOINED}",
    ),
    Case(
        "csv-repeated-header",
        csv_repeated_header,
        "ingest",
        f"{{path}} line 102: the header row again, after data rows; {JOINED}",
    ),
    Case(
        "csv-missing-column",
        csv_missing_column,
        "ingest",
        "{path}: missing column(s) ['hours_per_week']; " + COLUMNS_EXPECTED,
    ),
    Case(
        "csv-extra-column",
        csv_extra_column,
        "ingest",
        "{path}: unexpected column(s) ['zip_code']; " + COLUMNS_EXPECTED,
    ),
    Case(
        "csv-ragged-row",
        csv_ragged_row,
        "ingest",
        "{path} line 22: expected 15 comma-separated fields (as in the header), found 16",
    ),
    Case(
        "parquet-missing-column",
        parquet_missing_column,
        "ingest",
        "{path}: missing column(s) ['education']; " + COLUMNS_EXPECTED,
    ),
    Case(
        "parquet-extra-column",
        parquet_extra_column,
        "ingest",
        "{path}: unexpected column(s) ['zip_code']; " + COLUMNS_EXPECTED,
    ),
    Case(
        "not-parquet", parquet_not_parquet, "ingest", ("{path}: not a readable Parquet file (",)
    ),  # pyarrow's words
)
