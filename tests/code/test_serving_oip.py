"""The Open Inference Protocol's HTTP bodies (graft.serving.restv2) and the cross-site rule
(graft.serving.crosssite), in-process; the real server is tested in
tests/integration/test_serve_oip.py."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from graft.core.errors import UsageError
from graft.serving.crosssite import CrossSiteGuard, allowed_origins, origin_key
from graft.serving.inference import Inference, OutputTensor
from graft.serving.request import ApiError
from graft.serving.restv2 import parse_request, response
from graft.serving.validator import show


def binary(inputs: list[tuple[str, str, list]]) -> tuple[bytes, str]:
    """(body, header length) with every input as binary data."""
    header, chunks = [], []
    for name, datatype, values in inputs:
        if datatype == "BYTES":
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
        else:
            raw = np.array(values, dtype={"INT64": "<i8", "FP64": "<f8"}[datatype]).tobytes()
        chunks.append(raw)
        tensor = {"name": name, "shape": [len(values)], "datatype": datatype}
        header.append({**tensor, "parameters": {"binary_data_size": len(raw)}})
    head = json.dumps({"inputs": header}).encode()
    return head + b"".join(chunks), str(len(head))


def test_binary_inputs_are_decoded_in_order():
    body, length = binary(
        [("age", "INT64", [39, 50]), ("sex", "BYTES", ["Male", "Fémale"]), ("x", "FP64", [0.5, 2])]
    )
    request = parse_request(body, length)
    assert [t["data"] for t in request.inputs] == [[39, 50], ["Male", "Fémale"], [0.5, 2.0]]
    assert request.outputs is None and request.id is None and not request.binary_default


def test_a_json_input_between_binary_ones_keeps_its_data():
    body, length = binary([("age", "INT64", [39])])
    head = json.loads(body[: int(length)])
    head["inputs"].insert(0, {"name": "sex", "shape": [1], "datatype": "BYTES", "data": ["Male"]})
    text = json.dumps(head).encode()
    request = parse_request(text + body[int(length) :], str(len(text)))
    assert [t["data"] for t in request.inputs] == [["Male"], [39]]


def test_binary_elements_are_bounded_like_json_values(monkeypatch):
    body, length = binary([("age", "INT64", list(range(30))), ("sex", "BYTES", ["a"] * 30)])
    monkeypatch.setenv("GRAFT_LIMIT_REQUEST_VALUES", "40")  # the JSON part holds 16 values
    with pytest.raises(ApiError) as info:
        parse_request(body, length)
    assert info.value.status == 413
    assert info.value.detail == (
        "the request's binary tensors hold 60 or more elements, over the limit of 40 "
        "(GRAFT_LIMIT_REQUEST_VALUES)"
    )
    monkeypatch.setenv("GRAFT_LIMIT_REQUEST_VALUES", "60")
    assert len(parse_request(body, length).inputs) == 2


@pytest.mark.parametrize("length", ["", " ", "-1", "1e3", "0x10", "+5", "\u0661\u0662", "9" * 5000, "0"])
def test_a_malformed_header_length_is_a_400_naming_the_header(length):
    body, _ = binary([("age", "INT64", [39])])
    with pytest.raises(ApiError) as info:
        parse_request(body, length)
    assert info.value.status == 400
    assert info.value.detail.startswith(f"Inference-Header-Content-Length {show(length)}: ")
    assert (
        f"expected the length in bytes of the JSON at the start of the body, 1..{len(body)}"
        in info.value.detail
    )


def test_outputs_and_parameters():
    payload = {
        "id": "r1",
        "inputs": [],
        "parameters": {"binary_data_output": True, "other": [1]},
        "outputs": [{"name": "label", "parameters": {"binary_data": False}}, {"name": "probability"}],
    }
    request = parse_request(json.dumps(payload).encode(), None)
    assert request.id == "r1" and request.outputs == ["label", "probability"]
    assert request.binary == {"probability"} and request.binary_default
    not_bool = "body.parameters.binary_data_output: expected true or false, got 1"
    for bad, message in (
        ({"parameters": []}, "body.parameters: expected an object"),
        ({"parameters": {"binary_data_output": 1}}, not_bool),
        ({"outputs": {"name": "label"}}, "body.outputs: expected a list of requested outputs"),
        ({"id": "x" * 65}, "body.id: expected a string of at most 64 characters"),
        ({"outputs": [{"name": "label", "parameters": 3}]}, "body.outputs[0].parameters: expected an object"),
    ):
        with pytest.raises(ApiError) as info:
            parse_request(json.dumps({"inputs": [], **bad}).encode(), None)
        assert (info.value.status, info.value.detail) == (422, message)


def test_response_json_and_binary():
    inference = Inference(
        "log-id",
        "m",
        "1.0",
        [
            OutputTensor("probability", "FP64", [2], np.array([0.25, 0.5])),
            OutputTensor("label", "BYTES", [2], ["a", "bé"]),
        ],
    )
    plain = parse_request(b'{"id": "x", "inputs": []}', None)
    body, media, headers = response(inference, plain)
    assert media == "application/json" and headers == {}
    assert json.loads(body) == {
        "model_name": "m",
        "model_version": "1.0",
        "id": "x",
        "parameters": {"request_id": "log-id"},
        "outputs": [
            {"name": "probability", "shape": [2], "datatype": "FP64", "data": [0.25, 0.5]},
            {"name": "label", "shape": [2], "datatype": "BYTES", "data": ["a", "bé"]},
        ],
    }
    wanted = parse_request(b'{"inputs": [], "parameters": {"binary_data_output": true}}', None)
    body, media, headers = response(inference, wanted)
    size = int(headers["Inference-Header-Content-Length"])
    head = json.loads(body[:size])
    assert media == "application/octet-stream" and head["id"] == "log-id"
    assert [o["parameters"]["binary_data_size"] for o in head["outputs"]] == [16, 12]
    assert "data" not in head["outputs"][0]
    assert body[size:] == struct.pack("<2d", 0.25, 0.5) + b"\x01\x00\x00\x00a\x03\x00\x00\x00b\xc3\xa9"


def test_a_column_tensor_may_be_written_nested():
    from graft.serving.v2 import columns_from_inputs
    from graft.serving.validator import InvalidInput, RecordValidator

    validator = RecordValidator({"type": "object", "properties": {"age": {"type": "integer"}}})
    nested = {"name": "age", "shape": [2, 1], "datatype": "INT64", "data": [[39], [50]]}
    assert columns_from_inputs([nested], validator) == ({"age": [39, 50]}, 2)
    for data, shape in (([[39, 1], [50, 2]], [2, 1]), ([[39], [50]], [2])):  # left to the validator
        columns, _ = columns_from_inputs([{**nested, "data": data, "shape": shape}], validator)
        with pytest.raises(InvalidInput) as info:
            validator.validate_columns(columns, ("body", "inputs"), index=False)
        assert str(info.value).startswith("body.inputs.age[0]: must be an integer, got array"), data


# --- the cross-site rule ---------------------------------------------------------------------------


def test_origin_keys():
    assert origin_key("https://App.Example.com") == ("https", "app.example.com", 443)
    assert origin_key("http://127.0.0.1:8000/") == ("http", "127.0.0.1", 8000)
    for bad in ("null", "ftp://x", "https://x/path", "https://u:p@x", "https://x:99999", "x.com", "https://"):
        assert origin_key(bad) is None, bad


def test_allow_origin_values_are_checked():
    assert allowed_origins(["http://localhost:3000", "https://a.example"]) == {
        ("http", "localhost", 3000),
        ("https", "a.example", 443),
    }
    with pytest.raises(UsageError) as info:
        allowed_origins(["https://a.example/app"])
    assert str(info.value).startswith("--allow-origin 'https://a.example/app': expected an origin")


def refused(headers: dict[str, str], allowed: tuple[str, ...] = ()) -> str | None:
    guard = CrossSiteGuard(lambda *_: None, allowed_origins(allowed), lambda *_: None)  # type: ignore[arg-type]
    return guard.refused([(k.encode(), v.encode()) for k, v in headers.items()])


HOST = {"host": "127.0.0.1:8000"}
OWN = "http://127.0.0.1:8000"
APP = "https://a.example"


@pytest.mark.parametrize(
    ("headers", "allowed", "ok"),
    [
        (HOST, (), True),  # curl, tritonclient: no browser headers
        ({**HOST, "sec-fetch-site": "none"}, (), True),  # typed in the address bar
        ({**HOST, "origin": OWN, "sec-fetch-site": "same-origin"}, (), True),
        ({"host": "example.com", "origin": "https://example.com"}, (), True),  # behind a TLS proxy
        ({"host": "example.com", "origin": "http://example.com"}, (), True),
        ({"host": "example.com", "origin": "http://example.com:8080"}, (), False),
        ({**HOST, "origin": "http://localhost:8000"}, (), False),
        ({**HOST, "sec-fetch-site": "cross-site"}, (), False),
        ({**HOST, "sec-fetch-site": "Cross-Site", "origin": APP}, (), False),
        ({**HOST, "sec-fetch-site": "cross-site", "origin": APP}, (APP,), True),
        ({**HOST, "sec-fetch-site": "same-site", "origin": "http://127.0.0.1:3000"}, (), False),
        ({**HOST, "origin": "null"}, (APP,), False),
        ({"origin": OWN}, (), False),  # no Host: nothing to be the same as
    ],
)
def test_which_browser_requests_are_refused(headers, allowed, ok):
    assert (refused(headers, allowed) is None) is ok
