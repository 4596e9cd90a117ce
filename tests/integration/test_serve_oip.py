"""The Open Inference Protocol over HTTP against a real `graft serve` on loopback.

Its reference client (tritonclient, HTTP) calls every route: health, readiness, both metadata
calls, inference with JSON tensors and with binary tensors (the binary tensor data extension,
both ways); every prediction must equal /predict's for the same records. Bad tensors, sent by
hand so that the server (not the client) is what refuses them, get a 4xx naming the input and
never reach the prediction log. Browser-like cross-site requests get 403; `--allow-origin`
lets one origin through with CORS headers. Readiness follows the prediction log.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from graft import __version__
from tests.conftest import BIN
from tests.integration.conftest import settled_counts
from tests.samples import RECORD

pytestmark = pytest.mark.slow

MODEL = "adult-income"
INFER = f"/v2/models/{MODEL}/infer"
DATATYPES = {"integer": "INT64", "string": "BYTES"}


def server_db(server) -> str:
    return server.log_db.removeprefix("sqlite:///")


@pytest.fixture(scope="module")
def meta(server) -> dict[str, Any]:
    return httpx.get(f"{server.url}/metadata").json()


@pytest.fixture(scope="module")
def records(meta) -> list[dict[str, Any]]:
    """60 records of the schema's categories and ranges, every field given."""
    schema = meta["input_schema"]["properties"]
    out = []
    for i in range(60):
        record = dict(RECORD)
        for name, prop in schema.items():
            if "enum" in prop:
                values = [v for v in prop["enum"] if v is not None]
                record[name] = values[(i * 7 + len(name)) % len(values)]
            elif name in ("age", "hours_per_week", "education_num"):
                low, high = prop.get("minimum", 1), prop.get("maximum", 90)
                record[name] = int(low + (i * 13 + len(name)) % (high - low + 1))
        record["capital_gain"] = (i * 997) % 20000
        out.append(record)
    return out


@pytest.fixture(scope="module")
def client(server) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=server.url.removeprefix("http://"))


def predicted(server, records: list[dict[str, Any]]) -> tuple[list[float], list[str]]:
    r = httpx.post(f"{server.url}/predict", json=records, timeout=30)
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    return [p["probability"] for p in predictions], [p["label"] for p in predictions]


def triton_inputs(records: list[dict[str, Any]], kinds: dict[str, str], binary: bool) -> list[Any]:
    inputs = []
    for name, kind in kinds.items():
        datatype = DATATYPES[kind]
        values = np.array([r[name] for r in records], dtype=np.int64 if datatype == "INT64" else object)
        tensor = triton.InferInput(name, [len(records)], datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def json_tensors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON input tensors for records of the reference project's schema (integers and strings)."""
    return [
        {
            "name": name,
            "shape": [len(records)],
            "datatype": "INT64" if isinstance(value, int) else "BYTES",
            "data": [r[name] for r in records],
        }
        for name, value in records[0].items()
    ]


def kinds_of(meta: dict[str, Any]) -> dict[str, str]:
    """Each input field's schema type (integer, number or string), in schema order."""
    kinds = {}
    for name, prop in meta["input_schema"]["properties"].items():
        types = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
        kinds[name] = next(t for t in types if t != "null")
    return kinds


# --- health and metadata -----------------------------------------------------------------------


def test_tritonclient_health_readiness_and_metadata(client, meta):
    version = meta["version"]
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, version)
    assert not client.is_model_ready("other") and not client.is_model_ready(MODEL, "9")
    assert client.get_server_metadata() == {
        "name": "graft",
        "version": __version__,
        "extensions": ["binary_tensor_data"],
    }
    announced = {"integer": "INT64", "number": "FP64", "string": "BYTES"}
    expected = {
        "name": MODEL,
        "versions": [version],
        "platform": "lightgbm",
        "inputs": [
            {"name": name, "datatype": announced[kind], "shape": [-1]}
            for name, kind in kinds_of(meta).items()
        ],
        "outputs": [
            {"name": "probability", "datatype": "FP64", "shape": [-1]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    }
    assert client.get_model_metadata(MODEL) == expected
    assert client.get_model_metadata(MODEL, version) == expected
    for name, version_asked, message in (
        ("other", "", "unknown model 'other'; this server serves 'adult-income'"),
        (MODEL, "9", f"model 'adult-income' has no version '9'; this server serves '{version}'"),
    ):
        with pytest.raises(InferenceServerException) as info:
            client.get_model_metadata(name, version_asked)
        assert info.value.status() == "404" and info.value.message() == message


def test_v2_routes_answer_the_specification_shapes(server, meta):
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v2/health/live").json() == {"live": True}
        assert http.get("/v2/health/ready").json() == {"ready": True}
        assert http.get(f"/v2/models/{MODEL}/ready").json() == {"name": MODEL, "ready": True}
        ready = http.get(f"/v2/models/{MODEL}/versions/{meta['version']}/ready")
        assert ready.json() == {"name": MODEL, "ready": True}
        for path in (f"/v2/models/{MODEL}/versions/9", "/v2/models/other/ready", "/v2/nothing/here"):
            r = http.get(path)
            assert r.status_code == 404 and list(r.json()) == ["error"], (path, r.text)
        r = http.post(f"/v2/models/{MODEL}/versions/9/infer", json={"inputs": []})
        assert r.status_code == 404
        assert r.json() == {
            "error": f"model 'adult-income' has no version '9'; this server serves '{meta['version']}'"
        }
        wrong_method = http.get(INFER)
        assert wrong_method.status_code == 405 and wrong_method.json() == {"error": "Method Not Allowed"}
    too_long = "request line and headers exceed 65,536 bytes (GRAFT_LIMIT_REQUEST_HEADER_BYTES)"
    for path, body in (("/v2/health/live", {"error": too_long}), ("/health/live", {"detail": too_long})):
        r = httpx.get(f"{server.url}{path}", headers={"x-big": "a" * 70_000})
        assert r.status_code == 431 and r.json() == body


# --- inference ---------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_inference_equals_predict(server, client, meta, records, binary):
    """JSON or binary tensors in, JSON or binary outputs out, with and without a version: the
    probabilities and labels of /predict for the same records, bit for bit; the log holds the
    records as /predict's row does."""
    kinds = kinds_of(meta)
    want_p, want_labels = predicted(server, records)
    inputs = triton_inputs(records, kinds, binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("probability", "label")]
    answers = [
        client.infer(MODEL, inputs, outputs=outputs, request_id="call-1"),
        client.infer(MODEL, inputs, model_version=meta["version"], outputs=outputs),
        client.infer(MODEL, inputs),  # no outputs named: all, as binary data (the client's default)
    ]
    for result in answers:
        assert result.as_numpy("probability").tolist() == want_p
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").tolist()]
        assert labels == want_labels
    first = answers[0].get_response()
    assert (
        first["id"] == "call-1" and first["model_name"] == MODEL and first["model_version"] == meta["version"]
    )
    logged = first["parameters"]["request_id"]
    assert answers[1].get_response()["id"] == answers[1].get_response()["parameters"]["request_id"]
    settled_counts(server_db(server))
    with sqlite3.connect(server_db(server)) as conn:
        row = conn.execute(
            "SELECT n_records, inputs, outputs FROM predictions WHERE request_id = ?", (logged,)
        )
        n, logged_inputs, logged_outputs = row.fetchone()
    assert n == len(records)
    assert json.loads(logged_inputs) == [dict(sorted(r.items())) for r in records]
    assert json.loads(logged_outputs) == {"probability": want_p, "label": want_labels}


def test_requested_outputs_id_and_binary_parameters(server, records):
    inputs = [
        {
            "name": k,
            "shape": [2],
            "datatype": "INT64" if isinstance(v, int) else "BYTES",
            "data": [v, records[1][k]],
        }
        for k, v in records[0].items()
    ]
    want_p, want_labels = predicted(server, records[:2])
    with httpx.Client(base_url=server.url) as http:
        only = http.post(INFER, json={"id": "x-1", "inputs": inputs, "outputs": [{"name": "label"}]})
        assert only.status_code == 200, only.text
        assert only.json()["id"] == "x-1"
        assert only.json()["outputs"] == [
            {"name": "label", "shape": [2], "datatype": "BYTES", "data": want_labels}
        ]
        # binary_data_output for all, overridden for one: label inline, probability as raw bytes
        mixed = http.post(
            INFER,
            json={
                "inputs": inputs,
                "parameters": {"binary_data_output": True},
                "outputs": [{"name": "label", "parameters": {"binary_data": False}}, {"name": "probability"}],
            },
        )
        assert mixed.status_code == 200, mixed.text
        assert mixed.headers["content-type"] == "application/octet-stream"
        size = int(mixed.headers["inference-header-content-length"])
        head, raw = json.loads(mixed.content[:size]), mixed.content[size:]
        assert [o["name"] for o in head["outputs"]] == ["label", "probability"]
        assert head["outputs"][0]["data"] == want_labels
        assert head["outputs"][1] == {
            "name": "probability",
            "shape": [2],
            "datatype": "FP64",
            "parameters": {"binary_data_size": 16},
        }
        assert list(struct.unpack("<2d", raw)) == want_p
        before = settled_counts(server_db(server))
        for outputs, message in (
            (
                [{"name": "proba"}],
                "body.outputs[0].name: unknown output 'proba'; this model's outputs are probability, label",
            ),
            ([{"name": "label"}, {"name": "label"}], "body.outputs[1].name: output 'label' requested twice"),
            (
                [{"name": "label", "parameters": {"binary_data": "yes"}}],
                "body.outputs[0].parameters.binary_data: expected true or false, got 'yes'",
            ),
            ([["label"]], 'body.outputs[0]: expected an object {"name": ...}'),
        ):
            r = http.post(INFER, json={"inputs": inputs, "outputs": outputs})
            assert r.status_code == 422 and r.json() == {"error": message}, r.text
        r = http.post(INFER, json={"id": 7, "inputs": inputs})
        assert r.status_code == 422 and r.json() == {
            "error": "body.id: expected a string of at most 64 characters"
        }
        assert settled_counts(server_db(server)) == before


def binary_body(records: list[dict[str, Any]], kinds: dict[str, str]) -> tuple[dict[str, Any], list[bytes]]:
    """An inference request with every input as binary data: (JSON header, raw bytes per input)."""
    header: dict[str, Any] = {"inputs": []}
    chunks = []
    for name, kind in kinds.items():
        values = [r[name] for r in records]
        if kind == "integer":
            raw = struct.pack(f"<{len(values)}q", *values)
        else:
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
        chunks.append(raw)
        tensor = {"name": name, "shape": [len(values)], "datatype": DATATYPES[kind]}
        header["inputs"].append({**tensor, "parameters": {"binary_data_size": len(raw)}})
    return header, chunks


def send(
    server, header: dict[str, Any] | bytes, chunks: list[bytes], length: str | None = None
) -> httpx.Response:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    headers = {"content-type": "application/octet-stream"}
    headers["inference-header-content-length"] = str(len(head)) if length is None else length
    return httpx.post(f"{server.url}{INFER}", content=head + b"".join(chunks), headers=headers, timeout=30)


def test_hand_made_binary_request_is_served(server, meta, records):
    kinds = kinds_of(meta)
    header, chunks = binary_body(records[:3], kinds)
    r = send(server, header, chunks)
    assert r.status_code == 200, r.text
    want_p, want_labels = predicted(server, records[:3])
    assert r.json()["outputs"][0]["data"] == want_p and r.json()["outputs"][1]["data"] == want_labels
    # the same with an application/json Content-Type, and with none: the header decides
    for content_type in ("application/json", None):
        head = json.dumps(header).encode()
        headers = {"inference-header-content-length": str(len(head))}
        if content_type:
            headers["content-type"] = content_type
        again = httpx.post(f"{server.url}{INFER}", content=head + b"".join(chunks), headers=headers)
        assert again.status_code == 200 and again.json()["outputs"][0]["data"] == want_p, again.text


def test_bad_binary_tensors_are_400_naming_the_input_and_leave_no_row(server, meta, records):
    kinds = kinds_of(meta)
    header, chunks = binary_body(records[:2], kinds)
    names = list(kinds)
    age, workclass = names.index("age"), names.index("workclass")
    head_size = len(json.dumps(header).encode())
    total = head_size + sum(map(len, chunks))

    def changed(i: int, **parameters: Any) -> dict[str, Any]:
        copy = json.loads(json.dumps(header))
        copy["inputs"][i].update(parameters)
        return copy

    def with_chunk(i: int, raw: bytes) -> list[bytes]:
        return [raw if j == i else c for j, c in enumerate(chunks)]

    bad_utf8 = struct.pack("<I", 2) + b"\xff\xfe" + chunks[workclass][4 + len(records[0]["workclass"]) :]
    cut_element = struct.pack("<I", 999) + chunks[workclass][4:]
    last = len(names) - 1
    header_error = "expected the length in bytes of the JSON at the start of the body, 1.."
    cut = len(chunks[-1]) - 3
    cases = [
        (header, chunks, "abc", f"Inference-Header-Content-Length 'abc': {header_error}{total:,}"),
        (header, chunks, "0", f"Inference-Header-Content-Length '0': {header_error}{total:,}"),
        (header, chunks, str(total + 1), f"Inference-Header-Content-Length '{total + 1}': {header_error}"),
        (header, chunks, str(head_size - 1), "malformed JSON"),
        (
            changed(age, parameters={"binary_data_size": 15}),
            chunks,
            None,
            f"body.inputs[{age}]: input 'age': 15 bytes of tensor data, but shape [2] of INT64 needs 16 "
            "(2 elements of 8 bytes)",
        ),
        (
            changed(age, shape=[3]),
            chunks,
            None,
            f"body.inputs[{age}]: input 'age': 16 bytes of tensor data, but shape [3] of INT64 needs 24",
        ),
        (
            changed(age, datatype="INT32"),
            chunks,
            None,
            "input 'age': 16 bytes of tensor data, but shape [2] of INT32 needs 8",
        ),
        (
            header,
            [*chunks[:-1], chunks[-1][:-3]],
            None,
            f"body.inputs[{last}]: input '{names[last]}': binary_data_size {len(chunks[-1])} but the body "
            f"holds {cut} more bytes (truncated)",
        ),
        (header, [*chunks, b"xx"], None, "body: 2 bytes after the JSON that no input's binary_data_size"),
        (
            header,
            with_chunk(workclass, cut_element),
            None,
            f"body.inputs[{workclass}]: input 'workclass': BYTES element 0 is cut short: its length says "
            "999 bytes",
        ),
        (
            changed(workclass, parameters={"binary_data_size": len(bad_utf8)}),
            with_chunk(workclass, bad_utf8),
            None,
            "input 'workclass': BYTES element 0 is not UTF-8 text (byte 0xff at offset 0",
        ),
        (
            changed(age, data=[1, 2]),
            chunks,
            None,
            f"body.inputs[{age}]: input 'age' has both data and binary_data_size: give one",
        ),
        (
            changed(age, parameters={"binary_data_size": "16"}),
            chunks,
            None,
            f"body.inputs[{age}].parameters.binary_data_size: input 'age': binary_data_size '16' is not "
            "a whole number of bytes",
        ),
    ]
    before = settled_counts(server_db(server))
    failures = []
    for head, raw, length, needle in cases:
        r = send(server, head, raw, length)
        error = r.json().get("error", "") if r.headers.get("content-type") == "application/json" else ""
        if r.status_code != 400 or needle not in error or "\n" in error:
            failures.append((needle, r.status_code, r.text[:300]))
    # binary data without the header that says where the JSON ends
    r = httpx.post(f"{server.url}{INFER}", content=json.dumps(header).encode())
    assert r.status_code == 400 and r.json() == {
        "error": f"body.inputs[0]: input '{names[0]}' has binary_data_size but the request has no "
        "Inference-Header-Content-Length header"
    }
    r = httpx.post(
        f"{server.url}{INFER}",
        content=json.dumps(header).encode() + b"".join(chunks),
        headers=[("inference-header-content-length", "5"), ("inference-header-content-length", "6")],
    )
    assert r.status_code == 400 and r.json() == {
        "error": "Inference-Header-Content-Length given 2 times: send it once"
    }
    assert not failures, failures
    assert settled_counts(server_db(server)) == before


def test_tritonclient_bad_tensors_are_4xx_and_leave_no_row(server, client, meta, records):
    kinds = kinds_of(meta)
    before = settled_counts(server_db(server))
    for binary in (False, True):
        inputs = triton_inputs(records[:2], kinds, binary)
        fp16 = triton.InferInput("age", [2], "FP16")
        fp16.set_data_from_numpy(np.array([39, 40], dtype=np.float16), binary_data=binary)
        unknown = triton.InferInput("workclass", [2], "BYTES")
        unknown.set_data_from_numpy(np.array(["Astronaut", "Private"], dtype=object), binary_data=binary)
        extra = triton.InferInput("salary", [2], "INT64")
        extra.set_data_from_numpy(np.array([1, 2], dtype=np.int64), binary_data=binary)
        swap = {"age": fp16, "workclass": unknown}
        names = list(kinds)
        accepted = "UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP32, FP64"
        for changed, status, message in (
            (
                [swap["age"] if t.name() == "age" else t for t in inputs],
                "422",
                f"body.inputs[{names.index('age')}].datatype: FP16 cannot carry input 'age' (integer); "
                f"expected one of {accepted}",
            ),
            (
                [swap["workclass"] if t.name() == "workclass" else t for t in inputs],
                "422",
                "body.inputs.workclass[0]: unknown category 'Astronaut'",
            ),
            ([*inputs, extra], "422", f"body.inputs[{len(inputs)}].name: unknown input 'salary'"),
        ):
            with pytest.raises(InferenceServerException) as info:
                client.infer(MODEL, changed)
            assert info.value.status() == status and info.value.message() == message, (binary, info.value)
    with pytest.raises(InferenceServerException) as info:
        client.infer("other", triton_inputs(records[:1], kinds, True))
    assert info.value.status() == "404"
    assert settled_counts(server_db(server)) == before


# --- browsers ----------------------------------------------------------------------------------

CROSS_SITE = (
    "cross-site request from 'https://evil.example' refused (Sec-Fetch-Site: cross-site); allow its "
    "origin with --allow-origin"
)


def not_own(origin: str) -> str:
    return f"request from origin {origin!r} refused: not this server's; allow it with --allow-origin"


def test_browser_cross_site_requests_get_403_on_every_route(server, records):
    own = server.url
    body = json.dumps(records[0]).encode()
    v2 = json.dumps({"inputs": json_tensors(records[:1])}).encode()
    no_origin = (
        "cross-site request refused (Sec-Fetch-Site: cross-site); allow its origin with --allow-origin"
    )
    refusals = [
        ({"sec-fetch-site": "cross-site", "origin": "https://evil.example"}, CROSS_SITE),
        ({"sec-fetch-site": "cross-site"}, no_origin),
        ({"origin": "null"}, not_own("null")),
        ({"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:1"}, not_own("http://127.0.0.1:1")),
        ({"origin": f"{own}/path"}, not_own(f"{own}/path")),
    ]
    before = settled_counts(server_db(server))
    with httpx.Client(base_url=own) as http:
        for headers, message in refusals:
            for media in ({}, {"content-type": "text/plain"}, {"content-type": "application/json"}):
                r = http.post("/predict", content=body, headers={**headers, **media})
                assert r.status_code == 403 and r.json() == {"detail": message, "errors": []}, (
                    headers,
                    r.text,
                )
                r = http.post(INFER, content=v2, headers={**headers, **media})
                assert r.status_code == 403 and r.json() == {"error": message}, (headers, r.text)
            r = http.get("/metadata", headers=headers)
            assert r.status_code == 403 and r.json()["detail"] == message
        # the browser's own page, and clients that are no browser, are served
        same = {"origin": own, "sec-fetch-site": "same-origin"}
        assert http.post("/predict", content=body, headers=same).status_code == 200
        assert http.post(INFER, content=v2, headers={"sec-fetch-site": "none"}).status_code == 200
        assert http.post(INFER, content=v2).status_code == 200
    assert settled_counts(server_db(server)) == (before[0] + 3, before[1])


def test_allow_origin_lets_that_origin_through_with_cors(start_server, tmp_path, records, model_package):
    server = start_server(f"sqlite:///{tmp_path / 'cors.db'}", "--allow-origin", "http://localhost:3000")
    body = json.dumps(records[0]).encode()
    allowed = {"origin": "http://localhost:3000", "sec-fetch-site": "same-site"}
    with httpx.Client(base_url=server.url) as http:
        preflight = http.options(
            "/predict",
            headers={
                **allowed,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        r = http.post("/predict", content=body, headers={**allowed, "content-type": "application/json"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://localhost:3000"
        r = http.post(
            "/predict",
            content=body,
            headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert r.status_code == 403 and r.json()["detail"] == CROSS_SITE
    refused = subprocess.run(
        [
            str(BIN / "graft"),
            "serve",
            str(model_package.archive),
            "--allow-origin",
            "ftp://x/y",
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "graft: error: --allow-origin 'ftp://x/y': expected an origin, scheme://host[:port] (http or "
        "https, no path), e.g. https://app.example.com"
    ]


# --- readiness follows the log -----------------------------------------------------------------


def test_v2_readiness_follows_the_prediction_log(start_server, tmp_path, records):
    db = tmp_path / "ready.db"
    server = start_server(f"sqlite:///{db}", "--log-durability", "commit")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.n_records = 3 "
            "BEGIN SELECT RAISE(ABORT, 'three records refused'); END"
        )
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    kinds = {k: "integer" if isinstance(v, int) else "string" for k, v in records[0].items()}
    with pytest.raises(InferenceServerException) as info:
        client.infer(MODEL, triton_inputs(records[:3], kinds, True))
    assert (
        info.value.status() == "503"
        and "the commit failed (IntegrityError: three records refused)" in info.value.message()
    )
    assert not client.is_server_ready() and not client.is_model_ready(MODEL) and client.is_server_live()
    cause = "prediction log: IntegrityError: three records refused"
    assert httpx.get(f"{server.url}/v2/health/ready").json() == {"error": cause}
    assert httpx.get(f"{server.url}/v2/models/{MODEL}/ready").json() == {"error": cause}
    client.infer(MODEL, triton_inputs(records[:2], kinds, True))  # a commit that works: ready again
    assert client.is_server_ready() and client.is_model_ready(MODEL)
