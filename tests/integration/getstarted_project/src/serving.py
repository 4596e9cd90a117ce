"""Serving adapter (graft.yaml ``package.adapter``): a record is one free-text review; the model
(a scikit-learn pipeline, TF-IDF then logistic regression) takes the texts as they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def input_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 2000}},
        "required": ["text"],
        "additionalProperties": False,
    }


def encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> list[str]:
    return [str(text) for text in columns["text"]]
