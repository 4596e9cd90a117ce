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
    high: Number
    count: Count


class CategoryJson(Result):
    """One of the most common values."""

    value: str
    count: Count


class ColumnJson(Result):
    """one column: numeric ones have min/max/mean/std and a histogram (of a uniform sample when
    'sampled'); categorical ones the top categories"""

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    """an Arrow type for Parquet; integer, float or string for CSV/TSV"""
    rows: Count
    missing: Count
    missing_share: Share
    distinct: Count
    distinct_capped: bool
    """distinct stopped at GRAFT_LIMIT_DATA_CATEGORIES"""
    min: Number | None
    max: Number | None
    mean: Number | None
    std: Number | None
    histogram: list[BinJson]
    sampled: bool
    sample_size: Count
    top: list[CategoryJson]
    """most common first, ties by value"""
    other: Count
    """present rows outside 'top'"""


class TableJson(Result):
    """a declared table at one revision"""

    path: str
    """from the project root"""
    rev: str
    commit: CommitSha
    format: Literal["csv", "tsv", "parquet"]
    stored: Literal["dvc", "git"]
    bytes: Count
    digest: Annotated[str, pattern(r"^(md5|git):[0-9a-f]+$")]
    rows: Count
    columns: list[ColumnJson]

    @classmethod
    def of(cls, summary: TableSummary) -> TableJson:
        return cls.model_validate(_plain(summary.as_dict()))


class MoveJson(Result):
    """Whether one shared column's distribution moved from A to B, beyond noise."""

    name: str
    kind: str
    """numeric, categorical, or 'A -> B' when the type changed"""
    status: Literal["moved", "within noise", "insufficient data", "type changed", "not tested"]
    method: Literal["ks", "chi2", "fisher_exact", "wasserstein_normed", "jensen_shannon", "none"]
    score: Number | None
    """raw p-value of a test, or the distance"""
    threshold: Number
    p_adjusted: Number | None
    """Holm-adjusted over every test of the diff (tests only)"""
    psi: Number | None
    missing_share_a: Share
    missing_share_b: Share
    missing_moved: bool
    missing_p_adjusted: Number | None
    new_categories: dict[str, int]
    moved: bool


class ExamplesJson(Result):
    """Up to five keys of each kind, smallest first."""

    added: Examples
    removed: Examples
    changed: Examples


class KeysJson(Result):
    """rows matched by the key column; null without one"""

    key: str
    added: Count
    removed: Count
    changed: Count
    unchanged: Count
    changed_cells: dict[str, Count]
    examples: ExamplesJson
    partitions: Annotated[int, Field(ge=1)]


class TableDiffJson(Result):
    """a declared table at revisions A and B compared"""

    path: str
    a: TableJson
    b: TableJson
    columns_added: list[str]
    columns_removed: list[str]
    columns: list[MoveJson]
    """one per column in both but the key, A's order"""
    moved_columns: list[str]
    identical: bool
    """the same file content at A and B"""
    keys: KeysJson | None
    tests: Count
    """hypothesis tests adjusted together (Holm)"""
    config: dict[str, Number]

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
