"""Every file the pipeline reads or writes, named once (dvc.yaml repeats them for DVC)."""

from __future__ import annotations

from pathlib import Path

PARAMS = Path("params.yaml")
INGESTED = Path("data/interim/adult.parquet")
VALIDATED = Path("data/validated/adult.parquet")
VALIDATION_REPORT = Path("reports/validation.json")
FEATURES = Path("data/features")
FEATURE_SPEC = FEATURES / "spec.json"
MODEL = Path("models/model.txt")
TRAIN_METRICS = Path("metrics/train.json")
METRICS = Path("metrics/metrics.json")
FAIRNESS = Path("metrics/fairness.json")
PREDICTIONS = Path("metrics/predictions.parquet")
PLOTS = Path("metrics/plots")
GATE = Path("metrics/gate.json")


def features_split(name: str) -> Path:
    return FEATURES / f"{name}.parquet"
