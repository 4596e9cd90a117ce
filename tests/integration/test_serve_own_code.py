"""A project whose feature code differs from graft's reference pipeline serves its own encoding.

The variant is a copy of the reference project whose ``capital_net`` feature is
``capital_gain - 2 * capital_loss`` instead of ``capital_gain - capital_loss``. It is re-run,
committed and packaged; a real `graft serve` process (whose environment can import the
reference pipeline's ``stages``) must answer with the variant's own evaluate-stage predictions,
which the reference encoding does not give.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from graft import api
from tests.conftest import git
from tests.integration.conftest import ServerProcess
from tests.releasing import clone_tree, dvc, set_param

pytestmark = pytest.mark.slow

REFERENCE_FORMULA = 'return columns["capital_gain"] - columns["capital_loss"]'
VARIANT_FORMULA = 'return columns["capital_gain"] - 2 * columns["capital_loss"]'


@pytest.fixture(scope="module")
def variant(pipeline_template: Path, tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Path:
    root = clone_tree(pipeline_template, tmp_path_factory.mktemp("variant") / "project")
    features = root / "stages" / "features.py"
    assert REFERENCE_FORMULA in features.read_text()
    features.write_text(features.read_text().replace(REFERENCE_FORMULA, VARIANT_FORMULA))
    featurize = root / "stages" / "featurize.py"  # the stage's independent re-computation check
    featurize.write_text(
        featurize.read_text().replace(
            'lambda r: r["capital_gain"] - r["capital_loss"]',
            'lambda r: r["capital_gain"] - 2 * r["capital_loss"]',
        )
    )
    # a quicker model: fewer, larger steps (the gate's bounds are the reference model's, so relax them)
    set_param(root, "train.learning_rate", 0.15)
    set_param(root, "train.max_rounds", 150)
    set_param(root, "gate.thresholds", {"roc_auc": {"min": 0.5}})
    dvc(root, "repro")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "capital_net weighs losses twice")
    return root


@pytest.fixture(scope="module")
def variant_server(variant: Path, tmp_path_factory: pytest.TempPathFactory, module_env: None):
    dist = tmp_path_factory.mktemp("variant-dist")
    built = api.package(variant, dist, version="1.0.0")
    work = tmp_path_factory.mktemp("variant-serve")
    server = ServerProcess(built.path, f"sqlite:///{work / 'log.db'}", work).start()
    yield server
    server.stop()


def raw_records(project: Path) -> tuple[list[int], list[dict], pd.DataFrame]:
    from stages.schema import FEATURE_COLUMNS, NUMERIC, ROW_ID, SPLIT

    frame = pd.read_parquet(project / "data" / "validated" / "adult.parquet")
    frame = frame[frame[SPLIT] == "test"].sort_values(ROW_ID)
    records = []
    for row in frame[list(FEATURE_COLUMNS)].astype(object).itertuples(index=False):
        records.append(
            {
                name: int(value) if name in NUMERIC else str(value)
                for name, value in zip(FEATURE_COLUMNS, row, strict=True)
                if not pd.isna(value)
            }
        )
    return frame[ROW_ID].astype(int).tolist(), records, frame


def test_the_variant_serves_its_own_encoding(variant, variant_server, pipeline_template):
    import lightgbm as lgb

    from stages.features import encode as reference_encode  # the installed reference pipeline's

    row_ids, records, frame = raw_records(variant)
    own = pd.read_parquet(variant / "metrics" / "predictions.parquet").set_index("row_id")
    want = own.loc[row_ids, "proba"].to_numpy()
    served: list[float] = []
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(records), 4000):
            r = client.post(f"{variant_server.url}/predict", json=records[start : start + 4000])
            assert r.status_code == 200, r.text
            served += [p["probability"] for p in r.json()["predictions"]]
    got = np.array(served)
    assert np.array_equal(got, want), f"max |diff| {np.abs(got - want).max()}"

    # The reference encoding of the same records gives the variant's model other inputs and
    # other answers wherever a capital loss was declared: serving did not use it.
    spec = json.loads((variant / "data" / "features" / "spec.json").read_text())
    columns = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns}
    for name in spec["numeric"]:
        columns[name] = [np.nan if v is None else v for v in columns[name]]
    other = reference_encode(columns, spec)
    with_loss = (frame["capital_loss"] > 0).to_numpy()
    assert with_loss.sum() > 100
    booster = lgb.Booster(model_file=str(variant / "models" / "model.txt"))
    other_proba = booster.predict(other, num_threads=1)
    assert np.array_equal(other_proba[~with_loss], want[~with_loss])
    assert (other_proba[with_loss] != want[with_loss]).mean() > 0.5

    # and the variant's model is not the reference's
    reference = pd.read_parquet(pipeline_template / "metrics" / "predictions.parquet").set_index("row_id")
    assert not np.array_equal(reference.loc[row_ids, "proba"].to_numpy(), want)
