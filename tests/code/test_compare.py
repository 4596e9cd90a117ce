import csv
import io
import json

import pytest

from graft.compare.diff import Snapshot, best_indices, build_diff, delta, sort_order
from graft.compare.formats import CSV_HEADER, fmt_delta, fmt_value, render, to_dict
from graft.core.errors import UsageError
from graft.project.lock import flatten

RULES = {"roc_auc": "higher", "log_loss": "lower", "fairness.sex.dp": "lower"}


def snap(name, params=None, metrics=None):
    return Snapshot(
        name,
        name.ljust(40, "0"),
        None if params is None else flatten(params),
        None if metrics is None else flatten(metrics),
    )


BASE = snap(
    "main",
    {"train": {"lr": 0.03, "leaves": 31}, "evaluate": {"groups": ["sex", "race"]}},
    {"roc_auc": 0.90, "log_loss": 0.30, "test_rows": 100, "fairness": {"sex": {"dp": 0.2}}},
)
A = snap(
    "exp/a",
    {"train": {"lr": 0.05, "leaves": 31}, "evaluate": {"groups": ["sex", "race"]}},
    {"roc_auc": 0.92, "log_loss": 0.28, "test_rows": 100, "fairness": {"sex": {"dp": 0.25}}},
)
B = snap(
    "exp/b",
    {"train": {"lr": 0.03, "leaves": 63}, "evaluate": {"groups": ["sex", "race"]}},
    {"roc_auc": 0.91, "log_loss": 0.31, "test_rows": 100, "fairness": {"sex": {"dp": 0.1}}},
)
NONE = snap("exp/nometrics", {"train": {"lr": 0.03, "leaves": 31}, "evaluate": {"groups": ["sex", "race"]}})


def rows_by_key(result):
    return {(r.section, r.key): r for r in result.rows}


def test_flatten_dotted_keys_lists_stay_values():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def test_delta_numbers_only_and_float_noise_removed():
    assert delta(0.927, 0.928) == 0.001
    assert delta(31, 63) == 32
    assert delta("a", "b") is None
    assert delta(True, False) is None
    assert delta(1, None) is None


def test_best_indices_by_direction_ties_and_all_equal():
    assert best_indices([0.9, 0.92, 0.91], "higher") == {1}
    assert best_indices([0.3, 0.28, 0.28], "lower") == {1, 2}
    assert best_indices([0.3, 0.3], "lower") == set()
    assert best_indices([0.3, 0.2], None) == set()
    assert best_indices([None, 0.2, 0.3], "higher") == {2}


def test_build_diff_cells_deltas_and_best_marks():
    result = build_diff([BASE, A, B], RULES)
    assert [c.name for c in result.columns] == ["main", "exp/a", "exp/b"]
    rows = rows_by_key(result)
    auc = rows["metrics", "roc_auc"]
    assert auc.direction == "higher"
    assert [c.value for c in auc.cells] == [0.90, 0.92, 0.91]
    assert [c.delta for c in auc.cells] == [None, 0.02, 0.01]
    assert [c.best for c in auc.cells] == [False, True, False]
    assert [c.best for c in rows["metrics", "log_loss"].cells] == [False, True, False]
    assert [c.best for c in rows["metrics", "fairness.sex.dp"].cells] == [False, False, True]
    # metrics without a rule: no mark; equal rows are not "changed"
    assert not any(c.best for c in rows["metrics", "test_rows"].cells)
    assert rows["metrics", "test_rows"].changed is False
    assert rows["params", "train.lr"].changed is True
    assert [c.delta for c in rows["params", "train.leaves"].cells] == [None, 0, 32]


def test_only_changed_hides_equal_rows():
    result = build_diff([BASE, A, B], RULES, only_changed=True)
    keys = {r.key for r in result.rows}
    assert keys == {"train.lr", "train.leaves", "roc_auc", "log_loss", "fairness.sex.dp"}


def test_missing_metrics_file_is_a_no_file_cell_not_a_change():
    result = build_diff([BASE, NONE], RULES, only_changed=True)
    assert result.columns[1].has_metrics is False
    assert result.rows == []  # params equal, metrics unknown on one side
    full = rows_by_key(build_diff([BASE, NONE], RULES))
    assert [c.status for c in full["metrics", "roc_auc"].cells] == ["value", "no_file"]
    table = render(build_diff([BASE, NONE], RULES), "table")
    assert "no metrics" in table


def test_missing_key_counts_as_change():
    extra = snap("exp/x", {"train": {"lr": 0.03, "leaves": 31, "new": 1}, "evaluate": {"groups": []}})
    rows = rows_by_key(build_diff([BASE, extra], RULES, only_changed=True))
    assert [c.status for c in rows["params", "train.new"].cells] == ["missing", "value"]
    assert ("params", "evaluate.groups") in rows


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("roc_auc", ["main", "exp/a", "exp/b", "exp/nometrics"]),
        ("log_loss", ["main", "exp/a", "exp/b", "exp/nometrics"]),
        ("fairness.sex.dp", ["main", "exp/b", "exp/a", "exp/nometrics"]),
    ],
)
def test_sort_is_direction_aware_base_first_missing_last(metric, expected):
    result = build_diff([BASE, NONE, B, A], RULES, sort=metric)
    assert [c.name for c in result.columns] == expected


def test_sort_without_rule_is_highest_first_and_unknown_metric_fails():
    low = snap("exp/low", metrics={"test_rows": 50})
    assert sort_order([BASE, low, A], "test_rows", RULES) in ([0, 2, 1],)
    with pytest.raises(UsageError, match="no revision has metric 'nope'"):
        build_diff([BASE, A], RULES, sort="nope")


def test_value_and_delta_formatting():
    assert fmt_value(0.927966) == "0.927966"
    assert fmt_value(["sex", "race"]) == '["sex", "race"]'
    assert fmt_value(True) == "true"
    assert fmt_delta(0.02) == "+0.02"
    assert fmt_delta(-32) == "-32"
    assert fmt_delta(0) == ""


def test_table_and_markdown_mark_best_and_show_deltas():
    result = build_diff([BASE, A, B], RULES)
    table = render(result, "table")
    line = next(ln for ln in table.splitlines() if ln.startswith("roc_auc"))
    assert line.split() == ["roc_auc", "0.9", "0.92", "*", "(+0.02)", "0.91", "(+0.01)"]
    md = render(result, "md")
    assert "| metrics | `roc_auc` | 0.9 | **0.92** (+0.02) | 0.91 (+0.01) |" in md
    assert md.splitlines()[0] == "| section | key | main (base) | exp/a | exp/b |"


def test_json_shape():
    data = json.loads(render(build_diff([BASE, A, NONE], RULES), "json"))
    assert data["base"] == "main"
    assert [r["name"] for r in data["revisions"]] == ["main", "exp/a", "exp/nometrics"]
    assert data["revisions"][2]["has_metrics"] is False
    auc = next(r for r in data["rows"] if r["key"] == "roc_auc")
    assert auc == {
        "section": "metrics",
        "key": "roc_auc",
        "direction": "higher",
        "changed": True,
        "values": {"main": 0.9, "exp/a": 0.92, "exp/nometrics": None},
        "status": {"main": "value", "exp/a": "value", "exp/nometrics": "no_file"},
        "deltas": {"exp/a": 0.02},
        "best": ["exp/a"],
        "verdicts": {},  # no metrics.rules tolerance known to this result
    }
    # with the base's tolerances: within/beyond tolerance, never better/worse from a point change
    from dataclasses import replace

    ruled = to_dict(replace(build_diff([BASE, A, NONE], RULES), tolerances={"roc_auc": 0.01}))
    verdicts = next(r for r in ruled["rows"] if r["key"] == "roc_auc")["verdicts"]
    assert verdicts == {
        "exp/a": {
            "kind": "beyond_tolerance",
            "label": "beyond tolerance",
            "basis": "tolerance",
            "adjusted": False,
        }
    }
    assert to_dict(build_diff([BASE, A], RULES)) == json.loads(render(build_diff([BASE, A], RULES), "json"))
    # one compact line per row inside the indented document
    text = render(build_diff([BASE, A, NONE], RULES), "json")
    row_lines = [ln for ln in text.splitlines() if ln.startswith('    {"section": ')]
    assert len(row_lines) == len(data["rows"]) and json.loads(row_lines[0].rstrip(",")) == data["rows"][0]


def test_csv_long_shape():
    text = render(build_diff([BASE, A], RULES, only_changed=True), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_HEADER
    auc = [r for r in rows if r["key"] == "roc_auc"]
    assert [(r["revision"], r["value"], r["delta"], r["best"]) for r in auc] == [
        ("main", "0.9", "", "false"),
        ("exp/a", "0.92", "0.02", "true"),
    ]
    assert len(rows) == 2 * len(build_diff([BASE, A], RULES, only_changed=True).rows)


def test_params_keyed_by_numbers_and_names_are_compared():
    # a params value holding a mapping keyed by numbers and names at once ('<' between int and
    # str made the changed-check's canonical JSON raise TypeError); 1 and "1" stay distinct
    grid = [{1: 2, "a": 3}]
    base = Snapshot("main", "a" * 40, {"grid": grid, "w": {0: 1.0}}, {})
    same = Snapshot("exp/same", "b" * 40, {"grid": [{"a": 3, 1: 2}], "w": {0: 1.0}}, {})
    text = Snapshot("exp/text", "c" * 40, {"grid": [{"1": 2, "a": 3}], "w": {0: 1.0}}, {})
    rows = {r.key: r for r in build_diff([base, same]).rows}
    assert [rows["grid"].changed, rows["w"].changed] == [False, False]
    assert {r.key: r.changed for r in build_diff([base, text]).rows} == {"grid": True, "w": False}
