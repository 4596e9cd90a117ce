"""The endpoints: what each does with a request, and how it is documented.

Every POST route reads its body the same way (:meth:`Routes.json_body`: Content-Type, size,
strict UTF-8 JSON; see :mod:`graft.serving.request`), then validates it. A body over
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
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from graft.core import limits
from graft.serving.model import BATCH_ROWS, ServingModel
from graft.serving.predlog import (
    FeedbackRow,
    LogUnavailable,
    PredictionLog,
    PredictionRow,
    Row,
    now,
    records_json,
)
from graft.serving.request import (
    INLINE_BYTES,
    JSON,
    ApiError,
    check_content_encoding,
    check_content_type,
    parse_json,
    read_body,
)
from graft.serving.schemas import (
    BODY_ERRORS,
    LOG_ERRORS,
    ErrorBody,
    FeedbackAccepted,
    Health,
    V2Response,
    documented,
    feedback_schema,
    request_body,
)
from graft.serving.v2 import columns_from_tensors
from graft.serving.validator import InvalidInput, RecordValidator

READY = b'{"status":"ok","detail":null}'
T = TypeVar("T")


def invalid(exc: InvalidInput) -> ApiError:
    return ApiError(422, str(exc), exc.errors)


def outcome_text(outcome: Any) -> str | None:
    """A validated outcome as the log's text column holds it: a label, or a number's JSON text."""
    if outcome is None or isinstance(outcome, str):
        return outcome
    return orjson.dumps(outcome).decode()


class Routes:
    """The handlers of one served model; :meth:`register` adds them to an app."""

    def __init__(self, model: ServingModel, log: PredictionLog, max_body_bytes: int) -> None:
        self.model = model
        self.log = log
        self.max_body_bytes = max_body_bytes
        self.parsers = limits.REQUEST_PARSERS.value()
        self._limiter: Any = None  # anyio's CapacityLimiter, made in the event loop on first use
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
        app.add_api_route(
            "/v2/models/{model_name}/infer",
            self.v2_infer,
            methods=["POST"],
            response_model=V2Response,
            responses={
                **BODY_ERRORS,
                404: {"model": ErrorBody, "description": "no model of that name"},
                **LOG_ERRORS,
            },
            summary="Open Inference Protocol (KServe V2) inference; one input tensor per field",
            openapi_extra=request_body({"$ref": "#/components/schemas/InferenceRequest"}),
        )

    # --- shared steps -----------------------------------------------------------------------

    async def json_body(self, request: Request, then: Callable[[Any], T]) -> T:
        """415, 413 or 400 (see :mod:`graft.serving.request`), else ``then(parsed body)`` (the
        route's validation): in a worker thread for a large body."""
        check_content_type(request.headers.getlist("content-type"))
        check_content_encoding(request.headers.getlist("content-encoding"))
        body = await read_body(request, self.max_body_bytes)

        def parse_and_check() -> T:
            try:
                return then(parse_json(body))
            except ApiError as exc:  # its traceback's frames hold the parsed body: free it here
                raise exc.with_traceback(None) from None

        if len(body) <= INLINE_BYTES:
            return parse_and_check()
        import anyio

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.parsers)
        return await anyio.to_thread.run_sync(parse_and_check, limiter=self._limiter)

    def _score(
        self, columns: dict[str, list[Any]], n: int, records: list[Any] | None
    ) -> tuple[Any, list[str] | None, str]:
        scores = self.model.predict_columns(columns)
        return scores, self.model.labels(scores), records_json(columns, n, self.complete(records))

    async def score(
        self, columns: dict[str, list[Any]], n: int, records: list[Any] | None = None
    ) -> tuple[Any, list[str] | None, str]:
        """Scores, labels (None for regression) and the records as logged; batches over
        BATCH_ROWS off the event loop. ``records`` are the parsed records the columns were
        validated from, if any.
        """
        if n > BATCH_ROWS:
            return await run_in_threadpool(self._score, columns, n, records)
        return self._score(columns, n, records)

    def complete(self, records: list[Any] | None) -> list[dict[str, Any]] | None:
        """``records`` when each (validated) holds exactly the schema's fields, else None."""
        width = len(self.validator.rules)
        if records is None or self.validator.additional or set(map(len, records)) != {width}:
            return None
        return records

    async def log_prediction(
        self, request_id: str, inputs: str, n: int, scores: Any, labels: list[str] | None
    ) -> None:
        outputs = orjson.dumps(self.model.output_columns(scores, labels))
        await self.record(PredictionRow(request_id, now(), self.model.version, n, inputs, outputs.decode()))

    async def record(self, row: Row) -> None:
        """Log ``row`` (with ``--log-durability commit``, once this returns it is committed);
        503 when it cannot be."""
        try:
            await self.log.record(row)
        except LogUnavailable as exc:
            raise ApiError(503, str(exc)) from None

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
        scores, labels, inputs = await self.score(columns, n, [data] if type(data) is dict else data)
        request_id = uuid.uuid4().hex
        body: dict[str, Any] = {"request_id": request_id, "model_version": self.model.version}
        if self.model.task == "binary":
            body["threshold"] = self.model.threshold
        body["predictions"] = self.model.outputs(scores, labels)
        out = orjson.dumps(body)
        await self.log_prediction(request_id, inputs, n, scores, labels)
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
        await self.record(
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

    def _v2_input(self, data: Any) -> tuple[dict[str, list[Any]], int]:
        columns, n = columns_from_tensors(data, self.validator)
        try:
            return self.validator.validate_columns(columns, ("body", "inputs"), index=False), n
        except InvalidInput as exc:
            raise invalid(exc) from None

    async def v2_infer(self, model_name: str, request: Request) -> Response:
        model = self.model
        if model_name != model.name:
            raise ApiError(404, f"unknown model {model_name!r}; this server serves {model.name!r}")
        columns, n = await self.json_body(request, self._v2_input)
        scores, labels, inputs = await self.score(columns, n)
        request_id = uuid.uuid4().hex
        out = orjson.dumps(
            {
                "model_name": model.name,
                "model_version": model.version,
                "id": request_id,
                "outputs": model.v2_outputs(scores, labels),
            }
        )
        await self.log_prediction(request_id, inputs, n, scores, labels)
        return Response(out, media_type=JSON)
