"""A corpus of bad raw inputs, each built from a few real lines of data/raw/adult.data.gz.

Every case is a function ``build(lines, dest) -> (path, format)`` writing one small bad
source under ``dest``; ``lines`` are the first rows of adult.data as text. Cases that must
fail in `ingest` expect a message naming the file and line; cases that pass ingest must
fail in `validate` with a report entry naming the column, the check and the count.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    # fragments the one-line error (stderr) must contain; "{path}" is replaced by the bad file
    message: tuple[str, ...]
    # validate only: (column, check fragment, failure count) entries expected in the report
    report: tuple[tuple[str, str, int], ...] = ()
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


ISIN = "isin("
CASES: tuple[Case, ...] = (
    Case(
        "missing-column",
        missing_column,
        "ingest",
        ("{path} line 1:", "expected 15 comma-separated fields, found 14", "a column is missing"),
    ),
    Case(
        "extra-column",
        extra_column,
        "ingest",
        ("{path} line 1:", "expected 15 comma-separated fields, found 16", "an extra column"),
    ),
    Case(
        "wrong-dtype",
        wrong_dtype,
        "validate",
        ("validation check(s) failed (age)", "reports/validation.json"),
        report=(("age", "coerce_dtype('Int64')", 1),),
        summary=("column 'age'", "abc"),
    ),
    Case(
        "out-of-range",
        out_of_range,
        "validate",
        ("2 validation check(s) failed (age, hours_per_week)",),
        report=(("age", "in_range(17, 90)", 1), ("hours_per_week", "in_range(1, 99)", 1)),
        summary=("column 'age': check in_range(17, 90) failed for 1 value(s); e.g. 150",),
    ),
    Case(
        "unknown-category",
        unknown_category,
        "validate",
        ("1 validation check(s) failed (workclass)",),
        report=(("workclass", ISIN, 1),),
        summary=("column 'workclass'", "Pirate"),
    ),
    Case(
        "bad-label",
        bad_label,
        "validate",
        ("1 validation check(s) failed (income)",),
        report=(("income", "isin(['<=50K', '>50K'])", 2),),
        summary=("column 'income'", "rich"),
    ),
    Case("empty-file", empty_file, "ingest", ("{path}: no data rows", "empty")),
    Case("header-only", header_only, "ingest", ("{path}: no data rows", "header")),
    Case("banner-only", banner_only, "ingest", ("{path}: no data rows", "banner")),
    Case(
        "truncated-last-line",
        truncated_last_line,
        "ingest",
        ("{path} line 200:", "expected 15 comma-separated fields", "truncated last line"),
    ),
    Case(
        "semicolon-delimiter",
        semicolon_delimiter,
        "ingest",
        ("{path} line 1:", "found 1", "wrong delimiter", "', '"),
    ),
    Case(
        "tab-delimiter",
        tab_delimiter,
        "ingest",
        ("{path} line 1:", "found 1", "wrong delimiter"),
    ),
    Case(
        "non-utf8",
        non_utf8,
        "ingest",
        ("{path} line 42:", "not valid UTF-8", "b'\\xfa'", "expected UTF-8"),
    ),
    Case(
        "all-null-column",
        all_null_column,
        "validate",
        ("1 validation check(s) failed (age)",),
        report=(("age", "not_nullable", N_ROWS),),
        summary=("column 'age': check not_nullable failed for 200 value(s)",),
    ),
    Case(
        "all-null-nullable-column",
        all_null_nullable_column,
        "validate",
        ("1 validation check(s) failed (workclass)",),
        report=(("workclass", "not_all_null", N_ROWS),),
        summary=("column 'workclass': check not_all_null failed for 200 value(s); e.g. split train",),
    ),
    Case(
        "duplicates",
        duplicates,
        "validate",
        ("1 validation check(s) failed (<all columns>)",),
        report=(("<all columns>", "duplicate rows share <= 0.002", 3),),
        summary=(
            "column '<all columns>': check duplicate rows share <= 0.002 failed for 3 value(s); "
            "e.g. row_id 200, row_id 201, row_id 202",
        ),
    ),
    Case("corrupt-gzip", gzip_corrupt, "ingest", ("{path}: corrupt gzip stream",)),
    Case(
        "csv-missing-column",
        csv_missing_column,
        "ingest",
        ("{path}: missing column(s) ['hours_per_week']", "expected the columns ['age', 'workclass'"),
    ),
    Case(
        "csv-extra-column",
        csv_extra_column,
        "ingest",
        ("{path}: unexpected column(s) ['zip_code']", "expected the columns ['age', 'workclass'"),
    ),
    Case(
        "csv-ragged-row",
        csv_ragged_row,
        "ingest",
        ("{path} line 22:", "expected 15 comma-separated fields (as in the header), found 16"),
    ),
    Case(
        "parquet-missing-column",
        parquet_missing_column,
        "ingest",
        ("{path}: missing column(s) ['education']", "expected the columns ['age', 'workclass'"),
    ),
    Case(
        "parquet-extra-column",
        parquet_extra_column,
        "ingest",
        ("{path}: unexpected column(s) ['zip_code']", "expected the columns ['age', 'workclass'"),
    ),
    Case("not-parquet", parquet_not_parquet, "ingest", ("{path}: not a readable Parquet file",)),
)
