import pytest

from graft.compare.gate import check_verdict, describe_failure, evaluate
from graft.core.errors import ParamsError
from graft.project.settings import Bound, MetricRule, parse_settings

RULES = {
    "roc_auc": MetricRule(direction="higher", tolerance=0.002),
    "log_loss": MetricRule(direction="lower", tolerance=0.002),
    "fairness.sex.dp": MetricRule(direction="lower", tolerance=0.02),
}
BASE = {"roc_auc": 0.9280, "log_loss": 0.2760, "fairness": {"sex": {"dp": 0.170}}}


def by_metric(checks, kind="regression"):
    return {c.metric: c for c in checks if c.kind == kind}


def test_changes_within_tolerance_pass_in_both_directions():
    head = {"roc_auc": 0.9260, "log_loss": 0.2780, "fairness": {"sex": {"dp": 0.19}}}  # exactly at tolerance
    checks = evaluate(BASE, head, RULES, {})
    assert all(c.passed for c in checks)


def test_higher_is_better_fails_when_it_falls_beyond_tolerance():
    checks = by_metric(evaluate(BASE, {**BASE, "roc_auc": 0.9250}, RULES, {}))
    assert not checks["roc_auc"].passed
    assert checks["log_loss"].passed
    line = describe_failure(checks["roc_auc"])
    assert "0.925" in line and "0.928" in line and "tolerance 0.002" in line and "higher" in line


def test_lower_is_better_fails_when_it_rises_beyond_tolerance():
    checks = by_metric(evaluate(BASE, {**BASE, "log_loss": 0.2790}, RULES, {}))
    assert not checks["log_loss"].passed
    # an improvement of any size passes
    assert by_metric(evaluate(BASE, {**BASE, "log_loss": 0.1}, RULES, {}))["log_loss"].passed


def test_nested_metrics_are_addressed_by_dotted_keys():
    head = {**BASE, "fairness": {"sex": {"dp": 0.2}}}
    assert not by_metric(evaluate(BASE, head, RULES, {}))["fairness.sex.dp"].passed


def test_missing_at_head_fails_missing_at_base_passes():
    head = {"log_loss": 0.276, "fairness": {"sex": {"dp": 0.17}}}
    assert not by_metric(evaluate(BASE, head, RULES, {}))["roc_auc"].passed
    base = {"log_loss": 0.276, "fairness": {"sex": {"dp": 0.17}}}
    assert by_metric(evaluate(base, BASE, RULES, {}))["roc_auc"].passed


def test_a_rule_for_a_metric_neither_side_has_fails_naming_it():
    rules = {**RULES, "roc_acu": MetricRule(direction="higher", tolerance=0.0)}
    check = by_metric(evaluate(BASE, BASE, rules, {}))["roc_acu"]
    assert not check.passed
    assert describe_failure(check) == (
        "roc_acu: head missing, base missing, no such metric at base or head (higher is better, tolerance 0)"
    )


def test_metrics_of_other_files_are_addressed_as_path_key():
    rules = {"eval/scores.json:rmse": MetricRule(direction="lower", tolerance=0.1)}
    base, head = {"eval/scores.json:rmse": 3.0}, {"eval/scores.json:rmse": 3.2}
    (check,) = evaluate(base, head, rules, {"eval/scores.json:rmse": Bound(max=3.5)})[:1]
    assert not check.passed and check.detail == "rose by 0.2"


def test_absolute_bounds_apply_to_the_head():
    bounds = {"roc_auc": Bound(min=0.93), "log_loss": Bound(max=0.28)}
    checks = by_metric(evaluate(BASE, BASE, RULES, bounds), "threshold")
    assert not checks["roc_auc"].passed and checks["log_loss"].passed
    assert "below the minimum 0.93" in describe_failure(checks["roc_auc"])


def test_rules_and_bounds_come_from_settings_and_bad_entries_name_the_key():
    settings = parse_settings(
        {
            "metrics": {"rules": {"rmse": {"direction": "lower", "tolerance": 0.5}}},
            "gate": {"thresholds": "${gate.thresholds}"},
        },
        {"gate": {"thresholds": {"r2": {"min": 0.3}, "rmse": {"max": 60}}}},
    )
    assert settings.gate.thresholds == {"r2": Bound(min=0.3), "rmse": Bound(max=60)}
    checks = evaluate(
        {"rmse": 55.0, "r2": 0.4},
        {"rmse": 55.4, "r2": 0.25},
        settings.metrics.rules,
        settings.gate.thresholds,
    )
    assert [(c.metric, c.kind, c.passed) for c in checks] == [
        ("rmse", "regression", True),
        ("r2", "threshold", False),
        ("rmse", "threshold", True),
    ]
    with pytest.raises(ParamsError, match=r"gate\.thresholds\.roc_auc"):
        parse_settings({"gate": {"thresholds": {"roc_auc": {"minimum": 0.9}}}}, {})
    with pytest.raises(ParamsError, match=r"gate\.thresholds\.roc_auc\.max"):
        parse_settings({"gate": {"thresholds": {"roc_auc": {"max": "high"}}}}, {})


def test_gate_verdicts_are_tolerance_words_never_better_or_worse():
    head = {"roc_auc": 0.9350, "log_loss": 0.2770, "fairness": {"sex": {"dp": 0.170}}}
    checks = evaluate(BASE, head, RULES, {"roc_auc": Bound(min=0.9)})
    verdicts = {(c.metric, c.kind): check_verdict(c).to_dict() for c in checks}
    assert verdicts[("roc_auc", "regression")] == {
        "kind": "beyond_tolerance",  # passes the gate; a point difference is no evidence of "better"
        "label": "beyond tolerance",
        "basis": "tolerance",
        "adjusted": False,
    }
    assert verdicts[("log_loss", "regression")]["kind"] == "within_tolerance"
    assert verdicts[("fairness.sex.dp", "regression")]["kind"] == "within_tolerance"
    assert verdicts[("roc_auc", "threshold")] == {
        "kind": "none",
        "label": "",
        "basis": "none",
        "adjusted": False,
    }


VALUES = [0.9, 0.7, 1.2, True, float("nan"), "0.9", None, {"nested": 1}]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_one_bound_rule_for_the_gate_and_for_graft_metrics(tmp_path, value):
    """`graft gate` and `graft metrics` (release/check) hold a value to a bound the same way: a
    number within it passes; a bool, NaN, text or a missing value never does."""
    import json
    import math
    import subprocess

    from graft.release.check import working_metrics

    bound = Bound(min=0.8, max=1.0)
    expected = isinstance(value, float) and not math.isnan(value) and 0.8 <= value <= 1.0
    [check] = evaluate({}, {"scores": {"auc": value}}, {}, {"scores.auc": bound})
    assert check.passed is expected
    assert (bound.violation(value) is None) is expected
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - metrics.json\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"scores": {"auc": value}}))
    (tmp_path / "graft.yaml").write_text(
        "metrics:\n  file: metrics.json\ngate:\n  thresholds:\n    scores.auc: {min: 0.8, max: 1.0}\n"
    )
    assert working_metrics(tmp_path)["gate"] is expected


def test_a_bound_names_why_a_value_breaks_it():
    bound = Bound(min=0.8, max=1.0)
    assert [bound.violation(v) for v in (0.7, 1.2, True, float("nan"), None, 0.9)] == [
        "below the minimum 0.8",
        "above the maximum 1",
        "not a number (true)",
        "not a number (NaN)",
        "missing",
        None,
    ]
