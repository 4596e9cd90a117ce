"""Model flavours: `graft package` records what framework the model is and reproduces the committed
test predictions with it; serving loads it as recorded.

Each test writes a tiny committed project (dvc.yaml, dvc.lock with the outputs' real MD5s, a
serving adapter, the committed test predictions and their raw inputs) around a real model
trained here: a scikit-learn TF-IDF text pipeline on free text, XGBoost (JSON and UBJSON),
CatBoost on a DataFrame with a categorical column, an ONNX graph converted by skl2onnx, and a
model only the adapter knows how to load and predict.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from graft.cli import main
from graft.core.limits import PACKAGE_CHECK_ROWS
from graft.release.flavours import FLAVOURS, FlavourError, detect
from graft.release.package import load_package, package
from graft.serving.model import ServingModel
from tests.conftest import git
from tests.releasing import graft

SUPPORTED = "lightgbm, xgboost, catboost, sklearn, onnx, custom"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def write_project(
    root: Path,
    *,
    task: str,
    model_path: str,
    model: bytes,
    adapter: str,
    inputs: pd.DataFrame,
    scores: dict[str, np.ndarray],
    label: list[str],
    labels: list[str] | None = None,
    package_extra: dict | None = None,
) -> Path:
    """A committed project whose test predictions (``scores`` per row of ``inputs``) the model made."""
    predictions = pd.DataFrame({"id": inputs["id"], "label": label, **scores})
    buffer = io.BytesIO()
    predictions.to_parquet(buffer, index=False)
    outputs = {
        model_path: model,
        "eval/predictions.parquet": buffer.getvalue(),
        "eval/metrics.json": b'{"score": 1.0}\n',
        "data/test.csv": inputs.to_csv(index=False).encode(),
    }
    score = next(iter(scores)) if len(scores) == 1 else list(scores)
    settings = {
        "task": {"type": task, **({"labels": labels} if labels else {})},
        "metrics": {"file": "eval/metrics.json"},
        "predictions": {"path": "eval/predictions.parquet", "id": "id", "label": "label", "score": score},
        "package": {
            "adapter": "src/serving.py",
            "reference": {"path": "data/test.csv", "id": "id"},
            **(package_extra or {}),
        },
    }
    dvc_yaml = {
        "stages": {
            "train": {"cmd": "python train.py", "outs": [p for p in outputs if p != "eval/metrics.json"]}
        },
        "artifacts": {"tiny": {"path": model_path, "type": "model"}},
    }
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "python train.py",
                "outs": [{"path": p, "md5": md5(b)} for p, b in outputs.items()],
            }
        },
    }
    files = {
        **outputs,
        "src/serving.py": adapter.encode(),
        "dvc.yaml": yaml.safe_dump(dvc_yaml).encode(),
        "dvc.lock": yaml.safe_dump(lock).encode(),
        "graft.yaml": yaml.safe_dump(settings).encode(),
        ".dvc/config": b"",
    }
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "tiny project")
    return root


def cli(capsys, root: Path, *argv: str) -> tuple[int, str]:
    """graft in-process on ``root``: the exit code and the last line of stderr."""
    code = main(["-C", str(root), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    return int(code), err[-1] if err else ""


def served(root: Path, tmp_path: Path) -> tuple[ServingModel, dict]:
    built = package(root, tmp_path / "dist", version="1.0.0")
    loaded = load_package(built.path, tmp_path / "unpacked")
    return ServingModel.from_package(loaded), loaded.manifest


def columns_of(frame: pd.DataFrame, names: list[str]) -> dict[str, list]:
    return {n: frame[n].astype(object).where(frame[n].notna(), None).tolist() for n in names}


# --- scikit-learn: a TF-IDF pipeline on free text --------------------------------------------------

WORDS_GOOD = ["great", "lovely", "excellent", "fine", "happy", "superb"]
WORDS_BAD = ["awful", "broken", "poor", "sad", "terrible", "slow"]
TEXT_ADAPTER = '''
"""Free text in, the raw strings out: the model is a scikit-learn pipeline that vectorises them."""


def input_schema(params):
    return {
        "type": "object",
        "properties": {"review": {"type": "string", "maxLength": 2000}},
        "required": ["review"],
        "additionalProperties": False,
    }


def encode(columns, spec):
    return list(columns["review"])
'''


def reviews(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        good = bool(rng.integers(0, 2))
        words = (
            rng.choice(WORDS_GOOD if good else WORDS_BAD, 3).tolist()
            + rng.choice(WORDS_GOOD + WORDS_BAD, 1).tolist()
        )
        texts.append("the product was " + " and ".join(words))
        labels.append("pos" if good else "neg")
    return texts, labels


def text_project(root: Path, adapter: str = TEXT_ADAPTER) -> tuple[Path, object, pd.DataFrame]:
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train_x, train_y = reviews(120, 1)
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(train_x, train_y)
    test_x, test_y = reviews(40, 2)
    inputs = pd.DataFrame({"id": range(40), "review": test_x})
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    write_project(
        root,
        task="binary",
        model_path="models/model.pkl",
        model=buffer.getvalue(),
        adapter=adapter,
        inputs=inputs,
        scores={"proba": pipeline.predict_proba(test_x)[:, 1]},
        label=test_y,
        labels=["neg", "pos"],
    )
    return root, pipeline, inputs


def test_a_scikit_learn_text_pipeline_is_packaged_with_its_version_and_checked(tmp_path):
    import sklearn

    root, pipeline, _ = text_project(tmp_path / "p")
    built = package(root, tmp_path / "dist", version="1.0.0")
    assert built.flavour == {"name": "sklearn", "framework": "scikit-learn", "version": sklearn.__version__}
    assert built.prediction_check == {"rows": 40, "max_abs_difference": 0.0, "tolerance": 1e-6}
    model = ServingModel.from_package(load_package(built.path, tmp_path / "unpacked"))
    assert model.flavour == "sklearn"
    got = model.predict_columns({"review": ["the product was awful and slow", "great and lovely"]})
    want = pipeline.predict_proba(["the product was awful and slow", "great and lovely"])[:, 1]
    assert np.array_equal(got, want)
    assert model.labels(got) == ["neg", "pos"]


@pytest.mark.slow
def test_a_text_model_is_served_over_http_by_graft_serve_and_monitored(tmp_path):
    """Free text in, over a real server; `graft monitor` then reads the log, judging the text
    input by its length in characters against the reference rows' lengths."""
    from tests.integration.conftest import ServerProcess

    root, pipeline, inputs = text_project(tmp_path / "p")
    archive = package(root, tmp_path / "dist", version="1.0.0").path
    log = f"sqlite:///{tmp_path / 'log.db'}"
    server = ServerProcess(archive, log, tmp_path).start()
    try:
        texts = ["the product was terrible", "an excellent and superb product", "é, 😀 and happy"]
        one = httpx.post(f"{server.url}/predict", json={"review": texts[0]}, timeout=10)
        many = httpx.post(f"{server.url}/predict", json=[{"review": t} for t in texts], timeout=10)
        bad = httpx.post(f"{server.url}/predict", json={"review": 3}, timeout=10)
        test = [{"review": t} for t in inputs["review"]]
        window = httpx.post(f"{server.url}/predict", json=test, timeout=10)
    finally:
        assert server.stop() == 143  # SIGTERM: graceful shutdown, then graft exits 143 (core.errors)
    assert window.status_code == 200
    params = tmp_path / "monitor.yaml"
    params.write_text("monitor:\n  min_window: 20\n")
    done = graft(root, "monitor", "--package", str(archive), "--log-db", log, "--params", str(params),
                 "--format", "json", check=False)  # fmt: skip
    result = json.loads(done.stdout)
    assert result["window"]["predictions"] == 4 + len(test)
    assert result["inputs"]["schema_violations"] == []
    (review,) = result["inputs"]["features"]
    assert (review["feature"], review["kind"]) == ("review", "numeric")
    assert not review["drifted"]  # the served texts are the reference's, plus four short ones
    reference = load_package(archive, tmp_path / "unpacked").json("reference.json")
    lengths = inputs["review"].str.len()
    assert reference["text"]["review"]["length"]["mean"] == round(float(lengths.mean()), 6)
    assert reference["categorical"] == {}
    want = pipeline.predict_proba(texts)[:, 1]
    assert one.status_code == 200, one.text
    assert one.json()["predictions"] == [{"probability": want[0], "label": "neg"}]
    assert [p["probability"] for p in many.json()["predictions"]] == want.tolist()
    assert [p["label"] for p in many.json()["predictions"]] == ["neg", "pos", "pos"]
    assert bad.status_code == 422 and "review" in bad.text


def test_a_scikit_learn_version_other_than_the_packaged_one_is_refused_naming_both(tmp_path):
    import sklearn

    root, _, _ = text_project(tmp_path / "p")
    built = package(root, tmp_path / "dist", version="1.0.0")
    folder = load_package(built.path, tmp_path / "unpacked").root
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["flavour"]["version"] = "1.0.2"  # as a package built where scikit-learn 1.0.2 was installed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FlavourError) as refused:
        ServingModel.from_package(load_package(folder))
    assert str(refused.value) == (
        f"package tiny-1.0.0: model.pkl was packaged with scikit-learn 1.0.2, this environment has "
        f"scikit-learn {sklearn.__version__}: a pickle loads only under the version that wrote it "
        "(pip install 'scikit-learn==1.0.2', or package it again)"
    )


def test_an_adapter_that_encodes_otherwise_is_caught_by_graft_package(tmp_path, capsys):
    # the adapter lower-cases nothing but drops the last word: not what scored the test rows
    drifting = TEXT_ADAPTER.replace(
        'return list(columns["review"])', 'return [t.rsplit(" ", 1)[0] for t in columns["review"]]'
    )
    root, _, _ = text_project(tmp_path / "p", drifting)
    code, message = cli(capsys, root, "package", "--out", str(tmp_path / "dist"))
    assert code == 3
    assert (
        message.startswith("graft: error: the packaged model does not reproduce eval/predictions.parquet: ")
        and " of 40 rows differ by more than 1e-06 (worst " in message
    )
    assert "the serving adapter's encode() or the model file is not what scored them" in message
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_the_tolerance_is_the_projects_and_the_row_count_is_bounded(tmp_path, monkeypatch):
    root, _, _ = text_project(tmp_path / "p")
    monkeypatch.setenv(PACKAGE_CHECK_ROWS.variable, "7")
    built = package(root, tmp_path / "dist", version="1.0.0")
    assert built.prediction_check["rows"] == 7


# --- XGBoost -------------------------------------------------------------------------------------

NUMERIC_ADAPTER = """
import numpy as np

NAMES = ["a", "b", "c"]


def input_schema(params):
    return {
        "type": "object",
        "properties": {n: {"type": "number", "minimum": -10, "maximum": 10} for n in NAMES},
        "required": NAMES,
        "additionalProperties": False,
    }


def encode(columns, spec):
    return np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in NAMES]).reshape(-1, 3)
"""


def numeric_rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)).round(4), columns=["a", "b", "c"])
    frame.insert(0, "id", range(n))
    return frame


@pytest.mark.parametrize("suffix", ["json", "ubj"])
def test_xgboost_json_and_ubjson_models_serve_their_own_predictions(tmp_path, suffix):
    import xgboost as xgb

    train = numeric_rows(200, 3)
    x = train[["a", "b", "c"]].to_numpy()
    target = (x[:, 0] + x[:, 1] ** 2 > 1).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 1},
        xgb.DMatrix(x, target),
        num_boost_round=10,
    )
    path = tmp_path / f"model.{suffix}"
    booster.save_model(path)
    test = numeric_rows(30, 4)
    proba = booster.inplace_predict(test[["a", "b", "c"]].to_numpy())
    root = write_project(
        tmp_path / "p",
        task="binary",
        model_path=f"models/model.{suffix}",
        model=path.read_bytes(),
        adapter=NUMERIC_ADAPTER,
        inputs=test,
        scores={"proba": proba},
        label=["1" if p > 0.5 else "0" for p in proba],
    )
    model, manifest = served(root, tmp_path)
    assert manifest["flavour"]["name"] == "xgboost" and manifest["prediction_check"]["rows"] == 30
    got = model.predict_columns(columns_of(test, ["a", "b", "c"]))
    assert np.array_equal(got, proba.astype(np.float64))


def test_an_xgboost_regressor_is_refused_for_a_binary_task(tmp_path):
    import xgboost as xgb

    x = numeric_rows(50, 5)[["a", "b", "c"]].to_numpy()
    booster = xgb.train({"objective": "reg:squarederror", "nthread": 1}, xgb.DMatrix(x, x[:, 0]), 3)
    booster.save_model(tmp_path / "model.json")
    test = numeric_rows(10, 6)
    root = write_project(
        tmp_path / "p",
        task="binary",
        model_path="models/model.json",
        model=(tmp_path / "model.json").read_bytes(),
        adapter=NUMERIC_ADAPTER,
        inputs=test,
        scores={"proba": np.full(10, 0.5)},
        label=["0"] * 10,
    )
    with pytest.raises(
        FlavourError, match=r"^model\.json is an XGBoost 'reg:squarederror' model with 1 output"
    ):
        package(root, tmp_path / "dist")


# --- CatBoost: a DataFrame with a categorical column -----------------------------------------------

FRAME_ADAPTER = """
import pandas as pd


def input_schema(params):
    return {
        "type": "object",
        "properties": {
            "size": {"type": "number", "minimum": 0, "maximum": 100},
            "city": {"type": "string", "maxLength": 40},
        },
        "required": ["size", "city"],
        "additionalProperties": False,
    }


def encode(columns, spec):
    return pd.DataFrame({"size": pd.Series(columns["size"], dtype="float64"), "city": list(columns["city"])})
"""
CLASSES = ["low", "mid", "high"]


def test_a_catboost_model_takes_a_dataframe_with_text_categories(tmp_path):
    import catboost

    rng = np.random.default_rng(7)
    cities = ["Lyon", "Oslo", "Quito", "Perth"]

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"size": rng.uniform(0, 100, n).round(2), "city": [cities[i] for i in rng.integers(0, 4, n)]}
        )

    train = frame(150)
    target = [CLASSES[int(s // 34)] for s in train["size"]]
    model = catboost.CatBoostClassifier(
        iterations=20,
        depth=3,
        loss_function="MultiClass",
        thread_count=1,
        random_seed=1,
        verbose=False,
        allow_writing_files=False,
    ).fit(train, target, cat_features=["city"])
    model.save_model(str(tmp_path / "model.cbm"))
    test = frame(25)
    order = [list(model.classes_).index(c) for c in CLASSES]
    proba = model.predict_proba(test)[:, order]
    inputs = test.copy()
    inputs.insert(0, "id", range(25))
    root = write_project(
        tmp_path / "p",
        task="multiclass",
        labels=CLASSES,
        model_path="models/model.cbm",
        model=(tmp_path / "model.cbm").read_bytes(),
        adapter=FRAME_ADAPTER,
        inputs=inputs,
        scores={f"proba_{c}": proba[:, k] for k, c in enumerate(CLASSES)},
        label=[CLASSES[i] for i in proba.argmax(axis=1)],
    )
    served_model, manifest = served(root, tmp_path)
    assert manifest["flavour"]["name"] == "catboost"
    assert manifest["prediction_check"]["rows"] == 25
    assert manifest["prediction_check"]["max_abs_difference"] <= 1e-12
    got = served_model.predict_columns(columns_of(inputs, ["size", "city"]))
    np.testing.assert_allclose(got, proba, rtol=0, atol=1e-12)
    assert served_model.labels(got) == [CLASSES[i] for i in proba.argmax(axis=1)]


# --- ONNX ----------------------------------------------------------------------------------------


def test_an_onnx_graph_is_served_with_onnxruntime(tmp_path):
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    train = numeric_rows(100, 8)
    x = train[["a", "b", "c"]].to_numpy()
    regression = LinearRegression().fit(x, x @ [1.5, -2.0, 0.5] + 3)
    graph = to_onnx(regression, x[:1].astype(np.float32)).SerializeToString()
    test = numeric_rows(20, 9)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    want = session.run(None, {"X": test[["a", "b", "c"]].to_numpy(np.float32)})[0].ravel().astype(np.float64)
    root = write_project(
        tmp_path / "p",
        task="regression",
        model_path="models/model.onnx",
        model=graph,
        adapter=NUMERIC_ADAPTER,
        inputs=test,
        scores={"predicted": want},
        label=[str(v) for v in want],
    )
    model, manifest = served(root, tmp_path)
    assert manifest["flavour"] == {"name": "onnx", "framework": "onnxruntime", "version": ort.__version__}
    got = model.predict_columns(columns_of(test, ["a", "b", "c"]))
    assert np.array_equal(got, want)
    assert model.outputs(got[:1]) == [{"prediction": want[0]}]


# --- the adapter's own predict, and flavours graft does not know ------------------------------------

CUSTOM_ADAPTER = (
    NUMERIC_ADAPTER
    + """

import json


def load_model(path):
    return json.loads(path.read_text())


def predict(model, inputs):
    return inputs @ np.asarray(model["weights"]) + model["bias"]
"""
)


def custom_project(
    root: Path,
    flavour: str | None,
    model: bytes,
    name: str = "models/linear.json",
    adapter: str = CUSTOM_ADAPTER,
) -> Path:
    test = numeric_rows(15, 10)
    want = test[["a", "b", "c"]].to_numpy() @ [2.0, 0.0, -1.0] + 0.25
    return write_project(
        root,
        task="regression",
        model_path=name,
        model=model,
        adapter=adapter,
        inputs=test,
        scores={"predicted": want},
        label=[str(v) for v in want],
        package_extra={"flavour": flavour} if flavour else None,
    )


@pytest.mark.parametrize("flavour", ["custom", None])
def test_the_adapter_loads_and_predicts_a_model_of_any_framework(tmp_path, flavour):
    # without package.flavour, a file no flavour recognises is custom when the adapter loads it
    weights = json.dumps({"weights": [2.0, 0.0, -1.0], "bias": 0.25}).encode()
    model, manifest = served(custom_project(tmp_path / "p", flavour, weights, "models/linear.bin"), tmp_path)
    assert manifest["flavour"] == {"name": "custom", "framework": None, "version": None}
    assert manifest["prediction_check"] == {"rows": 15, "max_abs_difference": 0.0, "tolerance": 1e-6}
    assert model.predict_columns({"a": [1.0], "b": [5.0], "c": [2.0]}).tolist() == [0.25]


def test_an_unknown_model_file_is_refused_by_graft_package_naming_the_flavours(tmp_path, capsys):
    no_loader = CUSTOM_ADAPTER.replace("def load_model(path):", "def read_model(path):")
    root = custom_project(
        tmp_path / "p", None, b"\x00\x01 weights of some framework", "models/net.bin", no_loader
    )
    code, message = cli(capsys, root, "package", "--out", str(tmp_path / "dist"))
    assert code == 3
    assert message == (
        f"graft: error: net.bin: unknown model flavour (supported: {SUPPORTED}): set graft.yaml "
        "package.flavour, or 'custom' with predict(model, inputs) in the serving adapter"
    )
    assert not (tmp_path / "dist").exists()


def test_an_unknown_or_wrong_package_flavour_is_refused(tmp_path, capsys):
    root = custom_project(tmp_path / "p", "torch", b"{}")
    code, message = cli(capsys, root, "package", "--out", str(tmp_path / "dist"))
    assert code == 3
    assert message == (
        f"graft: error: graft.yaml package.flavour: unknown model flavour 'torch' (supported: {SUPPORTED})"
    )
    lightgbm = b"tree\nversion=v4\nnum_class=1\n"
    shutil.rmtree(tmp_path / "p")
    root = custom_project(tmp_path / "p", "xgboost", lightgbm, "models/model.txt")
    code, message = cli(capsys, root, "package", "--out", str(tmp_path / "dist"))
    assert code == 3
    assert message == (
        "graft: error: graft.yaml package.flavour is 'xgboost', but model.txt is a LightGBM model "
        "(lightgbm): "
        "fix package.flavour, or remove it to use the recognised one"
    )


def test_files_are_recognised_by_suffix_and_first_bytes():
    assert detect("m.txt", b"tree\nversion=v4").name == "lightgbm"
    assert detect("m.json", b'{"learner":{"attributes"').name == "xgboost"
    assert detect("m.json", b'{"weights": [1]}') is None  # JSON, but not XGBoost's
    assert detect("m.cbm", b"CBM1@-\x00\x00").name == "catboost"
    assert detect("m.pkl", b"\x80\x04\x95").name == "sklearn"
    assert detect("m.joblib", b"x^}\x93").name == "sklearn"  # joblib's zlib compression
    assert detect("m.onnx", b"\x08\n\x12\x08").name == "onnx"
    assert detect("m.txt", b"\x80\x04\x95") is None  # a pickle under another suffix
    assert list(FLAVOURS) == SUPPORTED.split(", ")


def test_a_package_without_a_recorded_flavour_is_served_as_lightgbm(tmp_path):
    """Packages built before flavours were recorded hold a LightGBM model."""
    import lightgbm as lgb

    test = numeric_rows(20, 11)
    x = test[["a", "b", "c"]].to_numpy()
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 3},
                        lgb.Dataset(x, x[:, 0]), num_boost_round=5)  # fmt: skip
    text = booster.model_to_string().encode()
    root = write_project(
        tmp_path / "p",
        task="regression",
        model_path="models/model.txt",
        model=text,
        adapter=NUMERIC_ADAPTER,
        inputs=test,
        scores={"predicted": booster.predict(x)},
        label=["0"] * 20,
    )
    built = package(root, tmp_path / "dist", version="1.0.0")
    folder = load_package(built.path, tmp_path / "unpacked").root
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest.pop("flavour")["name"] == "lightgbm"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    model = ServingModel.from_package(load_package(folder))
    assert model.flavour == "lightgbm"
    assert np.array_equal(model.predict_columns(columns_of(test, ["a", "b", "c"])), booster.predict(x))


def test_a_prediction_check_that_cannot_run_says_why(tmp_path):
    weights = json.dumps({"weights": [2.0, 0.0, -1.0], "bias": 0.25}).encode()
    root = custom_project(tmp_path / "p", "custom", weights)
    settings = yaml.safe_load((root / "graft.yaml").read_text())
    del settings["package"]["reference"]
    (root / "graft.yaml").write_text(yaml.safe_dump(settings))
    git(root, "commit", "-qam", "no reference")
    built = package(root, tmp_path / "dist", version="1.0.0")
    assert built.prediction_check == {
        "rows": 0,
        "not_run": "no predictions.inputs (or package.reference) table holds the predicted rows' inputs",
    }
    settings["predictions"]["inputs"] = "eval/metrics.json"
    (root / "graft.yaml").write_text(yaml.safe_dump(settings))
    git(root, "commit", "-qam", "inputs without ids")
    with pytest.raises(Exception, match=r"eval/metrics\.json: cannot be read as a table"):
        package(root, tmp_path / "dist", version="1.0.0")


def test_a_missing_framework_names_the_extra_and_compile_is_lightgbm_only(tmp_path, monkeypatch):
    import sys

    import xgboost as xgb

    from graft.core.errors import MissingDependency
    from graft.serving.model import ServingError

    test = numeric_rows(20, 12)
    x = test[["a", "b", "c"]].to_numpy()
    booster = xgb.train({"objective": "reg:squarederror", "nthread": 1}, xgb.DMatrix(x, x[:, 1]), 4)
    booster.save_model(tmp_path / "model.ubj")
    root = write_project(
        tmp_path / "p",
        task="regression",
        model_path="models/model.ubj",
        model=(tmp_path / "model.ubj").read_bytes(),
        adapter=NUMERIC_ADAPTER,
        inputs=test,
        scores={"predicted": booster.inplace_predict(x).astype(np.float64)},
        label=["0"] * 20,
    )
    built = package(root, tmp_path / "dist", version="1.0.0")
    loaded = load_package(built.path, tmp_path / "unpacked")
    with pytest.raises(
        ServingError, match=r"--compile compiles LightGBM models; model\.ubj is xgboost \(XGBoost\)$"
    ):
        ServingModel.from_package(loaded, compile_cache=tmp_path / "cache")
    monkeypatch.setitem(sys.modules, "xgboost", None)  # as where the extra is not installed
    with pytest.raises(MissingDependency) as missing:
        ServingModel.from_package(loaded)
    assert str(missing.value) == (
        "an XGBoost model needs xgboost, which is not installed: pip install 'graft-toolkit[xgboost]'"
    )


def test_predictions_the_task_cannot_take_are_refused_by_graft_package(tmp_path, capsys):
    weights = json.dumps({"weights": [2.0, 0.0, -1.0], "bias": 0.25}).encode()
    root = custom_project(tmp_path / "p", "custom", weights)
    adapter = root / "src" / "serving.py"
    original = 'return inputs @ np.asarray(model["weights"]) + model["bias"]'
    cases = {
        "return 1, inputs": "linear.json: the adapter's predict() must return an array of numbers, got tuple",
        "return inputs": "linear.json: the adapter's predict() returned predictions of shape (15, 3) for 15 "
        "records; a regression task needs (15,)",
        "return inputs[:, 0] + np.nan": "linear.json returned a prediction that is not a finite number",
    }
    for body, refusal in cases.items():
        adapter.write_text(adapter.read_text().replace(original, body))
        git(root, "commit", "-qam", body)
        assert cli(capsys, root, "package", "--out", str(tmp_path / "dist")) == (
            3,
            f"graft: error: {refusal}",
        )
        original = body
    assert not (tmp_path / "dist").exists()


def test_a_classifier_whose_classes_are_not_the_task_labels_is_refused(tmp_path):
    root, _, _ = text_project(tmp_path / "p")
    settings = yaml.safe_load((root / "graft.yaml").read_text())
    settings["task"]["labels"] = ["bad", "good"]
    (root / "graft.yaml").write_text(yaml.safe_dump(settings))
    git(root, "commit", "-qam", "other labels")
    with pytest.raises(
        FlavourError,
        match=r"^model\.pkl: the model's classes \(neg, pos\) are not task\.labels \(bad, good\)$",
    ):
        package(root, tmp_path / "dist")


def test_commands_that_read_results_import_no_model_framework(tmp_path):
    import subprocess
    import sys

    root, _, _ = text_project(tmp_path / "p")
    script = (
        "import sys\nfrom graft.cli import main\n"
        f"for argv in (['diff', '--format', 'json'], ['metrics']):\n    main(['-C', {str(root)!r}, *argv])\n"
        "print(sorted(m for m in ('xgboost', 'catboost', 'onnxruntime', 'sklearn', 'lightgbm', 'joblib',"
        " 'graft.release.flavours') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
