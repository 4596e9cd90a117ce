"""The documentation's reference pages, generated from graft's code when the site is built.

A MkDocs hook (``hooks:`` in mkdocs.yml): :func:`on_files` adds these pages to the build, so
nothing generated is committed and no page can drift from the code it describes:

* ``reference/cli.md``: every command and subcommand, from the argparse tree
  (:func:`graft.cli.build_parser`): usage, description, each argument's flags, default and help;
* ``reference/configuration.md``: ``graft.yaml``, from the settings model
  (:class:`graft.project.settings.Settings`) and the ``monitor`` section's model: every key, its
  type, default and description;
* ``reference/json.md``: each command's ``--format json`` document, from the committed JSON
  Schemas in ``tools/graft/cli/schemas/``;
* ``reference/exit-codes.md``: :class:`graft.core.errors.ExitCode` and the table of its module;
* ``limits.md``: every bound of :mod:`graft.core.limits` with its variable and default.

The same functions back ``tests/code/test_docs.py``, which fails when a command, an option or a
settings key has no reference entry (no help text, no description), and when a hand-written page
names an option or a limit the code does not have. Only the standard library and graft (from
``tools/``, as the tests import it) are used.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tools" / "graft" / "cli" / "schemas"
USAGE_WIDTH = 100
# options every command shares (graft.cli.common.common_parent), listed once at the top
SHARED_DESTS = ("help", "directory", "quiet")


def _graft() -> None:
    """Import graft from this checkout's ``tools/`` (as pytest does), whatever is installed."""
    tools = str(ROOT / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)


# --- the command line ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command or subcommand of the tree: ``path`` is e.g. ``("exp", "new")``."""

    path: tuple[str, ...]
    parser: argparse.ArgumentParser
    summary: str

    @property
    def name(self) -> str:
        return " ".join(("graft", *self.path))

    @property
    def anchor(self) -> str:
        return "-".join(("graft", *self.path))

    def arguments(self) -> list[argparse.Action]:
        """The documented arguments: not help-suppressed, not shared, not a subcommand list."""
        return [
            a
            for a in self.parser._actions
            if a.help != argparse.SUPPRESS
            and a.dest not in SHARED_DESTS
            and not isinstance(a, argparse._SubParsersAction)
        ]

    def subcommands(self) -> list[str]:
        return [c.path[-1] for c in commands(self.parser, self.path)]


@functools.cache
def top_parser() -> argparse.ArgumentParser:
    """graft's whole parser tree (built once; read, never changed)."""
    _graft()
    from graft.cli import build_parser

    return build_parser()


def commands(parser: argparse.ArgumentParser | None = None, path: tuple[str, ...] = ()) -> list[Command]:
    """Every command under ``parser`` (default: graft's whole tree), depth first, in parser order."""
    parser = parser if parser is not None else top_parser()
    found: list[Command] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            command = Command((*path, name), sub, helps.get(name, "") or sub.description or "")
            found.append(command)
            found.extend(commands(sub, command.path))
    return found


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest).upper() if action.metavar is None else str(action.metavar)
    takes = action.nargs != 0
    metavar = action.metavar or (action.dest.upper() if action.choices is None else None)
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    return ", ".join(f"{flag} {metavar}" if takes else flag for flag in action.option_strings)


def _default(action: argparse.Action) -> str:
    default = action.default
    if action.nargs == 0 or default in (None, argparse.SUPPRESS, [], ()):
        return ""
    if isinstance(default, Path):
        default = str(default)
    return f"`{default}`"


def _cell(text: str) -> str:
    """Text for a table cell: one line, pipes escaped outside code spans (inside one, a pipe is
    text to Python-Markdown's tables, and a backslash would show)."""
    parts = text.replace("\n", " ").split("`")
    return "`".join(p if i % 2 else p.replace("|", r"\|") for i, p in enumerate(parts))


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": "graft"}
    extra = []
    if action.required and action.option_strings:
        extra.append("required")
    if action.nargs in ("*", "+") or isinstance(action, argparse._AppendAction):
        extra.append("repeatable" if isinstance(action, argparse._AppendAction) else "several")
    if not action.option_strings and action.nargs == "?":
        extra.append("optional")
    if not action.option_strings and action.choices is not None:
        extra.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    shown = [e for e in extra if e not in text]
    return text + (f" ({', '.join(shown)})" if shown else "")


def command_page() -> str:
    top = top_parser()
    tree = commands(top)
    lines = [
        "# Command line",
        "",
        "Generated from graft's argparse parsers when this site is built: every command, its usage "
        "and every option, as `graft COMMAND --help` prints them.",
        "",
        "Every command also takes these options, before or after the command name:",
        "",
        "| option | what it does |",
        "| --- | --- |",
    ]
    lines += [
        f"| `{_flags(a)}` | {_cell(_help(a))} |"
        for a in top._actions
        if a.dest in SHARED_DESTS or a.dest == "version"
    ]
    lines += ["", "| command | what it does |", "| --- | --- |"]
    lines += [f"| [`{c.name}`](#{c.anchor}) | {_cell(c.summary)} |" for c in tree]
    for command in tree:
        level = "#" * (len(command.path) + 1)
        lines += ["", f"{level} `{command.name}` {{#{command.anchor}}}", "", _cell(command.summary), ""]
        lines += ["```text", _usage(command.parser), "```"]
        if command.parser.epilog:
            lines += ["", command.parser.epilog]
        schema = "-".join(command.path)
        if (SCHEMAS / f"{schema}.json").exists():
            lines += ["", f"`--format json` prints the [`{schema}` document](json.md#{schema})."]
        subs = command.subcommands()
        if subs:
            lines += ["", "Subcommands: " + ", ".join(f"[`{s}`](#{command.anchor}-{s})" for s in subs) + "."]
        arguments = command.arguments()
        if arguments:
            lines += ["", "| argument | default | what it does |", "| --- | --- | --- |"]
            lines += [f"| `{_flags(a)}` | {_default(a)} | {_cell(_help(a))} |" for a in arguments]
    return "\n".join(lines) + "\n"


# --- graft.yaml ---------------------------------------------------------------------------------


def _type(annotation: Any) -> str:
    """A field's annotation as the YAML it takes (``list[str]``, ``binary | multiclass``, ...)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping {_type(args[0])} → {_type(args[1])}"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type):
        names = {"str": "string", "int": "integer", "float": "number", "bool": "true | false"}
        return names.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _model_of(annotation: Any) -> type | None:
    """The pydantic model a field holds (directly or as ``Model | None``), else None."""
    from pydantic import BaseModel

    candidates = [annotation, *typing.get_args(annotation)]
    if typing.get_origin(annotation) is dict:
        candidates = [typing.get_args(annotation)[1]]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def attribute_docs(model: type) -> dict[str, str]:
    """The string literal under each field of a class (its description), read from the source."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if klass.__module__.startswith(("pydantic", "builtins")):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for field, doc in itertools.pairwise(body):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                docs[field.target.id] = doc.value.value
    return docs


def settings_rows(model: type, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) for every field of ``model``, nested models expanded."""
    from pydantic_core import PydanticUndefined

    described = attribute_docs(model)
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        key = f"{prefix}{name}"
        nested = _model_of(field.annotation)
        if field.default is not PydanticUndefined:
            default = "" if field.default is None else f"`{json.dumps(field.default)}`"
        elif field.default_factory is not None and nested is None:
            default = f"`{json.dumps(field.default_factory())}`"  # type: ignore[call-arg]
        else:
            default = "required" if nested is None else ""
        kind = _type(field.annotation)
        if nested is not None:
            kind = kind.replace(nested.__name__, "mapping")
        yield key, kind, default, " ".join((field.description or described.get(name, "")).split())
        if nested is not None:
            keyed = typing.get_origin(field.annotation) is dict
            yield from settings_rows(nested, f"{key}.<name>." if keyed else f"{key}.")


def _rows(model: type, prefix: str = "") -> list[str]:
    """The settings table of ``model``; without a description column when no field has one."""
    found = list(settings_rows(model, prefix))
    if not any(what for _, _, _, what in found):
        rows = ["| key | type | default |", "| --- | --- | --- |"]
        return rows + [f"| `{key}` | {_cell(kind)} | {default} |" for key, kind, default, _ in found]
    rows = ["| key | type | default | what it sets |", "| --- | --- | --- | --- |"]
    return rows + [
        f"| `{key}` | {_cell(kind)} | {default} | {_cell(what)} |" for key, kind, default, what in found
    ]


def configuration_page() -> str:
    _graft()
    from graft.monitoring.run import MonitorParams
    from graft.project.settings import Settings

    lines = [
        "# graft.yaml",
        "",
        "Generated from graft's settings model (`graft.project.settings.Settings`) when this site "
        "is built. Every key is optional; a value `${key}` is the value at that dotted key of "
        "`params.yaml`, as in `dvc.yaml`. An unknown key, or a value of the wrong type, is refused "
        "naming the key. Without a `graft.yaml` every command runs on settings inferred from "
        "`dvc.yaml` and the params files, and `graft init` writes them down "
        "(see [Configuration](../guide/configuration.md)).",
        "",
        *_rows(Settings),
        "",
        "## `monitor`",
        "",
        "The `monitor` section (`graft.monitoring.run.MonitorParams`) travels inside the release "
        "package, so each model is judged by the thresholds it was released with; "
        "`graft monitor --params FILE` overrides them. `monitor.feedback` also takes "
        "`min_<metric>` and `max_<metric>` bounds on the task's realised metrics. What each "
        "threshold does is in [Monitoring](../guide/monitoring.md#thresholds-and-defaults).",
        "",
        *_rows(MonitorParams, "monitor."),
    ]
    return "\n".join(lines) + "\n"


# --- JSON documents -----------------------------------------------------------------------------


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = schema
    for part in ref[2:].split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _variants(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for key in ("oneOf", "anyOf") for v in node.get(key, [])]


def _kind(node: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> str:
    """A field's type in a few words (a recursive definition is cut at a few levels)."""
    if depth > 4:
        return "..."
    node = _resolve(node, schema)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " | ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    variants = _variants(node)
    if variants:
        return " or ".join(_kind(v, schema, depth + 1) for v in variants)
    kind = node.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"array of {_kind(node['items'], schema, depth + 1)}"
    return str(kind)


def schema_rows(
    node: dict[str, Any], schema: dict[str, Any], path: str = "", seen: tuple[str, ...] = ()
) -> Iterator[tuple[str, str, str]]:
    """(path, type, description) of every field a schema describes (``a.b[]``, ``a{}``)."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return
        seen = (*seen, ref)
    node = _resolve(node, schema)
    for variant in _variants(node):
        yield from schema_rows(variant, schema, path, seen)
    if node.get("type") == "array" or "items" in node:
        items = node.get("items")
        if isinstance(items, dict):
            yield from schema_rows(items, schema, f"{path}[]", seen)
    required = set(node.get("required", []))
    for name, child in (node.get("properties") or {}).items():
        key = f"{path}.{name}" if path else name
        child_node = _resolve(child, schema)
        what = (child.get("description") or child_node.get("description") or "").strip()
        if name not in required:
            what = f"(optional) {what}".strip()
        yield key, _kind(child, schema), what
        yield from schema_rows(child, schema, key, seen)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        key = f"{path}{{}}"
        yield key, _kind(extra, schema), "any key"
        yield from schema_rows(extra, schema, key, seen)


def json_page() -> str:
    lines = [
        "# JSON output",
        "",
        "Generated from the JSON Schemas graft ships in `graft/cli/schemas/` (the tests check every "
        "command's `--format json` output against them). Each command prints one JSON document on "
        "stdout; numbers that are not finite (NaN, infinity) are written as `null`. A path `a.b[]` "
        "is a field of each item of the list `a.b`, `a{}` any key of the mapping `a`.",
    ]
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        title = schema.get("title") or path.stem
        lines += ["", f"## `{path.stem}`", "", f"`{title}` ({path.name})."]
        if schema.get("description"):
            lines += ["", _cell(schema["description"])]
        variants = [v for v in _variants(schema) if v.get("description")]
        for variant in variants or [schema]:
            if variant is not schema:
                lines += ["", f"{_cell(variant['description'])}:"]
            rows = list(dict.fromkeys(schema_rows(variant, schema)))
            if rows:
                lines += ["", "| field | type | what it holds |", "| --- | --- | --- |"]
                lines += [f"| `{key}` | {_cell(kind)} | {_cell(what)} |" for key, kind, what in rows]
            else:
                lines += ["", f"The document is {_kind(variant, schema)}."]
        lines += ["", f'??? note "The schema ({path.name})"', "", "    ```json"]
        lines += [f"    {line}" if line else "" for line in json.dumps(schema, indent=2).splitlines()]
        lines += ["    ```"]
    return "\n".join(lines) + "\n"


# --- exit codes and limits ----------------------------------------------------------------------


def exit_code_rows() -> list[tuple[int, str, str]]:
    """(code, name, meaning) of every ExitCode member, the meaning from its module's table."""
    _graft()
    from graft.core import errors

    table: dict[str, str] = {}
    current = None
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\d+)\s+([A-Z_]+)\s+(.*)$", line)
        if match:
            current = match.group(2)
            table[current] = match.group(3).strip()
        elif current and line.startswith(" " * 10) and line.strip() and not line.startswith("="):
            table[current] += " " + line.strip()
        else:
            current = None
    missing = [m.name for m in errors.ExitCode if m.name not in table]
    if missing:
        raise LookupError(f"graft.core.errors: no meaning in the module's table for {', '.join(missing)}")
    return [(int(m), m.name, table[m.name].replace("``", "`")) for m in errors.ExitCode]


def exit_codes_page() -> str:
    lines = [
        "# Exit codes",
        "",
        "Generated from `graft.core.errors.ExitCode` when this site is built; every command exits "
        "with one of these. An error prints one line, `graft: error: ...`, naming the file, key, "
        "revision or branch at fault (`GRAFT_DEBUG=1` prints the traceback of an unexpected one).",
        "",
        "| code | name | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {code} | `{name}` | {_cell(what)} |" for code, name, what in exit_code_rows()]
    return "\n".join(lines) + "\n"


def limits_table() -> str:
    _graft()
    from graft.core import limits

    return limits.markdown_table()


def limits_page() -> str:
    text = (ROOT / "docs" / "limits.in.md").read_text(encoding="utf-8")
    return text.replace("{{ limits_table }}", limits_table().rstrip("\n"))


# --- checking hand-written pages ----------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~)")
_INLINE = re.compile(r"`([^`\n]+)`")
_STOP = ("#", "|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&", ")")


def code_spans(markdown: str) -> Iterator[str]:
    """Every piece of code in a Markdown text: each fenced block's lines (a line ending in a
    backslash joined to the next) and each inline code span outside them."""
    block: list[str] | None = None
    for line in markdown.splitlines():
        if _FENCE.match(line.strip()):
            if block is not None:
                yield from "\n".join(block).replace("\\\n", " ").splitlines()
            block = None if block is not None else []
        elif block is not None:
            block.append(line)
        else:
            yield from _INLINE.findall(line)


def command_lines(code: str) -> Iterator[list[str]]:
    """The words of each ``graft ...`` invocation in a piece of code, up to a comment or operator."""
    words = code.replace("$(", " ").split()
    for i, word in enumerate(words):
        if word != "graft" or (i > 0 and words[i - 1] in ("pip", "install")):
            continue
        invocation: list[str] = []
        for token in words[i + 1 :]:
            if token in _STOP or token.startswith("#") or token == "graft":
                break
            invocation.append(token.strip("[]()\"'"))
        yield invocation


def wrong_references(markdown: str) -> list[str]:
    """What a page's code names that graft does not have: a command, an option, a limit."""
    tree = {c.path: c for c in commands(top_parser())}
    shared = {flag for a in top_parser()._actions for flag in a.option_strings}
    _graft()
    from graft.core.limits import LIMITS

    problems: list[str] = []
    for code in code_spans(markdown):
        for name, wildcard in re.findall(r"GRAFT_LIMIT_([A-Z0-9_]+)(\*?)", code):
            if not (name in LIMITS or (wildcard and any(n.startswith(name) for n in LIMITS))):
                problems.append(f"GRAFT_LIMIT_{name}{wildcard}: no such limit (graft.core.limits)")
        for words in command_lines(code):
            rest = list(words)
            while rest and (rest[0] in shared or rest[0].startswith("-C")):
                rest = rest[2:] if rest[0] == "-C" else rest[1:]
            if not rest or not re.fullmatch(r"[a-z][a-z-]*", rest[0]):
                continue
            path: tuple[str, ...] = ()
            while rest and (*path, rest[0]) in tree:
                path, rest = (*path, rest[0]), rest[1:]
            if not path:
                problems.append(f"graft {rest[0]}: no such command")
                continue
            known = {flag for a in tree[path].parser._actions for flag in a.option_strings}
            for token in rest:
                flag = token.split("=", 1)[0]
                if re.fullmatch(r"--?[A-Za-z][\w-]*", flag) and flag not in known:
                    problems.append(f"{' '.join(('graft', *path))} {flag}: no such option")
    return list(dict.fromkeys(problems))


PAGES = {
    "reference/cli.md": command_page,
    "reference/configuration.md": configuration_page,
    "reference/json.md": json_page,
    "reference/exit-codes.md": exit_codes_page,
    "limits.md": limits_page,
}


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add every generated page to the build."""
    from mkdocs.structure.files import File

    for uri, render in PAGES.items():
        files.append(File.generated(config, uri, content=render()))
    return files


_INCLUDE = re.compile(r'^<!-- include README\.md "(#+ [^"]+)" -->$', re.M)


def include_readme(markdown: str) -> str:
    """Replace each ``<!-- include README.md "## Heading" -->`` line by that README section (the
    README owns it: e.g. the model quality table, which the front page shows too)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    def section(match: re.Match[str]) -> str:
        heading = match.group(1)
        start = next((i for i, line in enumerate(readme.splitlines()) if line.startswith(heading)), None)
        if start is None:
            raise LookupError(f"README.md has no section starting '{heading}'")
        lines = readme.splitlines()[start:]
        level = heading.split(" ", 1)[0]
        closing = re.compile(f"^#{{1,{len(level)}}} ")
        end = next((i for i, line in enumerate(lines[1:], 1) if closing.match(line)), len(lines))
        return "\n".join(lines[:end]).rstrip()

    return _INCLUDE.sub(section, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: README sections included; a hand-written page naming a command, option or
    limit graft lacks is a warning (an error with ``--strict``)."""
    import logging

    log = logging.getLogger("mkdocs.plugins.graft_reference")
    for problem in wrong_references(markdown):
        log.warning("%s: %s", page.file.src_uri, problem)
    return include_readme(markdown)
