"""`graft serve` as a real uvicorn process on a loopback port: endpoints, bad input, contract, parity."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import settled_counts
from tests.samples import RECORD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTRACT = ROOT / "contracts" / "openapi.json"
JSON = {"content-type": "application/json"}


def with_(**changes):
    record = dict(RECORD)
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return record


def server_db(server) -> Path:
    return Path(server.log_db.removeprefix("sqlite:///"))


# --- refusing a bad package ----------------------------------------------------------------


def _serve_exit(package: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "graft"), "serve", str(package), "--port", "1", "--log-db", f"sqlite:///{tmp_path}/x.db"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("damage", "named"),
    [("tamper", "model.txt"), ("delete", "schema.json"), ("add", "extra.txt")],
)
def test_tampered_or_incomplete_package_is_refused_naming_the_file(model_package, tmp_path, damage, named):
    with tarfile.open(model_package.archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = next((tmp_path / "x").iterdir())
    if damage == "tamper":
        with (folder / "model.txt").open("a") as handle:
            handle.write("\n")
    elif damage == "delete":
        (folder / "schema.json").unlink()
    else:
        (folder / "extra.txt").write_text("x")
    result = _serve_exit(folder, tmp_path)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and lines[0].startswith("graft: error:")
    assert not (tmp_path / "x.db").exists()


def test_tampered_archive_is_refused(model_package, tmp_path):
    bad = tmp_path / "bad.tar.gz"
    data = bytearray(model_package.archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    result = _serve_exit(bad, tmp_path)
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "bad.tar.gz" in result.stderr


# --- endpoints -----------------------------------------------------------------------------


def test_health_and_metadata(server, model_package):
    assert httpx.get(f"{server.url}/health/live").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/health/ready").json()["status"] == "ok"
    meta = httpx.get(f"{server.url}/metadata").json()
    with tarfile.open(model_package.archive) as tar:
        member = tar.extractfile(f"{model_package.archive.name.removesuffix('.tar.gz')}/manifest.json")
        manifest = json.loads(member.read())
    assert meta["version"] == manifest["version"] and meta["model"] == "adult-income"
    assert meta["lineage"]["git_commit"] == manifest["lineage"]["git_commit"]
    assert meta["metrics"]["roc_auc"] == manifest["metrics"]["roc_auc"]
    assert meta["threshold"] == 0.5 and meta["unknown_category_policy"] == "reject"
    # what the package's settings say it predicts, and its input schema (what `graft replay` reads)
    assert meta["task"] == {"type": "binary", "labels": ["<=50K", ">50K"]}
    with tarfile.open(model_package.archive) as tar:
        member = tar.extractfile(f"{model_package.archive.name.removesuffix('.tar.gz')}/schema.json")
        assert meta["input_schema"] == json.loads(member.read())
    assert meta["input_fields"] == list(meta["input_schema"]["properties"])


def test_predict_one_and_many_then_feedback(server):
    one = httpx.post(f"{server.url}/predict", json=RECORD)
    assert one.status_code == 200, one.text
    body = one.json()
    assert len(body["predictions"]) == 1 and body["model_version"]
    # a binary model answers as it always has: these keys, in this order
    assert list(body) == ["request_id", "model_version", "threshold", "predictions"]
    assert list(body["predictions"][0]) == ["probability", "label"]
    p = body["predictions"][0]
    assert 0 <= p["probability"] <= 1
    assert p["label"] == (">50K" if p["probability"] >= body["threshold"] else "<=50K")
    rich = with_(
        capital_gain=99999, education="Doctorate", education_num=16, marital_status="Married-civ-spouse"
    )
    many = httpx.post(f"{server.url}/predict", json=[RECORD, rich, with_(workclass=None, occupation=...)])
    assert many.status_code == 200, many.text
    preds = many.json()["predictions"]
    assert preds[0]["probability"] == p["probability"]
    assert preds[1]["label"] == ">50K"
    rid = many.json()["request_id"]
    assert rid != body["request_id"]

    fb = httpx.post(f"{server.url}/feedback", json={"request_id": rid, "index": 1, "outcome": ">50K"})
    assert fb.status_code == 202, fb.text
    assert fb.json()["request_id"] == rid
    fb = httpx.post(f"{server.url}/feedback", json={"request_id": rid, "action": "overridden"})
    assert fb.status_code == 202
    out = httpx.post(f"{server.url}/feedback", json={"request_id": rid, "index": 3, "outcome": ">50K"})
    assert out.status_code == 422 and "index" in out.json()["detail"]
    unknown = httpx.post(f"{server.url}/feedback", json={"request_id": "nope-123", "outcome": ">50K"})
    assert unknown.status_code == 404 and "nope-123" in unknown.json()["detail"]
    neither = httpx.post(f"{server.url}/feedback", json={"request_id": rid})
    assert neither.status_code == 422


def test_open_inference_protocol_route(server):
    inputs = [
        {"name": k, "shape": [2], "datatype": "INT64" if isinstance(v, int) else "BYTES", "data": [v, v]}
        for k, v in RECORD.items()
    ]
    r = httpx.post(f"{server.url}/v2/models/adult-income/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    single = httpx.post(f"{server.url}/predict", json=RECORD).json()["predictions"][0]
    assert outputs["probability"]["data"] == [single["probability"]] * 2
    assert outputs["label"]["data"] == [single["label"]] * 2
    assert httpx.post(f"{server.url}/v2/models/other/infer", json={"inputs": inputs}).status_code == 404
    bad = [dict(t, data=["x", "x"]) if t["name"] == "age" else t for t in inputs]
    r = httpx.post(f"{server.url}/v2/models/adult-income/infer", json={"inputs": bad})
    assert r.status_code == 422 and r.json() == {
        "error": "body.inputs.age[0]: must be an integer, got string (and 1 more)"
    }


BAD_INPUTS = [
    # (case, raw body, status, text the message must contain)
    ("wrong type", json.dumps(with_(age="39")), 422, "body.age"),
    ("bool as int", json.dumps(with_(age=True)), 422, "body.age"),
    ("fraction", json.dumps(with_(age=39.5)), 422, "body.age"),
    ("missing field", json.dumps(with_(sex=...)), 422, "body.sex"),
    ("extra field", json.dumps(with_(salary=1)), 422, "body.salary"),
    ("unknown category", json.dumps(with_(workclass="Astronaut")), 422, "body.workclass"),
    ("null in required", json.dumps(with_(race=None)), 422, "body.race"),
    ("below minimum", json.dumps(with_(age=16)), 422, "body.age"),
    ("above maximum", json.dumps(with_(hours_per_week=100)), 422, "body.hours_per_week"),
    ("NaN literal", json.dumps(with_(fnlwgt=float("nan"))), 422, "body.fnlwgt"),
    ("Infinity literal", json.dumps(with_(capital_gain=float("inf"))), 422, "body.capital_gain"),
    ("-Infinity literal", json.dumps(with_(capital_loss=float("-inf"))), 422, "body.capital_loss"),
    ("overflowing number", json.dumps(RECORD).replace("77516", "1e400"), 422, "body.fnlwgt"),
    ("huge integer", json.dumps(with_(fnlwgt=10**30)), 422, "body.fnlwgt"),
    ("record in list", json.dumps([RECORD, with_(education="PhD")]), 422, "body[1].education"),
    ("not a record", json.dumps([RECORD, 5]), 422, "body[1]"),
    ("empty list", "[]", 422, "body"),
    ("scalar body", "42", 422, "body"),
    ("malformed JSON", '{"age": 39,', 400, "malformed JSON"),
    ("trailing garbage", json.dumps(RECORD) + "x", 400, "malformed JSON"),
    ("empty body", "", 400, "empty"),
    ("not UTF-8", b'{"age": "\xff"}', 400, "not valid UTF-8: byte 0xff at offset 9"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, 400, "malformed JSON"),
]


@pytest.mark.parametrize(("case", "body", "status", "needle"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_4xx_naming_the_problem(server, case, body, status, needle):
    r = httpx.post(
        f"{server.url}/predict", content=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert r.status_code == status, (case, r.text)
    detail = r.json()["detail"]
    assert needle in detail and "\n" not in detail


def test_oversized_bodies_get_413_before_parsing(server):
    big = b"[" + b",".join([json.dumps(RECORD).encode()] * 4000) + b"]"  # ~1.3 MB > 1 MiB
    r = httpx.post(f"{server.url}/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: chunked transfer, counted while streaming
        for _ in range(40):
            yield b" " * 65536

    r = httpx.post(f"{server.url}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


def test_bad_input_never_reaches_the_log(server):
    db = server_db(server)
    httpx.post(f"{server.url}/predict", json=RECORD)
    before = settled_counts(db)
    for _case, body, _status, _needle in BAD_INPUTS:
        httpx.post(f"{server.url}/predict", content=body, headers=JSON, timeout=30)
    httpx.post(f"{server.url}/feedback", content=b'{"request_id": NaN}', headers=JSON)
    httpx.post(f"{server.url}/feedback", json={"request_id": "x" * 65, "outcome": ">50K"})
    assert settled_counts(db) == before
    with sqlite3.connect(db) as conn:
        for inputs, outputs in conn.execute("SELECT inputs, outputs FROM predictions"):
            assert isinstance(json.loads(inputs), list) and "probability" in json.loads(outputs)


# --- the input edge: media type, encodings, text, repeated keys, V2 datatypes ------------------
#
# Each class is sent to every POST route in several forms; each request must get its 4xx with a
# one-line detail naming the problem, and none may leave a row in the prediction log.

V2 = "/v2/models/adult-income/infer"
RECORD_TEXT = json.dumps(RECORD)


def v2_inputs(record: dict = RECORD, n: int = 1) -> list[dict]:
    return [
        {"name": k, "shape": [n], "datatype": "INT64" if isinstance(v, int) else "BYTES", "data": [v] * n}
        for k, v in record.items()
    ]


def valid_bodies(request_id: str) -> dict[str, str]:
    """One valid JSON text per POST route (a known request id for /feedback)."""
    return {
        "/predict": RECORD_TEXT,
        "/feedback": json.dumps({"request_id": request_id, "outcome": ">50K"}),
        V2: json.dumps({"inputs": v2_inputs()}),
    }


@pytest.fixture(scope="module")
def request_id(server) -> str:
    r = httpx.post(f"{server.url}/predict", json=RECORD)
    assert r.status_code == 200, r.text
    return r.json()["request_id"]


def refused_without_a_trace(server, attempts: list[tuple[str, bytes, dict, int, str]]) -> None:
    """POST each (path, body, headers, status, detail prefix or fragment); the log stays as it was."""
    db = server_db(server)
    before = settled_counts(db)
    failures = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path, body, headers, status, needle in attempts:
            r = client.post(path, content=body, headers=headers)
            body = r.json() if r.headers.get("content-type") == "application/json" else {}
            detail = body.get("error" if path.startswith("/v2/") else "detail", "")
            if r.status_code != status or needle not in detail or "\n" in detail:
                failures.append((path, body[:60], headers, r.status_code, r.text[:300]))
    assert not failures, failures
    assert settled_counts(db) == before
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


BAD_MEDIA_TYPES = [
    ("text/plain", "Content-Type 'text/plain' is not supported"),
    ("text/plain; charset=utf-8", "is not supported"),
    ("application/x-www-form-urlencoded", "is not supported"),
    ("multipart/form-data; boundary=xyz", "is not supported"),
    ("application/xml", "is not supported"),
    ("application/json-patch+json", "is not supported"),
    ("application/json; charset=utf-16", "charset 'utf-16' is not supported"),
    ("application/json; charset=iso-8859-1", "charset 'iso-8859-1' is not supported"),
]


def test_only_application_json_is_accepted_on_every_post_route(server, request_id):
    attempts = []
    for path, text in valid_bodies(request_id).items():
        for media_type, needle in BAD_MEDIA_TYPES:
            attempts.append((path, text.encode(), {"content-type": media_type}, 415, needle))
        if path != V2:  # the inference route also takes the binary tensor extension
            needle = (
                "Content-Type 'application/octet-stream' is not supported: send the body as application/json"
            )
            attempts.append((path, text.encode(), {"content-type": "application/octet-stream"}, 415, needle))
        gzipped = {**JSON, "content-encoding": "gzip"}
        attempts.append((path, gzip.compress(text.encode()), gzipped, 415, "Content-Encoding 'gzip' is not"))
    refused_without_a_trace(server, attempts)
    # the same bodies as application/json, with or without a charset, or without a Content-Type
    # (read as JSON: what non-browser clients send), are served
    for path, text in valid_bodies(request_id).items():
        r = httpx.post(f"{server.url}{path}", content=text.encode())
        assert "content-type" not in r.request.headers and r.status_code in (200, 202), (path, r.text)
        for media_type in (
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
        ):
            r = httpx.post(f"{server.url}{path}", content=text.encode(), headers={"content-type": media_type})
            assert r.status_code in (200, 202), (path, media_type, r.text)


ENCODINGS = [
    ("utf-8-sig", "starts with a UTF-8 byte order mark"),
    ("utf-16", "starts with a UTF-16LE byte order mark"),
    ("utf-32", "starts with a UTF-32LE byte order mark"),
    ("utf-16-le", "looks like UTF-16LE"),
    ("utf-16-be", "looks like UTF-16BE"),
    ("utf-32-le", "looks like UTF-32LE"),
    ("utf-32-be", "looks like UTF-32BE"),
]


def test_bodies_in_another_encoding_or_with_a_byte_order_mark_get_a_400(server, request_id):
    attempts = []
    for path, text in valid_bodies(request_id).items():
        for codec, needle in ENCODINGS:
            attempts.append((path, text.encode(codec), JSON, 400, needle))
        attempts.append((path, b"\xfe\xff" + text.encode("utf-16-be"), JSON, 400, "UTF-16BE byte order mark"))
        attempts.append(
            (path, b"\x00\x00\xfe\xff" + text.encode("utf-32-be"), JSON, 400, "UTF-32BE byte order")
        )
        latin1 = (text[:-1] + ', "note": "caf\u00e9"}').encode("latin-1")
        attempts.append((path, latin1, JSON, 400, "not valid UTF-8: byte 0xe9"))
    attempts += [
        ("/predict", json.dumps([RECORD, RECORD]).encode("utf-16"), JSON, 400, "UTF-16LE byte order mark"),
        (
            "/predict",
            RECORD_TEXT.replace("Bachelors", "Bachelors\u00e9").encode("latin-1"),
            JSON,
            400,
            "0xe9",
        ),
        ("/predict", b'{"age": "\xed\xa0\x80"}', JSON, 400, "not valid UTF-8: byte 0xed at offset 9"),
    ]
    refused_without_a_trace(server, attempts)


def _bytes(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _swap(text: str, old: str, new: str) -> bytes:
    assert old in text
    return text.replace(old, new, 1).encode()


def test_lone_surrogates_get_a_400_naming_the_field(server, request_id):
    bodies = valid_bodies(request_id)
    batch = json.dumps([RECORD, RECORD])
    attempts = [
        (
            "/predict",
            _swap(RECORD_TEXT, '"age"', '"\\ud800"'),
            "body: key '\\ud800' contains a lone surrogate",
        ),
        ("/predict", _swap(RECORD_TEXT, '"age"', '"ag\\udfffe"'), "body: key 'ag\\udfffe' contains a lone"),
        (
            "/predict",
            _swap(RECORD_TEXT, "State-gov", "State\\udc00-gov"),
            "body.workclass: string contains a lone",
        ),
        (
            "/predict",
            _swap(RECORD_TEXT, "Bachelors", "\\ud83d"),
            "body.education: string contains a lone surrogate",
        ),
        (
            "/predict",
            batch.replace("Bachelors", "\\udbff\\udbff").encode(),
            "body[0].education: string contains",
        ),
        (
            "/feedback",
            _swap(bodies["/feedback"], request_id, "\\ud800"),
            "body.request_id: string contains a lone",
        ),
        ("/feedback", _swap(bodies["/feedback"], '"outcome"', '"\\udc00"'), "body: key '\\udc00' contains"),
        (
            V2,
            _swap(bodies[V2], '"age"', '"\\ud800"'),
            "body.inputs[0].name: string contains a lone surrogate",
        ),
        (V2, _swap(bodies[V2], '["State-gov"]', '["\\udfff"]'), "body.inputs[1].data[0]: string contains"),
        (V2, _swap(bodies[V2], '"shape"', '"\\ud800"'), "body.inputs[0]: key '\\ud800' contains a lone"),
    ]
    refused_without_a_trace(server, [(path, body, JSON, 400, needle) for path, body, needle in attempts])
    # U+0000 is Unicode text, but not in a category, nor in free text (PostgreSQL cannot store it)
    nul = [
        ("/predict", _swap(RECORD_TEXT, "State-gov", "State\\u0000-gov"), "body.workclass: unknown category"),
        (
            "/feedback",
            _swap(bodies["/feedback"], request_id, "\\u0000"),
            "body.request_id: must not contain U+0000",
        ),
    ]
    refused_without_a_trace(server, [(path, body, JSON, 422, needle) for path, body, needle in nul])


def test_repeated_keys_get_a_400_naming_the_key(server, request_id):
    bodies = valid_bodies(request_id)
    again = RECORD_TEXT[:-1]
    attempts = [
        ("/predict", f'{again}, "age": 50}}', "body.age: key given more than once"),
        ("/predict", f'{again}, "age": 39}}', "body.age: key given more than once"),  # same value
        (
            "/predict",
            f'{again}, "\\u0061ge": 50}}',
            "body.age: key given more than once",
        ),  # spelt differently
        ("/predict", f'{again}, "occupation": null}}', "body.occupation: key given more than once"),
        ("/predict", f'[{RECORD_TEXT}, {again}, "sex": "Female"}}]', "body[1].sex: key given more than once"),
        (
            "/feedback",
            bodies["/feedback"][:-1] + ', "outcome": "<=50K"}',
            "body.outcome: key given more than once",
        ),
        (
            "/feedback",
            '{"request_id": "a", "request_id": "' + request_id + '", "outcome": ">50K"}',
            "body.request_id",
        ),
        (
            V2,
            _swap(bodies[V2], '"data": [39]', '"data": [39], "data": [40]'),
            "body.inputs[0].data: key given",
        ),
        (V2, bodies[V2][:-1] + ', "inputs": []}', "body.inputs: key given more than once"),
    ]
    refused_without_a_trace(
        server, [(path, _bytes(body), JSON, 400, needle) for path, body, needle in attempts]
    )


def test_v2_datatypes_are_checked_against_the_protocol_and_the_schema(server):
    def with_datatype(name: str, datatype: object, data: list | None = None) -> bytes:
        inputs = v2_inputs()
        for tensor in inputs:
            if tensor["name"] == name:
                tensor["datatype"] = datatype
                if data is not None:
                    tensor["data"] = data
                if datatype is None:
                    del tensor["datatype"]
        return json.dumps({"inputs": inputs}).encode()

    attempts = [
        (
            with_datatype("age", "FLOAT"),
            "body.inputs[0].datatype: 'FLOAT' is not an Open Inference Protocol datatype",
        ),
        (with_datatype("age", "int64"), "'int64' is not an Open Inference Protocol datatype (input 'age')"),
        (with_datatype("age", 64), "64 is not an Open Inference Protocol datatype"),
        (with_datatype("age", None), "body.inputs[0].datatype: missing for input 'age'"),
        (with_datatype("age", "BYTES"), "body.inputs[0].datatype: BYTES cannot carry input 'age' (integer)"),
        (with_datatype("age", "BOOL"), "BOOL cannot carry input 'age' (integer)"),
        (with_datatype("age", "FP16"), "FP16 cannot carry input 'age' (integer)"),
        (
            with_datatype("workclass", "INT64"),
            "body.inputs[1].datatype: INT64 cannot carry input 'workclass'",
        ),
        (
            with_datatype("fnlwgt", "INT8"),
            "input 'fnlwgt' value 0 (77516) does not fit INT8: outside -128..127",
        ),
        (with_datatype("capital_loss", "UINT8", [-1]), "value 0 (-1) does not fit UINT8: outside 0..255"),
        (with_datatype("age", "INT64", [39.5]), "value 0 (39.5) does not fit INT64: not a whole number"),
    ]
    refused_without_a_trace(server, [(V2, body, JSON, 422, needle) for body, needle in attempts])
    single = httpx.post(f"{server.url}/predict", json=RECORD).json()["predictions"][0]["probability"]
    for datatype, data in (("INT32", [39]), ("UINT8", [39]), ("FP64", [39.0]), ("FP32", [39])):
        r = httpx.post(f"{server.url}{V2}", content=with_datatype("age", datatype, data), headers=JSON)
        assert r.status_code == 200, (datatype, r.text)
        assert r.json()["outputs"][0]["data"] == [single]


def _raw_post(server, request: bytes, body: bytes) -> None:
    """Send a request's head and part of its body on a raw socket, then hang up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request + body)
        time.sleep(0.2)  # let the server start reading the body


def test_a_client_hanging_up_mid_body_is_one_info_line(server, request_id):
    db = server_db(server)
    before = settled_counts(db)
    seen = len(server.stderr_path.read_bytes())
    part = RECORD_TEXT.encode()[:100]
    sent = 0
    for path in ("/predict", "/feedback", V2):
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        _raw_post(server, f"{head}Content-Length: 1000\r\n\r\n".encode(), part)
        _raw_post(server, f"{head}Content-Length: 500\r\n\r\n".encode(), b"")
        _raw_post(server, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode(), b"64\r\n" + part + b"\r\n")
        sent += 3
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = server.stderr_path.read_bytes()[seen:].decode().splitlines()
        if len(lines) >= sent:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # anything else it would log
    lines = server.stderr_path.read_bytes()[seen:].decode().splitlines()
    assert len(lines) == sent, lines
    assert all(line.startswith("INFO:") and "disconnected" in line for line in lines), lines
    assert sum("after 100 of 1000 body bytes; nothing scored or logged" in line for line in lines) == 3
    assert sum("after 0 of 500 body bytes" in line for line in lines) == 3
    assert sum("after 100 body bytes" in line for line in lines) == 3
    assert settled_counts(db) == before
    assert httpx.get(f"{server.url}/health/ready").status_code == 200


def test_the_log_holds_the_records_as_scored_and_monitor_reads_it(server, model_package, tmp_path):
    """Whatever the request's spelling (key order, omitted nullable fields, escapes, 39.0), the
    log holds the validated records re-serialised; bad input in between leaves no row, and
    `graft monitor` reads the window without a JSON error."""
    fields = httpx.get(f"{server.url}/metadata").json()["input_fields"]
    spelled = "{" + ", ".join(
        f'"{k}": {json.dumps(v)}' for k, v in reversed(RECORD.items()) if k != "occupation"
    )
    spelled = spelled.replace('"age": 39', '"age": 39.0').replace("State-gov", "\\u0053tate-gov") + "}"
    since = datetime.now(UTC).isoformat()
    time.sleep(0.02)
    ids = {}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for name, body in [("spelled", spelled), ("batch", f"[{spelled}, {RECORD_TEXT}]")] + [
            (f"many{i}", json.dumps([dict(RECORD, age=20 + i + j) for j in range(10)])) for i in range(4)
        ]:
            r = client.post("/predict", content=body.encode(), headers=JSON)
            assert r.status_code == 200, r.text
            ids[name] = r.json()["request_id"]
            for _codec, _ in ENCODINGS:  # bad input in between leaves nothing
                assert client.post("/predict", content=body.encode(_codec), headers=JSON).status_code == 400
            assert (
                client.post(
                    "/predict", content=body.encode(), headers={"content-type": "text/plain"}
                ).status_code
                == 415
            )
        r = client.post(V2, json={"inputs": v2_inputs(RECORD, 3)})
        assert r.status_code == 200
        ids["v2"] = r.json()["id"]
    time.sleep(0.02)
    until = datetime.now(UTC).isoformat()
    settled_counts(server_db(server))
    marks = ",".join("?" * len(ids))
    with sqlite3.connect(server_db(server)) as conn:
        query = f"SELECT request_id, inputs FROM predictions WHERE request_id IN ({marks})"
        rows = dict(conn.execute(query, list(ids.values())).fetchall())
    expected_one = {**RECORD, "age": 39.0, "occupation": None}
    canonical = {k: expected_one[k] for k in sorted(fields)}
    assert rows[ids["spelled"]] == json.dumps([canonical], separators=(",", ":"))
    assert json.loads(rows[ids["batch"]]) == [canonical, RECORD]
    assert all(list(record) == sorted(fields) for rid in ids.values() for record in json.loads(rows[rid]))
    assert json.loads(rows[ids["v2"]]) == [{k: RECORD[k] for k in fields}] * 3
    args = ["monitor", "--package", str(model_package.archive), "--log-db", server.log_db]
    args += [
        "--since",
        since,
        "--until",
        until,
        "-o",
        str(tmp_path / "m.md"),
        "--json",
        str(tmp_path / "m.json"),
    ]
    result = subprocess.run(
        [str(BIN / "graft"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "GRAFT_DEBUG": "1"},
        timeout=300,
    )
    assert "Traceback" not in result.stderr and "error:" not in result.stderr, result.stderr
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["window"]["predictions"] == 1 + 2 + 40 + 3


# --- the contract --------------------------------------------------------------------------


def test_served_openapi_matches_the_committed_contract(server, model_package):
    served = httpx.get(f"{server.url}/openapi.json").json()
    committed = json.loads(CONTRACT.read_text(encoding="utf-8"))
    assert served == committed, (
        "the served OpenAPI document differs from contracts/openapi.json; regenerate it with "
        "`graft serve PACKAGE --print-openapi > contracts/openapi.json` and review the diff"
    )
    printed = subprocess.run(
        [str(BIN / "graft"), "serve", str(model_package.archive), "--print-openapi"],
        capture_output=True,
        check=True,
    ).stdout
    assert printed == CONTRACT.read_bytes()


# --- training/serving parity ---------------------------------------------------------------


def test_served_probabilities_equal_the_evaluate_stage_predictions(server, model_package, raw_test_rows):
    """Exact float equality: the same model file, the same encoder, float64 all the way; the JSON
    float repr round-trips exactly."""
    row_ids, records = raw_test_rows
    expected = pd.read_parquet(model_package.project / "metrics" / "predictions.parquet").set_index("row_id")
    served = []
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(records), 2000):
            r = client.post(f"{server.url}/predict", json=records[start : start + 2000])
            assert r.status_code == 200, r.text
            served += [p["probability"] for p in r.json()["predictions"]]
    assert len(served) == len(expected) == len(row_ids)
    want = expected.loc[row_ids, "proba"].to_numpy()
    got = np.array(served)
    assert np.array_equal(got, want), f"max |diff| {np.abs(got - want).max()}"
    # single-record requests take the one-thread path: same numbers
    with httpx.Client(timeout=30) as client:
        for i in range(0, len(records), len(records) // 50):
            p = client.post(f"{server.url}/predict", json=records[i]).json()["predictions"][0]
            assert p["probability"] == want[i]


def test_package_folder_serves_too(model_package, tmp_path):
    with tarfile.open(model_package.archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = next((tmp_path / "x").iterdir())
    result = subprocess.run(
        [str(BIN / "graft"), "serve", str(folder), "--print-openapi"], capture_output=True, check=True
    )
    assert json.loads(result.stdout)["info"]["title"] == "graft serve: adult-income"
    shutil.rmtree(tmp_path / "x")


@pytest.mark.slow
def test_compiled_batches_agree_with_the_evaluate_stage(start_server, model_package, raw_test_rows, tmp_path):
    """`--compile`: batches over 256 rows use the LLVM-compiled trees (lleaves). Their summation
    order differs from LightGBM's, so agreement is to ~1e-15, not bit for bit; labels are equal;
    small requests keep LightGBM's exact answer."""
    row_ids, records = raw_test_rows
    cache = tmp_path / "compiled"
    server = start_server(f"sqlite:///{tmp_path / 'c.db'}", "--compile", "--compile-cache", str(cache))
    assert len(list(cache.glob("*.so"))) == 1  # compiled once, kept by the model's SHA-256
    expected = pd.read_parquet(model_package.project / "metrics" / "predictions.parquet").set_index("row_id")
    want = expected.loc[row_ids[:4000], "proba"].to_numpy()
    with httpx.Client(timeout=60) as client:
        r = client.post(f"{server.url}/predict", json=records[:4000])
        assert r.status_code == 200, r.text
        got = np.array([p["probability"] for p in r.json()["predictions"]])
        labels = [p["label"] for p in r.json()["predictions"]]
        small = client.post(f"{server.url}/predict", json=records[:10]).json()["predictions"]
    assert np.abs(got - want).max() < 1e-12
    assert labels == [">50K" if p >= 0.5 else "<=50K" for p in want]
    assert [p["probability"] for p in small] == want[:10].tolist()
