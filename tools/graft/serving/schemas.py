"""The API's documented shapes: response models, request-body schemas and error responses.

Responses are serialised with orjson directly; the pydantic models here only describe the
shapes every package shares (errors, health, feedback receipts, V2 responses) in the OpenAPI
document. What depends on the package is plain JSON Schema built from it
(:func:`task_components`): the input record (its schema.json), what a prediction holds for the
package's task and labels (``Prediction``, ``PredictResponse``), ``Metadata`` and ``Feedback``
(whose ``outcome`` is one of the task's labels, or a number for regression). Request bodies are
checked by hand (:mod:`graft.serving.request`, :mod:`graft.serving.validator`) against the same
schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from graft.serving.request import JSON
from graft.serving.v2 import ACCEPTED, DATATYPES
from graft.serving.validator import RecordValidator

ACTIONS = ("accepted", "overridden", "ignored", "escalated")


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


class FeedbackAccepted(BaseModel):
    feedback_id: str
    request_id: str
    status: Literal["recorded"] = "recorded"


class V2Output(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = Field(
        None, description="the values, row-major; absent when the output is sent as binary data"
    )
    parameters: dict[str, Any] | None = Field(
        None,
        description="multiclass probabilities: 'classes', the class of each column; a binary "
        "output: 'binary_data_size', its length in bytes after the JSON",
    )


class V2Response(BaseModel):
    model_name: str
    model_version: str
    id: str = Field(description="the request's id, or the prediction log's id when it gave none")
    parameters: dict[str, Any] = Field(
        description="request_id: the prediction log's id for this request (quote it in POST /feedback)"
    )
    outputs: list[V2Output]


class V2Error(BaseModel):
    error: str = Field(description="one line naming the input, output, model or problem")


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


class V2ModelReady(BaseModel):
    name: str
    ready: bool


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Tensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: as many as records")


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str = Field(description="the model's framework (the package's flavour)")
    inputs: list[V2Tensor] = Field(description="one per field of the input schema")
    outputs: list[V2Tensor] = Field(description="what the task predicts")


# Error responses of every POST route (each its own one-line `detail`).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": (
            "the body is not UTF-8 JSON: malformed (position given), empty, a byte order mark, "
            "UTF-16/UTF-32 or other bytes that are not UTF-8, nested too deeply; or a key given "
            "twice in one object, or a string holding a lone surrogate or U+0000 (location given)"
        ),
    },
    413: {"model": ErrorBody, "description": "body larger than the configured limit"},
    415: {
        "model": ErrorBody,
        "description": (
            f"Content-Type not {JSON} (charset=utf-8 is the only parameter allowed; none is read "
            "as JSON), or a Content-Encoding such as gzip"
        ),
    },
    422: {"model": ErrorBody, "description": "a field breaks the input schema (named in detail)"},
}

# Error responses of the Open Inference Protocol's inference (each its own one-line `error`).
V2_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": V2Error,
        "description": (
            "the body is not UTF-8 JSON (as for every POST route), or its binary tensor data does "
            "not match: Inference-Header-Content-Length malformed, a tensor's byte size not that of "
            "its shape and datatype, a body cut short or with bytes left over (input named)"
        ),
    },
    413: {"model": V2Error, "description": "body (or its tensor elements) larger than the configured limit"},
    415: {
        "model": V2Error,
        "description": (
            f"Content-Type not {JSON} or application/octet-stream (none is read as JSON), or a "
            "Content-Encoding such as gzip"
        ),
    },
    422: {"model": V2Error, "description": "a tensor or a requested output breaks the input schema (named)"},
}

# Error responses of every route that writes the prediction log.
LOG_ERRORS: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorBody,
        "description": (
            "graft serve --log-durability commit: the prediction log could not commit (or queue) "
            "this request's row, cause in detail; nothing of the request was logged, retry it"
        ),
    },
}


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """An operation's ``requestBody``: required, JSON only."""
    return {"requestBody": {"required": True, "content": {JSON: {"schema": schema}}}}


# Free text (a string without an enum) must not hold U+0000: PostgreSQL text cannot store it.
NO_NUL = "^[^\\u0000]*$"


def input_record_schema(validator: RecordValidator) -> dict[str, Any]:
    """The package's schema.json as the ``InputRecord`` component (free text without U+0000)."""
    schema = {k: v for k, v in validator.schema.items() if k not in ("$schema", "$id")}
    schema["title"] = "InputRecord"
    free_text = {rule.name for rule in validator.rules if rule.kind == "string" and rule.enum is None}
    if free_text:
        schema["properties"] = {
            name: {**prop, "pattern": NO_NUL} if name in free_text else prop
            for name, prop in schema["properties"].items()
        }
    return schema


def outcome_schema(task: str, classes: Sequence[str]) -> dict[str, Any]:
    """What an observed outcome is: one of the labels (classification) or a finite number."""
    if task == "regression":
        return {"type": "number", "description": "the observed value (a finite number)"}
    return {"type": "string", "enum": list(classes), "description": "the observed label"}


def feedback_schema(task: str, classes: Sequence[str]) -> dict[str, Any]:
    return {
        "title": "Feedback",
        "type": "object",
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_NUL},
            "index": {
                "type": "integer",
                "minimum": 0,
                "description": "the record's position in the request; omit for the whole request",
            },
            "outcome": outcome_schema(task, classes),
            "action": {"type": "string", "enum": list(ACTIONS), "description": "what the user did"},
        },
        "required": ["request_id"],
        "anyOf": [{"required": ["outcome"]}, {"required": ["action"]}],
        "additionalProperties": False,
    }


def _object(title: str | None, properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties)}
    if title:
        out["title"] = title
    if description:
        out["description"] = description
    return out


PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}


def prediction_schema(task: str, classes: Sequence[str]) -> dict[str, Any]:
    """One record's prediction: binary probability + label, per-class probabilities + label, or a value."""
    if task == "regression":
        return _object("Prediction", {"prediction": {"type": "number", "description": "the predicted value"}})
    label = {"type": "string", "enum": list(classes)}
    if task == "binary":
        negative, positive = classes
        return _object(
            "Prediction",
            {
                "probability": {
                    **PROBABILITY,
                    "description": f"probability of the positive label {positive!r}",
                },
                "label": {
                    **label,
                    "description": f"{positive!r} when probability >= threshold, else {negative!r}",
                },
            },
        )
    per_class = _object(None, {c: PROBABILITY for c in classes}, "probability of each class")
    per_class["additionalProperties"] = False
    return _object(
        "Prediction",
        {
            "probabilities": per_class,
            "label": {**label, "description": "the class of the largest probability"},
        },
    )


def predict_response_schema(task: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "request_id": {"type": "string", "description": "quote it in POST /feedback"},
        "model_version": {"type": "string"},
    }
    if task == "binary":
        properties["threshold"] = {"type": "number", "description": "the decision threshold of the label"}
    properties["predictions"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Prediction"},
        "description": "one per input record, in input order",
    }
    return _object("PredictResponse", properties)


def metadata_schema(task: str) -> dict[str, Any]:
    nullable_text = {"type": ["string", "null"]}
    return _object(
        "Metadata",
        {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "task": _object(
                None,
                {
                    "type": {"type": "string", "enum": [task]},
                    "labels": (
                        {"type": "null"}
                        if task == "regression"
                        else {"type": "array", "items": {"type": "string"}, "description": "the classes"}
                    ),
                },
                "what the model predicts",
            ),
            "threshold": (
                {"type": "number", "description": "the decision threshold of the positive label"}
                if task == "binary"
                else {"type": "null"}
            ),
            "created_by": nullable_text,
            "lineage": {"type": "object"},
            "metrics": {"type": "object"},
            "input_fields": {"type": "array", "items": {"type": "string"}},
            "input_schema": {
                "type": "object",
                "description": "JSON Schema of one input record (the package's schema.json; InputRecord)",
            },
            "label_column": {
                "type": "string",
                "description": "the outcome column of the project's tables (graft.yaml predictions.label)",
            },
            "unknown_category_policy": {"type": "string", "enum": ["reject"]},
        },
    )


def task_components(
    task: str, classes: Sequence[str], validator: RecordValidator, output_names: Sequence[str]
) -> dict[str, Any]:
    """The OpenAPI components that depend on the served package (``output_names``: its Open
    Inference Protocol outputs)."""
    return {
        "InputRecord": input_record_schema(validator),
        "Prediction": prediction_schema(task, classes),
        "PredictResponse": predict_response_schema(task),
        "Metadata": metadata_schema(task),
        "Feedback": feedback_schema(task, classes),
        "InferenceRequest": v2_request_schema(validator, output_names),
    }


def documented(component: str, description: str = "Successful Response") -> dict[str, Any]:
    """A response documented by one of :func:`task_components` (for a route's ``responses``)."""
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


def v2_request_body() -> dict[str, Any]:
    """The inference route's ``requestBody`` (JSON; the binary extension is described in words)
    and its 200 response, JSON or, when binary outputs are asked for, JSON then raw bytes."""
    body = request_body({"$ref": "#/components/schemas/InferenceRequest"})
    body["requestBody"]["description"] = (
        "The inference request as JSON; or, with the binary tensor data extension, sent as "
        "application/octet-stream with Inference-Header-Content-Length: that JSON followed by "
        "the raw bytes of every input whose parameters give binary_data_size, in input order."
    )
    return {
        **body,
        "responses": {
            "200": {
                "description": "the output tensors",
                "content": {
                    JSON: {"schema": {"$ref": "#/components/schemas/V2Response"}},
                    "application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"},
                        "description": "binary outputs asked for: Inference-Header-Content-Length "
                        "bytes of V2Response JSON, then each binary output's raw bytes",
                    },
                },
            }
        },
    }


def v2_request_schema(validator: RecordValidator, outputs: Sequence[str]) -> dict[str, Any]:
    """An Open Inference Protocol request; each input's datatype must carry its field's type;
    ``outputs`` may name the model's outputs, each once."""
    from graft.serving.restv2 import ID_CHARS

    by_kind: dict[str, list[str]] = {}
    for rule in validator.rules:
        by_kind.setdefault(rule.kind, []).append(rule.name)
    binary = {"type": "boolean", "description": "answer the output(s) as raw bytes (binary extension)"}
    return {
        "title": "InferenceRequest",
        "type": "object",
        "properties": {
            "id": {"type": "string", "maxLength": ID_CHARS, "description": "echoed in the response"},
            "inputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": validator.columns},
                        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
                        "datatype": {
                            "type": "string",
                            "enum": list(DATATYPES),
                            "description": "an Open Inference Protocol datatype that can carry the input",
                        },
                        "parameters": {"type": "object"},
                        "data": {"type": "array"},
                    },
                    "required": ["name", "shape", "datatype", "data"],
                    "anyOf": [
                        {
                            "properties": {
                                "name": {"enum": names},
                                "datatype": {"enum": list(ACCEPTED[kind])},
                                "data": {"items": {"type": [kind, "null"]}},
                            }
                        }
                        for kind, names in by_kind.items()
                    ],
                },
            },
            "parameters": {"type": "object", "properties": {"binary_data_output": binary}},
            "outputs": {
                "type": "array",
                "maxItems": len(outputs),
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": list(outputs)},
                        "parameters": {"type": "object", "properties": {"binary_data": binary}},
                    },
                    "required": ["name"],
                },
                "description": "the outputs to return, each at most once (all when absent)",
            },
        },
        "required": ["inputs"],
    }
