"""The train stage's model families on a tiny synthetic table: each is deterministic (same params,
byte-identical model file and metrics), cross-validates and refits as documented, and the model file
loads back through the serving adapter's ``load_model``/``predict`` with the predictions it was
measured with."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stages import models, serving
from stages.train import TrainParams, train

FEATURES = ["x", "noise", "colour", "sex"]
SPEC = {"features": FEATURES, "categorical": ["colour", "sex"]}
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.3,
    "num_leaves": 7,
    "depth": 3,
    "min_child_samples": 5,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 5,
    "max_rounds": 30,
    "early_stopping_rounds": 5,
    "seed": 3,
    "num_threads": 1,
    "group_columns": ["sex"],
}


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 3, rows)
    sex = rng.integers(0, 2, rows)
    x = rng.normal(size=rows)
    logit = 1.5 * x + np.array([-1.0, 0.0, 1.0])[colour] + 0.3 * sex
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "row_id": np.arange(rows) + seed * 10_000,
            "x": x,
            "noise": rng.normal(size=rows),
            "colour": colour.astype(float),
            "sex": sex.astype(float),
            "label": label,
        }
    )


TRAIN, VALID = table(600, 1), table(300, 2)
GROUPS = pd.concat([TRAIN, VALID])[["row_id", "sex"]].astype({"sex": int}).astype({"sex": str})


def fit(**change):
    return train(TRAIN, VALID, GROUPS, SPEC, TrainParams(**{**PARAMS, **change}))


@pytest.mark.parametrize("family", models.FAMILIES)
@pytest.mark.parametrize("extra", [{}, {"cv_folds": 3, "refit_rows": "all", "seeds": 2}])
def test_each_family_is_deterministic_and_serves_what_it_measured(family, extra, tmp_path):
    model, summary = fit(model=family, **extra)
    again, summary_again = fit(model=family, **extra)
    assert model == again
    assert json.dumps(summary, sort_keys=True) == json.dumps(summary_again, sort_keys=True)
    # a single LightGBM model is LightGBM text (graft's lightgbm flavour); anything else a bundle
    bundled = not (family == "lightgbm" and not extra)
    assert model.startswith(b"{") is bundled
    path = tmp_path / "model.txt"
    path.write_bytes(model)
    loaded = serving.load_model(path)
    assert (loaded.family, len(loaded.members)) == (family, extra.get("seeds", 1))
    matrix = VALID[FEATURES].to_numpy(dtype=np.float64)
    proba = serving.predict(loaded, matrix)
    assert proba.shape == (len(VALID),) and ((proba > 0) & (proba < 1)).all()
    from sklearn.metrics import log_loss

    if "cv_folds" not in extra:  # validation metrics are the served model's own
        assert summary["valid_log_loss"] == round(log_loss(VALID["label"], proba), 6)
    assert summary["valid_fairness"]["sex"]["demographic_parity_difference"] >= 0
    assert loaded.importance("gain").shape == (len(FEATURES),)


def test_cross_validation_writes_means_and_standard_errors(tmp_path):
    from sklearn.metrics import log_loss

    model, summary = fit(cv_folds=3)
    assert summary["cv_folds"] == 3
    assert 0 < summary["cv_log_loss_se"] < summary["cv_log_loss"] < 1
    assert 0.5 < summary["cv_roc_auc"] <= 1 and summary["cv_roc_auc_se"] > 0
    assert set(summary["cv_fairness"]["sex"]) == {
        "demographic_parity_difference",
        "equalized_odds_difference",
    }
    # refit on the train rows at the folds' mean rounds: validation measures that model
    path = tmp_path / "model.txt"
    path.write_bytes(model)
    booster = serving.load_model(path).members[0]
    assert booster.current_iteration() == summary["best_iteration"]
    proba = booster.predict(VALID[FEATURES].to_numpy(dtype=np.float64))
    assert summary["valid_log_loss"] == round(log_loss(VALID["label"], proba), 6)
    # refit on every row: another model, the same folds (validation then measured by the folds' models)
    every, on_all = fit(cv_folds=3, refit_rows="all")
    assert every != model and on_all["cv_log_loss"] == summary["cv_log_loss"]
    assert on_all["valid_log_loss"] != summary["valid_log_loss"]


def test_a_seed_ensemble_averages_its_members(tmp_path):
    model, _ = fit(seeds=3, feature_fraction=0.6)  # without sampling every seed fits the same trees
    path = tmp_path / "model.txt"
    path.write_bytes(model)
    bundle = serving.load_model(path)
    matrix = VALID[FEATURES].to_numpy(dtype=np.float64)
    each = [m.predict(matrix) for m in bundle.members]
    assert not np.array_equal(each[0], each[1])  # the seeds differ
    assert np.array_equal(bundle.predict(matrix), np.mean(np.vstack(each), axis=0))


def test_a_lightgbm_booster_is_served_as_the_lightgbm_flavour_loads_it(tmp_path):
    import lightgbm as lgb

    model, _ = fit()
    booster = lgb.Booster(model_str=model.decode())
    matrix = VALID[FEATURES].to_numpy(dtype=np.float64)
    assert np.array_equal(serving.predict(booster, matrix), booster.predict(matrix))


def test_a_file_that_is_not_a_bundle_is_refused():
    with pytest.raises(ValueError, match="not a model bundle of format adult-income-bundle/1"):
        models.load(b'{"format": "other", "family": "lightgbm", "members": []}')
