import pytest
import yaml

from graft.core.errors import ParamsError, UsageError
from graft.experiments.overrides import (
    apply,
    axis_labels,
    expand_grid,
    parse_assignment,
    parse_assignments,
    parse_grid,
    plan_text,
    resolve_key,
    split_values,
)
from tests.conftest import ROOT

PARAMS = (ROOT / "params.yaml").read_text(encoding="utf-8")


def plan(*sets):
    return plan_text(PARAMS, parse_assignments(sets))


def test_parse_assignment_splits_on_first_equals():
    a = parse_assignment("featurize.missing.fill_value=a=b")
    assert (a.key, a.raw) == ("featurize.missing.fill_value", "a=b")


@pytest.mark.parametrize("text", ["train.num_leaves", "=3", "train..x=1", ".x=1"])
def test_malformed_assignment_is_a_usage_error(text):
    with pytest.raises(UsageError):
        parse_assignment(text)


def test_duplicate_key_is_a_usage_error():
    with pytest.raises(UsageError, match="more than once"):
        parse_assignments(["train.seed=1", "train.seed=2"])


def test_dotted_keys_inside_a_mapping_resolve():
    doc = yaml.safe_load(PARAMS)
    assert resolve_key(doc, "gate.thresholds.roc_auc.min") == ("gate", "thresholds", "roc_auc", "min")
    assert resolve_key(doc, "gate.thresholds.fairness.sex.equalized_odds_difference.max") == (
        "gate",
        "thresholds",
        "fairness.sex.equalized_odds_difference",
        "max",
    )
    assert resolve_key(doc, "validate.ranges.age.1") == ("validate", "ranges", "age", 1)
    assert resolve_key(doc, "validate.ranges.age.2") is None
    assert resolve_key(doc, "train.nope") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train.num_leaves=63", 63),
        ("train.learning_rate=0.1", 0.1),
        ("train.learning_rate=1", 1.0),  # int accepted for a float, stored as float
        ("train.learning_rate=1e-3", 0.001),  # PyYAML reads 1e-3 as a string
        ("train.objective=regression", "regression"),
        ("featurize.missing.fill_value='yes'", "yes"),
        ("evaluate.group_columns=[sex]", ["sex"]),
        ("gate.thresholds.roc_auc.min=0.99", 0.99),
    ],
)
def test_values_of_the_right_type_are_accepted(text, expected):
    (override,) = plan(text)
    assert override.new == expected
    assert type(override.new) is type(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.num_leaves=3.5", "expected int"),
        ("train.num_leaves=true", "expected int"),
        ("train.learning_rate=fast", "expected float"),
        ("train.objective=1", "expected str"),
        ("featurize.missing.fill_value=yes", "expected str"),  # YAML 1.1 bool, as the stages read it
        ("evaluate.group_columns=sex", "expected list"),
        ("train.num_leaves=[1", "not a valid YAML value"),
    ],
)
def test_values_of_the_wrong_type_are_refused(text, message):
    with pytest.raises(ParamsError, match=message) as info:
        plan(text)
    assert text.split("=")[0] in str(info.value)


def test_unknown_key_names_the_key_and_its_siblings():
    with pytest.raises(ParamsError) as info:
        plan("train.num_leafs=3")
    message = str(info.value)
    assert "train.num_leafs" in message and "num_leaves" in message and "\n" not in message


def test_apply_without_overrides_is_byte_identical():
    assert apply(PARAMS, []) == PARAMS


def test_apply_changes_only_the_given_lines_and_keeps_comments_and_order():
    new = apply(
        PARAMS, plan("train.num_leaves=63", "gate.thresholds.roc_auc.min=0.99", "train.cat_smooth=60")
    )
    old_lines, new_lines = PARAMS.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert changed == [
        (
            "  num_leaves: 31              # LightGBM, XGBoost",
            "  num_leaves: 63              # LightGBM, XGBoost",
        ),
        ("  cat_smooth: 50.0", "  cat_smooth: 60.0"),
        ("    roc_auc: {min: 0.926}", "    roc_auc: {min: 0.99}"),
    ]
    assert yaml.safe_load(new)["train"]["num_leaves"] == 63


def test_apply_quotes_strings_that_would_read_back_as_something_else():
    new = apply(PARAMS, plan("featurize.missing.fill_value='null'"))
    assert yaml.safe_load(new)["featurize"]["missing"]["fill_value"] == "null"


def test_split_values_respects_brackets_and_quotes():
    assert split_values("15,31, 63") == ["15", "31", "63"]
    assert split_values("[a, b],[c]") == ["[a, b]", "[c]"]
    assert split_values("'x,y',z") == ["'x,y'", "z"]


def test_grid_is_the_cartesian_product_in_command_line_order():
    points = expand_grid(parse_grid(["train.num_leaves=15,31,63", "train.learning_rate=0.03,0.1"]))
    assert [p.name for p in points] == [
        "grid-num_leaves-15-learning_rate-0.03",
        "grid-num_leaves-15-learning_rate-0.1",
        "grid-num_leaves-31-learning_rate-0.03",
        "grid-num_leaves-31-learning_rate-0.1",
        "grid-num_leaves-63-learning_rate-0.03",
        "grid-num_leaves-63-learning_rate-0.1",
    ]
    assert [(a.key, a.raw) for a in points[1].assignments] == [
        ("train.num_leaves", "15"),
        ("train.learning_rate", "0.1"),
    ]


def test_grid_names_are_branch_safe_and_use_the_prefix():
    (point,) = expand_grid(parse_grid(["evaluate.group_columns=[sex, race]"]), prefix="cols")
    assert point.name == "cols-group_columns-sex_race"


def test_grid_labels_disambiguate_keys_with_the_same_last_part():
    assert axis_labels(["train.seed", "featurize.split.seed"]) == ["train.seed", "split.seed"]


@pytest.mark.parametrize("sets", [[], ["train.seed=1,,2"], ["train.seed=1,1"]])
def test_bad_grids_are_usage_errors(sets):
    with pytest.raises(UsageError):
        expand_grid(parse_grid(sets))
