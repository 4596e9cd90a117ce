"""Scoring and the Open Inference Protocol (KServe V2), whatever the transport (REST or gRPC).

:class:`Scoring` is what every prediction route shares: validated columns -> scores (off the
event loop for batches over ``BATCH_ROWS``), the record the log keeps, the log row itself, and
the worker threads (at most ``REQUEST_PARSERS``, :mod:`graft.core.limits`) that parse and
validate large requests.

:class:`OpenInference` is the protocol's model side, called alike by the REST routes
(:mod:`graft.serving.routes`) and the gRPC servicer:

* :meth:`~OpenInference.server_metadata`, :meth:`~OpenInference.model_metadata`: the
  protocol's metadata objects (inputs: one per schema field, ``BYTES`` for a string, ``INT64``
  for an integer, ``FP64`` for a number, shape ``[-1]``; outputs: what the task predicts, see
  :meth:`graft.serving.model.ServingModel.v2_outputs`);
* :meth:`~OpenInference.check_model`: 404 unless the name (and version, when given) is this
  server's model;
* :attr:`~OpenInference.ready` and :attr:`~OpenInference.not_ready`: readiness follows the
  prediction log, as ``/health/ready`` does;
* :meth:`~OpenInference.infer`: input tensors (``data`` decoded to Python values) -> validated
  columns -> scores -> one prediction log row -> the requested output tensors
  (:class:`Inference`).

Every fault is an :class:`~graft.serving.request.ApiError`: 404 (model or version), 422 (a
tensor or a requested output, located as ``body.inputs[i].name`` / ``body.outputs[i].name``,
naming the input or output), 503 (``--log-durability commit`` and the log cannot commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import orjson

from graft import __version__
from graft.core import limits
from graft.serving.model import BATCH_ROWS, ServingModel
from graft.serving.predlog import LogUnavailable, PredictionLog, PredictionRow, Row, now, records_json
from graft.serving.request import ApiError
from graft.serving.v2 import columns_from_inputs, refused
from graft.serving.validator import InvalidInput, show

T = TypeVar("T")

SERVER_NAME = "graft"
# The protocol extensions graft serves (reported by the server metadata).
EXTENSIONS = ("binary_tensor_data",)
# The datatype each schema type is announced with in the model metadata.
ANNOUNCED = {"string": "BYTES", "integer": "INT64", "number": "FP64"}


def invalid(exc: InvalidInput) -> ApiError:
    return ApiError(422, str(exc), exc.errors)


class Scoring:
    """Validated columns -> scores, log record and log row, for one served model."""

    def __init__(self, model: ServingModel, log: PredictionLog) -> None:
        self.model = model
        self.log = log
        self.validator = model.validator
        self.parsers = limits.REQUEST_PARSERS.value()
        self._limiter: Any = None  # anyio's CapacityLimiter, made in the event loop on first use

    async def offload(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread, at most ``REQUEST_PARSERS`` at once; an ApiError it
        raises is re-raised without its traceback (whose frames hold the parsed request)."""
        import anyio

        def run() -> T:
            try:
                return work()
            except ApiError as exc:
                raise exc.with_traceback(None) from None

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.parsers)
        return await anyio.to_thread.run_sync(run, limiter=self._limiter)

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
            import anyio

            return await anyio.to_thread.run_sync(self._score, columns, n, records)
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


@dataclass(frozen=True)
class OutputTensor:
    """One output tensor: ``data`` is a float64 array (``FP64``, row-major, flattened) or a
    list of str (``BYTES``); ``parameters`` what the protocol's response carries besides
    (multiclass ``probabilities``: ``{"classes": [...]}``)."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray | list[str]
    parameters: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The tensor as the REST protocol's JSON ``$response_output`` (``data`` inline)."""
        data = self.data.tolist() if isinstance(self.data, np.ndarray) else self.data
        out: dict[str, Any] = {
            "name": self.name,
            "shape": self.shape,
            "datatype": self.datatype,
            "data": data,
        }
        if self.parameters:
            out["parameters"] = self.parameters
        return out


@dataclass(frozen=True)
class Inference:
    """What :meth:`OpenInference.infer` returns: ``request_id`` is the prediction log's id for
    the request (what ``POST /feedback`` quotes); ``outputs`` are in the order requested (all
    of the task's, in its order, when none were)."""

    request_id: str
    model_name: str
    model_version: str
    outputs: list[OutputTensor]


class OpenInference:
    """The Open Inference Protocol for one served model (see the module docstring)."""

    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring
        self.model = model = scoring.model
        self.output_names = [o["name"] for o in model.v2_output_metadata()]

    # --- health and metadata ----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.scoring.log.healthy

    @property
    def not_ready(self) -> str:
        """Why the model is not ready (when :attr:`ready` is False)."""
        return f"prediction log: {self.scoring.log.error or 'writer stopped'}"

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self) -> dict[str, Any]:
        model = self.model
        return {
            "name": model.name,
            "versions": [model.version],
            "platform": model.flavour,
            "inputs": [
                {"name": rule.name, "datatype": ANNOUNCED[rule.kind], "shape": [-1]}
                for rule in model.validator.rules
            ],
            "outputs": model.v2_output_metadata(),
        }

    def check_model(self, name: str, version: str | None = None) -> None:
        """404 unless ``name`` (and ``version``, if given) is the model this server serves."""
        model = self.model
        if name != model.name:
            raise ApiError(404, f"unknown model {name!r}; this server serves {model.name!r}")
        if version is not None and version != model.version:
            raise ApiError(
                404, f"model {name!r} has no version {version!r}; this server serves {model.version!r}"
            )

    # --- inference --------------------------------------------------------------------------

    def requested(self, names: Sequence[Any] | None) -> list[str]:
        """The outputs to return: ``names`` checked (422 naming ``body.outputs[i].name``), or
        every output of the task when None."""
        if names is None:
            return list(self.output_names)
        seen: set[str] = set()
        for i, name in enumerate(names):
            loc = ("body", "outputs", i, "name")
            if type(name) is not str or name not in self.output_names:
                known = ", ".join(self.output_names)
                msg = f"unknown output {show(name)}; this model's outputs are {known}"
                raise refused(loc, msg, "unknown_output")
            if name in seen:
                raise refused(loc, f"output {name!r} requested twice", "duplicate_output")
            seen.add(name)
        return list(names)

    def validate(self, inputs: Any) -> tuple[dict[str, list[Any]], int]:
        """Input tensors -> (validated columns, n); 422 naming the input."""
        columns, n = columns_from_inputs(inputs, self.model.validator)
        try:
            return self.model.validator.validate_columns(columns, ("body", "inputs"), index=False), n
        except InvalidInput as exc:
            raise invalid(exc) from None

    async def infer(self, inputs: Any, outputs: Sequence[Any] | None = None) -> Inference:
        """Validate, score, log and answer one inference request.

        ``inputs``: the request's input tensors as a list of ``{"name": str, "shape": [n] or
        [n, 1], "datatype": str, "data": [n Python values]}`` (``data`` decoded from JSON or
        from raw bytes; ``None`` for a missing value); ``outputs``: the names of the outputs
        wanted, in the order wanted, or None for all. Requests of more than ``BATCH_ROWS``
        values per input are validated and scored off the event loop. The prediction log
        gets one row (the canonical records and every output, whatever was requested).
        Raises ApiError (module docstring).
        """
        wanted = self.requested(outputs)
        scoring = self.scoring
        if type(inputs) is list and any(_large(tensor) for tensor in inputs):
            columns, n = await scoring.offload(lambda: self.validate(inputs))
        else:
            columns, n = self.validate(inputs)
        scores, labels, logged = await scoring.score(columns, n)
        request_id = uuid.uuid4().hex
        by_name = {o.name: o for o in self.model_outputs(scores, labels)}
        await scoring.log_prediction(request_id, logged, n, scores, labels)
        model = self.model
        return Inference(request_id, model.name, model.version, [by_name[name] for name in wanted])

    def model_outputs(self, scores: np.ndarray, labels: list[str] | None) -> list[OutputTensor]:
        return [
            OutputTensor(o["name"], o["datatype"], o["shape"], o["data"], o.get("parameters") or {})
            for o in self.model.v2_outputs(scores, labels, raw=True)
        ]


def _large(tensor: Any) -> bool:
    return type(tensor) is dict and type(tensor.get("data")) is list and len(tensor["data"]) > BATCH_ROWS
