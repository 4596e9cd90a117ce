"""uvicorn's httptools HTTP/1.1 protocol with bounded request heads: too large a head gets 431.

A request's head (request line and header fields) may hold at most ``REQUEST_HEADER_BYTES``
bytes and ``REQUEST_HEADERS`` fields (:mod:`graft.core.limits`). Two checks enforce it:

* while a head is incomplete, the bytes received for it are counted as they arrive; once past
  the limit (plus :data:`FRAMING` bytes for what the exact count leaves out: the method, the
  version, blank space) the connection is answered ``431 Request Header Fields Too Large`` and
  closed, so a header line streamed without end costs at most that plus one read (64 KiB),
  however long the client goes on;
* each field is counted and measured as the parser reports it (exact, whatever the reads);
  past either limit the request is answered 431 before it reaches the app.

Everything else is uvicorn's :class:`HttpToolsProtocol` unchanged (give it to uvicorn as
``http=bounded_protocol()``). The 431 body is JSON like every other API error:
``{"detail": "..."}``, or ``{"error": "..."}`` when the request line named one of the Open
Inference Protocol's routes (``/v2``...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graft.core import limits
from graft.serving.request import is_v2

STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
FRAMING = 1024  # raw head bytes the exact count does not measure (never more than this)


class _HeadTooLarge(Exception):
    """Raised from a parser callback: the head is past a limit (the message says which)."""


@dataclass(frozen=True)
class HeadBounds:
    """The head limits a protocol class enforces, and the 431 detail for each."""

    max_bytes: int
    max_fields: int
    too_long: str
    too_many: str

    @classmethod
    def now(cls) -> HeadBounds:
        """The limits in force now (:mod:`graft.core.limits`, overrides read)."""
        max_bytes = limits.REQUEST_HEADER_BYTES.value()
        max_fields = limits.REQUEST_HEADERS.value()
        return cls(
            max_bytes,
            max_fields,
            f"request line and headers exceed {max_bytes:,} bytes ({limits.REQUEST_HEADER_BYTES.variable})",
            f"request has more than {max_fields:,} header fields ({limits.REQUEST_HEADERS.variable})",
        )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol counting each head against :attr:`bounds` (see the module)."""

    bounds: HeadBounds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_head = True  # a new connection starts with a head
        self.head_received = 0  # bytes received while this head was incomplete
        self.head_size = 0  # request line and fields as parsed so far
        self.head_fields = 0

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        counting = self.in_head
        if not self._feed(data):
            return
        if counting and self.in_head:
            self.head_received += len(data)
            if self.head_received > self.bounds.max_bytes + FRAMING:
                self.send_431(self.bounds.too_long)

    def _feed(self, data: bytes) -> bool:
        """Parse ``data`` as uvicorn does, answering a head past a limit with 431 and a malformed
        request with 400; False when the request ended here (answered, or upgraded)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self.send_431(str(exc.__context__))
            else:
                self.invalid()
            return False
        except httptools.HttpParserError:
            self.invalid()
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    def invalid(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def send_431(self, detail: str) -> None:
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        body = json.dumps({"error": detail} if is_v2(path) else {"detail": detail}).encode()
        head = [STATUS_431]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self.in_head = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_received = self.head_size = self.head_fields = 0

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        if self.head_size > self.bounds.max_bytes:
            raise _HeadTooLarge(self.bounds.too_long)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_fields += 1
        self.head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self.head_fields > self.bounds.max_fields:
            raise _HeadTooLarge(self.bounds.too_many)
        if self.head_size > self.bounds.max_bytes:
            raise _HeadTooLarge(self.bounds.too_long)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_received = 0
        super().on_headers_complete()


def bounded_protocol() -> type[HttpToolsProtocol]:
    """The protocol class, with the limits in force now (read once, when the server starts)."""

    class Protocol(BoundedHttpToolsProtocol):
        bounds = HeadBounds.now()

    return Protocol
