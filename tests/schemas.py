"""Check a command's JSON output against its documented schema (graft/cli/schemas/NAME.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((resources.files("graft.cli") / "schemas" / f"{name}.json").read_text(encoding="utf-8"))


def validate(instance: Any, name: str) -> None:
    """Raise jsonschema.ValidationError (naming the path at fault) when ``instance`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(name), format_checker=jsonschema.FormatChecker())
    validator.validate(instance)
