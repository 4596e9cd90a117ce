"""Stage `validate`: a pandera schema of the ingested table, checked lazily, and checks of
whole rows: duplicate rows within a split and test rows that repeat a train row.

On success the validated table is written for `featurize`; on failure a machine-readable
report is written (one entry per column and check, or per check of whole rows with no
column, each with counts and examples), a human summary goes to stderr, the one-line error
names the columns and row checks at fault, and the stage exits non-zero so DVC runs nothing
downstream.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import pandas as pd
import pandera.pandas as pa
from annotated_types import Len
from pandera.errors import SchemaErrors
from pydantic import Field

from stages import paths
from stages.common import Section, load_params
from stages.errors import DataError, run_stage
from stages.fsio import atomic_write_bytes, write_json
from stages.schema import CATEGORIES, LABEL, LABELS, NUMERIC, ROW_ID, SPLIT

INPUT = paths.INGESTED
OUTPUT = paths.VALIDATED
REPORT = paths.VALIDATION_REPORT
EXAMPLES = 5


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class ValidateParams(Section):
    ranges: dict[str, Annotated[list[int], Len(2, 2)]]
    nullable: list[str]
    max_duplicate_fraction: Fraction  # of a split's rows that may repeat an earlier row of it
    max_overlap_fraction: Fraction  # of the test rows that may repeat a train row


def build_schema(params: ValidateParams) -> pa.DataFrameSchema:
    unknown = (set(params.ranges) | set(params.nullable)) - set(NUMERIC) - set(CATEGORIES)
    if unknown:
        raise DataError(f"params.yaml: validate names unknown columns {sorted(unknown)}")
    columns: dict[str, pa.Column] = {
        ROW_ID: pa.Column("int64", unique=True),
        SPLIT: pa.Column("string", pa.Check.isin(["train", "test"])),
        LABEL: pa.Column("string", pa.Check.isin(list(LABELS)), nullable=False),
    }
    for name in NUMERIC:
        checks = []
        if name in params.ranges:
            low, high = params.ranges[name]
            checks.append(pa.Check.in_range(low, high))
        columns[name] = pa.Column("Int64", checks, nullable=name in params.nullable, coerce=True)
    for name, allowed in CATEGORIES.items():
        columns[name] = pa.Column("string", pa.Check.isin(list(allowed)), nullable=name in params.nullable)
    return pa.DataFrameSchema(columns, strict=True, ordered=False)


def empty_column_failures(frame: pd.DataFrame, nullable: list[str]) -> list[dict[str, Any]]:
    """A column entirely missing in a split is a fault even where missing values are allowed
    (the other columns fail `not_nullable` already). Checked per split: one source losing a
    column must not hide behind the other source's values."""
    if SPLIT not in frame:
        return []
    out = []
    for name in nullable:
        if name not in frame:
            continue
        empty = [str(s) for s, part in frame.groupby(SPLIT, sort=True)[name] if part.isna().all()]
        if empty:
            rows = int(frame[SPLIT].isin(empty).sum())
            out.append(
                {
                    "column": name,
                    "check": "not_all_null",
                    "failures": rows,
                    "examples": [f"split {s}" for s in empty],
                    "detail": f"every value of '{name}' is missing in split(s) {empty}",
                }
            )
    return out


def _content_groups(frame: pd.DataFrame) -> pd.Series:
    """For each row, a number shared by exactly the rows with the same content (row id and split
    aside; missing values equal each other)."""
    content = frame.drop(columns=[ROW_ID, SPLIT], errors="ignore")
    return content.groupby(list(content.columns), dropna=False, sort=False).ngroup()


def _row_ids(frame: pd.DataFrame) -> pd.Series:
    return frame[ROW_ID] if ROW_ID in frame else pd.Series(range(len(frame)), index=frame.index)


# checks of whole rows (report entries with no column): check -> name in messages
TABLE_CHECKS = {"duplicate_rows": "duplicate rows", "train_test_overlap": "train/test overlap"}


def _label(name: str, count: int, total: int, split: str) -> str:
    return f"{name}: {count} of {total} {split} rows"


def _share(count: int, total: int) -> float:
    return round(count / total, 6)


def duplicate_failures(frame: pd.DataFrame, max_fraction: float) -> list[dict[str, Any]]:
    """Rows repeating an earlier row of their own split (row id aside), per split, up to a share
    of that split's rows."""
    groups = _content_groups(frame)
    ids = _row_ids(frame)
    splits = frame[SPLIT] if SPLIT in frame else pd.Series("all", index=frame.index)
    out = []
    for split in ("train", "test", *sorted(set(splits.dropna().astype(str)) - {"train", "test"})):
        inside = (splits == split).fillna(False).to_numpy(dtype=bool)
        if not inside.any():
            continue
        part, part_ids = groups[inside], ids[inside]
        repeat = part.duplicated(keep="first")
        count, total = int(repeat.sum()), len(part)
        if count <= max_fraction * total:
            continue
        first = part_ids.groupby(part, sort=False).transform("first")
        examples = [
            f"row_id {r} repeats row_id {f}"
            for r, f in zip(part_ids[repeat].head(EXAMPLES), first[repeat].head(EXAMPLES), strict=True)
        ]
        out.append(
            {
                "column": None,
                "check": "duplicate_rows",
                "split": split,
                "failures": count,
                "rows": total,
                "share": _share(count, total),
                "max_share": max_fraction,
                "examples": examples,
                "detail": (
                    f"{_label(TABLE_CHECKS['duplicate_rows'], count, total, split)} ({count / total:.2%}) "
                    f"repeat an earlier {split} row, more than validate.max_duplicate_fraction "
                    f"({max_fraction:.2%}) allows"
                ),
            }
        )
    return out


def overlap_failures(frame: pd.DataFrame, max_fraction: float) -> list[dict[str, Any]]:
    """Test rows identical to a train row (row id aside), up to a share of the test rows: a test
    set that repeats training rows overstates the model's quality."""
    if SPLIT not in frame:
        return []
    groups = _content_groups(frame)
    ids = _row_ids(frame)
    train = (frame[SPLIT] == "train").fillna(False).to_numpy(dtype=bool)
    test = (frame[SPLIT] == "test").fillna(False).to_numpy(dtype=bool)
    first_train = ids[train].groupby(groups[train], sort=False).first()
    seen = groups[test].isin(first_train.index)
    count, total = int(seen.sum()), int(test.sum())
    if count <= max_fraction * total:
        return []
    repeated = groups[test][seen]
    examples = [
        f"row_id {r} repeats row_id {first_train[g]}"
        for r, g in zip(ids[test][seen].head(EXAMPLES), repeated.head(EXAMPLES), strict=True)
    ]
    return [
        {
            "column": None,
            "check": "train_test_overlap",
            "split": "test",
            "failures": count,
            "rows": total,
            "share": _share(count, total),
            "max_share": max_fraction,
            "examples": examples,
            "detail": (
                f"{_label(TABLE_CHECKS['train_test_overlap'], count, total, 'test')} ({count / total:.2%}) "
                f"repeat a train row, more than validate.max_overlap_fraction ({max_fraction:.2%}) allows "
                "(test metrics would overstate the model)"
            ),
        }
    ]


def table_failures(frame: pd.DataFrame, params: ValidateParams) -> list[dict[str, Any]]:
    return [
        *empty_column_failures(frame, params.nullable),
        *duplicate_failures(frame, params.max_duplicate_fraction),
        *overlap_failures(frame, params.max_overlap_fraction),
    ]


def _coercion_failed(cases: pd.DataFrame) -> set[str]:
    return set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"])


def _is_consequential(row: pd.Series, coerced: set[str]) -> bool:
    """A check that failed only because the column could not be typed repeats the dtype fault."""
    if row["column"] not in coerced or str(row["check"]).startswith("coerce_dtype"):
        return False
    return str(row["check"]).startswith("dtype(") or str(row["failure_case"]).startswith("TypeError(")


def summarise_failures(cases: pd.DataFrame) -> list[dict[str, Any]]:
    """Group pandera's failure cases into one entry per column and check."""
    out = []
    cases = cases.assign(column=cases["column"].fillna("<table>").astype(str))
    cases = cases[~cases.apply(_is_consequential, axis=1, coerced=_coercion_failed(cases))]
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        values = [v for v in group["failure_case"].tolist()]
        uniq = list(dict.fromkeys(repr(v) if not isinstance(v, str) else v for v in values))
        out.append(
            {
                "column": column,
                "check": str(check),
                "failures": len(group),
                "examples": uniq[:EXAMPLES],
            }
        )
    return out


def validate(frame: pd.DataFrame, params: ValidateParams) -> tuple[pd.DataFrame | None, list[dict[str, Any]]]:
    """Return (validated frame, []) or (None, failures)."""
    schema = build_schema(params)
    try:
        validated = schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return None, [*summarise_failures(exc.failure_cases), *table_failures(frame, params)]
    failures = table_failures(validated, params)
    return (None, failures) if failures else (validated, [])


def report(failures: list[dict[str, Any]], n_rows: int, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "rows": n_rows,
        "passed": not failures,
        "failed_checks": len(failures),
        "failures": failures,
    }


def human_summary(failures: list[dict[str, Any]], source: str) -> str:
    lines = [f"validation of {source} failed: {len(failures)} check(s)"]
    for f in failures:
        examples = ", ".join(str(e) for e in f["examples"])
        if f["column"] is None:  # a check of whole rows
            lines.append(f"  {f['detail']}; e.g. {examples}")
            continue
        check = f["check"] if len(f["check"]) <= 80 else f["check"][:77] + "..."
        lines.append(
            f"  column '{f['column']}': check {check} failed for {f['failures']} value(s); e.g. {examples}"
        )
    return "\n".join(lines)


def one_line(failures: list[dict[str, Any]]) -> str:
    """The failed checks in a few words: the columns at fault, then each check of whole rows."""
    columns = ", ".join(sorted({f["column"] for f in failures if f["column"] is not None}))
    rows = [
        _label(TABLE_CHECKS[f["check"]], f["failures"], f["rows"], f["split"])
        for f in failures
        if f["column"] is None
    ]
    return "; ".join([*([columns] if columns else []), *rows])


def main() -> None:
    params = load_params("validate", ValidateParams)
    frame = pd.read_parquet(INPUT)
    _, failures = validate(frame, params)
    write_json(REPORT, report(failures, len(frame), str(INPUT)))
    if failures:
        print(human_summary(failures, str(INPUT)), file=sys.stderr)
        raise DataError(
            f"{INPUT}: {len(failures)} validation check(s) failed ({one_line(failures)}); report in {REPORT}"
        )
    atomic_write_bytes(OUTPUT, INPUT.read_bytes())


if __name__ == "__main__":
    run_stage(main, "validate")
