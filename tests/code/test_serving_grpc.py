"""The gRPC service's request side: graft's service definition against the protocol's reference
client, and ModelInferRequest inputs (raw or typed contents) to tensors, every fault a 400 (gRPC
INVALID_ARGUMENT) naming the input. The service itself is tested against a real server in
tests/integration/test_serve_grpc.py."""

from __future__ import annotations

import struct

import grpc
import pytest

from graft.core import limits
from graft.serving import grpc_predict_v2_pb2 as pb
from graft.serving.grpc_service import CONTENTS, STATUS, address, details, element_total, input_tensors
from graft.serving.request import ApiError
from graft.serving.tensors import DATATYPE_BYTES, encode_bytes

RPCS = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")


def fields(descriptor) -> dict:
    """name -> (number, type, repeated, message type) of a message and its nested messages."""
    out = {}
    for field in descriptor.fields:
        nested = field.message_type.full_name if field.message_type else None
        out[f"{descriptor.full_name}.{field.name}"] = (field.number, field.type, field.is_repeated, nested)
        if field.message_type and field.message_type.full_name.startswith(descriptor.full_name):
            out.update(fields(field.message_type))
    return out


def test_the_service_is_wire_compatible_with_the_reference_clients_definition():
    service_pb2 = pytest.importorskip("tritonclient.grpc.service_pb2")  # loads beside graft's
    ours = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert ours.full_name == theirs.full_name == "inference.GRPCInferenceService"
    assert [m.name for m in ours.methods] == list(RPCS)
    for name in RPCS:
        mine, ref = ours.methods_by_name[name], theirs.methods_by_name[name]
        for a, b in ((mine.input_type, ref.input_type), (mine.output_type, ref.output_type)):
            assert a.full_name == b.full_name
            assert fields(a) == fields(b), a.full_name
    assert fields(pb.InferTensorContents.DESCRIPTOR) == fields(service_pb2.InferTensorContents.DESCRIPTOR)


def test_every_datatype_but_fp16_has_its_typed_contents_field():
    assert set(CONTENTS) == set(DATATYPE_BYTES) - {"FP16"} | {"BYTES"}
    for field in CONTENTS.values():
        assert field in pb.InferTensorContents.DESCRIPTOR.fields_by_name


def request(*tensors: tuple, raw: list[bytes] | None = None) -> pb.ModelInferRequest:
    """tensors: (name, datatype, shape, {contents field: values} or None)."""
    message = pb.ModelInferRequest(model_name="m", raw_input_contents=raw or [])
    for name, datatype, shape, contents in tensors:
        tensor = message.inputs.add(name=name, datatype=datatype, shape=shape)
        for field, values in (contents or {}).items():
            getattr(tensor.contents, field).extend(values)
    return message


def refused(message: pb.ModelInferRequest) -> ApiError:
    with pytest.raises(ApiError) as info:
        input_tensors(message)
    assert STATUS[info.value.status] == grpc.StatusCode.INVALID_ARGUMENT
    return info.value


def test_raw_contents_decode_per_input_in_order():
    raw = [struct.pack("<2q", 39, 50), encode_bytes(["State-gov", "Private"])]
    message = request(("age", "INT64", [2], None), ("workclass", "BYTES", [2, 1], None), raw=raw)
    assert input_tensors(message) == [
        {"name": "age", "shape": [2], "datatype": "INT64", "data": [39, 50]},
        {"name": "workclass", "shape": [2, 1], "datatype": "BYTES", "data": ["State-gov", "Private"]},
    ]
    assert element_total(message) == 4


def test_typed_contents_decode_from_the_field_of_their_datatype():
    message = request(
        ("age", "INT64", [2], {"int64_contents": [39, 50]}),
        ("ratio", "FP32", [2], {"fp32_contents": [0.5, 2.0]}),
        ("small", "INT8", [2], {"int_contents": [-1, 300]}),  # the range is checked with the schema
        ("workclass", "BYTES", [2], {"bytes_contents": [b"State-gov", "Privé".encode()]}),
    )
    want = [[39, 50], [0.5, 2.0], [-1, 300], ["State-gov", "Privé"]]
    assert [t["data"] for t in input_tensors(message)] == want


@pytest.mark.parametrize(
    ("message", "where", "text"),
    [
        (
            request(("age", "INT64", [2], None), ("sex", "BYTES", [2], None), raw=[b"\0" * 16]),
            "raw_input_contents",
            "1 entries for 2 inputs; give one per input, in the order of inputs",
        ),
        (
            request(("age", "INT64", [2], None), raw=[b"\0" * 12]),
            "inputs[0]",
            "input 'age': 12 bytes of tensor data, but shape [2] of INT64 needs 16 (2 elements of 8 bytes)",
        ),
        (
            request(("sex", "BYTES", [1], None), raw=[struct.pack("<I", 9) + b"Male"]),
            "inputs[0]",
            "input 'sex': BYTES element 0 is cut short: its length says 9 bytes, 4 remain",
        ),
        (
            request(("age", "INT64", [1], {"int64_contents": [1]}), raw=[b"\0" * 8]),
            "inputs[0].contents",
            "input 'age' has typed contents, but the request sends raw_input_contents: give every "
            "input's values the same way",
        ),
        (
            request(("age", "INT64", [3], {"int64_contents": [1, 2]})),
            "inputs[0].contents",
            "input 'age': 2 values in contents.int64_contents, shape [3] holds 3",
        ),
        (
            request(("age", "INT64", [1], {"fp64_contents": [1.0]})),
            "inputs[0].contents",
            "input 'age': INT64 values belong in contents.int64_contents, not contents.fp64_contents",
        ),
        (
            request(("age", "FP16", [1], None)),
            "inputs[0].datatype",
            "input 'age': FP16 values have no typed contents field; send them in raw_input_contents",
        ),
        (
            request(("age", "DOUBLE", [1], None)),
            "inputs[0].datatype",
            "input 'age': 'DOUBLE' is not an Open Inference Protocol datatype",
        ),
        (
            request(("age", "INT64", [-1], None)),
            "inputs[0].shape",
            "input 'age': shape [-1] is not a list of non-negative whole numbers",
        ),
        (
            request(("sex", "BYTES", [1], {"bytes_contents": [b"\xff"]})),
            "inputs[0].contents",
            "input 'sex': BYTES element 0 is not UTF-8 text (invalid start byte at offset 0)",
        ),
    ],
)
def test_malformed_inputs_are_invalid_arguments_naming_the_input(message, where, text):
    error = refused(message)
    assert details(error) == f"{where}: {text}"


def test_the_element_bound_is_checked_from_the_shapes_before_decoding(monkeypatch):
    monkeypatch.setenv(limits.REQUEST_VALUES.variable, "10")
    message = request(("age", "INT64", [6], None), ("sex", "BYTES", [6], None))
    with pytest.raises(ApiError) as info:
        element_total(message)
    assert info.value.status == 413 and STATUS[413] == grpc.StatusCode.RESOURCE_EXHAUSTED
    # a negative dimension (refused when its tensor is decoded) cannot offset another's count
    with pytest.raises(ApiError):
        element_total(request(("age", "INT64", [11], None), ("sex", "BYTES", [-11], None)))
    assert info.value.detail == (
        "inputs: the tensors' shapes hold 12 elements, over the limit of 10 (GRAFT_LIMIT_REQUEST_VALUES)"
    )


def test_errors_are_located_in_the_grpc_request_and_addresses_bracket_ipv6():
    error = ApiError(422, "body.inputs[3].name: unknown input 'x'")
    assert details(error) == "inputs[3].name: unknown input 'x'"
    assert address("127.0.0.1", 8001) == "127.0.0.1:8001"
    assert address("::1", 8001) == "[::1]:8001"
