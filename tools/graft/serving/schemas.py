"""The API's documented shapes: response models, request-body schemas and error responses.

Responses are serialised with orjson directly; the pydantic models here only describe them in
the OpenAPI document. Request bodies are parsed and checked by hand (:mod:`graft.serving.request`,
:mod:`graft.serving.validator`), so their schemas are plain JSON Schema: the package's
schema.json for a record, :func:`feedback_schema`, :func:`v2_request_schema`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from graft.serving.request import JSON
from graft.serving.v2 import ACCEPTED, DATATYPES
from graft.serving.validator import RecordValidator

ACTIONS = ("accepted", "overridden", "ignored", "escalated")


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
            f"Content-Type missing or not {JSON} (charset=utf-8 is the only parameter allowed), "
            "or a Content-Encoding such as gzip"
        ),
    },
    422: {"model": ErrorBody, "description": "a field breaks the input schema (named in detail)"},
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


def feedback_schema() -> dict[str, Any]:
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
            "outcome": {"type": "string", "enum": [">50K", "<=50K"], "description": "the observed label"},
            "action": {"type": "string", "enum": list(ACTIONS), "description": "what the user did"},
        },
        "required": ["request_id"],
        "anyOf": [{"required": ["outcome"]}, {"required": ["action"]}],
        "additionalProperties": False,
    }


def v2_request_schema(validator: RecordValidator) -> dict[str, Any]:
    """An Open Inference Protocol request; each input's datatype must carry its field's type."""
    by_kind: dict[str, list[str]] = {}
    for rule in validator.rules:
        by_kind.setdefault(rule.kind, []).append(rule.name)
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
            "parameters": {"type": "object"},
            "outputs": {"type": "array"},
        },
        "required": ["inputs"],
    }
