"""The JSON of `graft data show` (graft.core.results): a declared table at one revision, validated
from :meth:`graft.data.types.TableSummary.as_dict` (numpy values made plain first, so an integer
stays an integer)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from graft.core.results import CommitSha, Result, pattern
from graft.data.types import TableSummary

Count = Annotated[int, Field(ge=0)]
Number = float | int


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
    missing_share: Annotated[float, Field(json_schema_extra={"minimum": 0, "maximum": 1})]
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


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.tolist()
    return value
