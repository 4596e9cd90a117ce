"""Stage `validate`: a pandera schema of the ingested table, checked lazily.

On success the validated table is written for `featurize`; on failure a machine-readable
report is written, a human summary goes to stderr, and the stage exits non-zero so DVC
runs nothing downstream.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import pandas as pd
import pandera.pandas as pa
from annotated_types import Len
from pandera.errors import SchemaErrors

from stages import paths
from stages.common import Section, load_params
from stages.errors import DataError, run_stage
from stages.fsio import atomic_write_bytes, write_json
from stages.schema import CATEGORIES, LABEL, LABELS, NUMERIC, ROW_ID, SPLIT

INPUT = paths.INGESTED
OUTPUT = paths.VALIDATED
REPORT = paths.VALIDATION_REPORT
EXAMPLES = 5


class ValidateParams(Section):
    ranges: dict[str, Annotated[list[int], Len(2, 2)]]
    nullable: list[str]
    max_duplicate_fraction: float


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


def duplicate_failures(frame: pd.DataFrame, max_fraction: float) -> list[dict[str, Any]]:
    """The duplicate policy: fully repeated records (row id aside) up to a share of the rows."""
    content = frame.drop(columns=[ROW_ID, SPLIT], errors="ignore")
    dup = content.duplicated(keep="first")
    share = float(dup.mean()) if len(frame) else 0.0
    if share <= max_fraction:
        return []
    examples = frame.loc[dup, ROW_ID].head(EXAMPLES).tolist() if ROW_ID in frame else []
    return [
        {
            "column": "<all columns>",
            "check": f"duplicate rows share <= {max_fraction}",
            "failures": int(dup.sum()),
            "examples": [f"row_id {r}" for r in examples],
            "detail": f"{dup.sum()} of {len(frame)} rows ({share:.4%}) repeat an earlier row",
        }
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
        return None, [
            *summarise_failures(exc.failure_cases),
            *empty_column_failures(frame, params.nullable),
            *duplicate_failures(frame, params.max_duplicate_fraction),
        ]
    failures = [
        *empty_column_failures(validated, params.nullable),
        *duplicate_failures(validated, params.max_duplicate_fraction),
    ]
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
        check = f["check"] if len(f["check"]) <= 80 else f["check"][:77] + "..."
        lines.append(
            f"  column '{f['column']}': check {check} failed for {f['failures']} value(s); e.g. {examples}"
        )
    return "\n".join(lines)


def main() -> None:
    params = load_params("validate", ValidateParams)
    frame = pd.read_parquet(INPUT)
    _, failures = validate(frame, params)
    write_json(REPORT, report(failures, len(frame), str(INPUT)))
    if failures:
        print(human_summary(failures, str(INPUT)), file=sys.stderr)
        raise DataError(
            f"{INPUT}: {len(failures)} validation check(s) failed "
            f"({', '.join(sorted({f['column'] for f in failures}))}); report in {REPORT}"
        )
    atomic_write_bytes(OUTPUT, INPUT.read_bytes())


if __name__ == "__main__":
    run_stage(main, "validate")
