"""The JSON Schemas in graft/cli/schemas/ are generated from the result models: a committed file
that differs from what ``make schemas`` writes fails, naming the file."""

from __future__ import annotations

import pytest

from graft.cli import schemas


def test_committed_schemas_equal_the_generated_ones(tmp_path):
    written = schemas.write(tmp_path)
    assert sorted(p.name for p in written) == sorted(schemas.file_name(c) for c in schemas.RESULTS)
    stale = [
        p.name
        for p in written
        if not (schemas.HERE / p.name).exists()
        or (schemas.HERE / p.name).read_text(encoding="utf-8") != p.read_text(encoding="utf-8")
    ]
    assert stale == [], f"regenerate with `make schemas`: {', '.join(stale)} differ from the models"


def test_a_generated_schema_names_its_command_and_refuses_unknown_keys():
    body = schemas.generate("init")
    assert body["title"] == "graft init --format json"
    assert body["$id"] == "graft/cli/schemas/init.json"
    assert body["additionalProperties"] is False
    assert body["properties"]["notes"] == {
        "description": "What was inferred, and from what.",
        "items": {"type": "string"},
        "type": "array",
    }  # the docstring is the description; pydantic's restated title ("Notes") is left out


def _undescribed(node, path: str = "") -> list[str]:
    if isinstance(node, list):
        return [m for v in node for m in _undescribed(v, path)]
    if not isinstance(node, dict):
        return []
    found = [f"{path}.{k}" for k, v in node.get("properties", {}).items() if "description" not in v]
    return found + [m for k, v in node.items() for m in _undescribed(v, f"{path}/{k}")]


@pytest.mark.parametrize("command", sorted(schemas.RESULTS))
def test_every_field_of_every_schema_has_its_words(command):
    assert _undescribed(schemas.generate(command)) == []


def test_a_sparse_field_is_documented_as_absent_when_unset_never_null():
    body = schemas.generate("monitor")  # MonitorResult is Sparse: a window too small has no inputs
    assert body["properties"]["inputs"] == {"$ref": "#/$defs/InputsJson", "description": "the inputs' drift"}
    assert "inputs" not in body["required"] and "window" in body["required"]
    alert = body["$defs"]["AlertJson"]["properties"]["metric"]
    assert alert == {
        "type": "string",
        "description": "the metric (realised_quality; fairness: COLUMN.GAP_difference)",
    }
