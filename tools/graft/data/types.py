"""The results of `graft data show` and `graft data diff`: frozen, typed, JSON-ready.

Every result has ``as_dict()`` (plain values; graft.data.results validates it into the JSON model):
the command line prints it with ``--format json`` and the web page renders the same objects.

* :class:`TableSummary`: one table at one revision: its rows and a :class:`ColumnSummary` per
  column (type, missing share, histogram or top categories).
* :class:`TableDiff`: two revisions of one table: both summaries, the columns added and
  removed, a :class:`ColumnMove` per shared column (did its distribution move beyond noise,
  judged with the monitor's tests) and, with a key column, a :class:`KeyDiff` (rows added,
  removed and changed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["numeric", "categorical"]
NUMERIC: Kind = "numeric"
CATEGORICAL: Kind = "categorical"

# a column's verdict in a diff
MOVED = "moved"
STABLE = "within noise"
INSUFFICIENT = "insufficient data"
KIND_CHANGED = "type changed"
UNTESTED = "not tested"  # too many distinct values were counted to test the distribution


@dataclass(frozen=True)
class Bin:
    """One histogram bin: values in ``[low, high)`` (the last bin includes ``high``)."""

    low: float
    high: float
    count: int


@dataclass(frozen=True)
class Category:
    value: str
    count: int


@dataclass(frozen=True)
class ColumnSummary:
    """One column of one table at one revision.

    ``rows`` counts every row, ``missing`` the empty ones (``missing_share`` = missing / rows).
    Numeric columns have ``min``/``max``/``mean``/``std`` (exact, over every value) and a
    ``histogram`` of equal-width bins between min and max; when the column holds more values
    than graft samples (``sampled``), the histogram counts the uniform sample of
    ``sample_size`` values. Categorical columns have the ``top`` categories (exact counts,
    most common first) and ``other`` (present rows outside the top); ``distinct`` counts
    distinct values, and ``distinct_capped`` says the count stopped at the limit
    (``GRAFT_LIMIT_DATA_CATEGORIES``: values first seen past it are in ``other``).
    """

    name: str
    kind: Kind
    dtype: str  # the file's type: an Arrow type for Parquet; for CSV "integer", "float" or "string"
    rows: int
    missing: int
    missing_share: float
    distinct: int
    distinct_capped: bool = False
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    histogram: tuple[Bin, ...] = ()
    sampled: bool = False
    sample_size: int = 0
    top: tuple[Category, ...] = ()
    other: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableSummary:
    """One table (``path``, from the project root) as committed at ``rev`` (``commit``: its sha).

    ``format``: csv | tsv | parquet; ``stored``: ``dvc`` (read from DVC's cache by the hash the
    revision records) or ``git`` (a ``cache: false`` output kept in Git); ``bytes``: the file's
    size; ``digest``: its content's identity.
    """

    path: str
    rev: str
    commit: str
    format: str
    stored: str
    bytes: int
    digest: str  # the content's identity: ``md5:<hash>`` (DVC) or ``git:<blob id>``
    rows: int
    columns: tuple[ColumnSummary, ...]

    def column(self, name: str) -> ColumnSummary | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ColumnMove:
    """Whether one shared column's distribution moved from revision A to B, beyond noise.

    Judged as `graft monitor` judges a window against its reference (A is the reference, B the
    window; :mod:`graft.monitoring.drift`): a hypothesis test when B has at most
    ``monitor.drift.small_window`` rows (``ks``, ``chi2``, ``fisher_exact``; p-values of every
    test of the diff adjusted together with Holm's method, moved when ``p_adjusted`` <
    ``threshold``), else a distance (``wasserstein_normed``, ``jensen_shannon``; moved when
    ``score`` >= ``threshold``). The missing share is tested on its own (``missing_moved``).
    ``status``: moved | within noise | insufficient data | type changed | not tested.
    """

    name: str
    kind: str  # numeric | categorical | "numeric -> categorical" when the type changed
    status: str
    method: str
    score: float | None
    threshold: float
    p_adjusted: float | None
    psi: float | None
    missing_share_a: float
    missing_share_b: float
    missing_moved: bool
    missing_p_adjusted: float | None
    new_categories: dict[str, int] = field(default_factory=dict)  # in B, never in A

    @property
    def moved(self) -> bool:
        return self.status in (MOVED, KIND_CHANGED)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "moved": self.moved}


@dataclass(frozen=True)
class KeyDiff:
    """Rows of A and B matched by the ``key`` column: ``added`` (keys only in B), ``removed``
    (only in A), ``changed`` (in both, some shared column's value differs) and ``unchanged``.
    ``changed_cells``: per shared column, how many matched rows differ in it. ``examples``:
    up to five keys of each kind (added, removed, changed), smallest first."""

    key: str
    added: int
    removed: int
    changed: int
    unchanged: int
    changed_cells: dict[str, int]
    examples: dict[str, list[str]]
    partitions: int  # temporary files per revision the keys were spread over (1: all in memory)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableDiff:
    """Table ``path`` at revisions ``a`` and ``b``: what changed inside it.

    ``columns_added``/``columns_removed``: by name; ``columns``: one :class:`ColumnMove` per
    column in both (A's order); ``keys``: the row diff when a key column is set (``--key`` or
    graft.yaml ``data.keys``), else None; ``tests``: the size of the Holm family; ``config``:
    the thresholds used (graft.yaml ``monitor`` at B, as `graft monitor` reads them).
    """

    path: str
    a: TableSummary
    b: TableSummary
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    columns: tuple[ColumnMove, ...]
    keys: KeyDiff | None
    tests: int
    config: dict[str, float]

    @property
    def moved_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.moved]

    @property
    def identical(self) -> bool:
        """The same file content at both revisions (nothing inside can differ)."""
        return self.a.digest == self.b.digest

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "columns": [c.as_dict() for c in self.columns],
            "moved_columns": self.moved_columns,
            "identical": self.identical,
            "keys": None if self.keys is None else self.keys.as_dict(),
            "tests": self.tests,
            "config": dict(self.config),
        }
