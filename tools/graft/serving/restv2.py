"""The Open Inference Protocol over HTTP: an inference request body in, a response body out.

A request body is the inference request as JSON (:func:`graft.serving.request.parse_json`:
strict UTF-8 I-JSON), or, with the binary tensor data extension (as Triton and KServe
implement it), that JSON followed by raw tensor bytes, the header
``Inference-Header-Content-Length`` giving the JSON's length in bytes:

* the header must be a decimal whole number between 1 and the body's length: else 400 naming
  the header;
* an input whose ``parameters.binary_data_size`` is given has no ``data``: its bytes follow
  the JSON, in the order of the inputs (little-endian, row-major; a BYTES element is a 4-byte
  length then its UTF-8 bytes). They are decoded by :func:`graft.serving.tensors.decode`: a
  size that does not match the input's shape and datatype, bytes cut short by the end of the
  body, or bytes left over after the last input are a 400 naming the input;
* bounds: the body is at most ``--max-body-bytes`` (413, :mod:`graft.serving.request`); the
  elements of the binary tensors together at most ``REQUEST_VALUES`` (413, as the JSON values
  of a body are; :mod:`graft.core.limits`).

The decoded values then meet the same checks as JSON tensors (:mod:`graft.serving.v2`, the
validator). ``id`` (a string of at most :data:`ID_CHARS` characters) is echoed in the
response; ``outputs`` selects the outputs returned, in its order; ``parameters`` are read as
the protocol's binary extension defines them: ``binary_data_output`` (request) and
``binary_data`` (each requested output, overriding it) ask for outputs as raw bytes; other
parameters are accepted and ignored. A response with a binary output is
``application/octet-stream`` with ``Inference-Header-Content-Length``; its binary outputs carry
``parameters.binary_data_size`` and no ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from graft.core import limits
from graft.serving import tensors
from graft.serving.inference import Inference
from graft.serving.request import JSON, OCTET_STREAM, ApiError, parse_json
from graft.serving.v2 import refused
from graft.serving.validator import show

HEADER = "inference-header-content-length"  # the binary extension's header (HTTP names are case-free)
ID_CHARS = 64  # the longest request ``id`` accepted (it is echoed in the response)


@dataclass(frozen=True)
class RestRequest:
    """A parsed inference request: ``inputs`` with every tensor's ``data`` decoded; ``outputs``
    the names requested (None: all); ``binary`` the names to answer as raw bytes."""

    id: str | None
    inputs: Any  # a list of tensors when well formed (the inference checks it)
    outputs: list[Any] | None
    binary: frozenset[str]
    binary_default: bool  # binary_data_output: outputs not requested by name are binary


def parse_request(body: bytes, header_length: str | None) -> RestRequest:
    """The body (and the ``Inference-Header-Content-Length`` header, if any) -> the request."""
    if header_length is None:
        payload, raw = parse_json(body), b""
    else:
        size = header_length.strip()
        if not (size.isascii() and size.isdigit() and len(size) <= 19) or not 0 < int(size) <= len(body):
            raise ApiError(
                400,
                f"Inference-Header-Content-Length {show(header_length)}: expected the length in bytes "
                f"of the JSON at the start of the body, 1..{len(body):,}",
            )
        payload, raw = parse_json(body[: int(size)]), body[int(size) :]
    if type(payload) is not dict:
        raise refused(("body",), "expected an inference request (object)", "type")
    request_id = payload.get("id")
    if request_id is not None and (type(request_id) is not str or len(request_id) > ID_CHARS):
        raise refused(("body", "id"), f"expected a string of at most {ID_CHARS} characters", "type")
    parameters = _parameters(payload, ("body",))
    binary_default = _flag(parameters, "binary_data_output", ("body", "parameters"))
    inputs = payload.get("inputs")
    if type(inputs) is list:
        inputs = _binary_inputs(inputs, raw, header_length is not None)
    names, binary = _outputs(payload.get("outputs"), binary_default)
    return RestRequest(request_id, inputs, names, binary, binary_default)


def _parameters(obj: dict[str, Any], loc: tuple[str | int, ...]) -> dict[str, Any]:
    parameters = obj.get("parameters")
    if parameters is None:
        return {}
    if type(parameters) is not dict:
        raise refused((*loc, "parameters"), "expected an object", "type")
    return parameters


def _flag(parameters: dict[str, Any], name: str, loc: tuple[str | int, ...]) -> bool:
    value = parameters.get(name, False)
    if type(value) is not bool:
        raise refused((*loc, name), f"expected true or false, got {show(value)}", "type")
    return value


def _binary_inputs(inputs: list[Any], raw: bytes, extension: bool) -> list[Any]:
    """``inputs`` with the data of each binary input decoded from ``raw`` (in input order)."""
    view = memoryview(raw)
    offset = 0
    elements = 0
    bound = limits.REQUEST_VALUES.value()
    out: list[Any] = []
    for i, tensor in enumerate(inputs):
        loc = ("body", "inputs", i)
        if type(tensor) is not dict:
            out.append(tensor)  # the tensor checks name it
            continue
        parameters = _parameters(tensor, loc)
        size = parameters.get("binary_data_size")
        if size is None:
            out.append(tensor)
            continue
        name = tensor.get("name")
        where = f"input {show(name)}"
        if type(size) is not int or size < 0:
            msg = f"{where}: binary_data_size {show(size)} is not a whole number of bytes"
            raise tensors.malformed((*loc, "parameters", "binary_data_size"), msg, "type")
        if not extension:
            msg = (
                f"{where} has binary_data_size but the request has no Inference-Header-Content-Length header"
            )
            raise tensors.malformed(loc, msg, "binary")
        if "data" in tensor:
            raise tensors.malformed(loc, f"{where} has both data and binary_data_size: give one", "binary")
        if offset + size > len(raw):
            msg = (
                f"{where}: binary_data_size {size:,} but the body holds {len(raw) - offset:,} more "
                "bytes (truncated)"
            )
            raise tensors.malformed(loc, msg, "truncated")
        shape = tensor.get("shape")
        elements += tensors.element_count(shape, str(name), loc)
        if elements > bound:
            raise ApiError(
                413,
                f"the request's binary tensors hold {elements:,} or more elements, over the limit of "
                f"{bound:,} ({limits.REQUEST_VALUES.variable})",
            )
        data = tensors.decode(view[offset : offset + size], shape, tensor.get("datatype"), str(name), loc)
        offset += size
        out.append({**tensor, "data": data})
    if offset != len(raw):
        msg = f"{len(raw) - offset:,} bytes after the JSON that no input's binary_data_size accounts for"
        raise ApiError(400, f"body: {msg}")
    return out


def _outputs(outputs: Any, binary_default: bool) -> tuple[list[Any] | None, frozenset[str]]:
    """(requested names or None, the names to answer as raw bytes)."""
    if outputs is None:
        return None, frozenset()
    if type(outputs) is not list:
        raise refused(("body", "outputs"), "expected a list of requested outputs", "type")
    names: list[Any] = []
    binary: set[str] = set()
    for i, output in enumerate(outputs):
        loc = ("body", "outputs", i)
        if type(output) is not dict:
            raise refused(loc, 'expected an object {"name": ...}', "type")
        parameters = _parameters(output, loc)
        name = output.get("name")
        names.append(name)
        wanted = parameters.get("binary_data", binary_default)
        if type(wanted) is not bool:
            msg = f"expected true or false, got {show(wanted)}"
            raise refused((*loc, "parameters", "binary_data"), msg, "type")
        if wanted and type(name) is str:
            binary.add(name)
    return names, frozenset(binary)


def response(inference: Inference, request: RestRequest) -> tuple[bytes, str, dict[str, str]]:
    """(body, media type, extra headers) answering ``request`` with ``inference``."""
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    by_name = request.binary if request.outputs is not None else None
    for tensor in inference.outputs:
        binary = tensor.name in by_name if by_name is not None else request.binary_default
        if not binary:
            outputs.append(tensor.as_json())
            continue
        raw = tensors.encode(tensor.data, tensor.datatype)
        chunks.append(raw)
        parameters = {**tensor.parameters, "binary_data_size": len(raw)}
        outputs.append(
            {
                "name": tensor.name,
                "shape": tensor.shape,
                "datatype": tensor.datatype,
                "parameters": parameters,
            }
        )
    head = orjson.dumps(
        {
            "model_name": inference.model_name,
            "model_version": inference.model_version,
            "id": request.id if request.id is not None else inference.request_id,
            "parameters": {"request_id": inference.request_id},
            "outputs": outputs,
        }
    )
    if not chunks:
        return head, JSON, {}
    return b"".join([head, *chunks]), OCTET_STREAM, {"Inference-Header-Content-Length": str(len(head))}
