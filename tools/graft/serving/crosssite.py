"""Browsers' cross-site requests are refused (403) before any route sees them.

A web page on another site can make a browser send a "simple" request to the server (a form
post, or ``fetch`` with a body and no Content-Type) without asking first (no CORS preflight).
Since a POST without a Content-Type is read as JSON (non-browser clients commonly send none),
such requests are told apart by what browsers add to every request and scripts cannot forge:

* ``Sec-Fetch-Site: cross-site`` (Fetch Metadata, sent by every current browser): refused,
  unless its ``Origin`` is one of ``--allow-origin``;
* an ``Origin`` that is not the server's own (the host and port the request was sent to, its
  ``Host`` header) and not one of ``--allow-origin``: refused (``Origin: null``, what sandboxed
  pages and local files send, included).

Requests that carry neither header (curl, tritonclient, server-to-server clients) are not
concerned. The refusal is one line: ``{"detail": "..."}``, or ``{"error": "..."}`` on the
Open Inference Protocol's ``/v2`` routes. Origins given to ``--allow-origin`` are also
answered CORS headers (Starlette's ``CORSMiddleware``), so a page served from them can call
the API and read its answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from graft.core.errors import UsageError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (path, status, one-line detail) -> an ASGI response
Refusal = Callable[[str, int, str], ASGIApp]

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_key(origin: str) -> tuple[str, str, int] | None:
    """``scheme://host[:port]`` -> (scheme, host, port), the default port filled in; None for
    anything else (a path, a query, credentials, another scheme, ``null``)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def allowed_origins(values: Iterable[str]) -> frozenset[tuple[str, str, int]]:
    """``--allow-origin`` values checked: each ``http(s)://host[:port]`` (usage error otherwise)."""
    keys = set()
    for value in values:
        key = origin_key(value)
        if key is None:
            raise UsageError(
                f"--allow-origin {value!r}: expected an origin, scheme://host[:port] (http or https, "
                "no path), e.g. https://app.example.com"
            )
        keys.add(key)
    return frozenset(keys)


def _own(key: tuple[str, str, int], host: str | None) -> bool:
    """Whether an origin is the server's own: the host and port its request was sent to."""
    if not host:
        return False
    parts = urlsplit(f"//{host.strip()}")
    try:
        port = parts.port or DEFAULT_PORTS[key[0]]
    except ValueError:
        return False
    return (parts.hostname or "").lower() == key[1] and port == key[2]


class CrossSiteGuard:
    """ASGI middleware: 403 for a browser's cross-site request (module docstring)."""

    def __init__(self, app: ASGIApp, allowed: frozenset[tuple[str, str, int]], refusal: Refusal) -> None:
        self.app = app
        self.allowed = allowed
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            why = self.refused(scope["headers"])
            if why is not None:
                await self.refusal(scope["path"], 403, why)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refused(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """Why a request with these headers is refused, or None."""
        origin = fetch_site = host = None
        for name, value in headers:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"sec-fetch-site":
                fetch_site = value.decode("latin-1").strip().lower()
            elif name == b"host":
                host = value.decode("latin-1")
        if origin is None and fetch_site != "cross-site":
            return None  # the common case: not a browser, or a same-origin request without Origin
        key = origin_key(origin) if origin is not None else None
        if key is not None and key in self.allowed:
            return None
        if fetch_site == "cross-site":
            source = f" from {origin!r}" if origin is not None else ""
            return (
                f"cross-site request{source} refused (Sec-Fetch-Site: cross-site); allow its origin "
                "with --allow-origin"
            )
        if key is None or not _own(key, host):
            return f"request from origin {origin!r} refused: not this server's; allow it with --allow-origin"
        return None
