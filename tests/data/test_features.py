"""Feature validation: the checks of `featurize` pass on the real features and catch corruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import featurize as fz
from stages.common import parse_section


@pytest.fixture(scope="module")
def real(pipeline_project: Path) -> dict:
    feats = pipeline_project / "data" / "features"
    return {
        "parts": {n: pd.read_parquet(feats / f"{n}.parquet") for n in fz.SPLITS},
        "spec": json.loads((feats / "spec.json").read_text(encoding="utf-8")),
        "raw": pd.read_parquet(pipeline_project / "data" / "validated" / "adult.parquet"),
    }


def small(raw: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first ``n`` rows of each split."""
    return pd.concat([raw[raw["split"] == s].head(n) for s in ("train", "test")], ignore_index=True)


def featurize_params(**changes) -> fz.FeaturizeParams:
    raw = {
        "missing": {"policy": "unknown_category", "fill_value": "Unknown"},
        "onehot_columns": [],
        "engineered": ["capital_net", "hours_x_education"],
        "drop_columns": [],
        "split": {"valid_fraction": 0.2, "seed": 42},
        **changes,
    }
    return parse_section(raw, "featurize", fz.FeaturizeParams)


def test_real_features_pass_every_check(real):
    parts, spec, raw = real["parts"], real["spec"], real["raw"]
    assert fz.check_features(parts, raw, spec) == []
    assert [len(parts[n]) for n in fz.SPLITS] == [26048, 6513, 16281]
    assert spec["missing_policy"] == "unknown_category"
    assert spec["categories"]["workclass"][-1] == "Unknown"


def test_two_ones_in_a_onehot_row_are_caught(real):
    raw = small(real["raw"], 400)
    parts, spec = fz.featurize(raw, featurize_params(onehot_columns=["race"]))
    frame = parts["train"].copy()
    assert fz.check_onehot(frame, spec) == []
    frame.loc[3, "race=Black"] = 1.0
    frame.loc[3, "race=White"] = 1.0
    assert fz.check_onehot(frame, spec) == ["one-hot group 'race': 1 row(s) without exactly one 1"]
    frame.loc[4, "race=Other"] = 0.5
    assert "one-hot group 'race' holds values other than 0/1" in fz.check_onehot(frame, spec)


def test_engineered_value_off_by_one_is_caught(real):
    frame = real["parts"]["valid"].head(300).copy()
    spec, raw = real["spec"], real["raw"]
    assert fz.check_engineered(frame, raw, spec) == []
    frame.loc[17, "capital_net"] += 1
    assert fz.check_engineered(frame, raw, spec) == [
        "engineered feature 'capital_net' differs from capital_gain - capital_loss in 1 row(s)"
    ]


def test_nan_under_unknown_category_and_out_of_range_codes_are_caught(real):
    frame = real["parts"]["test"].head(300).copy()
    spec, raw = real["spec"], real["raw"]
    assert fz.check_missing_and_ranges(frame, raw, spec) == []
    frame.loc[5, "occupation"] = np.nan
    assert fz.check_missing_and_ranges(frame, raw, spec) == [
        "missing values remain in ['occupation'] under policy unknown_category"
    ]
    frame.loc[5, "occupation"] = 0.0
    frame.loc[6, "workclass"] = float(len(spec["categories"]["workclass"]))  # one past the last code
    assert fz.check_missing_and_ranges(frame, raw, spec) == ["category codes of 'workclass' outside 0..8"]
    frame.loc[6, "workclass"] = -1.0  # what encode gives an unknown string
    assert fz.check_missing_and_ranges(frame, raw, spec) == ["category codes of 'workclass' outside 0..8"]


def test_numeric_feature_not_equal_to_raw_is_caught(real):
    frame = real["parts"]["test"].head(50).copy()
    frame.loc[0, "age"] = 200.0
    problems = fz.check_missing_and_ranges(frame, real["raw"], real["spec"])
    assert "numeric feature 'age' does not equal the raw column" in problems


def test_overlapping_or_unstratified_splits_are_caught(real):
    parts = {n: real["parts"][n] for n in fz.SPLITS}
    assert fz.check_splits(parts) == []
    leaked = {**parts, "valid": pd.concat([parts["valid"], parts["train"].head(1)], ignore_index=True)}
    assert fz.check_splits(leaked) == ["a row appears in more than one split"]
    train = parts["train"]
    skewed = {**parts, "train": train[(train[fz.TARGET] == 1) | (train.index % 2 == 0)]}
    [problem] = fz.check_splits(skewed)
    assert problem.startswith("split not stratified: positive rate 0.3")
    assert problem.endswith("(train) vs 0.2407 (valid)")


def test_featurize_refuses_corrupted_features(real, monkeypatch):
    """The checks are wired into featurize: a broken engineered feature stops it."""
    real_engineer = fz.encode.__globals__["engineer"]

    def off_by_one(name, columns):
        return real_engineer(name, columns) + (1.0 if name == "hours_x_education" else 0.0)

    monkeypatch.setitem(fz.encode.__globals__, "engineer", off_by_one)
    with pytest.raises(fz.DataError, match="engineered feature 'hours_x_education' differs"):
        fz.featurize(small(real["raw"], 300), featurize_params())


def test_onehot_mode_gives_groups_with_exactly_one_one(real):
    raw = small(real["raw"], 1000)
    params = featurize_params(onehot_columns=["workclass", "race", "sex"])
    parts, spec = fz.featurize(raw, params)
    assert spec["categorical"] == [
        "education",
        "marital_status",
        "occupation",
        "relationship",
        "native_country",
    ]
    assert list(spec["onehot"]) == ["workclass", "race", "sex"]
    assert "workclass=Unknown" in spec["features"]
    for frame in parts.values():
        for col, vocab in spec["onehot"].items():
            block = frame[[f"{col}={v}" for v in vocab]].to_numpy()
            assert set(np.unique(block)) <= {0.0, 1.0}
            assert (block.sum(axis=1) == 1).all()
    # the 1 sits in the column of the raw value (missing -> Unknown)
    test = parts["test"].set_index("row_id")
    source = raw.set_index("row_id").loc[test.index, "workclass"].fillna("Unknown")
    chosen = test[[f"workclass={v}" for v in spec["onehot"]["workclass"]]].idxmax(axis=1)
    assert (chosen.str.removeprefix("workclass=") == source.astype(str)).all()
