"""The JSON Schemas in graft/cli/schemas/ are generated from the result models: a committed file
that differs from what ``make schemas`` writes fails, naming the file."""

from __future__ import annotations

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
