import pytest

from graft.compare.gate import Bound, describe_failure, evaluate, thresholds
from graft.core.errors import ParamsError
from graft.project.metrics import MetricRule

RULES = {
    "roc_auc": MetricRule("higher", 0.002),
    "log_loss": MetricRule("lower", 0.002),
    "fairness.sex.dp": MetricRule("lower", 0.02),
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


def test_absolute_bounds_apply_to_the_head():
    bounds = {"roc_auc": Bound(0.93, None), "log_loss": Bound(None, 0.28)}
    checks = by_metric(evaluate(BASE, BASE, RULES, bounds), "threshold")
    assert not checks["roc_auc"].passed and checks["log_loss"].passed
    assert "below the minimum 0.93" in describe_failure(checks["roc_auc"])


def test_thresholds_parse_and_reject_bad_entries():
    params = {"gate": {"thresholds": {"roc_auc": {"min": 0.9}, "fairness.x": {"max": 0.1}}}}
    assert thresholds(params) == {"roc_auc": Bound(0.9, None), "fairness.x": Bound(None, 0.1)}
    assert thresholds({}) == {}
    with pytest.raises(ParamsError, match=r"gate\.thresholds\.roc_auc"):
        thresholds({"gate": {"thresholds": {"roc_auc": {"minimum": 0.9}}}})
    with pytest.raises(ParamsError, match=r"gate\.thresholds\.roc_auc\.max"):
        thresholds({"gate": {"thresholds": {"roc_auc": {"max": "high"}}}})
