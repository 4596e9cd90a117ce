"""Induced drift for `graft replay`: each kind changes what it says and nothing else."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from graft.core.errors import UsageError
from graft.monitoring.replay import induce, parse_drift, records
from stages.schema import FEATURE_COLUMNS


@pytest.fixture
def rows() -> pd.DataFrame:
    n = 1000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": pd.array(rng.integers(17, 90, n), dtype="Int64"),
            "workclass": pd.array(rng.choice(["Private", "State-gov", None], n), dtype="string"),
            "fnlwgt": pd.array(rng.integers(10000, 500000, n), dtype="Int64"),
            "education": pd.array(["Bachelors"] * n, dtype="string"),
            "education_num": pd.array([13] * n, dtype="Int64"),
            "marital_status": pd.array(["Never-married"] * n, dtype="string"),
            "occupation": pd.array(["Sales"] * n, dtype="string"),
            "relationship": pd.array(["Not-in-family"] * n, dtype="string"),
            "race": pd.array(rng.choice(["White", "Black"], n, p=[0.9, 0.1]), dtype="string"),
            "sex": pd.array(rng.choice(["Male", "Female"], n, p=[0.7, 0.3]), dtype="string"),
            "capital_gain": pd.array([0] * n, dtype="Int64"),
            "capital_loss": pd.array([0] * n, dtype="Int64"),
            "hours_per_week": pd.array(rng.integers(1, 99, n), dtype="Int64"),
            "native_country": pd.array(["United-States"] * n, dtype="string"),
            "income": pd.array(rng.choice(["<=50K", ">50K"], n), dtype="string"),
        }
    )
    return frame


def test_shift_moves_only_that_column(rows):
    out = induce(rows, parse_drift(["age=+10"], [], [], 0.0), np.random.default_rng(1))
    assert (out["age"] - rows["age"] == 10).all()
    pd.testing.assert_frame_equal(out.drop(columns="age"), rows.drop(columns="age"))
    scaled = induce(rows, parse_drift(["hours_per_week=*2"], [], [], 0.0), np.random.default_rng(1))
    assert (scaled["hours_per_week"] == rows["hours_per_week"] * 2).all()


def test_mix_rewrites_about_the_share(rows):
    out = induce(rows, parse_drift([], ["workclass=Self-emp-inc:0.4"], [], 0.0), np.random.default_rng(1))
    share = (out["workclass"] == "Self-emp-inc").mean()
    assert 0.35 < share < 0.45
    assert (rows["workclass"] == "Self-emp-inc").sum() == 0
    pd.testing.assert_series_equal(out["age"], rows["age"])


def test_ratio_resamples_whole_rows_to_the_share(rows):
    out = induce(rows, parse_drift([], [], ["sex=Female:0.8"], 0.0), np.random.default_rng(1))
    assert len(out) == len(rows)
    assert (out["sex"] == "Female").mean() == pytest.approx(0.8, abs=0.001)
    # every output row is a row of the input
    keys = set(map(tuple, rows.astype(str).to_numpy()))
    assert all(tuple(r) in keys for r in out.astype(str).to_numpy())


@pytest.mark.parametrize(
    ("shift", "mix", "ratio", "flip", "message"),
    [
        (["workclass=+1"], [], [], 0.0, "--shift 'workclass=+1'"),
        (["age=10"], [], [], 0.0, "--shift 'age=10'"),
        ([], ["workclass=Astronaut:0.2"], [], 0.0, "--mix 'workclass=Astronaut:0.2'"),
        ([], [], ["sex=Female:1.5"], 0.0, "the share must be between 0 and 1"),
        ([], [], [], 2.0, "--flip-labels 2.0"),
    ],
)
def test_bad_drift_arguments_are_usage_errors(shift, mix, ratio, flip, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_drift(shift, mix, ratio, flip)


def test_records_are_json_ready_with_none_for_missing(rows):
    out = records(rows.iloc[:50])
    assert list(out[0]) == list(FEATURE_COLUMNS)
    assert all(isinstance(r["age"], int) for r in out)
    missing = [r for r, w in zip(out, rows["workclass"].iloc[:50], strict=True) if pd.isna(w)]
    assert missing and all(r["workclass"] is None for r in missing)


def test_load_rows_keeps_a_split_of_a_table_with_extra_columns(rows, tmp_path):
    from graft.monitoring.replay import ReplayError, load_rows

    table = rows.assign(row_id=range(len(rows)), split=["train", "test"] * (len(rows) // 2))
    path = tmp_path / "validated.parquet"
    table.to_parquet(path, index=False)
    loaded = load_rows(path, "test")
    assert len(loaded) == len(rows) // 2
    assert (loaded["split"] == "test").all()
    with pytest.raises(ReplayError, match="no rows to replay in split 'holdout'"):
        load_rows(path, "holdout")
    table.drop(columns=["age"]).to_parquet(path, index=False)
    with pytest.raises(ReplayError, match=r"missing column\(s\) \['age'\]"):
        load_rows(path, None)
