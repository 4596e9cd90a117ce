import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.metrics import roc_curve as sk_roc_curve

from graft.compare.scorers import (
    SCORERS,
    BinaryScorer,
    Extras,
    MulticlassScorer,
    RegressionScorer,
    rank_auc,
    roc_curve,
)
from graft.compare.stats import paired_bootstrap, resample_weights, resampled_differences
from graft.compare.verdicts import judge


def classify(iv, direction):
    """The verdict kind on a bootstrapped interval, as the report judges it."""
    return judge(iv.delta, direction, (iv.low, iv.high)).kind


def synthetic(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1.0, n)
    return y, 1 / (1 + np.exp(-signal))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_auc_equals_sklearn_with_ties(seed):
    y, p = synthetic(seed=seed)
    assert rank_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    coarse = np.round(p, 1)  # heavy ties
    assert rank_auc(y, coarse) == pytest.approx(roc_auc_score(y, coarse), abs=1e-12)


def test_resample_weights_are_multiplicities():
    w = resample_weights(np.random.default_rng(0), 50, 7)
    assert w.shape == (7, 50)
    assert (w.sum(axis=1) == 50).all()


def test_point_values_match_sklearn():
    y, p = synthetic()
    q = np.clip(p + 0.1, 0, 1)
    iv = paired_bootstrap(y, p, q, resamples=20)
    assert iv["log_loss"].base == pytest.approx(log_loss(y, p))
    assert iv["log_loss"].head == pytest.approx(log_loss(y, q))
    assert iv["brier"].base == pytest.approx(brier_score_loss(y, p))
    assert iv["accuracy"].base == pytest.approx(np.mean((p >= 0.5) == y))
    assert iv["roc_auc"].delta == pytest.approx(roc_auc_score(y, q) - roc_auc_score(y, p))


def test_identical_predictions_give_zero_interval_and_noise():
    y, p = synthetic()
    for m, iv in paired_bootstrap(y, p, p.copy(), resamples=300, seed=3).items():
        assert (iv.low, iv.high, iv.delta) == (0.0, 0.0, 0.0), m
        assert classify(iv, "higher") == "within_noise"


def test_clearly_better_model_is_significant():
    y, p = synthetic(seed=5)
    rng = np.random.default_rng(9)
    better = 1 / (1 + np.exp(-(3 * (y - 0.5) + rng.normal(0, 1.0, len(y)))))
    iv = paired_bootstrap(y, p, better, resamples=500, seed=1)
    assert iv["roc_auc"].low > 0 and classify(iv["roc_auc"], "higher") == "better"
    assert iv["log_loss"].high < 0 and classify(iv["log_loss"], "lower") == "better"
    assert iv["roc_auc"].low <= iv["roc_auc"].delta <= iv["roc_auc"].high
    # and the other way round it is a regression
    worse = paired_bootstrap(y, better, p, resamples=200, seed=1)
    assert classify(worse["roc_auc"], "higher") == "worse"


def test_bootstrap_is_deterministic_for_a_seed():
    y, p = synthetic()
    q = np.clip(p * 0.9 + 0.05, 0, 1)
    a = paired_bootstrap(y, p, q, resamples=100, seed=7)
    b = paired_bootstrap(y, p, q, resamples=100, seed=7)
    assert a == b


def test_small_noise_is_within_noise():
    y, p = synthetic(n=2000, seed=11)
    rng = np.random.default_rng(2)
    q = np.clip(p + rng.normal(0, 0.002, len(p)), 0, 1)
    iv = paired_bootstrap(y, p, q, resamples=500, seed=0)
    assert classify(iv["roc_auc"], "higher") == "within_noise"


# --- multiclass and regression ---------------------------------------------------------------


def three_classes(n=3000, seed=0, strength=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1.0, (n, 3))
    logits[np.arange(n), y] += strength
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def regression_data(n=2000, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    y = rng.normal(150, 70, n)  # a target of the diabetes data's scale: large mean, large spread
    return y, y + rng.normal(0, 30 * noise, n)


def weights_of(idx, n):
    return np.bincount(idx, minlength=n).astype(np.float64)[None, :]


def test_multiclass_point_values_equal_sklearn_and_ci_holds_the_delta():
    y, p = three_classes()
    y2, q = three_classes(seed=0, strength=2.5)  # same labels and noise, a stronger signal
    assert (y2 == y).all()
    iv = paired_bootstrap(y, p, q, resamples=300, seed=4, task="multiclass")
    assert list(iv)[:5] == ["log_loss", "accuracy", "macro_f1", "macro_precision", "macro_recall"]
    assert list(iv)[5:] == [f"{m}.{c}" for m in ("precision", "recall", "f1") for c in "012"]
    assert iv["log_loss"].base == pytest.approx(log_loss(y, p, labels=[0, 1, 2]), rel=1e-12)
    assert iv["log_loss"].head == pytest.approx(log_loss(y, q, labels=[0, 1, 2]), rel=1e-12)
    assert iv["accuracy"].base == pytest.approx(accuracy_score(y, p.argmax(axis=1)), abs=1e-15)
    assert iv["macro_f1"].base == pytest.approx(f1_score(y, p.argmax(axis=1), average="macro"), rel=1e-12)
    assert iv["macro_f1"].head == pytest.approx(f1_score(y, q.argmax(axis=1), average="macro"), rel=1e-12)
    for m, i in iv.items():
        assert i.low <= i.delta <= i.high, m
    # the stronger model is a significant improvement on every metric
    assert classify(iv["log_loss"], "lower") == "better"
    assert classify(iv["macro_f1"], "higher") == "better"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_resample_values_equal_sklearn_on_the_resampled_rows(seed):
    y, p = three_classes(n=400, seed=seed)
    rng = np.random.default_rng(seed + 10)
    idx = rng.integers(0, len(y), len(y))
    scorer = MulticlassScorer(y, p)
    w = weights_of(idx, len(y))
    assert scorer.score("macro_f1", w)[0] == pytest.approx(
        f1_score(y[idx], p[idx].argmax(axis=1), average="macro"), rel=1e-12
    )
    assert scorer.score("log_loss", w)[0] == pytest.approx(
        log_loss(y[idx], p[idx], labels=[0, 1, 2]), rel=1e-12
    )
    assert scorer.score("accuracy", w)[0] == pytest.approx(accuracy_score(y[idx], p[idx].argmax(axis=1)))


def test_macro_f1_averages_over_the_classes_present_as_sklearn_does():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    idx = np.array([0, 1, 2, 3, 0, 2])  # class 2 neither a label nor a prediction in this resample
    got = MulticlassScorer(y, p).score("macro_f1", weights_of(idx, len(y)))[0]
    assert got == pytest.approx(f1_score(y[idx], p[idx].argmax(axis=1), average="macro"))
    assert got == pytest.approx((4 / 5 + 6 / 7) / 2)  # class 2 left out of the average, not a 0


def test_regression_point_values_equal_sklearn_and_ci_holds_the_delta():
    y, p = regression_data()
    _, q = regression_data(noise=0.8)
    iv = paired_bootstrap(y, p, q, resamples=400, seed=2, task="regression")
    assert list(iv) == ["rmse", "mae", "r2"]
    assert iv["rmse"].base == pytest.approx(np.sqrt(mean_squared_error(y, p)), rel=1e-12)
    assert iv["mae"].head == pytest.approx(mean_absolute_error(y, q), rel=1e-12)
    assert iv["r2"].base == pytest.approx(r2_score(y, p), rel=1e-12)
    assert iv["r2"].delta == pytest.approx(r2_score(y, q) - r2_score(y, p), rel=1e-9)
    for m, i in iv.items():
        assert i.low <= i.delta <= i.high, m
    assert classify(iv["rmse"], "lower") == "better"
    assert classify(iv["r2"], "higher") == "better"


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_resample_values_equal_sklearn_on_the_resampled_rows(seed):
    y, p = regression_data(n=300, seed=seed)
    idx = np.random.default_rng(seed).integers(0, len(y), len(y))
    scorer = RegressionScorer(y, p)
    w = weights_of(idx, len(y))
    assert scorer.score("rmse", w)[0] == pytest.approx(np.sqrt(mean_squared_error(y[idx], p[idx])), rel=1e-12)
    assert scorer.score("mae", w)[0] == pytest.approx(mean_absolute_error(y[idx], p[idx]), rel=1e-12)
    assert scorer.score("r2", w)[0] == pytest.approx(r2_score(y[idx], p[idx]), rel=1e-10)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_identical_predictions_are_noise_for_every_task(task):
    y, p = three_classes() if task == "multiclass" else regression_data()
    for m, iv in paired_bootstrap(y, p, p.copy(), resamples=100, seed=1, task=task).items():
        assert (iv.low, iv.high, iv.delta) == (0.0, 0.0, 0.0), m


def test_task_metrics_match_what_the_bootstrap_computes():
    from graft.project.settings import TASK_METRICS

    for task, cls in SCORERS.items():  # the task's headline metrics are all bootstrapped
        assert set(TASK_METRICS[task]) <= set(cls.metrics), task


def test_unknown_task_or_metric_is_refused():
    y, p = regression_data(n=10)
    with pytest.raises(ValueError, match="unknown regression metrics: \\['roc_auc'\\]"):
        paired_bootstrap(y, p, p, metrics=("roc_auc",), task="regression")
    with pytest.raises(ValueError, match="unknown task type 'ranking'"):
        paired_bootstrap(y, p, p, task="ranking")


def test_roc_curve_equals_sklearn_with_ties():
    y, p = synthetic(n=500, seed=3)
    coarse = np.round(p, 1)
    for scores in (p, coarse):
        fpr, tpr = roc_curve(y, scores)
        expected_fpr, expected_tpr, _ = sk_roc_curve(y, scores, drop_intermediate=False)
        np.testing.assert_allclose(fpr, expected_fpr)
        np.testing.assert_allclose(tpr, expected_tpr)


def test_class_labels_by_name_or_index_and_unknown_values_named():
    from graft.compare.predictions import class_indices
    from graft.core.errors import DataError

    classes = ("<=50K", ">50K")
    assert class_indices(np.array([">50K", "<=50K"], dtype=object), classes, "label", "f").tolist() == [1, 0]
    assert class_indices(np.array([1, 0, 1]), classes, "label", "f").tolist() == [1, 0, 1]
    assert class_indices(np.array([1.0, 0.0]), classes, "label", "f").tolist() == [1, 0]
    assert class_indices(np.array([True, False]), classes, "label", "f").tolist() == [1, 0]
    with pytest.raises(DataError, match=r"^f: label column 'label' holds 2; expected one of '<=50K', '>50K'"):
        class_indices(np.array([0, 2]), classes, "label", "f")
    with pytest.raises(DataError, match=r"label column 'y' holds 'rose'; expected one of 'a', 'b', 'c'"):
        class_indices(np.array(["a", "rose"], dtype=object), ("a", "b", "c"), "y", "f")
    # a Parquet struct or list column: unhashable values, named (this refusal crashed with TypeError)
    structs = np.empty(3, dtype=object)
    structs[:] = [{"a": 1}, [1, 2], {"a": 1}]
    with pytest.raises(DataError) as refused:
        class_indices(structs, classes, "label", "f")
    expected = "one of '<=50K', '>50K' or a class index 0..1"
    assert str(refused.value) == f"f: label column 'label' holds {{'a': 1}}, [1, 2]; expected {expected}"


# --- every metric, the same resamples, verdicts only with evidence -------------------------------


def with_groups(n=3000, seed=0):
    y, p = synthetic(n=n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    return y, p, {"sex": rng.integers(0, 2, n), "race": rng.integers(0, 4, n)}


def test_every_binary_metric_and_fairness_gap_gets_an_interval():
    y, p, groups = with_groups()
    q = np.clip(p + 0.05, 0, 1)
    iv = paired_bootstrap(y, p, q, resamples=50, extras=Extras(threshold=0.5, groups=groups))
    gaps = [f"fairness.{c}.{g}" for c in ("sex", "race") for g in BinaryScorer.GAPS]
    assert list(iv) == [*BinaryScorer.metrics, *gaps]
    assert all(np.isfinite([i.low, i.high, i.p_value]).all() for i in iv.values())


def test_identical_head_gets_no_better_or_worse_anywhere():
    from graft.compare.verdicts import holm

    y, p, groups = with_groups(seed=4)
    iv = paired_bootstrap(y, p, p.copy(), resamples=200, seed=2, extras=Extras(groups=groups))
    adjusted = holm([i.p_value for i in iv.values()])
    for (m, i), p_adj in zip(iv.items(), adjusted, strict=True):
        for direction in ("higher", "lower"):
            assert judge(i.delta, direction, (i.low, i.high)).kind == "within_noise", m
            assert judge(i.delta, direction, (i.low, i.high), adjusted_p=p_adj).kind == "within_noise", m
        assert i.p_value == 1.0 and p_adj == 1.0, m


def test_f1_and_fairness_gaps_come_from_the_same_resamples_as_sklearn_computes_them():
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
    from sklearn.metrics import average_precision_score, precision_score, recall_score

    y, p, groups = with_groups(n=1500, seed=6)
    rng = np.random.default_rng(1)
    q = np.clip(p + rng.normal(0, 0.1, len(p)), 0, 1)
    diffs = resampled_differences(y, p, q, resamples=150, seed=9, block=100, extras=Extras(groups=groups))
    # the same draws, by hand: the first block of 100 resamples of the same seeded generator
    weights = resample_weights(np.random.default_rng(9), len(y), 100)
    pb, ph = (p >= 0.5).astype(int), (q >= 0.5).astype(int)
    for r in (0, 1, 57):
        w = weights[r]
        idx = np.repeat(np.arange(len(y)), w.astype(int))  # the resampled rows themselves

        def direct(metric, idx=idx, **kw):
            return metric(y[idx], ph[idx], **kw) - metric(y[idx], pb[idx], **kw)

        assert diffs["f1"][r] == pytest.approx(direct(f1_score), abs=1e-12)
        assert diffs["precision"][r] == pytest.approx(direct(precision_score), abs=1e-12)
        assert diffs["recall"][r] == pytest.approx(direct(recall_score), abs=1e-12)
        ap = average_precision_score(y[idx], q[idx]) - average_precision_score(y[idx], p[idx])
        assert diffs["pr_auc"][r] == pytest.approx(ap, abs=1e-12)
        assert diffs["roc_auc"][r] == pytest.approx(
            roc_auc_score(y[idx], q[idx]) - roc_auc_score(y[idx], p[idx]), abs=1e-12
        )
        for column, codes in groups.items():
            for gap, metric in (
                ("demographic_parity_difference", demographic_parity_difference),
                ("equalized_odds_difference", equalized_odds_difference),
            ):
                got = diffs[f"fairness.{column}.{gap}"][r]
                assert got == pytest.approx(direct(metric, sensitive_features=codes[idx]), abs=1e-12), (
                    column,
                    gap,
                )


def test_multiclass_per_class_metrics_equal_sklearn_on_a_resample():
    from sklearn.metrics import precision_score, recall_score

    y, p = three_classes(n=600, seed=3)
    idx = np.random.default_rng(5).integers(0, len(y), len(y))
    scorer = MulticlassScorer(y, p, ("a", "b", "c"))
    got = scorer.block(weights_of(idx, len(y)), scorer.names)
    pred = p[idx].argmax(axis=1)
    for k, c in enumerate("abc"):
        assert got[f"precision.{c}"][0] == pytest.approx(precision_score(y[idx], pred, average=None)[k])
        assert got[f"recall.{c}"][0] == pytest.approx(recall_score(y[idx], pred, average=None)[k])
        assert got[f"f1.{c}"][0] == pytest.approx(f1_score(y[idx], pred, average=None)[k])
    assert got["macro_precision"][0] == pytest.approx(precision_score(y[idx], pred, average="macro"))
    assert got["macro_recall"][0] == pytest.approx(recall_score(y[idx], pred, average="macro"))


def test_regression_quantile_error_is_numpys_inverted_cdf_quantile():
    y, p = regression_data(n=500, seed=2)
    idx = np.random.default_rng(3).integers(0, len(y), len(y))
    scorer = RegressionScorer(y, p, quantiles=(0.9, 0.5))
    assert scorer.names == ("rmse", "mae", "r2", "abs_error_q90", "abs_error_q50")
    got = scorer.block(weights_of(idx, len(y)), scorer.names)
    errors = np.abs(p - y)[idx]
    assert got["abs_error_q90"][0] == np.quantile(errors, 0.9, method="inverted_cdf")
    assert got["abs_error_q50"][0] == np.quantile(errors, 0.5, method="inverted_cdf")


@pytest.mark.parametrize("delta", [-0.004, -0.001, 0.0, 0.001, 0.004])
@pytest.mark.parametrize("direction", ["higher", "lower", None])
def test_without_an_interval_no_better_or_worse_only_the_tolerance(delta, direction):
    verdict = judge(delta, direction, None, tolerance=0.002)
    assert verdict.basis == "tolerance"
    assert verdict.kind == ("beyond_tolerance" if abs(delta) > 0.002 else "within_tolerance")
    assert verdict.label == verdict.kind.replace("_", " ")
    assert not verdict.decisive
    none = judge(delta, direction, None, tolerance=None)
    assert (none.kind, none.label, none.basis) == ("none", "", "none")


def test_interval_verdicts_follow_the_metric_direction():
    assert judge(0.01, "higher", (0.002, 0.02)).to_dict() == {
        "kind": "better",
        "label": "better",
        "basis": "bootstrap",
        "adjusted": False,
    }
    assert judge(0.01, "lower", (0.002, 0.02)).kind == "worse"
    assert judge(-0.01, "lower", (-0.02, -0.002)).kind == "better"
    assert judge(0.01, "higher", (-0.001, 0.02)).kind == "within_noise"
    assert judge(0.01, None, (0.002, 0.02)).kind == "changed"
    # an interval wins over the tolerance; a NaN interval does not count as one
    assert judge(0.5, "higher", (-0.1, 0.9), tolerance=0.0).kind == "within_noise"
    assert judge(0.5, "higher", (float("nan"), float("nan")), tolerance=0.0).kind == "beyond_tolerance"


def test_holm_against_a_hand_computation():
    from graft.compare.verdicts import holm

    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> kept at 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    got = holm([0.2, float("nan"), 0.6])  # NaN is not counted: m = 2
    assert got[0] == pytest.approx(0.4) and got[2] == pytest.approx(0.6) and np.isnan(got[1])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    # an interval excluding 0 whose adjusted p-value is not below 5% is within noise (Holm)
    verdict = judge(0.01, "higher", (0.001, 0.02), adjusted_p=0.06)
    assert (verdict.kind, verdict.adjusted) == ("within_noise", True)
    assert judge(0.01, "higher", (0.001, 0.02), adjusted_p=0.03).to_dict()["adjusted"] is True
    assert judge(0.01, "higher", (0.001, 0.02), adjusted_p=0.03).kind == "better"


def test_bootstrap_p_value_is_twice_the_smaller_tail():
    from graft.compare.verdicts import bootstrap_p

    assert bootstrap_p([1.0, 2.0, -1.0, 3.0]) == pytest.approx(0.5)
    assert bootstrap_p([0.0, 0.0]) == 1.0
    assert bootstrap_p([1.0, 2.0, float("nan")]) == 0.0
