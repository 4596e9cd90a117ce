"""`graft serve --grpc-port` against the Open Inference Protocol's reference gRPC client
(tritonclient.grpc), over loopback, with the session's binary package (UCI Adult).

Health, readiness and both metadata calls; inference with raw and with typed contents giving
exactly /predict's predictions for the same records, and the same logged records; requested
outputs and the request id; every bad tensor INVALID_ARGUMENT naming the input (an unknown
model or version NOT_FOUND, an oversized message RESOURCE_EXHAUSTED) with nothing logged; and
SIGTERM drains: every answered gRPC request is in the log when the process has exited. The
multiclass and regression packages are served over gRPC in test_serve_tasks.py.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import subprocess
import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from graft.serving.tensors import encode_bytes
from tests.conftest import BIN
from tests.integration.conftest import HOST, ServerProcess, free_port, log_counts, settled_counts
from tests.integration.oip_grpc import (
    complete,
    infer_inputs,
    model_metadata,
    raw_infer,
    raw_request,
    typed_request,
)

pytestmark = pytest.mark.slow
MODEL = "adult-income"


class GrpcServer:
    def __init__(self, proc: ServerProcess, port: int) -> None:
        self.proc = proc
        self.address = f"{HOST}:{port}"
        self.client = triton.InferenceServerClient(self.address)

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def db(self) -> str:
        return self.proc.log_db.removeprefix("sqlite:///")


def start_grpc(start_server, log_db: str, *extra: str) -> GrpcServer:
    port = free_port()
    return GrpcServer(start_server(log_db, "--grpc-port", str(port), *extra), port)


@pytest.fixture(scope="module")
def served(model_package, tmp_path_factory) -> Iterator[GrpcServer]:
    work = tmp_path_factory.mktemp("serve-grpc")
    port = free_port()
    proc = ServerProcess(
        model_package.archive, f"sqlite:///{work / 'log.db'}", work, "--grpc-port", str(port)
    )
    proc.start()
    yield GrpcServer(proc, port)
    proc.stop()


@pytest.fixture(scope="module")
def metadata(served) -> dict:
    return model_metadata(served.client, MODEL)


@pytest.fixture(scope="module")
def records(raw_test_rows, metadata) -> list[dict]:
    return complete(raw_test_rows[1], [i["name"] for i in metadata["inputs"]])[:300]


def logged(db: str, request_id: str) -> tuple[list, dict]:
    """(inputs, outputs) of a request's log row once the writer has committed it."""
    for _ in range(200):
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT inputs, outputs FROM predictions WHERE request_id = ?", (request_id,)
            ).fetchone()
        if row:
            return json.loads(row[0]), json.loads(row[1])
        time.sleep(0.05)
    raise AssertionError(f"request {request_id} is not in the log")


def test_health_readiness_and_both_metadata_calls(served, metadata):
    client = served.client
    assert client.is_server_live() and client.is_server_ready()
    version = metadata["versions"][0]
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, version)
    assert client.get_server_metadata(as_json=True) == httpx.get(f"{served.url}/v2").json()
    assert metadata == httpx.get(f"{served.url}/v2/models/{MODEL}").json()
    assert metadata["name"] == MODEL and metadata["platform"] == "lightgbm"
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {
        "age": "INT64", "workclass": "BYTES", "fnlwgt": "INT64", "education": "BYTES",
        "education_num": "INT64", "marital_status": "BYTES", "occupation": "BYTES",
        "relationship": "BYTES", "race": "BYTES", "sex": "BYTES", "capital_gain": "INT64",
        "capital_loss": "INT64", "hours_per_week": "INT64", "native_country": "BYTES",
    }  # fmt: skip
    assert metadata["outputs"] == [
        {"name": "probability", "datatype": "FP64", "shape": [-1]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]
    for call in (client.is_model_ready, client.get_model_metadata):
        with pytest.raises(InferenceServerException) as info:
            call("other")
        assert info.value.status() == "StatusCode.NOT_FOUND"
        assert info.value.message() == f"unknown model 'other'; this server serves '{MODEL}'"
        with pytest.raises(InferenceServerException) as info:
            call(MODEL, "0.0.0-nope")
        assert info.value.status() == "StatusCode.NOT_FOUND"
        assert (
            info.value.message()
            == f"model '{MODEL}' has no version '0.0.0-nope'; this server serves '{version}'"
        )


def test_raw_contents_predict_exactly_what_predict_does_and_log_the_same_records(served, metadata, records):
    result = served.client.infer(MODEL, infer_inputs(records, metadata))
    response = result.get_response()
    probability, label = result.as_numpy("probability"), result.as_numpy("label")
    assert [o.name for o in response.outputs] == ["probability", "label"]
    assert probability.shape == label.shape == (len(records),)
    rest = httpx.post(f"{served.url}/predict", json=records, timeout=60).json()
    assert probability.tolist() == [p["probability"] for p in rest["predictions"]]
    assert [x.decode() for x in label] == [p["label"] for p in rest["predictions"]]
    request_id = response.parameters["request_id"].string_param
    assert response.id == request_id and len(request_id) == 32
    assert logged(served.db, request_id) == logged(served.db, rest["request_id"])


def test_typed_contents_equal_raw_contents(served, metadata, records):
    batch = records[:20]
    typed = raw_infer(served.address, typed_request(MODEL, batch, metadata))
    raw = served.client.infer(MODEL, infer_inputs(batch, metadata))
    got = np.frombuffer(typed.raw_output_contents[0], dtype="<f8")
    assert got.tolist() == raw.as_numpy("probability").tolist()


def test_requested_outputs_and_the_request_id(served, metadata, records):
    wanted = [triton.InferRequestedOutput("label")]
    result = served.client.infer(
        MODEL, infer_inputs(records[:3], metadata), outputs=wanted, request_id="req-7"
    )
    response = result.get_response()
    assert response.id == "req-7" and [o.name for o in response.outputs] == ["label"]
    assert response.model_name == MODEL and response.model_version == metadata["versions"][0]
    assert result.as_numpy("probability") is None and result.as_numpy("label").shape == (3,)
    inputs, outputs = logged(served.db, response.parameters["request_id"].string_param)
    assert len(inputs) == 3 and list(outputs) == ["probability", "label"]  # the log keeps every output


def client_side_bad_inputs(metadata: dict, records: list[dict]) -> list[tuple[list, str]]:
    """(inputs, message) the reference client sends and the server must refuse."""
    good = infer_inputs(records[:2], metadata)

    def replace(name: str, datatype: str, values: np.ndarray) -> list:
        tensor = triton.InferInput(name, list(values.shape), datatype).set_data_from_numpy(values)
        return [tensor if t.name() == name else t for t in good]

    extra = triton.InferInput("nope", [2], "INT64").set_data_from_numpy(np.array([1, 2]))
    return [
        (
            replace("workclass", "BYTES", np.array(["Private", "Nope"], dtype=object)),
            "inputs.workclass[1]: unknown category 'Nope'",
        ),
        (replace("age", "FP64", np.array([39.5, 40.0])), "inputs.age[0]: must be an integer, got 39.5"),
        (
            replace("workclass", "FP64", np.array([1.0, 2.0])),
            "inputs[13].datatype: FP64 cannot carry input 'workclass' (string); expected one of BYTES",
        ),
        (replace("age", "INT64", np.array([39, 40, 41])), "inputs[1].data: 2 values, other inputs have 3"),
        (
            replace("age", "INT64", np.array([[39, 40]])),
            "inputs[0].shape: expected [2] or [2, 1] for input 'age'",
        ),
        ([*good, extra], "inputs[14].name: unknown input 'nope'"),
        ([*good, good[0]], "inputs[14].name: input 'age' given twice"),
    ]


def malformed_requests(metadata: dict, records: list[dict]) -> list[tuple[object, str]]:
    """(request, message): bytes the client's helpers would never send."""
    two = records[:2]
    truncated = encode_bytes(["Private"]) + struct.pack("<I", 20) + b"Priv"
    fewer = raw_request(MODEL, two, metadata)
    del fewer.raw_input_contents[-1]
    return [
        (
            raw_request(MODEL, two, metadata, age=("INT64", [2], b"\0" * 12)),
            "inputs[0]: input 'age': 12 bytes of tensor data, but shape [2] of INT64 needs 16 "
            "(2 elements of 8 bytes)",
        ),
        (
            raw_request(MODEL, two, metadata, workclass=("BYTES", [2], truncated)),
            "inputs[13]: input 'workclass': BYTES element 1 is cut short: its length says 20 bytes, 4 remain",
        ),
        (
            raw_request(
                MODEL, two, metadata, workclass=("BYTES", [2], encode_bytes(["Private", "Private", "x"]))
            ),
            "inputs[13]: input 'workclass': 5 bytes after the last of its 2 BYTES elements",
        ),
        (
            raw_request(MODEL, two, metadata, sex=("BYTES", [2], encode_bytes(["Male"]) + b"\x01\0\0\0\xff")),
            "inputs[12]: input 'sex': BYTES element 1 is not UTF-8 text "
            "(byte 0xff at offset 0: invalid start byte)",
        ),
        (
            raw_request(MODEL, two, metadata, age=("INT64", [-2], b"")),
            "inputs[0].shape: input 'age': shape [-2] is not a list of non-negative whole numbers",
        ),
        (fewer, "raw_input_contents: 13 entries for 14 inputs; give one per input, in the order of inputs"),
    ]


def test_bad_tensors_are_invalid_arguments_naming_the_input_and_never_logged(served, metadata, records):
    before = settled_counts(served.db)
    failures = []
    for inputs, message in client_side_bad_inputs(metadata, records):
        try:
            served.client.infer(MODEL, inputs)
            failures.append((message, "answered"))
        except InferenceServerException as exc:
            if exc.status() != "StatusCode.INVALID_ARGUMENT" or not exc.message().startswith(message):
                failures.append((message, exc.status(), exc.message()))
    for request, message in malformed_requests(metadata, records):
        try:
            raw_infer(served.address, request)
            failures.append((message, "answered"))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT or exc.details() != message:
                failures.append((message, exc.code(), exc.details()))
    assert not failures, failures
    good = infer_inputs(records[:2], metadata)
    for kwargs, status, message in [
        (
            {"model_name": "other"},
            "StatusCode.NOT_FOUND",
            f"unknown model 'other'; this server serves '{MODEL}'",
        ),
        (
            {"model_name": MODEL, "model_version": "9"},
            "StatusCode.NOT_FOUND",
            f"model '{MODEL}' has no version '9'",
        ),
        (
            {"model_name": MODEL, "outputs": [triton.InferRequestedOutput("score")]},
            "StatusCode.INVALID_ARGUMENT",
            "outputs[0].name: unknown output 'score'; this model's outputs are probability, label",
        ),
    ]:
        with pytest.raises(InferenceServerException) as info:
            served.client.infer(inputs=good, **kwargs)
        assert (info.value.status(), info.value.message()[: len(message)]) == (status, message)
    assert log_counts(served.db) == before


def test_a_message_over_the_bound_is_resource_exhausted(
    start_server, tmp_path, metadata, records, monkeypatch
):
    monkeypatch.setenv("GRAFT_LIMIT_GRPC_MESSAGE_BYTES", "65536")
    server = start_grpc(start_server, f"sqlite:///{tmp_path / 'log.db'}")
    big = (records * 4)[:1000]  # about 120 KB of tensors
    with pytest.raises(InferenceServerException) as info:
        server.client.infer(MODEL, infer_inputs(big, metadata))
    assert info.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
    assert "65536" in info.value.message()
    assert server.client.infer(MODEL, infer_inputs(big[:100], metadata)).as_numpy("label").shape == (100,)
    assert settled_counts(tmp_path / "log.db") == (1, 0)


def test_sigterm_lets_rpcs_in_flight_finish_and_drains_the_log(start_server, tmp_path, metadata, records):
    server = start_grpc(start_server, f"sqlite:///{tmp_path / 'log.db'}")
    answered: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    started = threading.Barrier(5)

    def client() -> None:
        conn = triton.InferenceServerClient(server.address)
        inputs = infer_inputs(records[:50], metadata)
        started.wait()
        for _ in range(2000):
            try:
                result = conn.infer(MODEL, inputs)
            except InferenceServerException as exc:
                with lock:
                    refused.append(exc.status())
                return
            with lock:
                answered.append(result.get_response().parameters["request_id"].string_param)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    while len(answered) < 40:
        time.sleep(0.01)
    status = server.proc.stop()  # SIGTERM while the clients are sending
    for thread in threads:
        thread.join(60)
    assert status in (0, -15, 143), server.proc.stderr_path.read_text()
    assert set(refused) <= {"StatusCode.UNAVAILABLE", "StatusCode.CANCELLED"}, refused
    with sqlite3.connect(tmp_path / "log.db") as conn:
        ids = {row[0] for row in conn.execute("SELECT request_id FROM predictions")}
    assert (
        set(answered) <= ids and len(ids) - len(answered) <= 4
    )  # a response lost in flight at most per client
    assert "lost" not in server.proc.stderr_path.read_text()


def test_the_grpc_port_must_be_free_and_differ_from_the_http_port(model_package, tmp_path):
    graft = [
        str(BIN / "graft"),
        "serve",
        str(model_package.archive),
        "--log-db",
        f"sqlite:///{tmp_path / 'l.db'}",
    ]
    port = free_port()
    same = subprocess.run(
        [*graft, "--port", str(port), "--grpc-port", str(port)], capture_output=True, text=True
    )
    assert same.returncode == 2
    assert same.stderr.strip().endswith(
        f"--grpc-port {port}: the HTTP server listens there (--port); choose another"
    )
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        busy = subprocess.run(
            [*graft, "--port", str(free_port()), "--grpc-port", str(taken)], capture_output=True, text=True
        )
    assert busy.returncode == 2
    assert f"--grpc-port {taken}: cannot listen on 127.0.0.1:{taken} (Address already in use)" in busy.stderr
    assert not (tmp_path / "l.db").exists()
