"""Packaging and serving beyond binary classification, on a tiny project with its own code.

The project is not the reference pipeline: its code lives in ``src/``, its feature encoding
(``src/features.py``) scales a column by a parameter, its results sit under ``eval/`` and its
model is a dvc.yaml artifact at ``model/model.txt``. A LightGBM regression or multiclass model
is trained here on its own encoding; served predictions must equal the booster's on that encoding.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from graft.release.flavours import FlavourError
from graft.release.package import PackageError, load_package, package
from graft.serving.model import ServingModel
from tests.conftest import git

FEATURES = """
import numpy as np

def encode(x, size, colour, scale):
    codes = {"red": 0.0, "green": 1.0, "blue": 2.0}
    colours = [np.nan if c is None else codes[c] for c in colour]
    return np.column_stack([np.asarray(x, dtype=float) * scale, np.asarray(size, dtype=float), colours])
"""
SERVING = '''
"""Serving adapter of the tiny project."""
import numpy as np
from features import encode as encode_features


def input_schema(params):
    return {
        "type": "object",
        "properties": {
            "x": {"type": "number", "minimum": 0, "maximum": 10},
            "size": {"type": "integer", "minimum": 1, "maximum": 5},
            "colour": {"type": ["string", "null"], "enum": ["red", "green", "blue", None]},
        },
        "required": ["x", "size"],
        "additionalProperties": False,
    }


def encode(columns, spec):
    scale = spec["params.yaml"]["featurize"]["scale"]
    return encode_features(columns["x"], columns["size"], columns["colour"], scale)
'''
SCALE = 3.0


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def rows(n: int, seed: int = 0) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.uniform(0, 10, n).round(3).tolist(),
        "size": rng.integers(1, 6, n).tolist(),
        "colour": [["red", "green", "blue", None][i] for i in rng.integers(0, 4, n)],
    }


def own_encoding(columns: dict[str, list]) -> np.ndarray:
    namespace: dict = {}
    exec(FEATURES, namespace)
    return namespace["encode"](columns["x"], columns["size"], columns["colour"], SCALE)


def train(task: str, columns: dict[str, list]) -> tuple[str, np.ndarray]:
    import lightgbm as lgb

    matrix = own_encoding(columns)
    if task == "regression":
        target = matrix[:, 0] * 2 + matrix[:, 1]
        params = {"objective": "regression"}
    else:
        target = (np.asarray(columns["size"]) - 1) % 3
        params = {"objective": "multiclass", "num_class": 3}
    params.update(verbose=-1, num_threads=1, seed=1, min_data_in_leaf=5, deterministic=True)
    booster = lgb.train(params, lgb.Dataset(matrix, target), num_boost_round=15)
    return booster.model_to_string(), booster.predict(matrix)


def make_project(root: Path, task: str, labels: list[str] | None = None) -> tuple[Path, np.ndarray, dict]:
    """Write and commit the tiny project with a trained model; the model's own predictions."""
    train_rows = rows(200)
    model_text, _ = train(task, train_rows)
    files = {
        "src/features.py": FEATURES,
        "src/serving.py": SERVING,
        "params.yaml": yaml.safe_dump({"featurize": {"scale": SCALE}}),
        "model/model.txt": model_text,
        "eval/scores.json": json.dumps({"rmse": 1.5} if task == "regression" else {"accuracy": 0.9}),
        "data/train.csv": "id,x,size,colour\n"
        + "".join(
            f"{i},{x},{s},{'' if c is None else c}\n"
            for i, (x, s, c) in enumerate(
                zip(train_rows["x"], train_rows["size"], train_rows["colour"], strict=True)
            )
        ),
    }
    dvc_yaml = {
        "stages": {
            "train": {
                "cmd": "python src/train.py",
                "deps": ["data/train.csv", "src/features.py"],
                "params": ["featurize"],
                "outs": ["model/model.txt"],
                "metrics": [{"eval/scores.json": {"cache": False}}],
            }
        },
        "artifacts": {"tiny-model": {"path": "model/model.txt", "type": "model", "desc": "tiny LightGBM"}},
    }
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "python src/train.py",
                "deps": [{"path": "data/train.csv", "md5": md5(files["data/train.csv"].encode())}],
                "outs": [
                    {"path": "model/model.txt", "md5": md5(model_text.encode())},
                    {"path": "eval/scores.json", "md5": md5(files["eval/scores.json"].encode())},
                ],
            }
        },
    }
    settings = {
        "task": {"type": task, **({"labels": labels} if labels else {})},
        "metrics": {"file": "eval/scores.json"},
        "package": {
            "adapter": "src/serving.py",
            "code": ["src/features.py"],
            "reference": {"path": "data/train.csv", "id": "id"},
        },
    }
    files.update(
        {
            "dvc.yaml": yaml.safe_dump(dvc_yaml),
            "dvc.lock": yaml.safe_dump(lock),
            "graft.yaml": yaml.safe_dump(settings),
            ".dvc/config": "",
        }
    )
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny project")
    return root, model_text, settings


def served(root: Path, tmp_path: Path) -> ServingModel:
    built = package(root, tmp_path / "dist", version="1.0.0")
    return ServingModel.from_package(load_package(built.path, tmp_path / "unpacked"))


def test_regression_serves_its_own_encoding(tmp_path):
    root, _, _ = make_project(tmp_path / "p", "regression")
    model = served(root, tmp_path)
    assert (model.name, model.task, model.threshold, model.classes) == ("tiny-model", "regression", None, [])
    request = rows(40, seed=7)
    columns = model.validator.validate_records(
        [
            {k: v for k, v in zip(request, values, strict=True) if v is not None}
            for values in zip(*request.values(), strict=True)
        ]
    )
    got = model.predict_columns(columns)
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(root / "model/model.txt"))
    assert np.array_equal(got, booster.predict(own_encoding(columns)))
    assert model.labels(got) is None
    assert model.outputs(got)[0] == {"prediction": got[0]}
    assert model.output_columns(got) == {"prediction": got.tolist()}
    assert model.v2_outputs(got) == [
        {"name": "prediction", "shape": [40], "datatype": "FP64", "data": got.tolist()}
    ]
    # the project's own scale (3.0), not another encoding: x=1 and x=0 differ by what the model learnt
    assert model.encode({"x": [1.0], "size": [2], "colour": [None]}).tolist()[0][:2] == [3.0, 2.0]


def test_multiclass_serves_class_probabilities_and_labels(tmp_path):
    root, _, _ = make_project(tmp_path / "p", "multiclass", labels=["small", "medium", "large"])
    model = served(root, tmp_path)
    assert (model.task, model.classes) == ("multiclass", ["small", "medium", "large"])
    columns = {"x": [1.0, 2.0, 3.0], "size": [1, 2, 3], "colour": ["red", None, "blue"]}
    scores = model.predict_columns(columns)
    assert scores.shape == (3, 3)
    assert np.allclose(scores.sum(axis=1), 1.0)
    labels = model.labels(scores)
    assert labels == [["small", "medium", "large"][i] for i in scores.argmax(axis=1)]
    first = model.outputs(scores)[0]
    assert list(first["probabilities"]) == ["small", "medium", "large"] and first["label"] == labels[0]
    # the log row and the Open Inference Protocol tensors hold the same, column-wise
    assert model.output_columns(scores) == {"probabilities": scores.tolist(), "label": labels}
    probabilities, label = model.v2_outputs(scores)
    assert probabilities["shape"] == [3, 3] and probabilities["data"] == scores.ravel().tolist()
    assert probabilities["parameters"] == {"classes": ["small", "medium", "large"]}
    assert label == {"name": "label", "shape": [3], "datatype": "BYTES", "data": labels}


def test_the_package_carries_code_schema_and_reference(tmp_path):
    root, model_text, _ = make_project(tmp_path / "p", "regression")
    built = package(root, tmp_path / "dist", version="1.0.0")
    loaded = load_package(built.path, tmp_path / "unpacked")
    assert loaded.code() == {
        "src/serving.py": SERVING.encode(),
        "src/features.py": FEATURES.encode(),
    }
    assert loaded.manifest["adapter"] == "code/src/serving.py"
    assert loaded.model_file.read_text() == model_text
    assert set(loaded.schema["properties"]) == {"x", "size", "colour"}
    reference = loaded.json("reference.json")
    assert reference["rows"] == 200 and set(reference["numeric"]) == {"x", "size"}
    assert set(reference["categorical"]) == {"colour"}
    import pandas as pd

    assert list(pd.read_parquet(loaded.path("reference.parquet")).columns) == ["id", "x", "size", "colour"]


def test_a_model_of_another_task_is_refused(tmp_path):
    root, _, settings = make_project(tmp_path / "p", "regression")
    settings["task"] = {"type": "binary"}
    (root / "graft.yaml").write_text(yaml.safe_dump(settings))
    git(root, "commit", "-qam", "claims binary")
    with pytest.raises(
        FlavourError, match=r"model\.txt is a LightGBM 'regression' model .* task\.type is binary"
    ):
        served(root, tmp_path)


def test_multiclass_labels_must_match_the_model(tmp_path):
    root, _, _ = make_project(tmp_path / "p", "multiclass", labels=["a", "b"])
    with pytest.raises(FlavourError, match=r"task\.labels list 2 classes \(a, b\)"):
        served(root, tmp_path)


def test_an_encoding_the_model_was_not_trained_on_is_refused(tmp_path):
    root, _, _ = make_project(tmp_path / "p", "regression")
    features = root / "src" / "features.py"
    features.write_text(FEATURES.replace("np.asarray(size, dtype=float), colours", "colours"))
    git(root, "commit", "-qam", "two features")
    with pytest.raises(
        FlavourError,
        match=r"model\.txt expects 3 features, the package's adapter \(code/src/serving\.py\) encodes 2",
    ):
        served(root, tmp_path)


def test_uncommitted_serving_code_is_refused(tmp_path):
    root, _, _ = make_project(tmp_path / "p", "regression")
    (root / "src" / "helpers.py").write_text("X = 1\n")
    settings = yaml.safe_load((root / "graft.yaml").read_text())
    settings["package"]["code"].append("src/helpers.py")
    (root / "graft.yaml").write_text(yaml.safe_dump(settings))
    git(root, "commit", "-q", "-m", "lists helpers", "graft.yaml")
    with pytest.raises(
        PackageError, match=r"src/helpers\.py \(serving code in graft\.yaml package\.code\) is not committed"
    ):
        package(root, tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


def test_a_stale_model_is_refused(tmp_path):
    root, _, _ = make_project(tmp_path / "p", "regression")
    with (root / "model" / "model.txt").open("a") as handle:
        handle.write("\n")
    with pytest.raises(PackageError, match=r"model/model\.txt does not match dvc\.lock"):
        package(root, tmp_path / "dist", allow_dirty=True)


@pytest.mark.parametrize(
    ("task", "classes", "good", "bad", "message"),
    [
        ("binary", ["no", "yes"], ["yes", "no"], ["Yes", 1, None], "body.outcome: unknown category 'Yes'"),
        ("multiclass", ["a", "b", "c"], ["c"], ["d", 0.5], "body.outcome: unknown category 'd'"),
        ("regression", [], [0, -3.5, 1e300], ["1.5", True, float("inf")], "body.outcome: must be a number"),
    ],
)
def test_feedback_outcomes_are_the_tasks(task, classes, good, bad, message):
    from graft.serving.schemas import feedback_schema
    from graft.serving.validator import InvalidInput, NonFinite, RecordValidator

    validator = RecordValidator(feedback_schema(task, classes))
    for outcome in good:
        validator.validate_record({"request_id": "r", "outcome": outcome})
    for outcome in bad:
        value = NonFinite("Infinity") if outcome == float("inf") else outcome
        with pytest.raises(InvalidInput, match=r"body\.outcome"):
            validator.validate_record({"request_id": "r", "outcome": value})
    with pytest.raises(InvalidInput, match=re.escape(message)):
        validator.validate_record({"request_id": "r", "outcome": bad[0]})


def test_the_documented_prediction_is_the_tasks():
    from graft.serving.schemas import predict_response_schema, prediction_schema

    binary = prediction_schema("binary", ["no", "yes"])
    assert binary["properties"]["label"]["enum"] == ["no", "yes"]
    assert "'yes' when probability >= threshold, else 'no'" in binary["properties"]["label"]["description"]
    multiclass = prediction_schema("multiclass", ["a", "b"])
    assert multiclass["properties"]["probabilities"]["required"] == ["a", "b"]
    assert prediction_schema("regression", [])["required"] == ["prediction"]
    assert "threshold" in predict_response_schema("binary")["required"]
    assert "threshold" not in predict_response_schema("regression")["properties"]
