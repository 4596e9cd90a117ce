"""Unit tests of the stages' pure functions, with exact values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import evaluate, gate, ingest
from stages.common import load_params
from stages.errors import DataError, ParamsError
from stages.features import code_categories, encode
from stages.train import TrainParams

ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, United-States, <=50K"
)
ROW_Q = (
    "54, ?, 180211, Some-college, 10, Married-civ-spouse, ?, Husband, Asian-Pac-Islander, Male, "
    "0, 0, 60, South, >50K."
)


# --- ingest ---------------------------------------------------------------------------------


def test_parse_uci_skips_banner_blank_lines_and_a_header():
    header = ", ".join(ingest.RAW_COLUMNS)
    text = "|1x3 Cross validator\n" + header + "\n" + ROW + "\n\n" + ROW_Q + "\n"
    frame = ingest.parse_uci(text, "x.data")
    assert list(frame.columns) == list(ingest.COLUMNS)
    assert frame.shape == (2, 15)
    assert frame.index.tolist() == [3, 5]  # rows are labelled with their line
    assert frame.iloc[0].tolist() == [
        "39", "State-gov", "77516", "Bachelors", "13", "Never-married", "Adm-clerical",
        "Not-in-family", "White", "Male", "2174", "0", "40", "United-States", "<=50K",
    ]  # fmt: skip
    assert frame.loc[5, "workclass"] is None and frame.loc[5, "occupation"] is None
    assert frame.loc[5, "income"] == ">50K."  # the dot goes in normalise_labels


def test_normalise_labels_drops_the_trailing_dot_and_keeps_missing():
    frame = pd.DataFrame({"income": [">50K.", "<=50K", None]}, dtype=object)
    labels = ingest.normalise_labels(frame)["income"].tolist()
    assert labels[:2] == [">50K", "<=50K"] and pd.isna(labels[2])


def test_parse_uci_names_file_and_line_of_a_short_row():
    text = ROW + "\n" + ROW + "\n" + ROW.rsplit(",", 2)[0] + "\n" + ROW + "\n"
    with pytest.raises(DataError) as err:
        ingest.parse_uci(text, "x.data")
    assert str(err.value) == (
        "x.data line 3: expected 15 comma-separated fields, found 13 (a column is missing?)"
    )


def test_parse_uci_without_data_rows():
    with pytest.raises(DataError, match=r"^x.data: no data rows \(the file is empty, or holds only"):
        ingest.parse_uci("|1x3 Cross validator\n\n", "x.data")


def test_type_numeric():
    ints = ingest.type_numeric(pd.Series(["1", None, "3"], dtype=object))
    assert str(ints.dtype) == "Int64" and ints.tolist() == [1, pd.NA, 3]
    floats = ingest.type_numeric(pd.Series(["1.5", "2"], dtype=object))
    assert str(floats.dtype) == "Float64" and floats.tolist() == [1.5, 2.0]
    text = ingest.type_numeric(pd.Series(["1", "abc", None], dtype=object))
    assert str(text.dtype) == "string" and text.tolist() == ["1", "abc", pd.NA]
    native = ingest.type_numeric(pd.Series([1.0, 2.0]))
    assert str(native.dtype) == "Int64" and native.tolist() == [1, 2]


def test_combine_tags_splits_and_numbers_rows():
    a = pd.DataFrame({"age": pd.array([1, 2], dtype="Int64")})
    b = pd.DataFrame({"age": pd.array(["x"], dtype="string")})
    table = ingest.combine(a, b)
    assert table["row_id"].tolist() == [0, 1, 2]
    assert table["split"].tolist() == ["train", "train", "test"]
    assert str(table["age"].dtype) == "string" and table["age"].tolist() == ["1", "2", "x"]


def test_decode_utf8_names_line_and_byte():
    with pytest.raises(DataError) as err:
        ingest.decode_utf8(b"ok\nok\nbad \xff here\n", "f.csv")
    assert str(err.value) == "f.csv line 3: not valid UTF-8 (byte b'\\xff' at offset 10); expected UTF-8 text"


# --- params ---------------------------------------------------------------------------------

GOOD_TRAIN = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_child_samples": 20,
    "feature_fraction": 0.7,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "lambda_l2": 0.0,
    "cat_smooth": 50.0,
    "min_data_per_group": 50,
    "max_rounds": 5000,
    "early_stopping_rounds": 100,
    "seed": 42,
    "num_threads": 2,
}


def write_params(tmp_path: Path, train: dict) -> Path:
    import yaml

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": train}), encoding="utf-8")
    return path


def test_params_load_exactly(tmp_path):
    params = load_params("train", TrainParams, write_params(tmp_path, GOOD_TRAIN))
    assert params.num_leaves == 31 and params.learning_rate == 0.03


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_leaves": None}, "missing key 'train.num_leaves'"),
        ({"num_leafs": 31}, "unknown key 'train.num_leafs'"),
        ({"num_leaves": "31"}, "'train.num_leaves': Input should be a valid integer (got '31')"),
        ({"num_leaves": 1}, "'train.num_leaves': Input should be greater than or equal to 2 (got 1)"),
        ({"objective": "regression"}, "'train.objective': Input should be 'binary' (got 'regression')"),
    ],
)
def test_params_errors_name_the_key(tmp_path, change, message):
    train = {**GOOD_TRAIN, **change}
    train = {k: v for k, v in train.items() if v is not None}
    path = write_params(tmp_path, train)
    with pytest.raises(ParamsError) as err:
        load_params("train", TrainParams, path)
    assert str(err.value) == f"{path}: {message}"


def test_params_missing_section_and_file(tmp_path):
    path = write_params(tmp_path, GOOD_TRAIN)
    with pytest.raises(ParamsError, match=r": missing section 'gate'$"):
        load_params("gate", gate.GateParams, path)
    with pytest.raises(ParamsError, match=r"nope.yaml: file not found"):
        load_params("train", TrainParams, tmp_path / "nope.yaml")


# --- features.encode --------------------------------------------------------------------------

SPEC = {
    "features": [
        "age",
        "capital_net",
        "hours_x_education",
        "sex",
        "race=White",
        "race=Black",
        "race=Unknown",
    ],
    "numeric": ["age", "capital_gain", "capital_loss", "hours_per_week", "education_num"],
    "engineered": ["capital_net", "hours_x_education"],
    "categorical": ["sex"],
    "onehot": {"race": ["White", "Black", "Unknown"]},
    "categories": {"sex": ["Female", "Male", "Unknown"]},
    "missing_fill": "Unknown",
}


def test_encode_hand_made_records():
    columns = {
        "age": [30, 45, 60],
        "capital_gain": [0, 5000, 0],
        "capital_loss": [100, 0, 0],
        "hours_per_week": [40, 50, 10],
        "education_num": [9, 13, 16],
        "sex": ["Male", None, "Alien"],
        "race": ["Black", "White", None],
    }
    matrix = encode(columns, SPEC)
    assert matrix.tolist() == [
        [30.0, -100.0, 360.0, 1.0, 0.0, 1.0, 0.0],
        [45.0, 5000.0, 650.0, 2.0, 1.0, 0.0, 0.0],  # missing sex -> code of "Unknown"
        [60.0, 0.0, 160.0, -1.0, 0.0, 0.0, 1.0],  # unknown "Alien" -> -1; missing race -> Unknown
    ]


def test_code_categories_native_missing_is_nan():
    codes = code_categories(["b", None, float("nan"), "zz"], ["a", "b"], fill=None)
    assert codes[0] == 1.0 and math.isnan(codes[1]) and math.isnan(codes[2]) and codes[3] == -1.0


# --- evaluate ---------------------------------------------------------------------------------


def test_headline_metrics_by_hand():
    y = np.array([0, 0, 1, 1])
    proba = np.array([0.1, 0.6, 0.4, 0.9])
    m = evaluate.headline_metrics(y, proba, 0.5)
    # pairs (pos, neg): (0.4, 0.1) right, (0.4, 0.6) wrong, (0.9, *) right -> 3/4
    assert m["roc_auc"] == 0.75
    # predictions at 0.5: 0 1 0 1 -> one TP, one FP, one FN, one TN
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5, 0.5)
    assert m["brier"] == round((0.01 + 0.36 + 0.36 + 0.01) / 4, 6) == 0.185
    expected_ll = -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.9)) / 4
    assert m["log_loss"] == round(expected_ll, 6) == 0.510826
    # average precision: ranks 0.9 (P), 0.6 (N), 0.4 (P): 0.5*1 + 0.5*(2/3)
    assert m["pr_auc"] == round(0.5 + 1 / 3, 6)
    assert (m["test_rows"], m["threshold"]) == (4, 0.5)


# --- gate -------------------------------------------------------------------------------------


def test_gate_check_and_describe():
    metrics = {"roc_auc": 0.9, "log_loss": 0.3, "fairness": {"sex": {"gap": 0.1}}}
    thresholds = {
        "roc_auc": gate.Bound(min=0.926),
        "log_loss": gate.Bound(max=0.28),
        "fairness.sex.gap": gate.Bound(max=0.25),
    }
    rows = gate.check(metrics, thresholds)
    assert [(r["metric"], r["passed"]) for r in rows] == [
        ("fairness.sex.gap", True),
        ("log_loss", False),
        ("roc_auc", False),
    ]
    failed = {r["metric"]: gate.describe(r) for r in rows if not r["passed"]}
    assert failed == {
        "roc_auc": "roc_auc = 0.9 is below the minimum 0.926",
        "log_loss": "log_loss = 0.3 is above the maximum 0.28",
    }


def test_gate_missing_metric_and_non_number():
    with pytest.raises(
        gate.GateFailed, match=r"metric 'fairness.race.gap' not found in metrics/metrics.json"
    ):
        gate.check({"fairness": {}}, {"fairness.race.gap": gate.Bound(max=1)})
    [row] = gate.check({"roc_auc": None}, {"roc_auc": gate.Bound(min=0.5)})
    assert not row["passed"] and gate.describe(row) == "roc_auc = None is not a number"


def test_gate_bound_needs_a_side():
    from stages.common import parse_section

    with pytest.raises(ParamsError, match=r"a bound needs 'min' or 'max'"):
        parse_section({"thresholds": {"roc_auc": {}}}, "gate", gate.GateParams)
