"""The endpoints: what each does with a request, and how it is documented.

Every POST route reads its body the same way (:meth:`Routes.json_body`: Content-Type, size,
strict UTF-8 JSON; see :mod:`graft.serving.request`), then validates it; the Open Inference
Protocol's inference also takes the binary tensor extension (:mod:`graft.serving.restv2`) and
hands the decoded tensors to :class:`graft.serving.inference.OpenInference`, which the gRPC
service calls too. A body over
:data:`~graft.serving.request.INLINE_BYTES` is parsed and validated in a worker thread, at most
``REQUEST_PARSERS`` at once (:mod:`graft.core.limits`), so a costly body never holds up the
event loop (``/health/live`` answers meanwhile) and memory stays bounded. A request is logged
only once it has been scored, and what the log holds is the canonical form of what was scored:
the validated records re-serialised (every schema field, keys sorted, ``null`` where a
nullable field was absent), never the raw body. With ``--log-durability commit`` a prediction
or feedback is answered only once its row is committed, and 503 when it cannot be
(:meth:`graft.serving.predlog.PredictionLog.record`).

What a prediction holds follows the package's task (settings.json ``task``; see
:meth:`graft.serving.model.ServingModel.outputs`): binary ``probability`` and ``label`` (and
the response's ``threshold``), multiclass ``probabilities`` per class and ``label``,
regression ``prediction``. Feedback's ``outcome`` is one of the task's labels, or a finite
number for regression (logged as its JSON text).

The Open Inference Protocol's routes (``/v2``...) answer as its REST specification says: health
``{"live": true}``/``{"ready": true}`` (readiness follows the prediction log, 503 when it
cannot be written, as ``/health/ready``), server and model metadata, model readiness
``{"name", "ready"}``, inference; each with or without ``/versions/{version}`` (a version other
than the package's is 404), errors as ``{"error": one line}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from graft.serving.inference import OpenInference, invalid
from graft.serving.predlog import FeedbackRow, now
from graft.serving.request import (
    INLINE_BYTES,
    JSON,
    ApiError,
    check_content_encoding,
    check_content_type,
    parse_json,
    read_body,
)
from graft.serving.restv2 import HEADER, RestRequest, parse_request, response
from graft.serving.schemas import (
    BODY_ERRORS,
    LOG_ERRORS,
    V2_BODY_ERRORS,
    ErrorBody,
    FeedbackAccepted,
    Health,
    V2Error,
    V2Live,
    V2ModelMetadata,
    V2ModelReady,
    V2Ready,
    V2Response,
    V2ServerMetadata,
    documented,
    feedback_schema,
    request_body,
    v2_request_body,
)
from graft.serving.validator import InvalidInput, RecordValidator

READY = b'{"status":"ok","detail":null}'
T = TypeVar("T")


def outcome_text(outcome: Any) -> str | None:
    """A validated outcome as the log's text column holds it: a label, or a number's JSON text."""
    if outcome is None or isinstance(outcome, str):
        return outcome
    return orjson.dumps(outcome).decode()


class Routes:
    """The handlers of one served model; :meth:`register` adds them to an app."""

    def __init__(self, inference: OpenInference, max_body_bytes: int) -> None:
        self.inference = inference
        self.scoring = scoring = inference.scoring
        self.model = model = scoring.model
        self.log = scoring.log
        self.max_body_bytes = max_body_bytes
        self.validator = model.validator
        self.feedback_validator = RecordValidator(feedback_schema(model.task, model.classes))
        self.metadata_body = orjson.dumps(
            {
                "model": model.name,
                "version": model.version,
                "task": {"type": model.task, "labels": model.classes or None},
                "threshold": model.threshold,
                "created_by": model.manifest.get("created_by"),
                "lineage": model.manifest.get("lineage", {}),
                "metrics": model.manifest.get("metrics", {}),
                "input_fields": self.validator.columns,
                "input_schema": self.validator.schema,
                "label_column": model.label_column,
                "unknown_category_policy": "reject",
            }
        )
        self.server_metadata_body = orjson.dumps(inference.server_metadata())
        self.model_metadata_body = orjson.dumps(inference.model_metadata())
        self.model_ready_body = orjson.dumps({"name": model.name, "ready": True})

    def register(self, app: FastAPI) -> None:
        app.add_api_route(
            "/predict",
            self.predict,
            methods=["POST"],
            responses={200: documented("PredictResponse"), **BODY_ERRORS, **LOG_ERRORS},
            summary="Predict for one record or a list of records",
            openapi_extra=request_body(
                {
                    "oneOf": [
                        {"$ref": "#/components/schemas/InputRecord"},
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/InputRecord"},
                        },
                    ]
                }
            ),
        )
        app.add_api_route(
            "/feedback",
            self.feedback,
            methods=["POST"],
            status_code=202,
            response_model=FeedbackAccepted,
            responses={
                **BODY_ERRORS,
                404: {"model": ErrorBody, "description": "unknown request id"},
                **LOG_ERRORS,
            },
            summary="Record the observed outcome and/or the user's action for a prediction",
            openapi_extra=request_body({"$ref": "#/components/schemas/Feedback"}),
        )
        app.add_api_route("/health/live", self.live, response_model=Health, summary="The process is up")
        app.add_api_route(
            "/health/ready",
            self.ready,
            response_model=Health,
            responses={503: {"model": Health, "description": "the prediction log cannot be written"}},
            summary="The model is loaded and the prediction log is writable",
        )
        app.add_api_route(
            "/metadata",
            self.metadata,
            responses={200: documented("Metadata")},
            summary="Model version, task, lineage, headline metrics and input schema",
        )
        self.register_v2(app)

    def register_v2(self, app: FastAPI) -> None:
        """The Open Inference Protocol's REST routes."""
        not_found: dict[int | str, dict[str, Any]] = {
            404: {"model": V2Error, "description": "no model (or version) of that name"}
        }
        unavailable: dict[int | str, dict[str, Any]] = {
            503: {"model": V2Error, "description": "the prediction log cannot be written"}
        }
        app.add_api_route(
            "/v2/health/live",
            self.v2_live,
            response_model=V2Live,
            summary="Open Inference Protocol: server live",
        )
        app.add_api_route(
            "/v2/health/ready",
            self.v2_ready,
            response_model=V2Ready,
            responses=unavailable,
            summary="Open Inference Protocol: server ready (the prediction log is writable)",
        )
        app.add_api_route(
            "/v2",
            self.v2_server_metadata,
            response_model=V2ServerMetadata,
            summary="Open Inference Protocol: server metadata",
        )
        versioned = (
            ("", "", (self.v2_model_metadata, self.v2_model_ready, self.v2_infer)),
            (
                "/versions/{model_version}",
                " (that version)",
                (self.v2_version_metadata, self.v2_version_ready, self.v2_version_infer),
            ),
        )
        for suffix, version, (metadata, ready, infer) in versioned:
            base = "/v2/models/{model_name}" + suffix
            app.add_api_route(
                base,
                metadata,
                response_model=V2ModelMetadata,
                responses=not_found,
                summary=f"Open Inference Protocol: model metadata{version}",
            )
            app.add_api_route(
                f"{base}/ready",
                ready,
                response_model=V2ModelReady,
                responses={**not_found, **unavailable},
                summary=f"Open Inference Protocol: model ready{version}",
            )
            app.add_api_route(
                f"{base}/infer",
                infer,
                methods=["POST"],
                response_model=V2Response,
                responses={**V2_BODY_ERRORS, **not_found, **unavailable},
                summary=f"Open Inference Protocol (KServe V2) inference{version}; one input tensor per field",
                openapi_extra=v2_request_body(),
            )

    # --- shared steps -----------------------------------------------------------------------

    async def json_body(self, request: Request, then: Callable[[Any], T]) -> T:
        """415, 413 or 400 (see :mod:`graft.serving.request`), else ``then(parsed body)`` (the
        route's validation): in a worker thread for a large body."""
        check_content_type(request.headers.getlist("content-type"))
        check_content_encoding(request.headers.getlist("content-encoding"))
        body = await read_body(request, self.max_body_bytes)
        if len(body) <= INLINE_BYTES:
            return then(parse_json(body))
        return await self.scoring.offload(lambda: then(parse_json(body)))

    # --- handlers ---------------------------------------------------------------------------

    def _predict_input(self, data: Any) -> tuple[Any, dict[str, list[Any]]]:
        try:
            if type(data) is dict:
                return data, self.validator.validate_record(data)
            if type(data) is list:
                return data, self.validator.validate_records(data)
            raise ApiError(422, "body: expected a record (object) or a list of records")
        except InvalidInput as exc:
            raise invalid(exc) from None

    async def predict(self, request: Request) -> Response:
        data, columns = await self.json_body(request, self._predict_input)
        n = len(columns[self.validator.rules[0].name])
        scores, labels, inputs = await self.scoring.score(columns, n, [data] if type(data) is dict else data)
        request_id = uuid.uuid4().hex
        body: dict[str, Any] = {"request_id": request_id, "model_version": self.model.version}
        if self.model.task == "binary":
            body["threshold"] = self.model.threshold
        body["predictions"] = self.model.outputs(scores, labels)
        out = orjson.dumps(body)
        await self.scoring.log_prediction(request_id, inputs, n, scores, labels)
        return Response(out, media_type=JSON)

    def _feedback_input(self, data: Any) -> Any:
        try:
            self.feedback_validator.validate_record(data)
        except InvalidInput as exc:
            raise invalid(exc) from None
        return data

    async def feedback(self, request: Request) -> Response:
        data = await self.json_body(request, self._feedback_input)
        if data.get("outcome") is None and data.get("action") is None:
            raise ApiError(422, "body: give 'outcome', 'action' or both")
        request_id = data["request_id"]
        n = await run_in_threadpool(self.log.request_records, request_id)
        if n is None:
            raise ApiError(404, f"unknown request id {request_id!r}")
        index = data.get("index")
        if index is not None and index >= n:
            raise ApiError(
                422, f"body.index: {index} is out of range; request {request_id} had {n} record(s)"
            )
        feedback_id = uuid.uuid4().hex
        await self.scoring.record(
            FeedbackRow(
                feedback_id,
                request_id,
                None if index is None else int(index),
                now(),
                outcome_text(data.get("outcome")),
                data.get("action"),
            )
        )
        body = {"feedback_id": feedback_id, "request_id": request_id, "status": "recorded"}
        return Response(orjson.dumps(body), status_code=202, media_type=JSON)

    async def live(self) -> Response:
        return Response(READY, media_type=JSON)

    async def ready(self) -> Response:
        if self.log.healthy:
            return Response(READY, media_type=JSON)
        body = {"status": "unavailable", "detail": f"prediction log: {self.log.error or 'writer stopped'}"}
        return Response(orjson.dumps(body), status_code=503, media_type=JSON)

    async def metadata(self) -> Response:
        return Response(self.metadata_body, media_type=JSON)

    # --- the Open Inference Protocol ----------------------------------------------------------

    async def v2_live(self) -> Response:
        return Response(b'{"live":true}', media_type=JSON)

    async def v2_ready(self) -> Response:
        if not self.inference.ready:
            raise ApiError(503, self.inference.not_ready)
        return Response(b'{"ready":true}', media_type=JSON)

    async def v2_server_metadata(self) -> Response:
        return Response(self.server_metadata_body, media_type=JSON)

    async def v2_model_metadata(self, model_name: str) -> Response:
        return self._model_metadata(model_name, None)

    async def v2_version_metadata(self, model_name: str, model_version: str) -> Response:
        return self._model_metadata(model_name, model_version)

    def _model_metadata(self, model_name: str, model_version: str | None) -> Response:
        self.inference.check_model(model_name, model_version)
        return Response(self.model_metadata_body, media_type=JSON)

    async def v2_model_ready(self, model_name: str) -> Response:
        return self._model_ready(model_name, None)

    async def v2_version_ready(self, model_name: str, model_version: str) -> Response:
        return self._model_ready(model_name, model_version)

    def _model_ready(self, model_name: str, model_version: str | None) -> Response:
        self.inference.check_model(model_name, model_version)
        if not self.inference.ready:
            raise ApiError(503, self.inference.not_ready)
        return Response(self.model_ready_body, media_type=JSON)

    async def v2_infer(self, request: Request, model_name: str) -> Response:
        return await self._infer(request, model_name, None)

    async def v2_version_infer(self, request: Request, model_name: str, model_version: str) -> Response:
        return await self._infer(request, model_name, model_version)

    async def _infer(self, request: Request, model_name: str, model_version: str | None) -> Response:
        """One inference over REST: JSON or binary tensors in (:mod:`graft.serving.restv2`),
        :meth:`OpenInference.infer`, JSON or binary outputs out."""
        self.inference.check_model(model_name, model_version)
        check_content_type(request.headers.getlist("content-type"), octet_stream=True)
        check_content_encoding(request.headers.getlist("content-encoding"))
        header = request.headers.getlist(HEADER)
        if len(header) > 1:
            raise ApiError(400, f"Inference-Header-Content-Length given {len(header)} times: send it once")
        body = await read_body(request, self.max_body_bytes)
        length = header[0] if header else None
        parsed: RestRequest
        if len(body) <= INLINE_BYTES:
            parsed = parse_request(body, length)
        else:
            parsed = await self.scoring.offload(lambda: parse_request(body, length))
        inference = await self.inference.infer(parsed.inputs, parsed.outputs)
        out, media_type, headers = response(inference, parsed)
        return Response(out, media_type=media_type, headers=headers)
