"""The reference pipeline with another model family: a CatBoost ensemble of two seeds (native
categorical handling) is trained by `dvc repro`, packaged and served, and serving answers exactly
the predictions the evaluate stage committed.

The model file is then a bundle no flavour recognises: `graft package` serves it as ``custom``
through the adapter's ``load_model`` and ``predict`` (stages/serving.py), with no package.flavour.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graft import api
from graft.release.package import load_package
from graft.serving.model import ServingModel
from tests.conftest import git
from tests.releasing import clone_tree, dvc, set_param

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ensemble(pipeline_template: Path, tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Path:
    root = clone_tree(pipeline_template, tmp_path_factory.mktemp("ensemble") / "project")
    set_param(root, "train.model", "catboost")
    set_param(root, "train.seeds", 2)
    # a quicker model: fewer, larger steps (the gate's bounds are the reference model's, so relax them)
    set_param(root, "train.learning_rate", 0.3)
    set_param(root, "train.max_rounds", 80)
    set_param(root, "gate.thresholds", {"roc_auc": {"min": 0.5}})
    dvc(root, "repro")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a CatBoost ensemble of two seeds")
    return root


def test_a_catboost_seed_ensemble_is_packaged_and_served(ensemble: Path, tmp_path: Path):
    from stages.schema import FEATURE_COLUMNS, ROW_ID, SPLIT

    model_file = (ensemble / "models" / "model.txt").read_bytes()
    bundle = json.loads(model_file)
    assert (bundle["family"], len(bundle["members"])) == ("catboost", 2)
    built = api.package(ensemble, tmp_path / "dist", version="1.0.0")
    loaded = load_package(built.path, tmp_path / "unpacked")
    manifest = loaded.manifest
    assert manifest["flavour"] == {"name": "custom", "framework": None, "version": None}
    check = manifest["prediction_check"]
    assert check["rows"] > 1000 and check["max_abs_difference"] == 0.0, check

    frame = pd.read_parquet(ensemble / "data" / "validated" / "adult.parquet")
    frame = frame[frame[SPLIT] == "test"].sort_values(ROW_ID).head(300)
    columns = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in FEATURE_COLUMNS}
    served = ServingModel.from_package(loaded).predict_columns(columns)
    committed = pd.read_parquet(ensemble / "metrics" / "predictions.parquet").set_index(ROW_ID)
    assert np.array_equal(served, committed.loc[frame[ROW_ID], "proba"].to_numpy())
    # and the ensemble is not the reference LightGBM model
    assert not model_file.startswith(b"tree")
