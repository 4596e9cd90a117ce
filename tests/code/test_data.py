"""graft.data's pure parts on tables built in memory or on disk (no repository): streaming
profiles equal to a full read, the reservoir and category bounds, the keyed row diff over
partitions, the column verdicts of the monitor's tests, and the memory bound on a table whose
full load would exceed it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from graft.core.errors import DataError
from graft.data.compare import column_moves
from graft.data.keys import KeyedDiff, key_texts
from graft.data.profile import ColumnProfile, profile
from graft.data.tables import Table, block_bytes, chunk_rows, table_format
from graft.data.types import MOVED, STABLE
from graft.monitoring.drift import DriftConfig


def csv_table(frame: pd.DataFrame, rev: str = "a", path: str = "t.csv") -> Table:
    data = frame.to_csv(index=False).encode()
    return Table(path, rev, "0" * 40, "csv", "git", len(data), f"git:{rev}", None, data)


def parquet_table(frame: pd.DataFrame, rev: str = "a") -> Table:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    return Table("t.parquet", rev, "0" * 40, "parquet", "git", len(data), f"git:{rev}", None, data)


def frame(n: int = 1_000, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(10 + shift, 2, n),
            "city": rng.choice(["a", "b", "c"], n),
            "small": rng.integers(1, 5, n),
        }
    )
    out.loc[out.index[:50], "x"] = np.nan
    return out


def test_table_format_by_name():
    assert [table_format(p) for p in ["a.csv", "b/C.TSV", "x.parquet", "y.pq", "m.txt", "csv"]] == [
        "csv",
        "tsv",
        "parquet",
        "parquet",
        None,
        None,
    ]


@pytest.mark.parametrize("make", [csv_table, parquet_table], ids=["csv", "parquet"])
def test_profile_in_small_batches_equals_a_full_read(make, monkeypatch):
    data = frame(20_000)
    monkeypatch.setenv("GRAFT_LIMIT_DATA_MEMORY_BYTES", "1")  # the smallest batches
    assert (chunk_rows(4), block_bytes()) == (1_000, 64 * 1024)
    table = make(data)
    assert len(list(table.batches(table.columns()))) >= 5
    summary = profile(table).summary()
    assert summary.rows == 20_000
    x = summary.column("x")
    assert x is not None and x.kind == "numeric"
    assert (x.missing, x.missing_share) == (50, 50 / 20_000)
    present = data["x"].dropna()
    assert x.min == pytest.approx(present.min()) and x.max == pytest.approx(present.max())
    assert x.mean == pytest.approx(present.mean()) and x.std == pytest.approx(present.std())
    assert sum(b.count for b in x.histogram) == 19_950 and len(x.histogram) == 20 and not x.sampled
    edges = np.linspace(present.min(), present.max(), 21)
    assert [b.count for b in x.histogram] == np.histogram(present, bins=edges)[0].tolist()
    city = summary.column("city")
    assert city is not None and city.kind == "categorical"
    counts = data["city"].value_counts()
    assert [(c.value, c.count) for c in city.top] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert (city.distinct, city.other) == (3, 0)
    small = summary.column("small")
    assert small is not None and [b.low for b in small.histogram] == [1.0, 2.0, 3.0, 4.0]  # a bin per integer
    assert [b.count for b in small.histogram] == [int((data["small"] == v).sum()) for v in (1, 2, 3, 4)]


def test_types_as_read():
    data = frame(100)
    csv, parquet = profile(csv_table(data)).summary(), profile(parquet_table(data)).summary()
    assert [c.dtype for c in csv.columns] == ["integer", "float", "string", "integer"]
    assert [c.dtype for c in parquet.columns] == ["int64", "double", "large_string", "int64"]
    assert [c.kind for c in csv.columns] == [c.kind for c in parquet.columns]


def test_csv_column_with_one_word_among_numbers_is_text():
    data = pd.DataFrame({"v": [str(i) for i in range(2_500)]})
    data.loc[2_400, "v"] = "n/a?"
    summary = profile(csv_table(data)).summary()
    v = summary.column("v")
    assert v is not None and (v.kind, v.dtype, v.distinct) == ("categorical", "string", 2_500)


def test_numeric_sample_is_bounded_and_deterministic(monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_DATA_SAMPLE_VALUES", "300")
    column, again = ColumnProfile("v"), ColumnProfile("v")
    values = [str(float(v)) for v in range(10_000)]
    for start in range(0, 10_000, 1_000):
        column.add(pa.array(values[start : start + 1_000]), 300, 50)
        again.add(pa.array(values[start : start + 1_000]), 300, 50)
    summary = column.summary()
    assert (summary.sampled, summary.sample_size, summary.min, summary.max) == (True, 300, 0.0, 9_999.0)
    assert summary.mean == pytest.approx(4_999.5)
    assert np.array_equal(np.sort(column.values()), np.sort(again.values()))
    assert 3_000 < column.values().mean() < 7_000  # spread over the whole column, not its first values
    assert (summary.distinct, summary.distinct_capped) == (50, True)


def test_categories_past_the_bound_are_counted_together():
    column = ColumnProfile("c")
    column.add(pa.array(["a"] * 5 + ["b", "c", None, "d"]), 10, 2)
    summary = column.summary()
    assert (summary.distinct, summary.distinct_capped, summary.other, summary.missing) == (2, True, 2, 1)
    assert [(c.value, c.count) for c in summary.top] == [("a", 5), ("b", 1)]


def test_key_texts_of_parquet_numbers_are_their_text():
    assert key_texts(pa.array([7, 8, None])).to_pylist() == ["7", "8", None]
    assert key_texts(pa.array([1.5, 2.0, np.nan])).to_pylist() == ["1.5", "2", None]
    assert key_texts(pa.array(["a", None])).to_pylist() == ["a", None]


def versions() -> tuple[pd.DataFrame, pd.DataFrame]:
    a = frame(3_000)
    b = a[~a["id"].isin(range(100, 130))].copy()  # 30 removed
    b.loc[b["id"].between(1_000, 1_039), "city"] = "z"  # 40 changed in city
    b.loc[b["id"].between(1_030, 1_059), "small"] = 99  # 30 changed in small (10 of them also in city)
    added = frame(25, seed=9)
    added["id"] = np.arange(10_000, 10_025)
    return a, pd.concat([b, added], ignore_index=True)


def feed(keyed: KeyedDiff, a: Table, b: Table) -> None:
    for batch in a.batches(a.columns()):
        keyed.a.add(batch)
    for batch in b.batches(b.columns()):
        keyed.b.add(batch)


@pytest.mark.parametrize("limit", [None, "200000"], ids=["one partition", "partitioned"])
def test_keyed_diff_counts_rows_exactly(limit, monkeypatch):
    if limit:
        monkeypatch.setenv("GRAFT_LIMIT_DATA_MEMORY_BYTES", limit)
    a, b = versions()
    ta, tb = csv_table(a, "a"), csv_table(b, "b")
    with KeyedDiff(ta, tb, "id", ["x", "city", "small"]) as keyed:
        feed(keyed, ta, tb)
        result = keyed.result()
    assert (result.added, result.removed, result.changed, result.unchanged) == (25, 30, 60, 2_910)
    assert result.changed_cells == {"x": 0, "city": 40, "small": 30}
    assert result.examples["removed"] == ["100", "101", "102", "103", "104"]
    assert result.examples["added"] == ["10000", "10001", "10002", "10003", "10004"]
    assert result.examples["changed"] == ["1000", "1001", "1002", "1003", "1004"]
    assert (result.partitions > 1) == bool(limit)


def test_duplicate_keys_are_counted_over_every_partition_and_one_named(monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_DATA_MEMORY_BYTES", "100000")
    a = frame(2_000)
    b = a.copy()
    b.loc[b["id"].isin([7, 8, 9]), "id"] = 1_500  # 1,500 now appears 4 times, 3 keys fewer
    b.loc[b["id"] == 42, "id"] = 41
    ta, tb = csv_table(a, "main"), csv_table(b, "exp/x")
    with KeyedDiff(ta, tb, "id", ["x"]) as keyed:
        feed(keyed, ta, tb)
        assert keyed.partitions > 1
        with pytest.raises(DataError) as caught:
            keyed.result()
    assert str(caught.value) == (
        "t.csv at exp/x: key column 'id' is not unique: 2 key(s) appear more than once (e.g. '1500', 4 times)"
    )


def test_empty_keys_are_refused_naming_the_count():
    a = frame(100)
    a["id"] = a["id"].astype(object)
    a.loc[[3, 4], "id"] = None
    ta = csv_table(a, "main")
    with KeyedDiff(ta, ta, "id", ["x"]) as keyed:
        feed(keyed, ta, ta)
        with pytest.raises(DataError, match=r"^t.csv at main: key column 'id' is empty in 2 row\(s\)$"):
            keyed.result()


def test_column_moves_with_the_monitors_tests_and_holm():
    config = DriftConfig()  # the monitor's defaults: tests up to 1,000 rows, Holm at 5%
    a = frame(800, seed=1)
    b = frame(800, seed=2, shift=1.5)  # x moves by 0.75 sd; city and small are fresh draws
    b.loc[b.index[:400], "small"] = np.nan  # missing share 0% -> 50%
    moves, tests = column_moves(profile(csv_table(a)), profile(csv_table(b)), config, skip="id")
    by = {m.name: m for m in moves}
    assert list(by) == ["x", "city", "small"]
    assert (by["x"].method, by["x"].status) == ("ks", MOVED)
    assert by["x"].p_adjusted is not None and by["x"].p_adjusted < 1e-6
    assert (by["city"].method, by["city"].status) == ("chi2", STABLE)
    assert by["city"].p_adjusted is not None and by["city"].p_adjusted > 0.05
    assert (by["small"].missing_share_a, by["small"].missing_share_b) == (0.0, 0.5)
    assert by["small"].missing_moved and not by["x"].missing_moved
    assert tests == 6  # three distribution tests and three missing-share tests in one family


def test_large_b_is_judged_by_distance():
    a, b = frame(5_000, seed=1), frame(5_000, seed=2, shift=1.0)
    moves, tests = column_moves(profile(csv_table(a)), profile(csv_table(b)), DriftConfig(), skip="id")
    by = {m.name: m for m in moves}
    assert (by["x"].method, by["x"].status) == ("wasserstein_normed", MOVED)
    assert by["x"].score == pytest.approx(0.5, abs=0.06)
    assert (by["city"].method, by["city"].status) == ("jensen_shannon", STABLE)
    assert tests == 3  # the missing-share tests only


def write_large(path: Path, rows: int) -> int:
    """A CSV of ``rows`` rows (7 columns, 2 of them text) written in pieces; returns its size."""
    rng = np.random.default_rng(5)
    header = True
    with path.open("w") as handle:
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            pd.DataFrame(
                {
                    "id": np.arange(start, start + n),
                    "a": rng.normal(0, 1, n),
                    "b": rng.normal(5, 2, n),
                    "c": rng.integers(0, 1_000, n),
                    "d": rng.choice(["red", "green", "blue"], n),
                    "e": rng.choice([f"name{i}" for i in range(500)], n),
                    "f": rng.random(n),
                }
            ).to_csv(handle, index=False, header=header)
            header = False
    return path.stat().st_size


def edit(a: Path, b: Path) -> None:
    """B: A without its first 1,000 ids, and 500 rows' colour changed."""
    frame = pd.read_csv(a, dtype=str)
    frame = frame[frame["id"].astype(int) >= 1_000]
    frame.loc[frame.index[:500], "d"] = "violet"
    frame.to_csv(b, index=False)


# Peak memory of the data in a fresh process: what Python and numpy allocate (tracemalloc) plus
# what Arrow allocates (its pool's high-water mark), for graft's diff of two versions or a full
# pandas read and merge of them; prints it and the diff's counts.
MEASURE = """
import json, sys, tracemalloc
from pathlib import Path
import pandas as pd
import pyarrow as pa
import pyarrow.compute, pyarrow.csv, pyarrow.ipc  # imported before measuring: code is not data
import scipy.stats
from graft.data.keys import KeyedDiff
from graft.data.profile import Profile
from graft.data.tables import Table

mode, a, b = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
tables = [
    Table("t.csv", r, "0" * 40, "csv", "dvc", p.stat().st_size, "md5:" + r, p, None)
    for r, p in (("a", a), ("b", b))
]
counts = None
arrow_before = pa.default_memory_pool().max_memory()
tracemalloc.start()
if mode == "graft":
    profiles = [Profile.start(t) for t in tables]
    with KeyedDiff(*tables, "id", profiles[0].names[1:]) as keyed:
        for table, found, side in zip(tables, profiles, (keyed.a, keyed.b)):
            for batch in table.batches(found.names):
                found.add(batch)
                side.add(batch)
        result = keyed.result()
    counts = [result.added, result.removed, result.changed, result.partitions, *(p.rows for p in profiles)]
else:
    merged = pd.read_csv(a).merge(pd.read_csv(b), on="id", how="outer", indicator=True)
python = tracemalloc.get_traced_memory()[1]
arrow = pa.default_memory_pool().max_memory() - arrow_before
print(json.dumps({"peak": python + arrow, "python": python, "arrow": arrow, "counts": counts}))
"""


def growth(mode: str, a: Path, b: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(a), str(b)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.slow
def test_memory_stays_bounded_when_the_table_grows_past_the_bound(tmp_path):
    """Two versions of a 300,000-row table (23 MiB of CSV each; a full pandas read and merge
    peaks past twice the 16 MiB bound) are diffed in batches and partitions within it, with
    exact counts; from a 10,000-row table to it, the diff's peak grows by under a third of what
    the full read's does. Peaks are measured in fresh processes (Python's and Arrow's
    allocations, past the imports)."""
    import os

    bound = 16 * 1024 * 1024
    env = {
        **os.environ,
        "GRAFT_LIMIT_DATA_MEMORY_BYTES": str(bound),
        "GRAFT_LIMIT_DATA_SAMPLE_VALUES": "10000",
        "GRAFT_LIMIT_DATA_CATEGORIES": "1000",
    }
    peaks = {}
    for name, rows in (("small", 10_000), ("large", 300_000)):
        a, b = tmp_path / f"{name}-a.csv", tmp_path / f"{name}-b.csv"
        write_large(a, rows)
        edit(a, b)
        peaks[name] = (growth("graft", a, b, env), growth("pandas", a, b, env))
    (small_graft, small_pandas), (large_graft, large_pandas) = peaks["small"], peaks["large"]
    added, removed, changed, partitions, rows_a, rows_b = large_graft["counts"]
    assert (added, removed, changed, rows_a, rows_b) == (0, 1_000, 500, 300_000, 299_000)
    assert partitions >= 8
    assert large_pandas["peak"] > 2 * bound  # a full read would not fit
    assert large_graft["peak"] < 2 * bound
    assert large_graft["peak"] - small_graft["peak"] < (large_pandas["peak"] - small_pandas["peak"]) / 3
