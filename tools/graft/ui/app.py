"""The `graft ui` web app: GET/HEAD routes rendering :mod:`graft.ui.pages`' contexts with Jinja2.

* :func:`create_app` builds the FastAPI app for a :class:`~graft.ui.pages.common.Site` bound to
  ``host:port``; :class:`Guard` wraps it: only GET and HEAD (anything else 405), a ``Host``
  header naming the bound address (else 421: a DNS-rebound name never reaches a page) and
  security headers on every answer (no framing, no sniffing, scripts from the app only);
* :class:`Renderer` renders a page's template (autoescaped) for the live app (links are routes,
  htmx swaps pages in place) or for the static export (links are file names);
* bad input is a page with a 4xx status naming the parameter, branch or version at fault.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from graft.core.errors import GitError, GraftError, UsageError
from graft.ui.pages import branch, compare, data, experiments, models, search
from graft.ui.pages.common import BadQuery, NotFound, QueryTooLong, Site, parse_query
from graft.ui.render import ROUTES, STATIC_DIR, Links, Renderer, environment

READ_METHODS = ("GET", "HEAD")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::")
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def status_of(exc: GraftError) -> int:
    """The HTTP status of a page's error: 404 for what does not exist, 414 for a query past
    ``UI_QUERY_BYTES``, 400 for any other bad query."""
    if isinstance(exc, NotFound | GitError):
        return 404
    if isinstance(exc, QueryTooLong):
        return 414
    if isinstance(exc, BadQuery | UsageError):
        return 400
    return 422  # the project's files cannot be read as asked (named in the message)


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The ``Host`` header values the app answers (None: any, when bound to every address)."""
    if host in WILDCARD:
        return None
    names = set(LOOPBACK) if host in LOOPBACK else {host}
    out = set()
    for name in names:
        shown = f"[{name}]" if ":" in name else name
        out |= {shown, f"{shown}:{port}"}
    return out


class Guard:
    """Read-only, Host-checked and security-headed: wraps the app (ASGI)."""

    def __init__(self, app: ASGIApp, hosts: set[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in READ_METHODS:
            await _plain(send, 405, "read-only: only GET and HEAD are answered\n", [(b"allow", b"GET, HEAD")])
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.hosts is not None and host not in self.hosts:
            shown = host or "(none)"
            await _plain(send, 421, f"Host header {shown!r} is not this server's address\n", [])
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
            await send(message)

        await self.app(scope, receive, secured)


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


def page_context(site: Site, name: str, pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], str]:
    """A page's context and title from its URL query pairs."""
    query = parse_query(name, pairs)
    if name == "experiments":
        return experiments.page(site, query), "Experiments"
    if name == "compare":
        return compare.page(site, query), "Compare"
    if name == "branch":
        return branch.page(site, query), f"Branch {query['name']}"
    if name == "models":
        return models.page(site, query), "Models"
    if name == "version":
        return models.version(site, query), f"{query['model']} {query['version']}"
    if name == "data":
        return data.page(site, query), f"Data {query['path']}".strip()
    return search.page(site, query), "Search"


def create_app(site: Site, host: str = "127.0.0.1", port: int = 8080) -> Guard:
    """The app for ``site``, answering ``Host`` headers naming ``host:port`` only."""
    renderer = Renderer(site, Links(static=False))
    app = FastAPI(title="graft ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(GraftError)
    async def graft_error(request: Request, exc: GraftError) -> HTMLResponse:
        status = status_of(exc)
        return HTMLResponse(renderer.error(status, str(exc)), status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = f"no page at {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return HTMLResponse(renderer.error(exc.status_code, message), status_code=exc.status_code)

    def make_route(name: str, template: str) -> Callable[[Request], HTMLResponse]:
        def route(request: Request) -> HTMLResponse:
            context, title = page_context(site, name, request.query_params.multi_items())
            return HTMLResponse(renderer.render(template, name, context, title))

        route.__name__ = f"page_{name}"
        return route

    for name, (path, template) in ROUTES.items():
        app.add_api_route(
            path, make_route(name, template), methods=list(READ_METHODS), response_class=HTMLResponse
        )

    @app.api_route("/fragments/significance", methods=list(READ_METHODS), response_class=HTMLResponse)
    def significance(request: Request) -> HTMLResponse:
        pairs = request.query_params.multi_items()
        wrong = [k for k, _ in pairs if k != "branch"]
        if wrong:
            raise BadQuery(f"unknown query parameter '{wrong[0]}' (this fragment takes: branch)")
        head = request.query_params.get("branch") or ""
        if not head:
            raise BadQuery("query parameter 'branch': which branch's intervals")
        keys = site.headline()
        cells = experiments.significance_cells(site, head, keys)
        html = environment().get_template("significance.html.j2").render(cells=cells)
        return HTMLResponse(html)

    @app.api_route("/refs", methods=list(READ_METHODS))
    def refs(request: Request) -> Response:
        """The refs' digest as an ETag: 304 while nothing moved (the pages poll it)."""
        tag = f'"{site.refs_tag()}"'
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers={"etag": tag, "cache-control": "no-cache"})
        return JSONResponse({"tag": tag}, headers={"etag": tag, "cache-control": "no-cache"})

    return Guard(app, allowed_hosts(host, port))


def run(site: Site, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn on ``host:port``)."""
    import uvicorn

    from graft.serving.server import http_options

    uvicorn.run(
        create_app(site, host, port),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        **http_options(),
    )
