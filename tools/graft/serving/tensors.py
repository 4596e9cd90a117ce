"""Open Inference Protocol tensors as raw bytes: the datatype table, decoding and encoding.

The binary forms of a tensor (gRPC's ``raw_input_contents``/``raw_output_contents`` and the
HTTP binary tensor data extension) hold its elements in row-major order, little-endian,
each of the datatype's fixed size (:data:`DATATYPE_BYTES`); ``BOOL`` is one byte, 0 or 1.
A ``BYTES`` element is a 4-byte little-endian unsigned length followed by that many bytes;
graft reads them as UTF-8 text (every BYTES field of a graft schema is a string).

:func:`decode` turns (raw bytes, shape, datatype) into the tensor's values as a flat Python
list, refusing, with a 400 :class:`~graft.serving.request.ApiError` that names the input and
its location:

* a shape that is not a list of non-negative whole numbers, or a datatype that is not one of
  the protocol's (:data:`graft.serving.v2.DATATYPES`);
* a fixed-size tensor whose byte length is not ``prod(shape) * size``;
* a BYTES tensor whose elements are fewer or more than ``prod(shape)``, whose last element is
  cut short (its length prefix says more bytes than remain), with bytes after its last element,
  or an element that is not UTF-8;
* a BOOL byte other than 0 or 1.

The values are then checked like JSON tensors' (shape rules, datatype against the schema,
ranges: :mod:`graft.serving.v2`). :func:`encode` is the reverse for output values. Decoding
costs one pass over the bytes: a tensor's size is bounded by the request's (the HTTP body
limit, the gRPC message limit), and no element count is trusted before the bytes are there
to back it.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graft.serving.request import ApiError
from graft.serving.v2 import DATATYPES
from graft.serving.validator import FieldError, show

# bytes per element of each fixed-size datatype (BYTES elements are length-prefixed)
DATATYPE_BYTES: dict[str, int] = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "FP32": 4,
    "FP64": 8,
}
# the little-endian numpy dtype of each fixed-size datatype
NUMPY_DTYPES: dict[str, str] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
BYTES_PREFIX = 4  # the length in front of each BYTES element: uint32, little-endian
_PREFIX = struct.Struct("<I")
_VECTOR_ELEMENTS = 64  # BYTES tensors from this many elements up are split without a step per element
_NULS = "\0\0\0"  # the upper bytes of the length of an element shorter than 256 bytes
_LAST = operator.itemgetter(slice(-1, None))
_ALL_BUT_LAST = operator.itemgetter(slice(None, -1))

Loc = tuple[str | int, ...]


def malformed(loc: Loc, msg: str, kind: str) -> ApiError:
    """A 400 naming the location: ``body.inputs[2]: input 'age': ...``."""
    error = FieldError(loc, msg, kind)
    return ApiError(400, f"{error.where}: {msg}", [error])


def element_count(shape: Any, name: str, loc: Loc) -> int:
    """The number of elements ``shape`` holds; 400 unless it is a list of non-negative ints."""
    if (
        not isinstance(shape, (list, tuple))
        or not shape
        or not set(map(type, shape)) <= {int}
        or min(shape) < 0
    ):
        msg = f"input {name!r}: shape {show(shape)} is not a list of non-negative whole numbers"
        raise malformed((*loc, "shape"), msg, "shape")
    return math.prod(shape)


def byte_size(values_count: int, datatype: str) -> int | None:
    """The byte length of ``values_count`` elements of a fixed-size datatype (None for BYTES)."""
    size = DATATYPE_BYTES.get(datatype)
    return None if size is None else values_count * size


def decode(raw: bytes | bytearray | memoryview, shape: Any, datatype: Any, name: str, loc: Loc) -> list[Any]:
    """A tensor's raw bytes -> its values, a flat list in row-major order (see the module
    docstring for what is refused). ``loc`` locates the tensor (``("body", "inputs", 2)``,
    ``("inputs", 2)``); ``name`` is its input name, given in every message."""
    count = element_count(shape, name, loc)
    if type(datatype) is not str or datatype not in DATATYPES:
        msg = f"input {name!r}: {show(datatype)} is not an Open Inference Protocol datatype"
        raise malformed((*loc, "datatype"), msg, "unknown_datatype")
    data = raw if isinstance(raw, bytes) else bytes(raw)
    if datatype == "BYTES":
        return _decode_bytes(data, count, name, loc)
    size = DATATYPE_BYTES[datatype]
    if len(data) != count * size:
        msg = (
            f"input {name!r}: {len(data):,} bytes of tensor data, but shape {list(shape)} of "
            f"{datatype} needs {count * size:,} ({count:,} elements of {size} bytes)"
        )
        raise malformed(loc, msg, "byte_size")
    if datatype == "BOOL":
        octets = np.frombuffer(data, dtype=np.uint8, count=count)
        if count and int(octets.max()) > 1:
            i = int(np.argmax(octets > 1))
            msg = f"input {name!r}: BOOL element {i} is the byte {int(octets[i])}; expected 0 or 1"
            raise malformed(loc, msg, "bool")
        return octets.astype(bool).tolist()
    values: list[Any] = np.frombuffer(data, dtype=NUMPY_DTYPES[datatype], count=count).tolist()
    return values


def _decode_bytes(data: bytes, count: int, name: str, loc: Loc) -> list[str]:
    """BYTES elements (length-prefixed) -> UTF-8 strings; exactly ``count`` of them."""
    total = len(data)
    if count * BYTES_PREFIX > total:
        msg = (
            f"input {name!r}: {total:,} bytes of BYTES tensor data cannot hold {count:,} elements "
            f"(each needs at least its {BYTES_PREFIX}-byte length)"
        )
        raise malformed(loc, msg, "byte_size")
    if data.isascii():  # the common case: every element ASCII, so one decode of the whole
        # (numpy's fixed cost outweighs the per-element steps it saves on a few elements)
        fast = _short_ascii_elements(data, count) if count >= _VECTOR_ELEMENTS else None
        if fast is not None:
            return fast
        fast = _ascii_elements(data, count)
        if fast is not None:
            return fast
        text = data.decode("ascii")  # malformed: the careful pass below names the fault
        return _split(data, count, name, loc, lambda pos, end: text[pos:end])

    def utf8(pos: int, end: int) -> str:
        chunk = data[pos:end]
        try:
            return chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = (
                f"input {name!r}: BYTES element {len(out)} is not UTF-8 text (byte "
                f"0x{chunk[exc.start]:02x} at offset {exc.start}: {exc.reason})"
            )
            raise malformed(loc, msg, "invalid_text") from None

    out: list[str] = []
    return _split(data, count, name, loc, utf8, out)


def _short_ascii_elements(data: bytes, count: int) -> list[str] | None:
    """The elements of ASCII BYTES data whose every element is shorter than 128 bytes (a
    categorical column), without a Python step per element; None when the data is not that.

    Each such element is ``L 0 0 0`` then ``L`` bytes, so splitting the text at its first
    ``count`` runs of three NULs gives ``[L0, text0 + L1, text1 + L2, ..., text(count-1)]``.
    Those parts are accepted only if each one's length is exactly what the length byte before
    it says: then joining them back is the data, laid out as ``count`` well-formed elements,
    and those are what an element-by-element parse reads (a text holding NULs, a longer
    element, a cut or a surplus fails the check and is left to that parse).
    """
    parts = data.decode("ascii").split(_NULS, count)
    if len(parts) != count + 1:
        return None
    sizes = np.fromiter(map(len, parts), dtype=np.int64, count=count + 1)
    tails = "".join(map(_LAST, parts[:count])).encode("ascii")  # each part's last byte: a length
    if len(tails) != count:  # an empty part
        return None
    lengths = np.frombuffer(tails, dtype=np.uint8).astype(np.int64)
    if sizes[0] != 1 or sizes[count] != lengths[count - 1]:
        return None
    if not np.array_equal(sizes[1:count], lengths[: count - 1] + 1):
        return None
    out = list(map(_ALL_BUT_LAST, parts[1:count]))
    out.append(parts[count])
    return out


def _ascii_elements(data: bytes, count: int) -> list[str] | None:
    """The elements of well-formed ASCII BYTES data, sliced at C speed; None if malformed."""
    unpack = _PREFIX.unpack_from
    starts: list[int] = []
    ends: list[int] = []
    start, end = starts.append, ends.append
    pos = 0
    try:
        for _ in range(count):
            (size,) = unpack(data, pos)
            pos += BYTES_PREFIX
            start(pos)
            pos += size
            end(pos)
    except struct.error:  # a length prefix cut short
        return None
    if pos != len(data):  # an element cut short (pos beyond the end), or bytes after the last
        return None
    text = data.decode("ascii")
    return list(map(text.__getitem__, map(slice, starts, ends)))


def _split(
    data: bytes,
    count: int,
    name: str,
    loc: Loc,
    element: Callable[[int, int], str],
    out: list[str] | None = None,
) -> list[str]:
    """The ``count`` length-prefixed elements of ``data``, each made by ``element(start, end)``."""
    total = len(data)
    unpack = _PREFIX.unpack_from
    out = [] if out is None else out
    append = out.append
    pos = 0
    for i in range(count):
        if pos + BYTES_PREFIX > total:
            msg = f"input {name!r}: BYTES element {i} is cut short: {total - pos} bytes left for its length"
            raise malformed(loc, msg, "truncated")
        (size,) = unpack(data, pos)
        pos += BYTES_PREFIX
        end = pos + size
        if end > total:
            msg = (
                f"input {name!r}: BYTES element {i} is cut short: its length says {size:,} bytes, "
                f"{total - pos:,} remain"
            )
            raise malformed(loc, msg, "truncated")
        append(element(pos, end))
        pos = end
    if pos != total:
        msg = f"input {name!r}: {total - pos:,} bytes after the last of its {count:,} BYTES elements"
        raise malformed(loc, msg, "byte_size")
    return out


def encode(values: Sequence[Any] | np.ndarray, datatype: str) -> bytes:
    """Output values (flat, row-major) -> the tensor's raw bytes in ``datatype``.

    BYTES elements are ``str`` (written as UTF-8) or ``bytes``; other datatypes take anything
    numpy converts to their dtype.
    """
    if datatype == "BYTES":
        return encode_bytes(values)
    if datatype not in NUMPY_DTYPES:
        raise ValueError(f"{datatype!r} is not an Open Inference Protocol datatype")
    return np.asarray(values, dtype=NUMPY_DTYPES[datatype]).tobytes()


def encode_bytes(values: Sequence[Any] | np.ndarray) -> bytes:
    """BYTES elements -> length-prefixed bytes (``str`` as UTF-8)."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    try:
        distinct = set(items)
    except TypeError:  # unhashable elements (bytearray, memoryview)
        distinct = None
    if distinct is not None and len(distinct) * 4 <= len(items):  # labels: a few values, many times
        pieces = {value: _element(value) for value in distinct}
        return b"".join(map(pieces.__getitem__, items))
    return b"".join(map(_element, items))


def _element(value: Any) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return _PREFIX.pack(len(data)) + data


__all__ = [
    "BYTES_PREFIX",
    "DATATYPE_BYTES",
    "NUMPY_DTYPES",
    "byte_size",
    "decode",
    "element_count",
    "encode",
    "encode_bytes",
    "malformed",
]
