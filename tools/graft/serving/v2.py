"""Open Inference Protocol (KServe V2) requests: one input tensor per field, to validator columns.

A tensor is ``{"name", "shape", "datatype", "data"}``. ``name`` is a field of the package's
schema, given once; ``shape`` is ``[n]`` or ``[n, 1]`` with the same ``n`` for every tensor
(``data`` flat, or for ``[n, 1]`` nested as ``[[v], [v], ...]``, as the protocol allows);
``datatype`` is one of the protocol's tensor datatypes (:data:`DATATYPES`) and must be able to
carry the field's schema type (:data:`ACCEPTED`): ``BYTES`` for a string, an integer datatype
(or FP32/FP64 holding whole numbers) for an integer, a floating-point or integer datatype for a
number. ``BOOL`` carries no field of a graft schema. Values must fit the declared datatype: an
``INT8`` tensor holding 300, or an integer datatype holding 2.5, is refused naming the tensor.
Everything else about the values (types, ranges, categories, nulls) is the validator's.

Every fault is an :class:`~graft.serving.request.ApiError` (422) naming the tensor,
``body.inputs[i]``, and the input by name.
"""

from __future__ import annotations

import math
from typing import Any

from graft.serving.request import ApiError
from graft.serving.validator import MISSING, FieldError, RecordValidator, show

# The protocol's tensor datatypes, in the order its specification lists them.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
}
FLOAT_MAX: dict[str, float] = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": 1.7976931348623157e308}
DATATYPES: tuple[str, ...] = ("BOOL", *INTEGER_RANGES, *FLOAT_MAX, "BYTES")
# schema type of a field -> the datatypes that can carry it
ACCEPTED: dict[str, tuple[str, ...]] = {
    "string": ("BYTES",),
    "integer": (*INTEGER_RANGES, "FP32", "FP64"),
    "number": (*INTEGER_RANGES, *FLOAT_MAX),
}


def refused(loc: tuple[str | int, ...], msg: str, kind: str) -> ApiError:
    """A 422 naming the location: ``body.inputs[2].datatype: ...``."""
    error = FieldError(loc, msg, kind)
    return ApiError(422, f"{error.where}: {msg}", [error])


def columns_from_tensors(payload: Any, validator: RecordValidator) -> tuple[dict[str, list[Any]], int]:
    """The request's input tensors -> (columns, n); fields with no tensor are MISSING."""
    if type(payload) is not dict:
        raise refused(("body",), "expected an inference request (object)", "type")
    return columns_from_inputs(payload.get("inputs"), validator)


def columns_from_inputs(inputs: Any, validator: RecordValidator) -> tuple[dict[str, list[Any]], int]:
    """A request's ``inputs`` (a list of tensors, their ``data`` decoded) -> (columns, n).

    Fields with no tensor are MISSING (the validator says whether they may be).
    """
    if type(inputs) is not list or not inputs:
        raise refused(("body", "inputs"), "expected a non-empty list of input tensors", "type")
    kinds = {rule.name: rule.kind for rule in validator.rules}
    columns: dict[str, list[Any]] = {}
    n: int | None = None
    for i, tensor in enumerate(inputs):
        loc = ("body", "inputs", i)
        if type(tensor) is not dict:
            raise refused(loc, "expected an object", "type")
        name, data, shape = tensor.get("name"), tensor.get("data"), tensor.get("shape")
        if type(name) is not str or name not in kinds:
            raise refused((*loc, "name"), f"unknown input {show(name)}", "unknown_input")
        if name in columns:
            raise refused((*loc, "name"), f"input {name!r} given twice", "duplicate_input")
        if type(data) is not list:
            raise refused((*loc, "data"), f"expected a list for input {name!r}", "type")
        if data and type(data[0]) is list and shape == [len(data), 1] and all(_single(row) for row in data):
            data = [row[0] for row in data]  # [n, 1] written nested, as the protocol allows
        if (
            type(shape) is not list
            or not shape
            or any(type(d) is not int for d in shape)
            or shape[0] != len(data)
            or any(d != 1 for d in shape[1:])
        ):
            expected = f"expected [{len(data)}] or [{len(data)}, 1] for input {name!r}"
            raise refused((*loc, "shape"), expected, "shape")
        check_datatype(tensor.get("datatype"), kinds[name], data, (*loc, "datatype"), name)
        if n is not None and len(data) != n:
            raise refused((*loc, "data"), f"{len(data)} values, other inputs have {n}", "shape")
        n = len(data)
        columns[name] = data
    if not n:
        raise refused(("body", "inputs"), "no values", "too_short")
    for name in validator.allowed - set(columns):
        columns[name] = [MISSING] * n
    return columns, n


def _single(row: Any) -> bool:
    return type(row) is list and len(row) == 1


def check_datatype(datatype: Any, kind: str, data: list[Any], loc: tuple[str | int, ...], name: str) -> None:
    """422 unless ``datatype`` is a protocol datatype that carries ``kind`` and fits ``data``."""
    expected = f"expected one of {', '.join(ACCEPTED[kind])}"
    if datatype is None:
        raise refused(loc, f"missing for input {name!r}; {expected}", "missing")
    if type(datatype) is not str or datatype not in DATATYPES:
        msg = f"{show(datatype)} is not an Open Inference Protocol datatype (input {name!r}); {expected}"
        raise refused(loc, msg, "unknown_datatype")
    if datatype not in ACCEPTED[kind]:
        raise refused(loc, f"{datatype} cannot carry input {name!r} ({kind}); {expected}", "datatype")
    bad = _misfit(datatype, data)
    if bad is not None:
        i, reason = bad
        msg = f"input {name!r} value {i} ({show(data[i])}) does not fit {datatype}: {reason}"
        raise refused(loc, msg, "datatype_range")


def _misfit(datatype: str, data: list[Any]) -> tuple[int, str] | None:
    """(index, reason) of the first finite number that ``datatype`` cannot represent, or None.

    Values of other types, and non-finite ones, are left to the validator, which names them
    with the field's rule.
    """
    if datatype == "BYTES" or not data:
        return None
    integer = datatype in INTEGER_RANGES
    low: float
    high: float
    if integer:
        low, high = INTEGER_RANGES[datatype]
        span = f"{low}..{high}"
    else:
        low, high = -FLOAT_MAX[datatype], FLOAT_MAX[datatype]
        span = f"its largest finite magnitude is {high:g}"
    kinds = set(map(type, data))
    if kinds <= ({int} if integer else {int, float}) and low <= min(data) and max(data) <= high:
        return None  # the common case, at C speed
    for i, value in enumerate(data):
        if type(value) is not int and not (type(value) is float and math.isfinite(value)):
            continue
        if integer and type(value) is float and not value.is_integer():
            return i, "not a whole number"
        if not low <= value <= high:
            return i, f"outside {span}" if integer else span
    return None
