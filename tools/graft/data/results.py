"""The JSON of `graft data show` and `graft data diff` (graft.core.results): a declared table at
one revision (:class:`TableJson`), and at two revisions compared (:class:`TableDiffJson`),
validated from the results' ``as_dict()`` (graft.data.types; numpy values made plain first, so
an integer stays an integer)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from graft.core.results import CommitSha, Result, pattern
from graft.data.types import TableDiff, TableSummary

Count = Annotated[int, Field(ge=0)]
Number = float | int
Examples = Annotated[list[str], Field(max_length=5)]
Share = Annotated[float, Field(json_schema_extra={"minimum": 0, "maximum": 1})]


class BinJson(Result):
    """One histogram bin: values in [low, high) (the last bin includes high)."""

    low: Number
    """the bin's lower edge"""
    high: Number
    """the bin's upper edge"""
    count: Count
    """values in the bin (of the sample when the column is sampled)"""


class CategoryJson(Result):
    """One of the most common values."""

    value: str
    """the value"""
    count: Count
    """rows holding it (exact)"""


class ColumnJson(Result):
    """one column: numeric ones have min/max/mean/std and a histogram (of a uniform sample when
    'sampled'); categorical ones the top categories"""

    name: str
    """the column"""
    kind: Literal["numeric", "categorical"]
    """numeric: a number type (Parquet) or every present value reads as a number (CSV/TSV); else
    categorical"""
    dtype: str
    """an Arrow type for Parquet; integer, float or string for CSV/TSV"""
    rows: Count
    """every row of the table"""
    missing: Count
    """rows without a value (null, or NaN)"""
    missing_share: Share
    """missing / rows (0 for no rows)"""
    distinct: Count
    """distinct present values (counted up to GRAFT_LIMIT_DATA_CATEGORIES: distinct_capped)"""
    distinct_capped: bool
    """distinct stopped at GRAFT_LIMIT_DATA_CATEGORIES"""
    min: Number | None
    """smallest value, exact (null: categorical, or no value present)"""
    max: Number | None
    """largest value, exact (null: categorical, or no value present)"""
    mean: Number | None
    """mean, exact (null: categorical, or no value present)"""
    std: Number | None
    """sample standard deviation (n - 1), exact; 0 for one value (null: categorical, or no value present)"""
    histogram: list[BinJson]
    """bins between min and max, lowest first (one per integer when few; empty: categorical, or no value
    present)"""
    sampled: bool
    """the histogram counts a uniform sample of the values, not all of them"""
    sample_size: Count
    """values the histogram counts (0: categorical)"""
    top: list[CategoryJson]
    """most common first, ties by value"""
    other: Count
    """present rows outside 'top'"""


class TableJson(Result):
    """a declared table at one revision"""

    path: str
    """from the project root"""
    rev: str
    """the revision as given"""
    commit: CommitSha
    """its commit"""
    format: Literal["csv", "tsv", "parquet"]
    """the file's format, from its extension"""
    stored: Literal["dvc", "git"]
    """dvc: read from DVC's cache by the hash the revision records; git: a cache: false output kept in Git"""
    bytes: Count
    """the file's size"""
    digest: Annotated[str, pattern(r"^(md5|git):[0-9a-f]+$")]
    """the content's identity: md5:HASH (DVC) or git:BLOB_ID"""
    rows: Count
    """rows in the table"""
    columns: list[ColumnJson]
    """one per column, in the file's order"""

    @classmethod
    def of(cls, summary: TableSummary) -> TableJson:
        return cls.model_validate(_plain(summary.as_dict()))


class MoveJson(Result):
    """Whether one shared column's distribution moved from A to B, beyond noise."""

    name: str
    """the column"""
    kind: str
    """numeric, categorical, or 'A -> B' when the type changed"""
    status: Literal["moved", "within noise", "insufficient data", "type changed", "not tested"]
    """moved or within noise (by the Holm-adjusted p-value or the distance); insufficient data: too few
    rows; type changed: numeric at one revision, text at the other; not tested: distinct values past
    GRAFT_LIMIT_DATA_CATEGORIES"""
    method: Literal["ks", "chi2", "fisher_exact", "wasserstein_normed", "jensen_shannon", "none"]
    """the statistic: a test (ks, chi2, fisher_exact) when B has at most monitor.drift.small_window rows,
    else a distance; none: not judged"""
    score: Number | None
    """raw p-value of a test, or the distance"""
    threshold: Number
    """the family error rate (tests) or the distance threshold (graft.yaml monitor at B)"""
    p_adjusted: Number | None
    """Holm-adjusted over every test of the diff (tests only)"""
    psi: Number | None
    """population stability index of B against A (null: not judged, or no value present in B)"""
    missing_share_a: Share
    """share of missing values at A"""
    missing_share_b: Share
    """share of missing values at B"""
    missing_moved: bool
    """the missing share moved by more than monitor.drift.max_missing_rate_change (Holm-adjusted)"""
    missing_p_adjusted: Number | None
    """Holm-adjusted p-value of the missing-share test (null: not run)"""
    new_categories: dict[str, int]
    """categories in B never seen in A -> rows"""
    moved: bool
    """status is moved or type changed"""


class ExamplesJson(Result):
    """Up to five keys of each kind, smallest first."""

    added: Examples
    """keys only in B"""
    removed: Examples
    """keys only in A"""
    changed: Examples
    """keys in both whose rows differ"""


class KeysJson(Result):
    """rows matched by the key column; null without one"""

    key: str
    """the key column (--key, else graft.yaml data.keys at B)"""
    added: Count
    """keys only in B"""
    removed: Count
    """keys only in A"""
    changed: Count
    """keys in both whose rows differ in some shared column (two missing values are equal)"""
    unchanged: Count
    """keys in both with equal rows"""
    changed_cells: dict[str, Count]
    """shared column -> matched rows that differ in it"""
    examples: ExamplesJson
    """some keys of each kind"""
    partitions: Annotated[int, Field(ge=1)]
    """temporary files per revision the keys were spread over (1: all in memory)"""


class TableDiffJson(Result):
    """a declared table at revisions A and B compared"""

    path: str
    """the table, from the project root"""
    a: TableJson
    """the table at revision A (the reference)"""
    b: TableJson
    """the table at revision B (compared against A)"""
    columns_added: list[str]
    """columns only in B, by name"""
    columns_removed: list[str]
    """columns only in A, by name"""
    columns: list[MoveJson]
    """one per column in both but the key, A's order"""
    moved_columns: list[str]
    """names of the columns that moved (or changed type), A's order"""
    identical: bool
    """the same file content at A and B"""
    keys: KeysJson | None
    """the row diff (null: no key column)"""
    tests: Count
    """hypothesis tests adjusted together (Holm)"""
    config: dict[str, Number]
    """the thresholds used (graft.yaml monitor at B, defaults where absent): p_value, distance_threshold,
    small_window, min_window, max_missing_rate_change"""

    @classmethod
    def of(cls, diff: TableDiff) -> TableDiffJson:
        return cls.model_validate(_plain(diff.as_dict()))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.tolist()
    return value
