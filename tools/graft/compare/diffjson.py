"""The JSON of `graft diff` (graft.core.results): the revisions compared (name, commit, files
present) and one row per params/metrics key, keyed by revision name. Built from a
:class:`~graft.compare.diff.DiffResult`; graft.compare.formats lays it out (a row per line)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from graft.compare.diff import DiffResult, Row
from graft.compare.verdicts import VerdictJson, judge
from graft.core.results import CommitSha, Result, Sparse


class RevisionJson(Sparse):
    """One compared revision."""

    name: str
    """the revision as given (a branch, tag or commit; the base first)"""
    commit: CommitSha
    """its commit"""
    base: bool
    """it is the base the others are compared against (the first revision)"""
    has_params: bool
    """it has params (a declared params file or params keys)"""
    has_metrics: bool
    """any of its shown metrics files is present and readable"""
    unreadable: dict[str, str] | None = None
    """metrics files kept in DVC's cache that could not be read -> why (not in the local cache);
    absent when every file was read"""


class RowJson(Result):
    """One params or metrics key across the revisions."""

    section: Literal["params", "metrics"]
    """params or metrics"""
    key: str
    """the key: params.yaml's and the headline metrics file's keys bare, others FILE:KEY; nested keys
    dotted"""
    direction: Literal["higher", "lower"] | None
    """which way is better (metrics.rules, else the task's metrics; the base's settings); null: unknown, or
    a params key"""
    changed: bool
    """the revisions whose file is present disagree (a missing key counts as a change)"""
    values: dict[str, Any]
    """revision name -> value (null when absent)"""
    status: dict[str, Literal["value", "missing", "no_file", "not_cached"]]
    """revision name -> value (has the key), missing (its file lacks the key), no_file (the file is not
    committed) or not_cached (a DVC output not in the local cache)"""
    deltas: dict[str, float | int]
    """revision name -> value minus the base's (numbers only)"""
    best: list[str]
    """revisions holding the best value"""
    verdicts: Annotated[
        dict[str, VerdictJson],
        Field(
            description="revision name -> verdict on its change against the base: within/beyond the "
            "base's metrics.rules tolerance (basis tolerance; diff has no per-row data, so never "
            "better/worse); {} for params, metrics without a metrics.rules entry, or no delta"
        ),
    ]


class DiffJson(Result):
    """What `graft diff` compared."""

    base: str
    """name of the base revision (--base)"""
    sort: str | None
    """the metric the revisions after the base are ordered by, best first (--sort; null: as given)"""
    only_changed: bool
    """rows that did not change are left out (--only-changed)"""
    revisions: list[RevisionJson]
    """the compared revisions, in column order (the base first)"""
    rows: list[RowJson]
    """one per params key, then one per metrics key"""

    @classmethod
    def of(cls, result: DiffResult) -> DiffJson:
        names = [c.name for c in result.columns]
        return cls(
            base=names[0],
            sort=result.sort,
            only_changed=result.only_changed,
            revisions=[
                RevisionJson(
                    name=c.name,
                    commit=c.sha,
                    base=c.is_base,
                    has_params=c.has_params,
                    has_metrics=c.has_metrics,
                    unreadable=dict(c.unreadable) if c.unreadable else None,
                )
                for c in result.columns
            ],
            rows=[_row(result, row, names) for row in result.rows],
        )


def _row(result: DiffResult, row: Row, names: list[str]) -> RowJson:
    cells = list(zip(names, row.cells, strict=True))
    return RowJson(
        section=row.section,
        key=row.key,
        direction=row.direction,
        changed=row.changed,
        values={n: c.value if c.status == "value" else None for n, c in cells},
        status={n: c.status for n, c in cells},
        deltas={n: c.delta for n, c in cells if c.delta is not None},
        best=[n for n, c in cells if c.best],
        verdicts=_verdicts(result, row, names),
    )


def _verdicts(result: DiffResult, row: Row, names: list[str]) -> dict[str, VerdictJson]:
    """Revision -> the verdict on its change against the base (metrics with a rule only)."""
    tolerance = result.tolerances.get(row.key)
    if row.section != "metrics" or tolerance is None:
        return {}
    return {
        n: VerdictJson.of(judge(c.delta, row.direction, None, tolerance))
        for n, c in zip(names[1:], row.cells[1:], strict=True)
        if c.delta is not None
    }
