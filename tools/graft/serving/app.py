"""The HTTP app (FastAPI): prediction, health, metadata, feedback and an Open Inference Protocol route.

Request bodies are read by hand rather than by FastAPI's body parameters so that

* the size limit is enforced before anything is parsed (413);
* malformed JSON is a 400 naming the position, while NaN/Infinity literals (which Python's
  json accepts) are a 422 naming the field;
* records are checked by the validator compiled from schema.json, column-wise for lists.

The OpenAPI document still describes every body: the record schema is the package's
schema.json, added to the components by :func:`create_app`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from graft import __version__
from graft.serving.model import BATCH_ROWS, ServingModel
from graft.serving.predlog import FeedbackRow, PredictionLog, PredictionRow, now
from graft.serving.validator import MISSING, FieldError, InvalidInput, NonFinite, RecordValidator

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
JSON = "application/json"
ACTIONS = ("accepted", "overridden", "ignored", "escalated")
V2_DATATYPES = {"integer": ("INT64", "INT32", "INT16", "INT8", "FP64", "FP32"), "number": ("FP64", "FP32")}


# --- documented shapes (OpenAPI); responses are serialised with orjson directly -------------


class Prediction(BaseModel):
    probability: float = Field(ge=0, le=1, description="probability of the positive label")
    label: Literal[">50K", "<=50K"] = Field(description="positive when probability >= threshold")


class PredictResponse(BaseModel):
    request_id: str = Field(description="quote it in POST /feedback")
    model_version: str
    threshold: float
    predictions: list[Prediction] = Field(description="one per input record, in input order")


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    detail: str = Field(description="one line naming the field or the problem")
    errors: list[ErrorItem] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


class Metadata(BaseModel):
    model: str
    version: str
    threshold: float
    created_by: str | None
    lineage: dict[str, Any]
    metrics: dict[str, Any]
    input_fields: list[str]
    unknown_category_policy: Literal["reject"] = "reject"


class FeedbackAccepted(BaseModel):
    feedback_id: str
    request_id: str
    status: Literal["recorded"] = "recorded"


class V2Output(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class V2Response(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[V2Output]


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


def error_response(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> Response:
    return Response(
        orjson.dumps({"detail": detail, "errors": errors or []}), status_code=status, media_type=JSON
    )


def feedback_schema() -> dict[str, Any]:
    return {
        "title": "Feedback",
        "type": "object",
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": 64},
            "index": {
                "type": "integer",
                "minimum": 0,
                "description": "the record's position in the request; omit for the whole request",
            },
            "outcome": {"type": "string", "enum": [">50K", "<=50K"], "description": "the observed label"},
            "action": {"type": "string", "enum": list(ACTIONS), "description": "what the user did"},
        },
        "required": ["request_id"],
        "anyOf": [{"required": ["outcome"]}, {"required": ["action"]}],
        "additionalProperties": False,
    }


def v2_request_schema(validator: RecordValidator) -> dict[str, Any]:
    return {
        "title": "InferenceRequest",
        "type": "object",
        "properties": {
            "id": {"type": "string", "maxLength": 64},
            "inputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": validator.columns},
                        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
                        "datatype": {"type": "string", "enum": ["BYTES", "INT64", "INT32", "FP64", "FP32"]},
                        "parameters": {"type": "object"},
                        "data": {"type": "array"},
                    },
                    "required": ["name", "shape", "datatype", "data"],
                },
            },
            "parameters": {"type": "object"},
            "outputs": {"type": "array"},
        },
        "required": ["inputs"],
    }


# --- body reading ---------------------------------------------------------------------------


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 before parsing when it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, f"invalid Content-Length header {declared!r}") from None
        if size > limit:
            raise ApiError(413, f"request body of {size} bytes exceeds the limit of {limit} bytes")
        return await request.body()
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Strict JSON; NaN/Infinity literals become :class:`NonFinite` so the validator can name the field."""
    if not body:
        raise ApiError(400, "empty request body: expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=NonFinite)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None


def invalid(exc: InvalidInput) -> ApiError:
    return ApiError(422, str(exc), exc.errors)


def _v2_columns(payload: Any, validator: RecordValidator) -> tuple[dict[str, list[Any]], int]:
    """Open Inference Protocol inputs (one tensor per field) -> columns; errors name the input."""
    if type(payload) is not dict or type(payload.get("inputs")) is not list or not payload["inputs"]:
        raise ApiError(422, "body.inputs: expected a non-empty list of input tensors")
    columns: dict[str, list[Any]] = {}
    n: int | None = None
    for i, tensor in enumerate(payload["inputs"]):
        where = f"body.inputs[{i}]"
        if type(tensor) is not dict:
            raise ApiError(422, f"{where}: expected an object")
        name, data, shape = tensor.get("name"), tensor.get("data"), tensor.get("shape")
        if type(name) is not str or name not in validator.allowed:
            raise ApiError(422, f"{where}.name: unknown input {name!r}")
        if name in columns:
            raise ApiError(422, f"{where}.name: input {name!r} given twice")
        if type(data) is not list:
            raise ApiError(422, f"{where}.data: expected a list")
        if (
            type(shape) is not list
            or not shape
            or any(type(d) is not int for d in shape)
            or shape[0] != len(data)
            or any(d != 1 for d in shape[1:])
        ):
            raise ApiError(
                422, f"{where}.shape: expected [{len(data)}] or [{len(data)}, 1] for input {name!r}"
            )
        if n is not None and len(data) != n:
            raise ApiError(422, f"{where}.data: {len(data)} values, other inputs have {n}")
        n = len(data)
        columns[name] = data
    if not n:
        raise ApiError(422, "body.inputs: no values")
    for name in validator.allowed - set(columns):
        columns[name] = [MISSING] * n
    return columns, n


# --- the app -------------------------------------------------------------------------------


def create_app(
    model: ServingModel, log: PredictionLog, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FastAPI:
    validator = model.validator
    version = model.version
    threshold = model.threshold

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        log.close()  # graceful shutdown: every queued row is committed before the process exits

    app = FastAPI(
        title=f"graft serve: {model.name}",
        version=__version__,
        description=(
            "Predictions of a graft model package. Records follow the package's schema.json; "
            "unknown categories, out-of-range numbers, missing/extra fields and NaN/Infinity are "
            "rejected with 422 naming the field."
        ),
        lifespan=lifespan,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.detail, [e.as_dict() for e in exc.errors])

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return error_response(422, f"{where}: {first['msg']}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        response = error_response(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    errors_doc: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "malformed JSON"},
        413: {"model": ErrorBody, "description": "body larger than the configured limit"},
        422: {"model": ErrorBody, "description": "a field breaks the input schema (named in detail)"},
    }

    async def score(columns: dict[str, list[Any]], n: int) -> tuple[Any, list[str]]:
        """Probabilities and labels; batches over BATCH_ROWS are scored off the event loop."""
        if n > BATCH_ROWS:
            proba = await run_in_threadpool(model.predict_columns, columns)
        else:
            proba = model.predict_columns(columns)
        return proba, model.labels(proba)

    def log_prediction(request_id: str, inputs: str, n: int, proba: Any, labels: list[str]) -> None:
        outputs = orjson.dumps({"probability": proba, "label": labels}, option=orjson.OPT_SERIALIZE_NUMPY)
        log.record_prediction(PredictionRow(request_id, now(), version, n, inputs, outputs.decode()))

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=errors_doc,
        summary="Predict for one record or a list of records",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/InputRecord"},
                                {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"$ref": "#/components/schemas/InputRecord"},
                                },
                            ]
                        }
                    }
                },
            }
        },
    )
    async def predict(request: Request) -> Response:
        body = await read_body(request, max_body_bytes)
        data = parse_json(body)
        try:
            if type(data) is dict:
                columns = validator.validate_record(data)
                inputs = b"[" + body + b"]"
            elif type(data) is list:
                columns = validator.validate_records(data)
                inputs = body
            else:
                raise ApiError(422, "body: expected a record (object) or a list of records")
        except InvalidInput as exc:
            raise invalid(exc) from None
        n = len(columns[validator.rules[0].name])
        proba, labels = await score(columns, n)
        request_id = uuid.uuid4().hex
        out = orjson.dumps(
            {
                "request_id": request_id,
                "model_version": version,
                "threshold": threshold,
                "predictions": [
                    {"probability": p, "label": lab} for p, lab in zip(proba.tolist(), labels, strict=True)
                ],
            }
        )
        log_prediction(request_id, inputs.decode(), n, proba, labels)
        return Response(out, media_type=JSON)

    @app.post(
        "/feedback",
        status_code=202,
        response_model=FeedbackAccepted,
        responses={**errors_doc, 404: {"model": ErrorBody, "description": "unknown request id"}},
        summary="Record the observed outcome and/or the user's action for a prediction",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Feedback"}}},
            }
        },
    )
    async def feedback(request: Request) -> Response:
        data = parse_json(await read_body(request, max_body_bytes))
        try:
            feedback_validator.validate_record(data)
        except InvalidInput as exc:
            raise invalid(exc) from None
        if data.get("outcome") is None and data.get("action") is None:
            raise ApiError(422, "body: give 'outcome', 'action' or both")
        request_id = data["request_id"]
        n = await run_in_threadpool(log.request_records, request_id)
        if n is None:
            raise ApiError(404, f"unknown request id {request_id!r}")
        index = data.get("index")
        if index is not None and index >= n:
            raise ApiError(
                422, f"body.index: {index} is out of range; request {request_id} had {n} record(s)"
            )
        feedback_id = uuid.uuid4().hex
        log.record_feedback(
            FeedbackRow(
                feedback_id,
                request_id,
                None if index is None else int(index),
                now(),
                data.get("outcome"),
                data.get("action"),
            )
        )
        body = {"feedback_id": feedback_id, "request_id": request_id, "status": "recorded"}
        return Response(orjson.dumps(body), status_code=202, media_type=JSON)

    feedback_validator = RecordValidator(feedback_schema())

    @app.get("/health/live", response_model=Health, summary="The process is up")
    async def live() -> Response:
        return Response(b'{"status":"ok","detail":null}', media_type=JSON)

    @app.get(
        "/health/ready",
        response_model=Health,
        responses={503: {"model": Health, "description": "the prediction log cannot be written"}},
        summary="The model is loaded and the prediction log is writable",
    )
    async def ready() -> Response:
        if log.healthy:
            return Response(b'{"status":"ok","detail":null}', media_type=JSON)
        body = {"status": "unavailable", "detail": f"prediction log: {log.error or 'writer stopped'}"}
        return Response(orjson.dumps(body), status_code=503, media_type=JSON)

    metadata_body = orjson.dumps(
        {
            "model": model.name,
            "version": version,
            "threshold": threshold,
            "created_by": model.manifest.get("created_by"),
            "lineage": model.manifest.get("lineage", {}),
            "metrics": model.manifest.get("metrics", {}),
            "input_fields": validator.columns,
            "unknown_category_policy": "reject",
        }
    )

    @app.get("/metadata", response_model=Metadata, summary="Model version, lineage and headline metrics")
    async def metadata() -> Response:
        return Response(metadata_body, media_type=JSON)

    @app.post(
        "/v2/models/{model_name}/infer",
        response_model=V2Response,
        responses={**errors_doc, 404: {"model": ErrorBody, "description": "no model of that name"}},
        summary="Open Inference Protocol (KServe V2) inference; one input tensor per field",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}},
            }
        },
    )
    async def v2_infer(model_name: str, request: Request) -> Response:
        if model_name != model.name:
            raise ApiError(404, f"unknown model {model_name!r}; this server serves {model.name!r}")
        payload = parse_json(await read_body(request, max_body_bytes))
        columns, n = _v2_columns(payload, validator)
        try:
            columns = validator.validate_columns(columns, ("body", "inputs"), index=False)
        except InvalidInput as exc:
            raise invalid(exc) from None
        proba, labels = await score(columns, n)
        request_id = uuid.uuid4().hex
        out = orjson.dumps(
            {
                "model_name": model.name,
                "model_version": version,
                "id": request_id,
                "outputs": [
                    {"name": "probability", "shape": [n], "datatype": "FP64", "data": proba},
                    {"name": "label", "shape": [n], "datatype": "BYTES", "data": labels},
                ],
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        names = validator.columns
        records = [
            dict(zip(names, row, strict=True)) for row in zip(*(columns[c] for c in names), strict=True)
        ]
        log_prediction(request_id, orjson.dumps(records).decode(), n, proba, labels)
        return Response(out, media_type=JSON)

    input_schema = {k: v for k, v in validator.schema.items() if k not in ("$schema", "$id")}
    input_schema["title"] = "InputRecord"

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["InputRecord"] = input_schema
            schemas["Feedback"] = feedback_schema()
            schemas["InferenceRequest"] = v2_request_schema(validator)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def openapi_json(app: FastAPI) -> str:
    """The app's OpenAPI document as canonical JSON (sorted keys, two-space indent, newline)."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
