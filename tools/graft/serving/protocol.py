"""uvicorn's httptools HTTP/1.1 protocol with bounded request heads (too large a head gets 431)
and a bounded time to receive each request (too slow a client gets 408).

A request's head (request line and header fields) may hold at most ``REQUEST_HEADER_BYTES``
bytes and ``REQUEST_HEADERS`` fields (:mod:`graft.core.limits`). Two checks enforce it:

* while a head is incomplete, the bytes received for it are counted as they arrive; once past
  the limit (plus :data:`FRAMING` bytes for what the exact count leaves out: the method, the
  version, blank space) the connection is answered ``431 Request Header Fields Too Large`` and
  closed, so a header line streamed without end costs at most that plus one read (64 KiB),
  however long the client goes on;
* each field is counted and measured as the parser reports it (exact, whatever the reads);
  past either limit the request is answered 431 before it reaches the app.

A request must arrive whole, from its first byte to the end of its body, within
``REQUEST_SECONDS`` (:class:`Deadline`): a client that sends a head in pieces without its end, a
body short of its ``Content-Length`` or a chunked body without its last chunk is answered
``408 Request Timeout`` once the time is up and the connection is closed; the app sees the
client gone (nothing is scored or logged). The clock stops when the body is complete: the time
the app takes to answer is never cut. Should the app have answered already (e.g. 413 before the
body's end), the connection is just closed. A connection with no request under way (a new one
before its first byte, or between keep-alive requests) is closed after ``IDLE_SECONDS``
(uvicorn's ``timeout_keep_alive``, armed here for new connections too).

Everything else is uvicorn's :class:`HttpToolsProtocol` unchanged (give it to uvicorn as
``http=bounded_protocol()``). The 431 and 408 bodies are JSON like every other API error:
``{"detail": "..."}``, or ``{"error": "..."}`` when the request line named one of the Open
Inference Protocol's routes (``/v2``...).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graft.core import limits
from graft.serving.request import is_v2

STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
STATUS_408 = b"HTTP/1.1 408 Request Timeout\r\n"
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
    seconds: int = 30
    too_slow: str = ""

    @classmethod
    def now(cls) -> HeadBounds:
        """The limits in force now (:mod:`graft.core.limits`, overrides read)."""
        max_bytes = limits.REQUEST_HEADER_BYTES.value()
        max_fields = limits.REQUEST_HEADERS.value()
        seconds = limits.REQUEST_SECONDS.value()
        return cls(
            max_bytes,
            max_fields,
            f"request line and headers exceed {max_bytes:,} bytes ({limits.REQUEST_HEADER_BYTES.variable})",
            f"request has more than {max_fields:,} header fields ({limits.REQUEST_HEADERS.variable})",
            seconds,
            f"request not received in full within {seconds:,} s ({limits.REQUEST_SECONDS.variable})",
        )


class Deadline:
    """The clock of one request's arrival: :meth:`start` at its first byte, :meth:`stop` at the
    end of its body; ``expired`` is called (on ``loop``) if it is not stopped within ``seconds``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float, expired: Any) -> None:
        self.loop = loop
        self.seconds = seconds
        self.expired = expired
        self.handle: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self.handle is not None

    def start(self) -> None:
        self.stop()
        self.handle = self.loop.call_later(self.seconds, self._fire)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _fire(self) -> None:
        self.handle = None
        self.expired()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol counting each head against :attr:`bounds` (see the module)."""

    bounds: HeadBounds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_head = True  # a new connection starts with a head
        self.head_received = 0  # bytes received while this head was incomplete
        self.head_size = 0  # request line and fields as parsed so far
        self.head_fields = 0
        self.deadline = Deadline(self.loop, self.bounds.seconds, self.too_slow)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # a new connection idles like a kept-alive one until its first byte (uvicorn arms this
        # timer only after a response)
        idle = self.timeout_keep_alive
        self.timeout_keep_alive_task = self.loop.call_later(idle, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline.stop()
        super().connection_lost(exc)

    def too_slow(self) -> None:
        """The request is not in after ``REQUEST_SECONDS``: 408 unless the app has begun its
        answer, then the connection is closed (the app's receive() sees the client gone). While an
        earlier request on the connection (pipelined) is still being answered, the clock restarts
        instead: the app's time is never cut, and nothing may be written into its answer."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self.pipeline or (self.in_head and cycle is not None and not cycle.response_complete):
            self.deadline.start()
            return
        if cycle is not None and not self.in_head and cycle.response_started:
            self.transport.close()
            return
        self.logger.info("request not received within %d seconds; answered 408", self.bounds.seconds)
        self.send_error(STATUS_408, self.bounds.too_slow)

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
        self.send_error(STATUS_431, detail)

    def send_error(self, status: bytes, detail: str) -> None:
        """Answer ``status`` with the JSON error body and close: the app, if running, sees the
        client gone and answers nothing more."""
        self.deadline.stop()
        if self.cycle is not None and not self.in_head and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        path = (self.url or b"").split(b"?", 1)[0].decode("latin-1")
        body = json.dumps({"error": detail} if is_v2(path) else {"detail": detail}).encode()
        head = [status]
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
        self.deadline.start()

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

    def on_message_complete(self) -> None:
        self.deadline.stop()
        super().on_message_complete()


def bounded_protocol() -> type[HttpToolsProtocol]:
    """The protocol class, with the limits in force now (read once, when the server starts)."""

    class Protocol(BoundedHttpToolsProtocol):
        bounds = HeadBounds.now()

    return Protocol
