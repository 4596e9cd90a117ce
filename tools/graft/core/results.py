"""The base of every command's result model: what ``--format json`` prints is its dump.

A command's result is a pydantic model (``Result``, or a ``RootModel`` for a top-level list) kept
in the capability package that owns the fact; the command layer builds it from the domain value
and prints ``model_dump(mode="json")`` (graft.cli.common.Ui.json). The JSON Schemas in
graft/cli/schemas/ are generated from these models (``make schemas``), so the documented shape and
the printed one have one source. Field docstrings become the schema's descriptions. Unknown keys
are refused (``additionalProperties: false``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


def pattern(regex: str) -> Any:
    """A pattern the schema documents; a printed value is not checked against it again (it comes
    from graft's own code, and a test's stand-in value must not stop the command)."""
    return Field(json_schema_extra={"pattern": regex})


Sha256 = Annotated[str, pattern(r"^[0-9a-f]{64}$")]
"""A SHA-256 digest in hex."""
CommitSha = Annotated[str, pattern(r"^[0-9a-f]{40}$")]
"""A full Git commit id."""
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An ISO 8601 time, as the domain wrote it (kept as text so the printed form does not change)."""


class Result(BaseModel):
    """A command's JSON result."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _never_null(schema: dict[str, Any]) -> None:
    """A Sparse part's field that defaults to None is absent when unset, never null: its schema
    lists the other types only (and no default)."""
    for prop in schema.get("properties", {}).values():
        variants = prop.get("anyOf")
        if "default" not in prop or prop["default"] is not None or not variants:
            continue
        del prop["default"]
        kept = [v for v in variants if v != {"type": "null"}]
        del prop["anyOf"]
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class Sparse(Result):
    """A result part whose unset (None) fields are left out of the dump rather than printed as null."""

    model_config = ConfigDict(json_schema_extra=_never_null)

    @model_serializer(mode="wrap")
    def _without_none(self, handler: SerializerFunctionWrapHandler):  # noqa: ANN202
        # no return annotation: pydantic would document the annotation (an open object) as the
        # schema instead of the model's fields
        return {k: v for k, v in handler(self).items() if v is not None}
