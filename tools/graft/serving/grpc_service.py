"""The Open Inference Protocol over gRPC: ``inference.GRPCInferenceService`` (``graft serve --grpc-port``).

The six RPCs of the protocol's service (``grpc_predict_v2.proto`` beside this module; the
``*_pb2*`` modules are generated from it by ``make grpc-stubs``) answer exactly what the REST
``/v2`` routes answer, through the same model side (:class:`graft.serving.inference.OpenInference`):

* ``ServerLive``: true while the process serves; ``ServerReady`` and ``ModelReady``: whether
  the prediction log is writable (as ``/health/ready``);
* ``ServerMetadata``, ``ModelMetadata``: the protocol's metadata objects;
* ``ModelInfer``: every input's values either in the request's ``raw_input_contents`` (one
  entry per input, in order, decoded by :mod:`graft.serving.tensors`) or in its typed
  ``contents`` field (the field of its datatype, :data:`CONTENTS`; FP16 has none), never
  both in one request; ``outputs`` selects what is returned; ``id`` is echoed (the
  prediction log's request id, which ``POST /feedback`` quotes, is the response parameter
  ``request_id``, and the response's ``id`` when the request gave none). Outputs are
  returned as Triton returns them: ``raw_output_contents``, one entry per output.

Status codes: a malformed or invalid tensor, an unknown or repeated output, the wrong number of
raw contents, ... are ``INVALID_ARGUMENT`` naming the input (``inputs[2].datatype: ...``); a
model or version the server does not serve ``NOT_FOUND``; a request over the element bound
(``REQUEST_VALUES``) or the message bound (``GRPC_MESSAGE_BYTES``, :mod:`graft.core.limits`)
``RESOURCE_EXHAUSTED``; a log that cannot commit (``--log-durability commit``) ``UNAVAILABLE``.
Nothing refused reaches the prediction log.

The server runs in the HTTP server's event loop (:func:`serve`); it stops, letting the RPCs in
flight finish, before the log is drained and closed (:func:`graft.serving.server.with_grpc`).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import grpc

from graft.core import limits
from graft.serving import grpc_predict_v2_pb2 as pb
from graft.serving import grpc_predict_v2_pb2_grpc as pb_grpc
from graft.serving.model import BATCH_ROWS
from graft.serving.request import ApiError
from graft.serving.restv2 import ID_CHARS
from graft.serving.tensors import decode, element_count, encode, malformed
from graft.serving.v2 import refused

if TYPE_CHECKING:
    from graft.serving.inference import Inference, OpenInference

# the InferTensorContents field that carries each datatype's typed values (FP16 has none)
CONTENTS: dict[str, str] = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
FIELDS = tuple(dict.fromkeys(CONTENTS.values()))

# HTTP status of an ApiError -> the gRPC status the protocol's gRPC servers answer with
STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}

GRACE_SECONDS = 30.0  # RPCs in flight at shutdown get this long to finish (as HTTP requests do)


def details(exc: ApiError) -> str:
    """The error's one line, located in the gRPC request (``inputs[2]``, not ``body.inputs[2]``)."""
    return exc.detail.removeprefix("body.")


# --- requests ----------------------------------------------------------------------------------


def element_total(request: Any) -> int:
    """The elements the inputs' shapes declare, checked against ``REQUEST_VALUES`` (413) before
    anything is decoded (each shape itself is checked as its tensor is decoded)."""
    total = sum(math.prod(map(abs, tensor.shape)) for tensor in request.inputs)  # no negative offsets
    bound = limits.REQUEST_VALUES.value()
    if total > bound:
        raise ApiError(
            413,
            f"inputs: the tensors' shapes hold {total:,} elements, over the limit of {bound:,} "
            f"({limits.REQUEST_VALUES.variable})",
        )
    return total


def input_tensors(request: Any) -> list[dict[str, Any]]:
    """The request's input tensors as the model side takes them: ``{"name", "shape",
    "datatype", "data"}`` with ``data`` decoded from raw or typed contents (400 naming the input)."""
    inputs = request.inputs
    raw = request.raw_input_contents
    if raw and len(raw) != len(inputs):
        raise malformed(
            ("raw_input_contents",),
            f"{len(raw)} entries for {len(inputs)} inputs; give one per input, in the order of inputs",
            "raw_contents",
        )
    tensors = []
    for i, (tensor, content) in enumerate(zip(inputs, raw or [None] * len(inputs), strict=True)):
        name, datatype, shape = tensor.name, tensor.datatype, list(tensor.shape)
        loc = ("inputs", i)
        if content is None:
            data = typed_values(tensor, shape, loc)
        elif tensor.HasField("contents"):
            msg = (
                f"input {name!r} has typed contents, but the request sends raw_input_contents: "
                "give every input's values the same way"
            )
            raise malformed((*loc, "contents"), msg, "raw_contents")
        else:
            data = decode(content, shape, datatype, name, loc)
        tensors.append({"name": name, "shape": shape, "datatype": datatype, "data": data})
    return tensors


def typed_values(tensor: Any, shape: list[int], loc: tuple[str | int, ...]) -> list[Any]:
    """An input's values from its typed ``contents``: the field of its datatype, exactly
    ``prod(shape)`` values, no other field used (BYTES values read as UTF-8)."""
    name, datatype = tensor.name, tensor.datatype
    count = element_count(shape, name, loc)
    field = CONTENTS.get(datatype)
    if field is None:
        if datatype == "FP16":
            msg = f"input {name!r}: FP16 values have no typed contents field; send them in raw_input_contents"
        else:
            msg = f"input {name!r}: {datatype!r} is not an Open Inference Protocol datatype"
        raise malformed((*loc, "datatype"), msg, "unknown_datatype")
    contents = tensor.contents
    others = [f for f in FIELDS if f != field and len(getattr(contents, f))]
    if others:
        msg = f"input {name!r}: {datatype} values belong in contents.{field}, not contents.{others[0]}"
        raise malformed((*loc, "contents"), msg, "contents")
    values = getattr(contents, field)
    if len(values) != count:
        msg = f"input {name!r}: {len(values):,} values in contents.{field}, shape {shape} holds {count:,}"
        raise malformed((*loc, "contents"), msg, "shape")
    if datatype != "BYTES":
        return list(values)
    out = []
    for j, value in enumerate(values):
        try:
            out.append(value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            msg = f"input {name!r}: BYTES element {j} is not UTF-8 text ({exc.reason} at offset {exc.start})"
            raise malformed((*loc, "contents"), msg, "invalid_text") from None
    return out


# --- responses ---------------------------------------------------------------------------------


def infer_response(inference: Inference, request_id: str) -> Any:
    """The ModelInferResponse: outputs' metadata, their values in ``raw_output_contents``."""
    response = pb.ModelInferResponse(
        model_name=inference.model_name,
        model_version=inference.model_version,
        id=request_id or inference.request_id,
    )
    response.parameters["request_id"].string_param = inference.request_id
    for output in inference.outputs:
        tensor = response.outputs.add(name=output.name, datatype=output.datatype, shape=output.shape)
        for key, value in output.parameters.items():
            parameter(tensor.parameters[key], value)
        response.raw_output_contents.append(encode(output.data, output.datatype))
    return response


def parameter(target: Any, value: Any) -> None:
    """A JSON-ready value as an InferParameter (a list or object as its JSON text)."""
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        target.int64_param = value
    elif isinstance(value, float):
        target.double_param = value
    elif isinstance(value, str):
        target.string_param = value
    else:
        target.string_param = json.dumps(value, ensure_ascii=False)


def tensor_metadata(target: Any, tensors: list[dict[str, Any]]) -> None:
    for tensor in tensors:
        target.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])


# --- the service -------------------------------------------------------------------------------


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` for one served model."""

    def __init__(self, protocol: OpenInference) -> None:
        self.protocol = protocol

    async def _check_model(self, name: str, version: str, context: Any) -> None:
        try:
            self.protocol.check_model(name, version or None)
        except ApiError as exc:
            await context.abort(STATUS.get(exc.status, grpc.StatusCode.INTERNAL), details(exc))

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.protocol.ready)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        await self._check_model(request.name, request.version, context)
        return pb.ModelReadyResponse(ready=self.protocol.ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        meta = self.protocol.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        await self._check_model(request.name, request.version, context)
        meta = self.protocol.model_metadata()
        response = pb.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=meta["platform"]
        )
        tensor_metadata(response.inputs, meta["inputs"])
        tensor_metadata(response.outputs, meta["outputs"])
        return response

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        await self._check_model(request.model_name, request.model_version, context)
        try:
            return await self.infer(request)
        except ApiError as exc:
            await context.abort(STATUS.get(exc.status, grpc.StatusCode.INTERNAL), details(exc))
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    async def infer(self, request: Any) -> Any:
        protocol = self.protocol
        if len(request.id) > ID_CHARS:
            raise refused(("id",), f"expected a string of at most {ID_CHARS} characters", "type")
        if element_total(request) > BATCH_ROWS:  # decoding costs milliseconds: off the event loop
            inputs = await protocol.scoring.offload(lambda: input_tensors(request))
        else:
            inputs = input_tensors(request)
        wanted = [output.name for output in request.outputs] or None
        inference = await protocol.infer(inputs, wanted)
        return infer_response(inference, request.id)


def address(host: str, port: int) -> str:
    """``host:port`` as gRPC binds it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(protocol: OpenInference, host: str, port: int) -> grpc.aio.Server:
    """Start the service on ``host:port`` in the running event loop; the caller stops it."""
    size = limits.GRPC_MESSAGE_BYTES.value()
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),  # a port another server holds is refused, never shared
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(protocol), server)
    try:
        server.add_insecure_port(address(host, port))
    except RuntimeError as exc:
        from graft.core.errors import UsageError

        raise UsageError(f"--grpc-port {port}: cannot listen on {address(host, port)} ({exc})") from None
    await server.start()
    return server
