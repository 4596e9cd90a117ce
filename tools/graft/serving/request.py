"""From an HTTP request to a JSON value, or an :class:`ApiError` naming what is wrong.

Every POST body must be UTF-8 JSON (RFC 8259) that is also I-JSON (RFC 7493), sent as
``Content-Type: application/json`` (``charset=utf-8`` is the only parameter allowed) or without
a Content-Type (read as JSON: non-browser clients, the Open Inference Protocol's among them,
commonly send none; browsers' cross-site requests are refused by
:mod:`graft.serving.crosssite` instead). The Open Inference Protocol's inference route also
takes ``application/octet-stream`` (its binary tensor extension: a JSON header, then raw
tensor bytes):

* another media type (``text/plain``, a form, ...), another charset or another parameter, the
  header given twice, or a Content-Encoding (gzip, ...): 415, before the body is read;
* a body larger than the limit: 413, from Content-Length before reading, or while streaming;
  a body holding more JSON values than ``REQUEST_VALUES`` (:mod:`graft.core.limits`; counted on
  its bytes, outside strings, before parsing): 413, so parsing costs a small multiple of it;
* a byte order mark (UTF-8, UTF-16 or UTF-32), a body in UTF-16/UTF-32 without one, bytes that
  are not UTF-8, malformed JSON, nesting deeper than the parser allows: 400 naming the problem
  and where it is (byte offset, or line and column);
* a key given twice in one object, at any depth, or a string (key or value) that is not
  Unicode text because it holds a lone surrogate escape such as ``"\\ud800"``: 400 naming
  the location (``body[3].size``);
* ``NaN``/``Infinity``/``-Infinity`` literals parse to :class:`NonFinite` so that the
  validator can refuse them naming their field (422).

Integers beyond the 64-bit range become floats, as orjson reads them, so everything parsed can
be serialised again by orjson (the prediction log holds that re-serialised form).

Fast path: orjson parses the body (it refuses byte order marks, invalid UTF-8 and lone
surrogates by itself, but keeps the last of two equal keys without a word). The body's ``:``
bytes outside strings are then counted: every object member has one, so a count equal to the
number of members parsed proves that no key was repeated. Otherwise, and when orjson refuses
the body, the standard library parses it again and the result is walked to name the fault
(depth first, one iterator per level: the walk's memory follows the nesting, not the length).

:func:`parse_json` is synchronous; the routes run it (and validation) in a thread off the event
loop for bodies over :data:`INLINE_BYTES` (:meth:`graft.serving.routes.Routes.json_body`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

import orjson

from graft.core import limits
from graft.core.safeload import JSON_STRING, count_json_values
from graft.serving.validator import FieldError, NonFinite, show

if TYPE_CHECKING:
    from starlette.requests import Request

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
CHARSETS = frozenset({"utf-8", "utf8"})
# (byte order mark, encoding): UTF-32 first, its marks begin with UTF-16's
BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe\x00\x00", "UTF-32LE"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xfe\xff", "UTF-16BE"),
    (b"\xff\xfe", "UTF-16LE"),
)
UTF8_ONLY = "the API accepts UTF-8 JSON only"
INLINE_BYTES = 64 * 1024  # bodies up to this size are parsed on the event loop (microseconds)


def is_v2(path: str) -> bool:
    """Whether ``path`` is one of the Open Inference Protocol's routes, whose errors are
    ``{"error": one line}`` as the protocol says (every other route's: ``{"detail": ...}``)."""
    return path == "/v2" or path.startswith("/v2/")


class ApiError(Exception):
    """An HTTP error response: status, a one-line ``detail`` and the field errors behind it."""

    def __init__(self, status: int, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


class ClientGone(Exception):
    """The client closed the connection before sending the whole body (nobody gets a response)."""

    def __init__(self, received: int, declared: str | None) -> None:
        expected = f" of {declared}" if declared is not None else ""
        super().__init__(f"after {received}{expected} body bytes")
        self.received = received
        self.declared = declared


# --- headers and body bytes --------------------------------------------------------------------


def check_content_type(values: list[str], octet_stream: bool = False) -> str:
    """The body's media type: ``application/json`` when the request has no Content-Type or
    ``application/json[; charset=utf-8]``; with ``octet_stream``, ``application/octet-stream``
    too. 415 for anything else, or for the header given more than once."""
    accepted = f"{JSON} or {OCTET_STREAM}" if octet_stream else JSON
    if not values:
        return JSON
    if len(values) > 1:
        raise ApiError(415, f"Content-Type header given {len(values)} times: send it once, as {accepted}")
    media, *params = values[0].split(";")
    media = media.strip().lower()
    if octet_stream and media == OCTET_STREAM and not any(p.strip() for p in params):
        return OCTET_STREAM
    if media != JSON:
        raise ApiError(415, f"Content-Type {show(values[0])} is not supported: send the body as {accepted}")
    for param in params:
        name, _, value = param.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if not name and not value:
            continue
        if name != "charset":
            raise ApiError(415, f"Content-Type parameter {show(param.strip())} is not supported: send {JSON}")
        if value not in CHARSETS:
            raise ApiError(415, f"charset {show(value)} is not supported: {UTF8_ONLY}")
    return JSON


def check_content_encoding(values: list[str]) -> None:
    """415 for a compressed (or otherwise content-coded) body: the API reads plain UTF-8 JSON."""
    codings = [c.strip().lower() for value in values for c in value.split(",") if c.strip()]
    refused = [c for c in codings if c != "identity"]
    if refused:
        raise ApiError(
            415, f"Content-Encoding {show(', '.join(refused))} is not supported: send the body uncompressed"
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    A client that disconnects before the end raises :class:`ClientGone`.
    """
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone(total, declared) from None
    return b"".join(chunks)


def check_encoding(body: bytes) -> None:
    """400 for a byte order mark, or a body in UTF-16/UTF-32 (NUL bytes: never valid in UTF-8 JSON)."""
    for bom, encoding in BOMS:
        if body.startswith(bom):
            raise ApiError(
                400, f"request body starts with a {encoding} byte order mark: {UTF8_ONLY}, without one"
            )
    nul = body.find(b"\x00")
    if nul >= 0:
        raise ApiError(400, f"request body {_nul_bytes(body, nul)}: {UTF8_ONLY}")


def _nul_bytes(body: bytes, first: int) -> str:
    """What NUL bytes in a body mean: the code units of UTF-16/UTF-32 text (RFC 4627 section 3)."""
    head = body[:4]
    if len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
        return "looks like UTF-32BE"
    if len(head) == 4 and head[0] and head[1:] == b"\0\0\0":
        return "looks like UTF-32LE"
    if len(head) >= 2 and not head[0] and head[1]:
        return "looks like UTF-16BE"
    if len(head) >= 2 and head[0] and not head[1]:
        return "looks like UTF-16LE"
    return f"has a NUL byte at offset {first}"


# --- JSON -----------------------------------------------------------------------------------


def parse_json(body: bytes) -> Any:
    """The body as a JSON value (see the module docstring for what is refused and how)."""
    if not body:
        raise ApiError(400, "empty request body: expected JSON")
    check_encoding(body)
    skeleton = _skeleton(body)
    check_values(skeleton)
    with _collector_paused():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _parse_and_check(body)
        if not _keys_unique(skeleton, data):
            del data  # the fallback parses again: never hold both
            return _parse_and_check(body)
        return data


_PAUSED = 0  # parses in progress
_WAS_ENABLED = True  # the collector's state when the first of them began
_PAUSED_LOCK = threading.Lock()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a body is parsed (by any thread).

    Parsed JSON holds no reference cycles, yet creating a million lists would trigger dozens of
    full collections over the whole heap, each holding the interpreter lock: parsing becomes
    about five times slower and starves the event loop. Counted, so overlapping parses in the
    worker threads turn it back on only when the last one ends (and only if it was on).
    """
    global _PAUSED, _WAS_ENABLED
    with _PAUSED_LOCK:
        if _PAUSED == 0:
            _WAS_ENABLED = gc.isenabled()
            gc.disable()
        _PAUSED += 1
    try:
        yield
    finally:
        with _PAUSED_LOCK:
            _PAUSED -= 1
            if _PAUSED == 0 and _WAS_ENABLED:
                gc.enable()


def _skeleton(body: bytes) -> bytes:
    """The body with every string blanked to ``""`` and whitespace removed: its structure."""
    return (JSON_STRING.sub(b'""', body) if b'"' in body else body).translate(None, b" \t\r\n")


def check_values(skeleton: bytes) -> None:
    """413 when the body (its :func:`_skeleton`) holds more JSON values than the limit
    (:func:`graft.core.safeload.count_json_values`)."""
    values = count_json_values(skeleton)
    bound = limits.REQUEST_VALUES.value()
    if values > bound:
        raise ApiError(
            413,
            f"request body holds about {values:,} JSON values, over the limit of {bound:,} "
            f"({limits.REQUEST_VALUES.variable})",
        )


def _keys_unique(skeleton: bytes, data: Any) -> bool:
    """True when the body's ``:`` count (outside strings) equals the members parsed: no key
    was given twice (every member has a ``:``, a repeated key's too). The members of a
    record, or of a list of records, are counted first (what /predict receives, at C speed);
    every level only when those do not account for every ``:``.
    """
    colons = skeleton.count(b":")
    if colons == 0:
        return True  # no members at all, so none repeated
    if type(data) is dict:
        top = len(data)
    elif type(data) is list and set(map(type, data)) == {dict}:
        top = sum(map(len, data))
    else:
        top = -1
    return colons == top or colons == _members(data)


def _members(value: Any) -> int:
    """How many object members (key/value pairs) a parsed JSON value holds, at every depth.

    Level by level with C-level iteration: a list of 10,000 flat records costs one pass over
    its values.
    """
    total = 0
    level = [value]
    while level:
        objects = [x for x in level if type(x) is dict]
        arrays = [x for x in level if type(x) is list]
        total += sum(map(len, objects))
        kinds = set(map(type, _children(objects, arrays)))
        if dict not in kinds and list not in kinds:
            break
        level = [x for x in _children(objects, arrays) if type(x) is dict or type(x) is list]
    return total


def _children(objects: list[dict[str, Any]], arrays: list[list[Any]]) -> Iterator[Any]:
    return chain(chain.from_iterable(map(dict.values, objects)), chain.from_iterable(arrays))


class _Repeated(dict[str, Any]):
    """An object in which ``key`` was given more than once (its last value kept)."""

    key: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    repeated = _Repeated(obj)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            repeated.key = key
            break
        seen.add(key)
    return repeated


def _int(text: str) -> int | float:
    """Integers as orjson reads them: beyond the 64-bit range, a float."""
    if len(text) < 19:
        return int(text)
    if len(text) <= 21:
        value = int(text)
        if -(2**63) <= value < 2**64:
            return value
    return float(text)


_DECODER = json.JSONDecoder(parse_constant=NonFinite, parse_int=_int, object_pairs_hook=_object)


def _parse_and_check(body: bytes) -> Any:
    """The standard library's parser, strictly UTF-8, then a walk that names the first fault."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            f"request body is not valid UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start} "
            f"({exc.reason}); {UTF8_ONLY}",
        ) from None
    try:
        data = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    fault = _first_fault(data)
    if fault is not None:
        raise ApiError(400, f"{fault.where}: {fault.msg}", [fault])
    return data


def _text_fault(text: str) -> tuple[str, str] | None:
    """(what, why) when a string is not Unicode text, else None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate \\u{ord(text[exc.start]):04x}", "which is not a Unicode character"
    return None


def _first_fault(data: Any) -> FieldError | None:
    """The first repeated key or unacceptable string, in document order (depth first, one
    iterator per open array or object: memory follows the depth, not the length)."""
    stack: list[tuple[tuple[str | int, ...], Iterator[tuple[Any, Any]]]] = [((), iter([("body", data)]))]
    while stack:
        parent, items = stack[-1]
        for key, value in items:
            loc = (*parent, key)
            kind = type(value)
            if kind is str:
                fault = _text_fault(value)
                if fault is not None:
                    return FieldError(loc, f"string contains {fault[0]}, {fault[1]}", "invalid_text")
            elif kind is dict or kind is _Repeated:
                for name in value:
                    fault = _text_fault(name)
                    if fault is not None:
                        return FieldError(
                            loc, f"key {show(name)} contains {fault[0]}, {fault[1]}", "invalid_text"
                        )
                if kind is _Repeated:
                    return FieldError((*loc, value.key), "key given more than once", "duplicate_key")
                stack.append((loc, iter(value.items())))
                break
            elif kind is list:
                stack.append((loc, enumerate(value)))
                break
        else:
            stack.pop()
    return None


__all__ = [
    "JSON",
    "OCTET_STREAM",
    "ApiError",
    "ClientGone",
    "check_content_encoding",
    "check_content_type",
    "check_encoding",
    "check_values",
    "is_v2",
    "parse_json",
    "read_body",
]
