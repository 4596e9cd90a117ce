"""Load a package, open the prediction log and run the app under uvicorn."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.core import limits
from graft.core.errors import GraftError, UsageError
from graft.release.package import load_package
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

    @property
    def inference(self) -> OpenInference:
        """The Open Inference Protocol core the app serves (what a gRPC service shares)."""
        inference: OpenInference = self.app.state.inference
        return inference

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

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
    """The HTTP/1.1 implementation with request head limits: httptools (431 past the limits,
    :mod:`graft.serving.protocol`), else h11 with its buffer bounded (h11 answers 400)."""
    try:
        from graft.serving.protocol import bounded_protocol

        return {"http": bounded_protocol()}
    except ImportError:  # no httptools: uvicorn's h11 protocol
        return {"http": "h11", "h11_max_incomplete_event_size": limits.REQUEST_HEADER_BYTES.value()}


def log_config() -> dict[str, Any]:
    """uvicorn's logging set-up plus the ``graft.serving`` logger at INFO (client disconnects,
    prediction log trouble), on stderr in uvicorn's format."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["graft.serving"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def build_server(
    package: Path,
    host: str,
    port: int,
    log_db: str,
    max_body_bytes: int,
    compile_cache: Path | None = None,
    log_durability: str = ASYNC,
    allow_origins: Sequence[str] = (),
) -> Server:
    from graft.serving.app import create_app
    from graft.serving.crosssite import allowed_origins

    allowed_origins(allow_origins)  # a usage error before the package is loaded
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: expected 1..65535")
    if max_body_bytes < 1:
        raise UsageError(f"--max-body-bytes {max_body_bytes}: expected a positive number")
    model = load_model(package, compile_cache)
    log = PredictionLog(log_db, log_durability)
    return Server(model, log, create_app(model, log, max_body_bytes, allow_origins), host, port)


def openapi_document(package: Path) -> str:
    from graft.serving.app import create_app, openapi_json

    return openapi_json(create_app(load_model(package), DiscardLog()))
