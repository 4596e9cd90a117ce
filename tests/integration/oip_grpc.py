"""The Open Inference Protocol's reference gRPC client (tritonclient.grpc) against `graft serve
--grpc-port`: records to input tensors as the model's metadata announces them, and a raw
ModelInfer for requests the client's helpers cannot express (typed contents, malformed bytes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc

NUMPY = {"INT64": np.int64, "FP64": np.float64, "BYTES": np.object_}


def model_metadata(client: triton.InferenceServerClient, model: str) -> dict[str, Any]:
    """The model's metadata as the REST route returns it (the client's JSON form writes each
    int64 dimension as a string, as protobuf's JSON mapping does)."""
    meta = client.get_model_metadata(model, as_json=True)
    for tensor in (*meta["inputs"], *meta["outputs"]):
        tensor["shape"] = [int(d) for d in tensor["shape"]]
    return meta


def complete(records: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """The records that give every field (a tensor has no missing value)."""
    return [r for r in records if all(r.get(n) is not None for n in names)]


def infer_inputs(records: list[dict[str, Any]], metadata: dict[str, Any]) -> list[triton.InferInput]:
    """One input per field the model's metadata lists, [n] values each, sent as raw contents."""
    inputs = []
    for spec in metadata["inputs"]:
        name, datatype = spec["name"], spec["datatype"]
        values = np.array([r[name] for r in records], dtype=NUMPY[datatype])
        tensor = triton.InferInput(name, [len(records)], datatype)
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    return inputs


def raw_request(
    model: str,
    records: list[dict[str, Any]],
    metadata: dict[str, Any],
    **replace: tuple[str, list[int], bytes],
) -> Any:
    """A ModelInferRequest with every input in ``raw_input_contents``; ``replace`` maps an input
    name to the (datatype, shape, bytes) to send for it instead."""
    from graft.serving.tensors import encode

    request = service_pb2.ModelInferRequest(model_name=model)
    for spec in metadata["inputs"]:
        name, datatype = spec["name"], spec["datatype"]
        shape, content = [len(records)], encode([r[name] for r in records], datatype)
        if name in replace:
            datatype, shape, content = replace[name]
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(content)
    return request


def raw_infer(address: str, request: Any) -> Any:
    """Send a hand-made ``inference.ModelInferRequest`` (the reference client's own message
    classes) and return the response; a refusal raises grpc.RpcError."""
    import grpc

    with grpc.insecure_channel(address) as channel:
        return service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)


def typed_request(model: str, records: list[dict[str, Any]], metadata: dict[str, Any]) -> Any:
    """A ModelInferRequest holding the records in each input's typed ``contents`` field."""
    request = service_pb2.ModelInferRequest(model_name=model)
    field = {"INT64": "int64_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
    for spec in metadata["inputs"]:
        name, datatype = spec["name"], spec["datatype"]
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[len(records)])
        values = [r[name] for r in records]
        if datatype == "BYTES":
            values = [v.encode() for v in values]
        getattr(tensor.contents, field[datatype]).extend(values)
    return request
