"""Stage `featurize`: validated table -> model matrices for train / validation / test.

* Missing values follow a declared policy: ``native`` (left missing for LightGBM),
  ``unknown_category`` (a category of their own) or ``drop_rows``.
* Categories become integer codes LightGBM splits on natively, or 0/1 columns for the
  columns listed under ``onehot_columns``.
* Engineered features come from :mod:`stages.features`, shared with serving.
* adult.data is split into train/validation (seeded, stratified); adult.test stays the test set.
* Before anything is written, the features are checked against the raw table.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from sklearn.model_selection import train_test_split

from stages import paths
from stages.common import Section, load_params
from stages.errors import DataError, run_stage
from stages.features import ENGINEERED, encode
from stages.fsio import write_json, write_parquet
from stages.schema import CATEGORIES, LABEL, NUMERIC, POSITIVE_LABEL, ROW_ID, SPLIT, TARGET

INPUT = paths.VALIDATED
OUT_DIR = paths.FEATURES
SPEC = paths.FEATURE_SPEC
SPLITS = ("train", "valid", "test")


class MissingPolicy(Section):
    policy: Literal["native", "unknown_category", "drop_rows"]
    fill_value: str


class SplitParams(Section):
    valid_fraction: float = Field(gt=0.0, lt=1.0)
    seed: int


class FeaturizeParams(Section):
    missing: MissingPolicy
    onehot_columns: list[str]
    engineered: list[str]
    drop_columns: list[str]
    split: SplitParams

    @model_validator(mode="after")
    def _known_names(self) -> FeaturizeParams:
        for key, names, known in (
            ("onehot_columns", self.onehot_columns, CATEGORIES),
            ("engineered", self.engineered, ENGINEERED),
            ("drop_columns", self.drop_columns, (*NUMERIC, *CATEGORIES)),
        ):
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise ValueError(f"{key}: unknown name(s) {unknown}; expected some of {sorted(known)}")
        if self.onehot_columns and self.missing.policy == "native":
            raise ValueError("onehot_columns need missing.policy unknown_category or drop_rows")
        return self


def build_spec(params: FeaturizeParams) -> dict[str, Any]:
    """Everything needed to turn a raw record into a model row, as plain JSON."""
    fill = params.missing.fill_value if params.missing.policy == "unknown_category" else None
    categories = {c: [*v, fill] if fill else list(v) for c, v in CATEGORIES.items()}
    keep = [c for c in (*NUMERIC, *CATEGORIES) if c not in params.drop_columns]
    numeric = [c for c in NUMERIC if c in keep]
    native = [c for c in CATEGORIES if c in keep and c not in params.onehot_columns]
    onehot = {c: categories[c] for c in CATEGORIES if c in keep and c in params.onehot_columns}
    features = [
        *numeric,
        *params.engineered,
        *native,
        *(f"{c}={v}" for c, vocab in onehot.items() for v in vocab),
    ]
    return {
        "features": features,
        "numeric": numeric,
        "engineered": list(params.engineered),
        "engineered_formulas": {n: ENGINEERED[n][0] for n in params.engineered},
        "categorical": native,
        "onehot": onehot,
        "categories": {c: categories[c] for c in native},
        "missing_policy": params.missing.policy,
        "missing_fill": fill,
        "label": LABEL,
        "positive_label": POSITIVE_LABEL,
    }


def apply_missing_policy(frame: pd.DataFrame, params: FeaturizeParams) -> pd.DataFrame:
    if params.missing.policy != "drop_rows":
        return frame
    used = [c for c in (*NUMERIC, *CATEGORIES) if c not in params.drop_columns]
    return frame.dropna(subset=used).reset_index(drop=True)


def to_columns(frame: pd.DataFrame) -> dict[str, list[Any] | np.ndarray]:
    cols: dict[str, list[Any] | np.ndarray] = {
        c: frame[c].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan) for c in NUMERIC
    }
    for c in CATEGORIES:
        cols[c] = [None if pd.isna(v) else str(v) for v in frame[c].tolist()]
    return cols


def make_features(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    if frame.empty:
        raise DataError("featurize: no rows left after the missing-value policy")
    matrix = encode(to_columns(frame), spec)
    features = pd.DataFrame(matrix, columns=spec["features"])
    features.insert(0, ROW_ID, frame[ROW_ID].to_numpy(dtype=np.int64))
    features[TARGET] = (frame[LABEL] == POSITIVE_LABEL).to_numpy(dtype=np.int64)
    return features


def split_train_valid(features: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, valid = train_test_split(
        features,
        test_size=params.valid_fraction,
        stratify=features[TARGET],
        random_state=params.seed,
        shuffle=True,
    )
    return train.sort_values(ROW_ID, ignore_index=True), valid.sort_values(ROW_ID, ignore_index=True)


# --- feature validation: independent re-computation, not a re-run of the code above ---------


def check_onehot(features: pd.DataFrame, spec: dict[str, Any]) -> list[str]:
    problems = []
    for col, vocab in spec["onehot"].items():
        block = features[[f"{col}={v}" for v in vocab]].to_numpy()
        if not np.isin(block, (0.0, 1.0)).all():
            problems.append(f"one-hot group '{col}' holds values other than 0/1")
        bad = int((block.sum(axis=1) != 1).sum())
        if bad:
            problems.append(f"one-hot group '{col}': {bad} row(s) without exactly one 1")
    return problems


def check_engineered(features: pd.DataFrame, raw: pd.DataFrame, spec: dict[str, Any]) -> list[str]:
    """Recompute each engineered feature row by row in plain Python from the raw records."""
    formulas = {
        "capital_net": lambda r: r["capital_gain"] - r["capital_loss"],
        "hours_x_education": lambda r: r["hours_per_week"] * r["education_num"],
    }
    inputs = sorted({c for name in spec["engineered"] for c in ENGINEERED[name][1]})
    rows = raw.set_index(ROW_ID).loc[features[ROW_ID], inputs].astype(object)
    records = [dict(zip(inputs, values, strict=True)) for values in rows.itertuples(index=False)]
    problems = []
    for name in spec["engineered"]:
        expected = [float(formulas[name](record)) for record in records]
        mismatched = int((~np.isclose(features[name].to_numpy(), expected, rtol=0, atol=0)).sum())
        if mismatched:
            problems.append(
                f"engineered feature '{name}' differs from "
                f"{spec['engineered_formulas'][name]} in {mismatched} row(s)"
            )
    return problems


def check_missing_and_ranges(features: pd.DataFrame, raw: pd.DataFrame, spec: dict[str, Any]) -> list[str]:
    problems = []
    if spec["missing_policy"] != "native":
        nan_cols = [c for c in spec["features"] if features[c].isna().any()]
        if nan_cols:
            problems.append(f"missing values remain in {nan_cols} under policy {spec['missing_policy']}")
    for col in spec["categorical"]:
        codes = features[col].dropna().to_numpy()
        n = len(spec["categories"][col])
        if not ((codes >= 0) & (codes < n) & (codes == np.round(codes))).all():
            problems.append(f"category codes of '{col}' outside 0..{n - 1}")
    by_id = raw.set_index(ROW_ID)
    for col in spec["numeric"]:
        source = (
            by_id.loc[features[ROW_ID], col].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        )
        if not np.array_equal(features[col].to_numpy(), source, equal_nan=True):
            problems.append(f"numeric feature '{col}' does not equal the raw column")
        low, high = np.nanmin(source), np.nanmax(source)
        if ((features[col] < low) | (features[col] > high)).any():
            problems.append(f"numeric feature '{col}' leaves its raw range [{low}, {high}]")
    if not features[TARGET].isin((0, 1)).all():
        problems.append("label holds values other than 0/1")
    return problems


def check_splits(parts: dict[str, pd.DataFrame], tolerance: float = 0.01) -> list[str]:
    problems = []
    ids = [set(p[ROW_ID]) for p in parts.values()]
    if any(a & b for i, a in enumerate(ids) for b in ids[i + 1 :]):
        problems.append("a row appears in more than one split")
    rate_train, rate_valid = parts["train"][TARGET].mean(), parts["valid"][TARGET].mean()
    if abs(rate_train - rate_valid) > tolerance:
        problems.append(
            f"split not stratified: positive rate {rate_train:.4f} (train) vs {rate_valid:.4f} (valid)"
        )
    return problems


def check_features(parts: dict[str, pd.DataFrame], raw: pd.DataFrame, spec: dict[str, Any]) -> list[str]:
    problems = check_splits(parts)
    for name, frame in parts.items():
        for problem in [
            *check_onehot(frame, spec),
            *check_engineered(frame, raw, spec),
            *check_missing_and_ranges(frame, raw, spec),
        ]:
            problems.append(f"{name}: {problem}")
    return problems


def featurize(raw: pd.DataFrame, params: FeaturizeParams) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    spec = build_spec(params)
    kept = apply_missing_policy(raw, params)
    development = make_features(kept[kept[SPLIT] == "train"].reset_index(drop=True), spec)
    train, valid = split_train_valid(development, params.split)
    test = make_features(kept[kept[SPLIT] == "test"].reset_index(drop=True), spec)
    parts = {"train": train, "valid": valid, "test": test}
    problems = check_features(parts, raw, spec)
    if problems:
        raise DataError("feature validation failed: " + "; ".join(problems))
    return parts, spec


def main() -> None:
    params = load_params("featurize", FeaturizeParams)
    raw = pd.read_parquet(INPUT)
    parts, spec = featurize(raw, params)
    for name, frame in parts.items():
        write_parquet(paths.features_split(name), frame)
    write_json(SPEC, spec)


if __name__ == "__main__":
    run_stage(main, "featurize")
