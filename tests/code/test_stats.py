import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from graft.compare.report import classify
from graft.compare.stats import paired_bootstrap, rank_auc, resample_weights


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
        assert classify(iv, "higher") == "noise"


def test_clearly_better_model_is_significant():
    y, p = synthetic(seed=5)
    rng = np.random.default_rng(9)
    better = 1 / (1 + np.exp(-(3 * (y - 0.5) + rng.normal(0, 1.0, len(y)))))
    iv = paired_bootstrap(y, p, better, resamples=500, seed=1)
    assert iv["roc_auc"].low > 0 and classify(iv["roc_auc"], "higher") == "improvement"
    assert iv["log_loss"].high < 0 and classify(iv["log_loss"], "lower") == "improvement"
    assert iv["roc_auc"].low <= iv["roc_auc"].delta <= iv["roc_auc"].high
    # and the other way round it is a regression
    worse = paired_bootstrap(y, better, p, resamples=200, seed=1)
    assert classify(worse["roc_auc"], "higher") == "regression"


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
    assert classify(iv["roc_auc"], "higher") == "noise"
