"""`graft serve` of a regression and a multiclass package as real processes over HTTP.

* regression: the second project (``tests/integration/second_project``, scikit-learn's diabetes
  data; built by ``second.py``), packaged and served;
* multiclass: the iris project (``tests/integration/iris_project``: four measurements and a
  categorical, sometimes missing ``site``; built by ``iris.py``), packaged and served.

Each answers /predict (one record and many), the Open Inference Protocol route and /feedback
with what its task predicts, refuses bad input with a 4xx that leaves nothing in the log, logs
what it answered, publishes its own OpenAPI document, and takes `graft replay` traffic read from
its /metadata. Served values must equal the ones each pipeline's score stage wrote. `graft
monitor` judges each one's log by its task: the test split replayed is undrifted and its
realised metrics are the pipeline's own test metrics; a shifted feature alerts on the feature
and the outputs; an empty window exits with the no-data status.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from graft import api
from graft.monitoring import EXIT_NO_DATA
from tests.conftest import BIN
from tests.integration import iris, second
from tests.integration.conftest import HOST, ServerProcess, free_port, second_copy, settled_counts
from tests.integration.oip_grpc import complete, infer_inputs, model_metadata
from tests.schemas import validate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
JSON = {"content-type": "application/json"}
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
CLASSES = ["setosa", "versicolor", "virginica"]


@dataclass(frozen=True)
class Deployed:
    root: Path
    archive: Path
    server: ServerProcess
    records: list[dict[str, Any]]  # the pipeline's test rows as the API takes them
    want: np.ndarray  # what the pipeline's score stage predicted for them

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def db(self) -> Path:
        return Path(self.server.log_db.removeprefix("sqlite:///"))

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30)

    @property
    def grpc_address(self) -> str:
        extra = self.server.extra
        return f"{HOST}:{extra[extra.index('--grpc-port') + 1]}"


def as_records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """JSON-ready records; a missing value is left out (the server fills null)."""
    out = []
    for row in frame[columns].astype(object).itertuples(index=False):
        out.append({c: v for c, v in zip(columns, row, strict=True) if not pd.isna(v)})
    return out


def deploy(root: Path, work: Path) -> tuple[Path, ServerProcess]:
    archive = api.package(root, work / "dist", version="1.0.0").path
    grpc = ("--grpc-port", str(free_port()))  # the Open Inference Protocol over gRPC too
    return archive, ServerProcess(archive, f"sqlite:///{work / 'log.db'}", work, *grpc).start()


@pytest.fixture(scope="module")
def regression(
    tmp_path_factory: pytest.TempPathFactory, module_env: None, second_template: Path
) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("regression")
    root = second.configure(second_copy(second_template, work))
    archive, server = deploy(root, work)
    test = pd.read_parquet(root / "work" / "test.parquet")
    want = pd.read_parquet(root / "eval" / "predictions.parquet").set_index("patient")
    yield Deployed(
        root, archive, server, as_records(test, DIABETES), want.loc[test["patient"], "predicted"].to_numpy()
    )
    server.stop()


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("multiclass")
    root = iris.build(work / "iris")
    archive, server = deploy(root, work)
    test = pd.read_parquet(root / "work" / "test.parquet")
    columns = [*iris.NAMES.values(), "site"]
    want = pd.read_parquet(root / "eval" / "predictions.parquet").set_index("id").loc[test["id"]]
    proba = want[[f"proba_{c}" for c in CLASSES]].to_numpy()
    yield Deployed(root, archive, server, as_records(test, columns), proba)
    server.stop()


def log_rows(deployed: Deployed, request_ids: list[str]) -> dict[str, tuple[str, str]]:
    """request id -> (inputs, outputs) once the log's writer has committed them."""
    marks = ",".join("?" * len(request_ids))
    for _ in range(200):
        with sqlite3.connect(deployed.db) as conn:
            rows = conn.execute(
                f"SELECT request_id, inputs, outputs FROM predictions WHERE request_id IN ({marks})",
                request_ids,
            ).fetchall()
        if len(rows) == len(set(request_ids)):
            return {r[0]: (r[1], r[2]) for r in rows}
        time.sleep(0.05)
    raise AssertionError(f"the log holds {len(rows)} of {len(request_ids)} requests")


def counts(deployed: Deployed, expected: tuple[int, int] | None = None) -> tuple[int, int]:
    """(predictions, feedback) rows once the writer has caught up (see :func:`settled_counts`)."""
    return settled_counts(deployed.db, expected)


def feedback_outcomes(deployed: Deployed, request_id: str, expected: int) -> list[str]:
    """The logged outcomes for ``request_id`` once ``expected`` rows are in (the writer is async)."""
    rows: list[tuple[str]] = []
    for _ in range(200):
        with sqlite3.connect(deployed.db) as conn:
            rows = conn.execute(
                "SELECT outcome FROM feedback WHERE request_id = ? AND outcome IS NOT NULL "
                "ORDER BY created_at, rowid",
                (request_id,),
            ).fetchall()
        if len(rows) >= expected:
            break
        time.sleep(0.05)
    return [r[0] for r in rows]


# --- regression ------------------------------------------------------------------------------------


def test_regression_metadata_states_the_task_and_the_input_schema(regression):
    meta = httpx.get(f"{regression.url}/metadata").json()
    schema = api.open_package(regression.archive, regression.root.parent / "unpacked-r").schema
    assert (meta["model"], meta["version"]) == ("diabetes-progression", "1.0.0")
    assert meta["task"] == {"type": "regression", "labels": None}
    assert meta["threshold"] is None
    assert meta["input_schema"] == schema and sorted(meta["input_fields"]) == sorted(DIABETES)
    assert meta["label_column"] == "progression"


def test_regression_predicts_the_values_its_pipeline_scored(regression):
    one = regression.post("/predict", regression.records[0])
    assert one.status_code == 200, one.text
    body = one.json()
    assert list(body) == ["request_id", "model_version", "predictions"]  # no threshold
    assert body["predictions"] == [{"prediction": regression.want[0]}]
    many = regression.post("/predict", regression.records)
    assert many.status_code == 200, many.text
    got = np.array([p["prediction"] for p in many.json()["predictions"]])
    assert np.array_equal(got, regression.want)
    assert all(list(p) == ["prediction"] for p in many.json()["predictions"])
    rows = log_rows(regression, [body["request_id"], many.json()["request_id"]])
    assert json.loads(rows[body["request_id"]][1]) == {"prediction": [regression.want[0]]}
    assert json.loads(rows[many.json()["request_id"]][1]) == {"prediction": regression.want.tolist()}
    assert json.loads(rows[body["request_id"]][0]) == [
        {k: regression.records[0][k] for k in sorted(regression.records[0])}
    ]


def test_regression_over_the_open_inference_protocol(regression):
    batch = regression.records[:5]
    inputs = [{"name": k, "shape": [5], "datatype": "FP64", "data": [r[k] for r in batch]} for k in DIABETES]
    r = regression.post("/v2/models/diabetes-progression/infer", {"inputs": inputs})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == [
        {"name": "prediction", "shape": [5], "datatype": "FP64", "data": regression.want[:5].tolist()}
    ]
    assert json.loads(log_rows(regression, [r.json()["id"]])[r.json()["id"]][1]) == {
        "prediction": regression.want[:5].tolist()
    }


def test_regression_feedback_takes_a_finite_number(regression):
    rid = regression.post("/predict", regression.records[:3]).json()["request_id"]
    for outcome in (151.5, 151):
        r = regression.post("/feedback", {"request_id": rid, "index": 1, "outcome": outcome})
        assert r.status_code == 202, r.text
    assert feedback_outcomes(regression, rid, 2) == ["151.5", "151"]
    before = counts(regression)
    refused = [
        (json.dumps({"request_id": rid, "outcome": "151"}), "body.outcome: must be a number, got string"),
        (json.dumps({"request_id": rid, "outcome": True}), "body.outcome: must be a number, got boolean"),
        (f'{{"request_id": "{rid}", "outcome": NaN}}', "body.outcome: NaN is not allowed"),
        (f'{{"request_id": "{rid}", "outcome": 1e400}}', "body.outcome: must be a finite number"),
        (json.dumps({"request_id": rid, "index": 3, "outcome": 1.0}), "body.index: 3 is out of range"),
        (
            json.dumps({"request_id": rid, "outcome": 1.0, "note": "x"}),
            "body.note: extra field not permitted",
        ),
    ]
    for body, needle in refused:
        r = httpx.post(f"{regression.url}/feedback", content=body, headers=JSON)
        assert r.status_code == 422 and needle in r.json()["detail"], (body, r.text)
    assert regression.post("/feedback", {"request_id": "nope", "outcome": 1.0}).status_code == 404
    assert counts(regression) == before


BAD_REGRESSION = [
    ("missing field", lambda r: {k: v for k, v in r.items() if k != "bmi"}, 422, "body.bmi: field required"),
    ("text for a number", lambda r: {**r, "bp": "high"}, 422, "body.bp: must be a number, got string"),
    ("extra field", lambda r: {**r, "weight": 80}, 422, "body.weight: extra field not permitted"),
    ("null", lambda r: {**r, "s1": None}, 422, "body.s1: must not be null"),
    ("list with a bad record", lambda r: [r, {**r, "age": []}], 422, "body[1].age: must be a number"),
]


@pytest.mark.parametrize(
    ("case", "change", "status", "needle"), BAD_REGRESSION, ids=[c[0] for c in BAD_REGRESSION]
)
def test_regression_bad_input_gets_a_4xx_and_leaves_no_row(regression, case, change, status, needle):
    before = counts(regression)
    r = regression.post("/predict", change(dict(regression.records[0])))
    assert r.status_code == status and needle in r.json()["detail"], r.text
    assert counts(regression) == before


# --- multiclass ------------------------------------------------------------------------------------


def test_multiclass_metadata_states_the_classes(multiclass):
    meta = httpx.get(f"{multiclass.url}/metadata").json()
    assert meta["task"] == {"type": "multiclass", "labels": CLASSES}
    assert meta["threshold"] is None and meta["label_column"] == "species"
    assert meta["input_schema"]["properties"]["site"] == {
        "enum": ["A", "B", "C", None],
        "type": ["string", "null"],
    }


def test_multiclass_predicts_class_probabilities_and_the_likeliest_label(multiclass):
    assert any("site" not in r for r in multiclass.records)  # some records leave the site out
    one = multiclass.post("/predict", multiclass.records[0])
    assert one.status_code == 200, one.text
    assert list(one.json()) == ["request_id", "model_version", "predictions"]
    first = one.json()["predictions"][0]
    assert first == {
        "probabilities": dict(zip(CLASSES, multiclass.want[0].tolist(), strict=True)),
        "label": CLASSES[int(multiclass.want[0].argmax())],
    }
    many = multiclass.post("/predict", multiclass.records)
    assert many.status_code == 200, many.text
    predictions = many.json()["predictions"]
    got = np.array([[p["probabilities"][c] for c in CLASSES] for p in predictions])
    assert np.array_equal(got, multiclass.want)
    assert [p["label"] for p in predictions] == [CLASSES[i] for i in multiclass.want.argmax(axis=1)]
    rid = many.json()["request_id"]
    logged = json.loads(log_rows(multiclass, [rid])[rid][1])
    assert logged == {
        "probabilities": multiclass.want.tolist(),
        "label": [p["label"] for p in predictions],
    }


def test_multiclass_over_the_open_inference_protocol(multiclass):
    batch = [r for r in multiclass.records if "site" in r][:4]
    want = multiclass.want[[multiclass.records.index(r) for r in batch]]
    inputs = [
        {
            "name": k,
            "shape": [4],
            "datatype": "BYTES" if k == "site" else "FP64",
            "data": [r[k] for r in batch],
        }
        for k in batch[0]
    ]
    r = multiclass.post("/v2/models/iris-species/infer", {"inputs": inputs})
    assert r.status_code == 200, r.text
    probabilities, labels = r.json()["outputs"]
    assert probabilities == {
        "name": "probabilities",
        "shape": [4, 3],
        "datatype": "FP64",
        "data": want.ravel().tolist(),
        "parameters": {"classes": CLASSES},
    }
    assert labels == {
        "name": "label",
        "shape": [4],
        "datatype": "BYTES",
        "data": [CLASSES[i] for i in want.argmax(axis=1)],
    }


def test_multiclass_feedback_takes_one_of_the_classes(multiclass):
    rid = multiclass.post("/predict", multiclass.records[:2]).json()["request_id"]
    r = multiclass.post("/feedback", {"request_id": rid, "index": 0, "outcome": "versicolor"})
    assert r.status_code == 202, r.text
    assert feedback_outcomes(multiclass, rid, 1) == ["versicolor"]
    before = counts(multiclass)
    for outcome, needle in (
        ("Versicolor", "body.outcome: unknown category 'Versicolor'"),
        (">50K", "body.outcome: unknown category '>50K'"),
        (1, "body.outcome: must be a string, got number"),
    ):
        r = multiclass.post("/feedback", {"request_id": rid, "outcome": outcome})
        assert r.status_code == 422 and needle in r.json()["detail"], r.text
    assert counts(multiclass) == before


BAD_MULTICLASS = [
    ("unknown category", lambda r: {**r, "site": "D"}, 422, "body.site: unknown category 'D'"),
    ("above the maximum", lambda r: {**r, "petal_length": 31}, 422, "body.petal_length: 31 is greater than"),
    (
        "missing measurement",
        lambda r: {k: v for k, v in r.items() if k != "sepal_width"},
        422,
        "body.sepal_width",
    ),
    ("category as a number", lambda r: {**r, "site": 1}, 422, "body.site: must be a string"),
]


@pytest.mark.parametrize(
    ("case", "change", "status", "needle"), BAD_MULTICLASS, ids=[c[0] for c in BAD_MULTICLASS]
)
def test_multiclass_bad_input_gets_a_4xx_and_leaves_no_row(multiclass, case, change, status, needle):
    before = counts(multiclass)
    r = multiclass.post("/predict", change(dict(multiclass.records[0])))
    assert r.status_code == status and needle in r.json()["detail"], r.text
    assert counts(multiclass) == before


# --- both: transport errors, the contract, replay ----------------------------------------------------


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_transport_errors_are_4xx_on_every_task(task, request):
    deployed: Deployed = request.getfixturevalue(task)
    before = counts(deployed)
    body = json.dumps(deployed.records[0]).encode()
    assert (
        httpx.post(
            f"{deployed.url}/predict", content=body, headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert httpx.post(f"{deployed.url}/predict", content=body[:-1], headers=JSON).status_code == 400
    name = api.open_package(deployed.archive, deployed.root.parent / f"unpacked-{task}").name
    inputs = [
        {"name": k, "shape": [1], "datatype": "BYTES", "data": [str(v)]}
        for k, v in deployed.records[0].items()
    ]
    r = deployed.post(f"/v2/models/{name}/infer", {"inputs": inputs})
    assert r.status_code == 422 and "BYTES cannot carry input" in r.json()["error"], r.text
    assert deployed.post("/v2/models/other/infer", {"inputs": inputs}).status_code == 404
    assert counts(deployed) == before


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_grpc_predicts_what_predict_does_on_every_task(task, request):
    """The reference gRPC client (tritonclient.grpc, raw tensors) gets /predict's predictions;
    a tensor of the wrong datatype is INVALID_ARGUMENT naming the input and logs nothing."""
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    deployed: Deployed = request.getfixturevalue(task)
    name = api.open_package(deployed.archive, deployed.root.parent / f"unpacked-grpc-{task}").name
    client = triton.InferenceServerClient(deployed.grpc_address)
    assert client.is_server_ready() and client.is_model_ready(name, "1.0.0")
    meta = model_metadata(client, name)
    assert (
        meta["outputs"]
        == {
            "regression": [{"name": "prediction", "datatype": "FP64", "shape": [-1]}],
            "multiclass": [
                {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
            ],
        }[task]
    )
    records = complete(deployed.records, [i["name"] for i in meta["inputs"]])
    assert len(records) >= 10
    result = client.infer(name, infer_inputs(records, meta))
    rest = deployed.post("/predict", records).json()["predictions"]
    if task == "regression":
        assert result.as_numpy("prediction").tolist() == [p["prediction"] for p in rest]
    else:
        assert result.as_numpy("probabilities").shape == (len(records), 3)
        assert result.as_numpy("probabilities").tolist() == [
            [p["probabilities"][c] for c in CLASSES] for p in rest
        ]
        assert [x.decode() for x in result.as_numpy("label")] == [p["label"] for p in rest]
        classes = result.get_response().outputs[0].parameters["classes"].string_param
        assert json.loads(classes) == CLASSES
    before = counts(deployed)
    number = next(i["name"] for i in meta["inputs"] if i["datatype"] == "FP64")
    inputs = infer_inputs(records[:2], meta)
    bad = triton.InferInput(number, [2], "BYTES").set_data_from_numpy(np.array(["1", "2"], dtype=object))
    with pytest.raises(InferenceServerException) as info:
        client.infer(name, [bad if t.name() == number else t for t in inputs])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert f"BYTES cannot carry input '{number}' (number)" in info.value.message()
    assert counts(deployed) == before


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_each_package_publishes_its_own_contract(task, request):
    deployed: Deployed = request.getfixturevalue(task)
    served = httpx.get(f"{deployed.url}/openapi.json").json()
    printed = subprocess.run(
        [str(BIN / "graft"), "serve", str(deployed.archive), "--print-openapi"],
        capture_output=True,
        check=True,
    ).stdout
    assert json.loads(printed) == served
    schemas = served["components"]["schemas"]
    assert "threshold" not in schemas["PredictResponse"]["properties"]
    outcome = schemas["Feedback"]["properties"]["outcome"]
    if task == "regression":
        assert list(schemas["Prediction"]["properties"]) == ["prediction"]
        assert outcome["type"] == "number"
    else:
        assert list(schemas["Prediction"]["properties"]) == ["probabilities", "label"]
        assert schemas["Prediction"]["properties"]["probabilities"]["required"] == CLASSES
        assert outcome["enum"] == CLASSES
    assert "50K" not in printed.decode()  # nothing of the reference project


# --- the Open Inference Protocol's reference client ------------------------------------------------

OUTPUTS = {
    "regression": [{"name": "prediction", "datatype": "FP64", "shape": [-1]}],
    "multiclass": [
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ],
}


def triton_inputs(records: list[dict[str, Any]], metadata: dict[str, Any], binary: bool) -> list[Any]:
    import tritonclient.http as triton

    inputs = []
    for tensor in metadata["inputs"]:
        name, datatype = tensor["name"], tensor["datatype"]
        values = np.array([r[name] for r in records], dtype=np.float64 if datatype == "FP64" else object)
        infer_input = triton.InferInput(name, [len(records)], datatype)
        infer_input.set_data_from_numpy(values, binary_data=binary)
        inputs.append(infer_input)
    return inputs


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_tritonclient_metadata_and_inference_equal_predict(task, request):
    """tritonclient (HTTP): the task's outputs in the model metadata; JSON and binary tensors
    answered with /predict's values for the same records, bit for bit."""
    import tritonclient.http as triton

    deployed: Deployed = request.getfixturevalue(task)
    client = triton.InferenceServerClient(url=deployed.url.removeprefix("http://"))
    served = httpx.get(f"{deployed.url}/metadata").json()
    name = served["model"]
    assert client.is_server_ready() and client.is_model_ready(name)
    metadata = client.get_model_metadata(name)
    assert metadata["outputs"] == OUTPUTS[task] and metadata["versions"] == [served["version"]]
    assert [t["name"] for t in metadata["inputs"]] == served["input_fields"]
    records = [r for r in deployed.records if "site" in r] if task == "multiclass" else deployed.records
    predictions = deployed.post("/predict", records).json()["predictions"]
    for binary in (False, True):
        outputs = [triton.InferRequestedOutput(o["name"], binary_data=binary) for o in OUTPUTS[task]]
        result = client.infer(name, triton_inputs(records, metadata, binary), outputs=outputs)
        if task == "regression":
            assert result.as_numpy("prediction").tolist() == [p["prediction"] for p in predictions]
        else:
            probabilities = result.as_numpy("probabilities")
            assert probabilities.shape == (len(records), 3)
            assert probabilities.tolist() == [[p["probabilities"][c] for c in CLASSES] for p in predictions]
            labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").tolist()]
            assert labels == [p["label"] for p in predictions]
    before = counts(deployed)
    wrong = triton.InferInput(metadata["inputs"][0]["name"], [1], "FP64")
    wrong.set_data_from_numpy(np.array([1.0]), binary_data=True)
    tensor = {"name": wrong.name(), "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}}
    body = json.dumps({"inputs": [tensor]}).encode()
    r = httpx.post(
        f"{deployed.url}/v2/models/{name}/infer",
        content=body + b"\x00" * 7,
        headers={"inference-header-content-length": str(len(body))},
    )
    assert r.status_code == 400 and r.json() == {
        "error": f"body.inputs[0]: input {wrong.name()!r}: binary_data_size 8 but the body holds 7 more "
        "bytes (truncated)"
    }
    assert counts(deployed) == before


def test_multiclass_missing_site_over_json_tensors(multiclass):
    """A nullable field's missing values travel as JSON nulls (binary tensors cannot hold one)."""
    without = [r for r in multiclass.records if "site" not in r]
    batch = [*without[:3], next(r for r in multiclass.records if "site" in r)]
    inputs = [
        {
            "name": k,
            "shape": [len(batch)],
            "datatype": "BYTES" if k == "site" else "FP64",
            "data": [r.get(k) for r in batch],
        }
        for k in [*iris.NAMES.values(), "site"]
    ]
    r = multiclass.post("/v2/models/iris-species/infer", {"inputs": inputs})
    assert r.status_code == 200, r.text
    want = multiclass.post("/predict", batch).json()["predictions"]
    assert r.json()["outputs"][0]["data"] == [p["probabilities"][c] for p in want for c in CLASSES]


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "graft"), "replay", *args], capture_output=True, text=True, timeout=300)


def test_replay_sends_regression_rows_and_numeric_outcomes(regression):
    test = pd.read_parquet(regression.root / "work" / "test.parquet")
    before = counts(regression)
    done = replay(
        str(regression.root / "work" / "test.parquet"),
        "--url",
        regression.url,
        "--shift",
        "bmi=*1.2",
        "--flip-labels",
        "0.5",
        "--seed",
        "1",
    )
    assert done.returncode == 0, done.stderr
    n = len(test)
    assert f"replayed {n} rows in {-(-n // 50)} requests, {n} feedback events" in done.stdout
    flipped = int(done.stdout.split("(")[1].split(" flipped")[0])
    assert 0.3 * n < flipped < 0.7 * n
    want = (before[0] + -(-n // 50), before[1] + n)
    assert counts(regression, want) == want
    with sqlite3.connect(regression.db) as conn:
        outcomes = [
            float(o)
            for (o,) in conn.execute("SELECT outcome FROM feedback ORDER BY created_at DESC LIMIT ?", (n,))
        ]
        inputs = [
            json.loads(i)
            for (i,) in conn.execute("SELECT inputs FROM predictions ORDER BY created_at DESC LIMIT 1")
        ]
    assert set(outcomes) <= set(test["progression"].astype(float))  # flipped: another row's outcome
    last = test.iloc[-(n % 50 or 50) :]
    assert [r["bmi"] for r in inputs[0]] == pytest.approx((last["bmi"] * 1.2).tolist())


def test_replay_sends_multiclass_rows_with_a_filter_and_a_category_mix(multiclass):
    data = multiclass.root / "data" / "iris.csv"
    table = pd.read_csv(data, keep_default_na=False, na_values=[""])
    chosen = table[table["site"] == "B"]
    before = counts(multiclass)
    done = replay(
        str(data), "--url", multiclass.url, "--where", "site=B", "--mix", "site=C:0.5", "--batch-size", "1000"
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"replayed {len(chosen)} rows in 1 requests, {len(chosen)} feedback events (0 flipped)" in done.stdout
    )
    want = (before[0] + 1, before[1] + len(chosen))
    assert counts(multiclass, want) == want
    with sqlite3.connect(multiclass.db) as conn:
        (inputs,) = conn.execute("SELECT inputs FROM predictions ORDER BY created_at DESC LIMIT 1").fetchone()
        outcomes = [
            o
            for (o,) in conn.execute(
                "SELECT outcome FROM feedback ORDER BY created_at DESC LIMIT ?", (len(chosen),)
            )
        ]
    sites = [r["site"] for r in json.loads(inputs)]
    assert set(sites) == {"B", "C"} and 0.3 < sites.count("C") / len(sites) < 0.7
    assert [r["petal_length"] for r in json.loads(inputs)] == chosen["petal_length"].tolist()
    assert sorted(outcomes) == sorted(chosen["species"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shift", "site=+1"], "--shift 'site=+1': 'site' is not a numeric input of the served model"),
        (["--mix", "site=D:0.5"], "'D' is not a category of 'site' (expected one of A, B, C)"),
        (["--label", "site"], "outcome column 'site' holds 'A', 'B', 'C', not labels of the served model"),
        (["--label", "kind"], "no outcome column 'kind' (--label)"),
        (["--where", "garden=east"], "--where garden=east: no column 'garden'"),
    ],
)
def test_replay_refuses_options_that_do_not_fit_the_served_model(multiclass, args, message):
    before = counts(multiclass)
    done = replay(str(multiclass.root / "data" / "iris.csv"), "--url", multiclass.url, *args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert counts(multiclass) == before  # checked before anything was sent


# --- the contract, fuzzed -----------------------------------------------------------------------------

OPERATIONS = {
    "POST /predict": 25,
    "POST /feedback": 15,
    "POST /v2/models/{model_name}/infer": 15,
    "GET /metadata": 2,
    "GET /v2/models/{model_name}": 2,
}


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_responses_conform_to_the_package_contract(task, request):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    deployed: Deployed = request.getfixturevalue(task)
    schema = schemathesis.openapi.from_url(f"{deployed.url}/openapi.json")
    for label, examples in OPERATIONS.items():
        operation = schema.find_operation_by_label(label)
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.method.upper() == "POST":
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(base_url=deployed.url, timeout=30)

            check()


# --- monitoring the log, by task ------------------------------------------------------------------

SHIFTS = {"regression": ["bmi=*1.4"], "multiclass": ["petal_length=*1.6"]}


def stamp() -> str:
    time.sleep(0.02)
    return datetime.now(UTC).isoformat()


def replayed(deployed: Deployed, *options: str) -> tuple[str, str, int]:
    """Replay the pipeline's test rows (with ``options``): the window (since, until) holding
    them, once the log has committed them, and how many rows were sent."""
    before = counts(deployed)
    since = stamp()
    done = replay(
        str(deployed.root / "work" / "test.parquet"), "--url", deployed.url, "--seed", "2", *options
    )
    assert done.returncode == 0, done.stderr
    sent = done.stdout.split("replayed ")[1].split()
    rows, requests = int(sent[0]), int(sent[3])
    want = (before[0] + requests, before[1] + rows)
    assert counts(deployed, want) == want
    return since, stamp(), rows


def monitor_cli(deployed: Deployed, since: str, until: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    args = ["monitor", "--package", str(deployed.archive), "--log-db", deployed.server.log_db]
    done = subprocess.run(
        [str(BIN / "graft"), *args, "--since", since, "--until", until, "--format", "json", *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = json.loads(done.stdout)
    validate(result, "monitor")
    return done.returncode, result, done.stderr


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_monitor_judges_undrifted_traffic_by_the_tasks_metrics(task, request, tmp_path):
    deployed: Deployed = request.getfixturevalue(task)
    since, until, rows = replayed(deployed)
    code, result, stderr = monitor_cli(deployed, since, until, "-o", str(tmp_path / "report.md"))
    assert code == 0, (result["alerts"], stderr)
    assert (result["task"], result["status"], result["window"]["predictions"]) == (task, "ok", rows)
    feedback = result["feedback"]
    assert feedback["rows_with_feedback"] == rows and feedback["enough_feedback"]
    # the test rows and their outcomes: the realised metrics are the pipeline's own test metrics
    pipeline = json.loads((deployed.root / "eval" / "metrics.json").read_text())
    expected = {"regression": ["rmse", "mae", "r2"], "multiclass": ["accuracy", "macro_f1", "log_loss"]}[task]
    assert feedback["metrics"] == expected
    for metric in expected:
        assert feedback[metric] == pytest.approx(pipeline[metric], abs=1e-4), metric
        assert feedback["reference"][metric] == pytest.approx(pipeline[metric], abs=1e-4), metric
    outputs = result["outputs"]
    assert not outputs["drifted"] and outputs["method"] == {"regression": "ks", "multiclass": "chi2"}[task]
    report = (tmp_path / "report.md").read_text()
    names = {"regression": "| RMSE |", "multiclass": "| macro F1 |"}[task]
    assert "**Verdict: OK**" in report and names in report and "ROC AUC" not in report
    assert (tmp_path / "report_files" / "predictions.png").read_bytes().startswith(b"\x89PNG")
    if task == "multiclass":  # graft.yaml monitor.fairness.group_columns: [site]
        assert set(result["fairness"]["site"]["groups"]) <= {"A", "B", "C", "nan"}
        assert "### site" in report
    else:  # no sensitive column configured: no fairness section
        assert "fairness" not in result and "Fairness" not in report


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_monitor_names_a_shifted_feature_and_the_output_drift(task, request):
    deployed: Deployed = request.getfixturevalue(task)
    since, until, rows = replayed(deployed, *(f"--shift={s}" for s in SHIFTS[task]))
    code, result, stderr = monitor_cli(deployed, since, until)
    assert code == 1 and result["status"] == "alert" and result["window"]["predictions"] == rows
    shifted = SHIFTS[task][0].split("=")[0]
    features = [a["feature"] for a in result["alerts"] if a["kind"] == "feature_drift"]
    assert shifted in features, result["alerts"]
    drift = [a["detail"] for a in result["alerts"] if a["kind"] == "output_drift"]
    what = {"regression": "prediction distribution", "multiclass": "predicted-class distribution"}[task]
    assert len(drift) == 1 and drift[0].startswith(f"{what} moved: "), result["alerts"]
    kinds = ", ".join(dict.fromkeys(a["kind"] for a in result["alerts"]))
    assert stderr.strip().splitlines()[-1] == f"graft: {len(result['alerts'])} alert(s): {kinds}"
    if task == "multiclass":  # longer petals: more virginica, and the bound on accuracy is crossed
        assert ("realised_quality", "accuracy") in [(a["kind"], a.get("metric")) for a in result["alerts"]]


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_monitor_of_an_empty_window_exits_with_no_data(task, request):
    deployed: Deployed = request.getfixturevalue(task)
    later = stamp()
    code, result, stderr = monitor_cli(deployed, later, "2100-01-01T00:00:00Z")
    assert code == EXIT_NO_DATA == result["exit_code"]
    assert (result["status"], result["task"], result["window"]["predictions"]) == ("no_data", task, 0)
    assert result["verdict"] == "insufficient data: no predictions in the window", stderr
