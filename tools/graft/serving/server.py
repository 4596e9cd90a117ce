"""Load a package, open the prediction log and run the app under uvicorn (and, with
``--grpc-port``, the Open Inference Protocol's gRPC service in the same event loop).

Shutdown (SIGINT/SIGTERM, uvicorn's handlers): the HTTP server stops accepting and lets its
requests finish, then the gRPC server stops accepting and lets its RPCs finish
(:data:`graft.serving.grpc_service.GRACE_SECONDS`), then the prediction log is drained and
closed: every prediction answered over either protocol is committed before the process exits.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.core import limits
from graft.core.errors import GraftError, UsageError
from graft.release.package import load_package
from graft.serving import DEFAULT_HOST, DEFAULT_LOG_DB, DEFAULT_PORT
from graft.serving.model import ServingModel
from graft.serving.predlog import ASYNC, DiscardLog, PredictionLog

if TYPE_CHECKING:
    from graft.serving.inference import OpenInference


def load_model(package: Path, compile_cache: Path | None = None) -> ServingModel:
    """Verify the package against its manifest (refusing a tampered or incomplete one) and load it."""
    package = Path(package)
    if package.is_dir():
        return ServingModel.from_package(load_package(package), compile_cache)
    with tempfile.TemporaryDirectory(prefix="graft-serve-") as tmp:
        # everything is read into memory here; the extracted files are not needed afterwards
        try:
            return ServingModel.from_package(load_package(package, Path(tmp)), compile_cache)
        except GraftError as exc:  # name the archive, not the temporary folder it was unpacked in
            raise type(exc)(str(exc).replace(tmp, str(package))) from None


@dataclass
class Server:
    model: ServingModel
    log: PredictionLog
    app: Any
    host: str
    port: int
    grpc_port: int | None = None

    @property
    def inference(self) -> OpenInference:
        """The Open Inference Protocol core the app serves (what a gRPC service shares)."""
        inference: OpenInference = self.app.state.inference
        return inference

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def grpc_address(self) -> str | None:
        """``host:port`` of the gRPC service, if served."""
        if self.grpc_port is None:
            return None
        from graft.serving.grpc_service import address

        return address(self.host, self.grpc_port)

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM; the log is flushed and closed on the way out."""
        import uvicorn

        try:
            uvicorn.run(
                self.app,
                host=self.host,
                port=self.port,
                log_config=log_config(),
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=30,
                **http_options(),
            )
        finally:
            self.log.close()


def http_options() -> dict[str, Any]:
    """uvicorn's HTTP/1.1 options with request head and time limits (``graft serve`` and
    ``graft ui``): httptools with :mod:`graft.serving.protocol` (431 past the head limits, 408
    past ``REQUEST_SECONDS``), else h11 with its buffer bounded (h11 answers 400; no 408); either
    way a connection with no request under way is closed after ``IDLE_SECONDS``."""
    idle = {"timeout_keep_alive": limits.IDLE_SECONDS.value()}
    try:
        from graft.serving.protocol import bounded_protocol

        return {"http": bounded_protocol(), **idle}
    except ImportError:  # no httptools: uvicorn's h11 protocol
        return {"http": "h11", "h11_max_incomplete_event_size": limits.REQUEST_HEADER_BYTES.value(), **idle}


def log_config() -> dict[str, Any]:
    """uvicorn's logging set-up plus the ``graft.serving`` logger at INFO (client disconnects,
    prediction log trouble), on stderr in uvicorn's format."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["graft.serving"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def build_server(
    package: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_db: str = DEFAULT_LOG_DB,
    max_body_bytes: int | None = None,
    compile_cache: Path | None = None,
    log_durability: str = ASYNC,
    allow_origins: Sequence[str] = (),
    grpc_port: int | None = None,
) -> Server:
    """Check every option, load ``package`` and open ``log_db``: a server ready to ``run()``
    (see :func:`graft.api.serve`; ``max_body_bytes`` None: ``REQUEST_BODY_BYTES``)."""
    from graft.serving.app import create_app
    from graft.serving.crosssite import allowed_origins

    if max_body_bytes is None:
        max_body_bytes = limits.REQUEST_BODY_BYTES.value()
    allowed_origins(allow_origins)  # a usage error before the package is loaded
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: expected 1..65535")
    if grpc_port is not None and not 0 < grpc_port < 65536:
        raise UsageError(f"--grpc-port {grpc_port}: expected 1..65535")
    if grpc_port == port:
        raise UsageError(f"--grpc-port {grpc_port}: the HTTP server listens there (--port); choose another")
    if max_body_bytes < 1:
        raise UsageError(f"--max-body-bytes {max_body_bytes}: expected a positive number")
    if grpc_port is not None:
        limits.GRPC_MESSAGE_BYTES.value()  # a bad override is refused now, not once serving
        from graft.core.extras import require

        require("grpc", "graft serve --grpc-port", "serve")
        check_port(host, grpc_port, "--grpc-port")
    model = load_model(Path(package), compile_cache)
    log = PredictionLog(log_db, log_durability)
    app = create_app(model, log, max_body_bytes, allow_origins)
    if grpc_port is not None:
        with_grpc(app, app.state.inference, host, grpc_port)
    return Server(model, log, app, host, port, grpc_port)


def check_port(host: str, port: int, option: str) -> None:
    """A usage error naming ``option`` when ``host:port`` cannot be listened on (in use, or an
    address this machine does not have), found before the package is loaded."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, where = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(where)
    except OSError as exc:
        raise UsageError(f"{option} {port}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def with_grpc(app: Any, protocol: OpenInference, host: str, port: int) -> None:
    """Serve the gRPC service on ``host:port`` for as long as the app runs, in its event loop.

    It starts after the app's own start-up and stops (RPCs in flight finish) before the app's
    own shutdown, which drains and closes the prediction log.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[None]:
        from graft.serving.grpc_service import GRACE_SECONDS, serve

        async with inner(app_):
            server = await serve(protocol, host, port)
            try:
                yield
            finally:
                await server.stop(GRACE_SECONDS)

    app.router.lifespan_context = lifespan


def openapi_document(package: Path) -> str:
    from graft.serving.app import create_app, openapi_json

    return openapi_json(create_app(load_model(package), DiscardLog()))
