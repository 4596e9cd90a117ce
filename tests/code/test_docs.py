"""The documentation site cannot drift from the code: every command, option, settings key, exit code,
JSON document and limit has a generated reference entry, and no hand-written page (nor the README)
names a command, an option or a limit graft does not have. The pages themselves are built by
``make docs`` (``mkdocs build --strict``, part of ``make test``) through docs/hooks/reference.py,
the module these tests import."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from graft.cli import COMMANDS
from graft.core import limits
from graft.core.errors import ExitCode
from graft.project.settings import Settings
from tests.conftest import ROOT

DOCS = ROOT / "docs"
# guide pages other branches add (merged with this one); the README links to them already
COMING: tuple[str, ...] = ()
GENERATED = ("reference/cli.md", "reference/configuration.md", "reference/json.md", "reference/exit-codes.md")


def load_reference() -> ModuleType:
    name = "graft_docs_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / "reference.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ref = load_reference()


def hand_written() -> list[Path]:
    """README.md and every Markdown page of the site that is not a template."""
    pages = [p for p in DOCS.rglob("*.md") if not p.name.endswith(".in.md")]
    return [ROOT / "README.md", *sorted(pages)]


def test_every_command_and_argument_has_a_reference_entry():
    page = ref.command_page()
    tree = ref.commands()
    assert [c.path[0] for c in tree if len(c.path) == 1] == list(COMMANDS)
    assert ("exp", "prune") in {c.path for c in tree}
    for command in tree:
        assert f"`{command.name}` {{#{command.anchor}}}" in page, command.name
        assert command.summary, f"{command.name}: no help text"
        for action in command.arguments():
            assert action.help, f"{command.name} {ref._flags(action)}: no help text"
            assert f"| `{ref._flags(action)}` |" in page, f"{command.name} {ref._flags(action)}"


def test_the_reference_shows_each_option_with_its_default_and_help():
    page = ref.command_page()
    section = page.split("{#graft-replay}", 1)[1].split("\n## ", 1)[0]
    assert "| `--where COLUMN=VALUE` |  | keep only rows where COLUMN equals VALUE" in section
    assert "| `--batch-size BATCH_SIZE` | `50` | records per /predict request |" in section
    assert "| `--url URL` |  | the server, e.g. http://127.0.0.1:8000 (required) |" in section
    assert "--split" not in section


def test_every_settings_key_has_a_type_and_a_description():
    rows = list(ref.settings_rows(Settings))
    keys = [key for key, _, _, _ in rows]
    assert keys[:4] == ["task", "task.type", "task.labels", "task.threshold"]
    assert "metrics.rules.<name>.direction" in keys
    assert "package.reference.rows_from" in keys
    undescribed = [key for key, _, _, what in rows if not what]
    assert undescribed == []
    assert rows[keys.index("stages")][:3] == ("stages", "list of string", '`["dev", "staging", "prod"]`')
    assert rows[1][:3] == ("task.type", "binary | multiclass | regression", '`"binary"`')


def test_the_project_page_includes_the_readme_model_quality_section():
    page = (DOCS / "project.md").read_text(encoding="utf-8")
    included = ref.include_readme(page)
    assert "<!-- include" not in included
    assert "| ROC AUC |" in included and "| Brier |" in included
    assert included.count("## Model quality") == 1
    with pytest.raises(LookupError, match=r"^README.md has no section starting '## Nothing like this'$"):
        ref.include_readme('<!-- include README.md "## Nothing like this" -->\n')


def test_every_exit_code_has_its_meaning():
    rows = ref.exit_code_rows()
    assert [(code, name) for code, name, _ in rows] == [(int(m), m.name) for m in ExitCode]
    meanings = {name: what for _, name, what in rows}
    assert meanings["NO_DATA"] == "nothing to judge: `graft monitor`'s window holds too few predictions"
    assert meanings["TERMINATED"] == "SIGTERM (`kill`, `timeout`, a CI job cancelled)"


def test_every_json_schema_has_a_section_listing_its_fields():
    page = ref.json_page()
    schemas = sorted(ref.SCHEMAS.glob("*.json"))
    assert len(schemas) >= 19
    for path in schemas:
        assert f"\n## `{path.stem}`\n" in page, path.name
    printing_json = [
        "-".join(c.path)
        for c in ref.commands()
        if any(a.dest == "format" and "json" in (a.choices or ()) for a in c.parser._actions)
    ]
    assert sorted(printing_json) == [p.stem for p in schemas]
    cli = ref.command_page()
    assert all(f"(json.md#{name})" in cli for name in printing_json)
    gate = json.loads((ref.SCHEMAS / "gate.json").read_text(encoding="utf-8"))
    rows = {key: (kind, what) for key, kind, what in ref.schema_rows(gate, gate)}
    assert rows["passed"] == ("boolean", "false: exit 1")
    assert rows["checks[].kind"] == (
        '`"regression"` | `"threshold"`',
        "regression: a metrics.rules tolerance against the base; threshold: a gate.thresholds bound",
    )
    assert rows["head.commit"] == ("string or null", "null: --working-tree")
    assert rows["checks[].bound.min"] == (
        "number or null",
        "the metric must be at least this (null: no lower bound)",
    )
    for path in schemas:  # every field of every command says what it holds
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert [key for key, _, what in ref.schema_rows(schema, schema) if not what] == [], path.name


def test_the_limits_page_lists_every_limit_with_its_default_and_variable():
    page = ref.limits_page()
    table = "\n".join(line for line in page.splitlines() if line.startswith("|")) + "\n"
    assert table == limits.markdown_table()
    assert re.findall(r"`GRAFT_LIMIT_(\w+)`", table) == list(limits.LIMITS)
    assert "{{" not in page


@pytest.mark.parametrize("page", hand_written(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_name_only_commands_options_and_limits_graft_has(page):
    assert ref.wrong_references(page.read_text(encoding="utf-8")) == []


def test_a_page_naming_a_missing_option_command_or_limit_is_caught():
    text = (
        "Send rows with `graft replay data.csv --url URL --split test`:\n\n"
        "```bash\ngraft -C project exp new a \\\n  --sett train.x=1   # --bogus is a comment\n"
        "graft frobnicate\ngraft serve --max-body-bytes 10  # fine\n```\n\n"
        "Bounded by `GRAFT_LIMIT_NOPE` and `GRAFT_LIMIT_PLOT_*`.\n"
    )
    assert ref.wrong_references(text) == [
        "graft replay --split: no such option",
        "graft exp new --sett: no such option",
        "graft frobnicate: no such command",
        "GRAFT_LIMIT_NOPE: no such limit (graft.core.limits)",
    ]


def test_every_command_has_a_guide_page():
    """A new command fails this until a hand-written page shows it in use."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "guide").glob("*.md"))
    text += (DOCS / "getting-started.md").read_text(encoding="utf-8")
    text += (DOCS / "reference" / "index.md").read_text(encoding="utf-8")
    unused = [c.name for c in ref.commands() if f"{c.name}" not in text]
    assert unused == []


def test_every_page_is_in_the_navigation_and_every_nav_entry_exists():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def entries(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [e for item in node for e in entries(item)]
        if isinstance(node, dict):
            return [e for value in node.values() for e in entries(value)]
        return []

    nav = entries(config["nav"])
    written = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if not p.name.endswith(".in.md")}
    generated = set(ref.PAGES)
    assert generated == {*GENERATED, "limits.md"}
    assert sorted(set(nav)) == sorted(written | generated)
    assert not written & generated


def test_the_readme_is_a_short_front_page_linking_into_the_site():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 170
    assert "make run" in text and "make test" in text and ".ci/run" in text
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert len(links) >= 8
    missing = [link for link in links if not (ROOT / link).exists() and link not in COMING]
    assert missing == []


def test_shared_options_are_listed_once_not_per_command():
    page = ref.command_page()
    assert page.count("| `-C DIR` |") == 1
    assert all(a.dest not in ref.SHARED_DESTS for c in ref.commands() for a in c.arguments())
    assert isinstance(ref.top_parser(), argparse.ArgumentParser)
