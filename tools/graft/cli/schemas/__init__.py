"""The JSON Schemas of ``--format json``, generated from the commands' result models.

``RESULTS`` names, for each command whose JSON comes from a model (the command as typed:
``"exp list"``; its file is ``exp-list.json``), the model (``module:Class``, imported only when a
schema is generated). ``python -m graft.cli.schemas`` (``make schemas``)
rewrites ``<command>.json`` in this folder from ``model_json_schema()``; tests/code/test_schemas.py
fails naming the file when a committed schema differs from the generated one. The files are
written deterministically: pydantic's field order, two-space indent, a final newline.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

RESULTS: dict[str, str] = {
    "check-repro": "graft.release.check:CheckReproResult",
    "data diff": "graft.data.results:TableDiffJson",
    "data show": "graft.data.results:TableJson",
    "diff": "graft.compare.diffjson:DiffJson",
    "exp grid": "graft.experiments.results:GridResult",
    "exp list": "graft.experiments.listing:ListResult",
    "exp new": "graft.experiments.results:Experiment",
    "exp prune": "graft.experiments.prune:PruneSummary",
    "exp search": "graft.experiments.searchjson:SearchJson",
    "fetch": "graft.release.fetch:FetchSummary",
    "gate": "graft.compare.gate:GateResult",
    "init": "graft.project.init:InitResult",
    "metrics": "graft.release.check:MetricsResult",
    "models": "graft.release.releases:ModelsResult",
    "package": "graft.release.package:PackageSummary",
    "promote": "graft.release.promote:PromoteSummary",
    "report": "graft.compare.reportjson:ReportJson",
    "monitor": "graft.monitoring.results:MonitorResult",
    "replay": "graft.monitoring.replay:ReplaySummary",
    "release": "graft.release.versions:ReleaseSummary",
    "reproduce": "graft.release.reproduce:ReproduceSummary",
}


def file_name(command: str) -> str:
    """``exp list`` -> ``exp-list.json``."""
    return f"{command.replace(' ', '-')}.json"


def generate(command: str) -> dict[str, Any]:
    """The JSON Schema of ``graft <command> --format json``, from its model."""
    module, _, name = RESULTS[command].partition(":")
    model = getattr(importlib.import_module(module), name)
    body = _untitled(model.model_json_schema(mode="serialization"))
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"graft/cli/schemas/{file_name(command)}",
        "title": f"graft {command} --format json",
    }
    return {**head, **body}


def _untitled(node: Any) -> Any:
    """The schema without pydantic's titles (a class or field name, restated): the documented
    words are the descriptions."""
    if isinstance(node, list):
        return [_untitled(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs"):  # maps of names: a field may be called "title"
            out[key] = {name: _untitled(v) for name, v in value.items()}
        else:
            out[key] = _untitled(value)
    return out


def text(command: str) -> str:
    """The schema file's text, byte for byte."""
    return json.dumps(generate(command), indent=2, ensure_ascii=False) + "\n"


def write(folder: Path = HERE) -> list[Path]:
    """Write every generated schema into ``folder``; the paths written."""
    written = []
    for command in sorted(RESULTS):
        path = folder / file_name(command)
        path.write_text(text(command), encoding="utf-8")
        written.append(path)
    return written
