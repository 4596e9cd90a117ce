"""The HTTP app (FastAPI): prediction, health, metadata, feedback and the Open Inference Protocol.

The pieces live in their own modules:

* :mod:`graft.serving.crosssite`: browsers' cross-site requests refused (403) before any route;
* :mod:`graft.serving.request`: Content-Type (415), size limit (413) and strict UTF-8 JSON
  (400) for every POST body;
* :mod:`graft.serving.validator`: records against the package's schema.json (422 naming the
  field); :mod:`graft.serving.v2`: Open Inference Protocol tensors and datatypes (422);
  :mod:`graft.serving.restv2`: its HTTP bodies, binary tensors included (400 naming the input);
* :mod:`graft.serving.routes`: the handlers; :mod:`graft.serving.schemas`: the documented
  shapes.

Here: the app, its error responses (every error is ``{"detail": one line, "errors": [...]}``,
except on the Open Inference Protocol's routes, ``/v2`` and below, where the protocol says
``{"error": one line}``), and the OpenAPI document, generated per package: its record schema is the package's
schema.json, its predictions, metadata and feedback those of the package's task and labels
(:func:`graft.serving.schemas.task_components`). A client that
disconnects before sending its whole body is logged as one INFO line on the ``graft.serving``
logger; nothing is scored or logged for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from graft import __version__
from graft.core import limits
from graft.serving.crosssite import CrossSiteGuard, allowed_origins
from graft.serving.inference import OpenInference, Scoring
from graft.serving.model import ServingModel
from graft.serving.predlog import PredictionLog
from graft.serving.request import JSON, ApiError, ClientGone, is_v2
from graft.serving.routes import Routes
from graft.serving.schemas import task_components

DEFAULT_MAX_BODY_BYTES = limits.REQUEST_BODY_BYTES.default

logger = logging.getLogger("graft.serving")


def error_response(
    status: int, detail: str, errors: list[dict[str, Any]] | None = None, v2: bool = False
) -> Response:
    body: dict[str, Any] = {"error": detail} if v2 else {"detail": detail, "errors": errors or []}
    try:
        content = orjson.dumps(body)
    except TypeError:  # a lone surrogate echoed from a request (the parser refuses them first)
        content = orjson.dumps(_escaped(body))
    return Response(content, status_code=status, media_type=JSON)


def _escaped(value: Any) -> Any:
    """Strings with what is not Unicode written as backslash escapes, at any depth."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def create_app(
    model: ServingModel,
    log: PredictionLog,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allow_origins: Sequence[str] = (),
    inference: OpenInference | None = None,
) -> FastAPI:
    """The app serving ``model``; ``allow_origins`` are the origins (``--allow-origin``) whose
    browsers' requests are let through (with CORS headers); ``inference`` the Open Inference
    Protocol core to share (e.g. with a gRPC server), made here when None."""
    allowed = allowed_origins(allow_origins)
    inference = inference or OpenInference(Scoring(model, log))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        log.close()  # graceful shutdown: every queued row is committed before the process exits

    app = FastAPI(
        title=f"graft serve: {model.name}",
        version=__version__,
        description=(
            f"Predictions of a graft model package ({model.task}). Request bodies are UTF-8 JSON "
            "sent as application/json or without a Content-Type (the Open Inference Protocol's "
            "inference also takes its binary tensor extension); browsers' cross-site requests "
            "get 403; records follow the package's schema.json; unknown "
            "categories, out-of-range numbers, missing/extra fields and NaN/Infinity are "
            "rejected with 422 naming the field."
        ),
        lifespan=lifespan,
    )
    add_error_handlers(app)
    Routes(inference, max_body_bytes).register(app)
    if allow_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=[origin.strip().rstrip("/") for origin in allow_origins],
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Inference-Header-Content-Length"],
            expose_headers=["Inference-Header-Content-Length"],
        )
    app.add_middleware(CrossSiteGuard, allowed=allowed, refusal=refusal)  # outermost: first to run
    app.state.inference = inference
    components = task_components(model.task, model.classes, model.validator, inference.output_names)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = without_unused_422(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def refusal(path: str, status: int, detail: str) -> Response:
    """An error response for ``path`` made before any route ran (see :mod:`graft.serving.crosssite`)."""
    return error_response(status, detail, v2=is_v2(path))


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(
            exc.status, exc.detail, [e.as_dict() for e in exc.errors], is_v2(request.url.path)
        )

    @app.exception_handler(ClientGone)
    async def _client_gone(request: Request, exc: ClientGone) -> Response:
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        logger.info(
            "%s %s: %s disconnected (it left, or was answered 408 past %s) %s; nothing scored or logged",
            request.method,
            request.url.path,
            client,
            limits.REQUEST_SECONDS.variable,
            exc,
        )
        # nobody is there to read it
        return error_response(400, f"client disconnected {exc}", v2=is_v2(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return error_response(422, f"{where}: {first['msg']}", errors, is_v2(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = error_response(exc.status_code, str(exc.detail), v2=is_v2(request.url.path))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response


def without_unused_422(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without the 422 FastAPI documents for routes whose only parameters are path
    strings (the Open Inference Protocol's GET routes: nothing there can fail validation), and
    without the components only those referred to."""
    for path, operations in doc.get("paths", {}).items():
        if is_v2(path) and "get" in operations:
            operations["get"].get("responses", {}).pop("422", None)
    text = json.dumps(doc["paths"])
    schemas = doc.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas and "#/components/schemas/HTTPValidationError" not in text:
        del schemas["HTTPValidationError"]
        del schemas["ValidationError"]
    return doc


def openapi_json(app: FastAPI) -> str:
    """The app's OpenAPI document as canonical JSON (sorted keys, two-space indent, newline)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
