"""`graft replay` from the served schema: the table read and typed as the schema says, the
options checked against it, each kind of drift changing what it says and nothing else, and the
outcomes sent per task. No project's column is known to replay: the schema here is made up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from graft.core.errors import UsageError
from graft.monitoring.replay import (
    OUTCOME,
    Rejected,
    ReplayError,
    Served,
    flip,
    induce,
    load_rows,
    parse_drift,
    parse_where,
    records,
    replay,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "height": {"type": "integer", "minimum": 0, "maximum": 300},
        "weight": {"type": ["number", "null"]},
        "colour": {"type": ["string", "null"], "enum": ["red", "green", "blue", None]},
        "region": {"type": "string", "enum": ["north", "south"]},
        "note": {"type": ["string", "null"]},
    },
    "required": ["height", "region"],
    "additionalProperties": False,
}


def served(task: str = "binary", labels: list[str] | None = None, label_column: str = "label") -> Served:
    if labels is None and task != "regression":
        labels = ["no", "yes"] if task == "binary" else ["a", "b", "c"]
    metadata = {
        "model": "m",
        "task": {"type": task, "labels": labels},
        "input_schema": SCHEMA,
        "label_column": label_column,
    }
    return Served.from_metadata(metadata, "http://x/metadata")


@pytest.fixture
def rows() -> pd.DataFrame:
    n = 1000
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "height": pd.array(rng.integers(100, 200, n), dtype="Int64"),
            "weight": rng.uniform(40, 120, n).round(2),
            "colour": pd.array(rng.choice(["red", "green", None], n), dtype="string"),
            "region": pd.array(rng.choice(["north", "south"], n, p=[0.8, 0.2]), dtype="string"),
            OUTCOME: rng.choice(["no", "yes"], n).astype(object),
        }
    )


# --- what the server serves --------------------------------------------------------------------


def test_the_schema_and_task_come_from_the_metadata():
    model = served("multiclass", label_column="kind")
    assert (model.task, model.labels, model.label_column) == ("multiclass", ("a", "b", "c"), "kind")
    assert model.numeric == ["height", "weight"]
    assert model.text == ["colour", "region", "note"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"model": "m"}, "http://x/metadata has no 'input_schema'"),
        ({"input_schema": SCHEMA, "task": {"type": "ranking"}}, "'task.type' is 'ranking'"),
        ({"input_schema": SCHEMA, "task": {"type": "binary"}}, "'task.labels' must list the classes"),
        (
            {
                "input_schema": {"type": "object", "properties": {"x": {"type": "array"}}},
                "task": {"type": "regression"},
            },
            "input_schema: schema.json: field 'x' has an unsupported type",
        ),
    ],
)
def test_metadata_without_what_replay_needs_is_refused(metadata, message):
    with pytest.raises(ReplayError, match=re.escape(message)):
        Served.from_metadata(metadata, "http://x/metadata")


# --- drift ---------------------------------------------------------------------------------------


def test_shift_moves_only_that_column_and_rounds_integers(rows):
    model = served()
    out = induce(rows, parse_drift(["height=+10"], [], [], 0.0, model), model, np.random.default_rng(1))
    assert (out["height"] - rows["height"] == 10).all()
    pd.testing.assert_frame_equal(out.drop(columns="height"), rows.drop(columns="height"))
    scaled = induce(rows, parse_drift(["height=*1.5"], [], [], 0.0, model), model, np.random.default_rng(1))
    assert str(scaled["height"].dtype) == "Int64"
    assert (scaled["height"] == (rows["height"] * 1.5).round()).all()
    # a number column keeps its fractions
    heavier = induce(rows, parse_drift(["weight=*1.1"], [], [], 0.0, model), model, np.random.default_rng(1))
    assert np.allclose(heavier["weight"].astype(float), rows["weight"] * 1.1)


def test_mix_rewrites_about_the_share(rows):
    model = served()
    out = induce(rows, parse_drift([], ["colour=blue:0.4"], [], 0.0, model), model, np.random.default_rng(1))
    assert 0.35 < (out["colour"] == "blue").mean() < 0.45
    assert (rows["colour"] == "blue").sum() == 0
    pd.testing.assert_series_equal(out["height"], rows["height"])


def test_ratio_resamples_whole_rows_to_the_share(rows):
    model = served()
    out = induce(rows, parse_drift([], [], ["region=south:0.8"], 0.0, model), model, np.random.default_rng(1))
    assert len(out) == len(rows)
    assert (out["region"] == "south").mean() == pytest.approx(0.8, abs=0.001)
    keys = set(map(tuple, rows.astype(str).to_numpy()))
    assert all(tuple(r) in keys for r in out.astype(str).to_numpy())


@pytest.mark.parametrize(
    ("shift", "mix", "ratio", "flip_share", "message"),
    [
        (
            ["region=+1"],
            [],
            [],
            0.0,
            "'region' is not a numeric input of the served model (numeric inputs: height, weight)",
        ),
        (["age=+1"], [], [], 0.0, "--shift 'age=+1': 'age' is not a numeric input"),
        (["height=10"], [], [], 0.0, "--shift 'height=10': expected COLUMN=+N"),
        (["height=+1.2.3"], [], [], 0.0, "--shift 'height=+1.2.3': expected COLUMN=+N"),
        (["height=+nan"], [], [], 0.0, "--shift 'height=+nan': expected"),
        (
            [],
            ["colour=purple:0.2"],
            [],
            0.0,
            "'purple' is not a category of 'colour' (expected one of blue, green, red)",
        ),
        ([], ["height=1:0.2"], [], 0.0, "--mix 'height=1:0.2': 'height' is not a categorical (string) input"),
        ([], ["colour=red"], [], 0.0, "--mix 'colour=red': expected COLUMN=CATEGORY:SHARE"),
        ([], [], ["region=south:1.5"], 0.0, "the share must be a number between 0 and 1"),
        ([], [], ["region=south:x"], 0.0, "the share must be a number between 0 and 1"),
        ([], [], [], 2.0, "--flip-labels 2.0"),
    ],
)
def test_bad_drift_arguments_are_usage_errors(shift, mix, ratio, flip_share, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_drift(shift, mix, ratio, flip_share, served())


def test_free_text_columns_mix_to_any_value(rows):
    model = served()
    drift = parse_drift([], ["note=anything at all:0.5"], [], 0.0, model)
    out = induce(rows, drift, model, np.random.default_rng(1))
    assert 0.45 < (out["note"] == "anything at all").mean() < 0.55


# --- the table -----------------------------------------------------------------------------------


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_is_typed_by_the_schema_and_records_leave_missing_values_out(tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        "height,weight,colour,region,label,split\n"
        "170,70.5,red,north,yes,test\n"
        "180.0,,,south,no,test\n"
        "190,80,NA,north,,train\n",
    )
    loaded = load_rows(path, served(), parse_where(["split=test"]))
    assert len(loaded) == 2
    out = records(loaded, served())
    assert out == [
        {"height": 170, "weight": 70.5, "colour": "red", "region": "north"},
        {"height": 180, "region": "south"},
    ]
    assert type(out[1]["height"]) is int and type(out[0]["weight"]) is float
    assert loaded[OUTCOME].tolist() == ["yes", "no"]
    # "NA" is a value, not a missing one; a missing outcome means no feedback for that row
    third = load_rows(path, served(), parse_where(["split=train"]))
    assert records(third, served()) == [{"height": 190, "weight": 80.0, "colour": "NA", "region": "north"}]
    assert third[OUTCOME].tolist() == [None]


def test_parquet_where_compares_numbers_as_numbers_and_limit_keeps_the_first_rows(rows, tmp_path):
    table = rows.rename(columns={OUTCOME: "label"}).assign(year=[2020.0, 2021.0] * 500)
    path = tmp_path / "t.parquet"
    table.to_parquet(path, index=False)
    loaded = load_rows(path, served(), parse_where(["year=2020"]), limit=10)
    assert len(loaded) == 10
    assert loaded["height"].tolist() == table[table["year"] == 2020]["height"].iloc[:10].tolist()
    with pytest.raises(ReplayError, match=re.escape("--where year=soon: column 'year' is numeric")):
        load_rows(path, served(), parse_where(["year=soon"]))
    with pytest.raises(ReplayError, match=re.escape("no rows to replay where year=1999")):
        load_rows(path, served(), parse_where(["year=1999"]))
    with pytest.raises(
        ReplayError, match=re.escape("--where split=test: no column 'split' (columns: height,")
    ):
        load_rows(path, served(), parse_where(["split=test"]))
    with pytest.raises(UsageError, match=re.escape("--where 'split': expected COLUMN=VALUE")):
        parse_where(["split"])


def test_a_table_that_does_not_fit_the_schema_is_refused_naming_the_column(rows, tmp_path):
    path = tmp_path / "t.parquet"
    rows.rename(columns={OUTCOME: "label"}).drop(columns=["region", "colour"]).to_parquet(path, index=False)
    with pytest.raises(
        ReplayError, match=r"t\.parquet: missing column\(s\) region that the served model requires"
    ):
        load_rows(path, served())
    csv = write_csv(tmp_path / "t.csv", "height,region,label\n170,north,yes\ntall,south,no\n")
    with pytest.raises(ReplayError, match=re.escape("column 'height' row 1: 'tall' is not a number")):
        load_rows(csv, served())
    with pytest.raises(ReplayError, match=r"expected a \.parquet, \.csv or \.csv\.gz file"):
        load_rows(write_csv(tmp_path / "t.txt", "x"), served())
    with pytest.raises(ReplayError, match="no such data file"):
        load_rows(tmp_path / "absent.csv", served())


def test_outcomes_are_checked_against_the_task_before_anything_is_sent(tmp_path):
    csv = write_csv(tmp_path / "t.csv", "height,region,label,y\n170,north,yes,1.5\n180,south,maybe,x\n")
    with pytest.raises(
        ReplayError,
        match=r"outcome column 'label' holds 'maybe', not labels of the served model \(expected no, yes\)",
    ):
        load_rows(csv, served())
    with pytest.raises(ReplayError, match=r"no outcome column 'kind' \(the server's label_column"):
        load_rows(csv, served(label_column="kind"))
    with pytest.raises(ReplayError, match=r"no outcome column 'kind' \(--label\)"):
        load_rows(csv, served(), label="kind")
    assert OUTCOME not in load_rows(csv, served(label_column="kind"), outcomes=False)
    with pytest.raises(
        ReplayError, match=r"outcome column 'y' holds 'x': a regression outcome must be a finite number"
    ):
        load_rows(csv, served("regression"), label="y")
    numbers = write_csv(tmp_path / "n.csv", "height,region,y,k\n170,north,1.5,0\n180,south,2,1.0\n")
    assert load_rows(numbers, served("regression"), label="y")[OUTCOME].tolist() == [1.5, 2.0]
    # integer classes written as numbers are the labels' text
    assert load_rows(numbers, served("binary", ["0", "1"]), label="k")[OUTCOME].tolist() == ["0", "1"]


# --- outcomes and feedback -------------------------------------------------------------------------


def test_flipping_replaces_each_chosen_outcome_by_another():
    chosen = np.array([True, False, True, True])
    binary, changed = flip(["no", "yes", "yes", "no"], chosen, served(), np.random.default_rng(0))
    assert binary == ["yes", "yes", "no", "yes"] and changed.tolist() == chosen.tolist()
    many = ["a", "b", "c", "a"]
    multiclass, _ = flip(many, chosen, served("multiclass"), np.random.default_rng(0))
    assert multiclass[1] == "b" and all(multiclass[i] != many[i] for i in (0, 2, 3))
    assert set(multiclass) <= {"a", "b", "c"}
    values = [1.0, 2.0, 3.0, 4.0]
    regression, _ = flip(values, chosen, served("regression"), np.random.default_rng(0))
    assert regression[1] == 2.0 and all(regression[i] != values[i] for i in (0, 2, 3))
    assert set(regression) <= set(values)


class FakeServer:
    """Answers /predict (refusing records with a negative height) and records /feedback."""

    def __init__(self) -> None:
        self.predictions: list[Any] = []
        self.feedback: list[dict[str, Any]] = []

    def post(self, path: str, body: Any) -> dict[str, Any]:
        if path == "/feedback":
            self.feedback.append(body)
            return {"status": "recorded"}
        batch = body if isinstance(body, list) else [body]
        if any(r.get("height", 0) < 0 for r in batch):
            raise Rejected("POST /predict: HTTP 422: body.height: below the minimum")
        self.predictions.append(body)
        return {"request_id": f"r{len(self.predictions)}"}


def test_replay_sends_batches_then_feedback_per_record_and_counts_refusals():
    frame = pd.DataFrame(
        {
            "height": pd.array([170, -1, 180, 190, 160], dtype="Int64"),
            "region": ["north", "south", "north", "north", "south"],
            OUTCOME: [1.5, 2.5, None, 4.5, 5.5],
        }
    )
    model = served("regression")
    server = FakeServer()
    drift = parse_drift([], [], [], 0.0, model)
    result = replay(frame, server, model, drift, batch_size=2)  # type: ignore[arg-type]
    # the first batch is refused as a whole, then sent record by record: one refusal
    assert (result.rows, result.rejected, result.requests) == (5, 1, 4)
    assert server.predictions[0] == {"height": 170, "region": "north"}
    assert result.without_outcome == 1
    assert server.feedback == [
        {"request_id": "r1", "index": 0, "outcome": 1.5},
        {"request_id": "r2", "index": 1, "outcome": 4.5},
        {"request_id": "r3", "index": 0, "outcome": 5.5},
    ]
    assert result.feedback == 3 and result.flipped == 0
