"""Encoder parity on single records: serving encodes a raw record to exactly the feature row
the pipeline wrote for it, and predicts exactly the evaluate stage's probability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graft import api
from graft.serving.model import ServingModel

pytestmark = pytest.mark.slow


def test_single_record_encoding_and_prediction_match_the_pipeline(model_package, tmp_path):
    from stages.schema import FEATURE_COLUMNS, NUMERIC, ROW_ID, SPLIT

    model = ServingModel.from_package(api.open_package(model_package.archive, tmp_path / "pkg"))
    project = model_package.project
    raw = pd.read_parquet(project / "data/validated/adult.parquet")
    raw = raw[raw[SPLIT] == "test"].set_index(ROW_ID)
    features = pd.read_parquet(project / "data/features/test.parquet").set_index(ROW_ID)
    expected = pd.read_parquet(project / "metrics/predictions.parquet").set_index(ROW_ID)["proba"]
    # every missing-value pattern plus a spread of ordinary rows
    with_missing = raw.index[raw[["workclass", "occupation", "native_country"]].isna().any(axis=1)][:40]
    sample = list(with_missing) + list(raw.index[:: max(1, len(raw) // 200)])
    for row_id in sample:
        values = raw.loc[row_id, list(FEATURE_COLUMNS)]
        record = {c: (int(v) if c in NUMERIC else str(v)) for c, v in values.items() if not pd.isna(v)}
        columns = model.validator.validate_record(record)
        encoded = model.encode(columns)[0]
        want = features.loc[row_id, model.spec["features.json"]["features"]].to_numpy(dtype=np.float64)
        assert np.array_equal(encoded, want), row_id
        assert model.predict_columns(columns)[0] == expected.loc[row_id], row_id
