"""Bounded YAML and JSON: the one way graft parses a document it did not write.

Every YAML or JSON file graft reads (params files at any revision, ``graft.yaml``, ``dvc.yaml``,
``dvc.lock``, metrics files, package spec files, search spaces, ``monitor --params``) goes
through :func:`load_yaml` or :func:`load_json` (or :func:`load`, which picks by suffix; a
``.toml`` params file goes through :func:`load_toml`, bounded by ``TOML_BYTES`` and, for its
nesting, ``DOCUMENT_DEPTH``). Both
refuse, before building anything large, a document over ``YAML_BYTES``/``JSON_BYTES``, nested
deeper than ``DOCUMENT_DEPTH`` or holding more than ``YAML_VALUES``/``JSON_VALUES`` values
(:mod:`graft.core.limits`; JSON's values are counted on its bytes before parsing). In YAML an
alias counts as every value it refers to, so a "billion laughs" alias bomb is refused after a
few hundred events (its few bytes would expand to billions of values downstream) and an alias
to a node that contains it (a cycle) is refused outright.

Both read plain data only, the values JSON has: a key written twice in one mapping or object is
refused (YAML forbids it; PyYAML and Python's json would keep the last one silently), and so is
an integer beyond a float's range (about 1.8e308: every comparison of graft reads numbers as
floats). In YAML, a date or time (``cutoff: 2024-01-01``) is kept as the text written, and the
tags that build non-JSON values (``!!binary``, ``!!set``) are refused with their line.

``where`` names the document in every message (``exp/bomb:params.yaml``: revision and file).
A refusal raises :class:`~graft.core.errors.DataError`; a syntax error raises what the parser
raises (``yaml.YAMLError``, ``ValueError``) so callers keep their own wording for it, and
:func:`describe` puts that error in one line with its position. YAML is read with PyYAML's safe
constructors (no ``!!python`` tags), composed from libyaml's events when libyaml is there.
"""

from __future__ import annotations

import json
import re
from typing import Any

from graft.core import limits
from graft.core.errors import DataError

__all__ = ["count_json_values", "describe", "load", "load_json", "load_toml", "load_yaml"]

# Integers of this many characters or fewer always fit a float (under 1e308); longer ones are
# checked (and one far past it never reaches ``int``, whose decimal parsing is quadratic).
_SHORT_INT = 308
_LONG_INT = 400
_JSON_LONG_INT = re.compile(rb"(?<![\d.eE+-])-?\d{%d,}(?![\d.eE])" % (_SHORT_INT + 1))


def _fits_float(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_NON_BRACKETS = re.compile(rb"[^\[\]{}]+")
_JSON_INNERMOST = re.compile(rb"\[\]|\{\}")


def describe(exc: BaseException) -> str:
    """A parser's error (YAML, JSON, TOML, UTF-8) in one line, with its position when it has one:
    ``"ScannerError: line 2, column 1: found character '\\t' that cannot start any token"``."""
    name = exc.__class__.__name__
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is not None:  # yaml.MarkedYAMLError
        at = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
        return f"{name}: {at}{problem}"
    if isinstance(exc, json.JSONDecodeError):
        return f"{name}: line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, UnicodeDecodeError):
        return f"{name}: not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
    position, reason = getattr(exc, "position", None), getattr(exc, "reason", None)
    if position is not None and reason is not None:  # yaml.reader.ReaderError
        return f"{name}: byte {position}: {reason}"
    return f"{name}: {' '.join(str(exc).split())}"


def _int_out_of_range(text: str, where: str, at: str = "") -> DataError:
    digits = text.lstrip("+-")
    shown = digits if len(digits) <= 12 else f"{digits[:12]}... ({len(digits):,} characters)"
    return DataError(
        f"{where}: {at}the integer {shown} is beyond the range of numbers graft compares (about 1.8e308)"
    )


def _check_size(data: bytes | str, where: str, limit: limits.Limit) -> None:
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > limit.value():
        raise DataError(limit.over(where, f"{size:,} bytes"))


def load(data: bytes | str, where: str, path: str | None = None) -> Any:
    """``data`` parsed as JSON when ``path`` (default ``where``) ends in ``.json``, TOML when it
    ends in ``.toml``, else as YAML."""
    name = where if path is None else path
    if name.endswith(".json"):
        return load_json(data, where)
    if name.endswith(".toml"):
        return load_toml(data, where)
    return load_yaml(data, where)


# --- TOML -------------------------------------------------------------------------------------


def load_toml(data: bytes | str, where: str) -> dict[str, Any]:
    """``data`` parsed as TOML (tomllib) within ``TOML_BYTES`` and ``DOCUMENT_DEPTH``.

    A syntax error raises ``tomllib.TOMLDecodeError`` (a ``ValueError``); invalid UTF-8 raises
    ``UnicodeDecodeError``.
    """
    import tomllib

    _check_size(data, where, limits.TOML_BYTES)
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        document = tomllib.loads(text)
    except RecursionError:  # inline arrays/tables nested past the parser's recursion
        raise DataError(limits.DOCUMENT_DEPTH.over(where, "deeper than Python can parse")) from None
    _check_depth(document, where)
    return document


def _check_depth(value: Any, where: str) -> None:
    limit = limits.DOCUMENT_DEPTH.value()
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                raise DataError(limits.DOCUMENT_DEPTH.over(where, f"more than {limit} levels"))
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


# --- JSON -------------------------------------------------------------------------------------


def load_json(data: bytes | str, where: str) -> Any:
    """``data`` parsed as JSON within the document limits (a refusal names ``where``)."""
    _check_size(data, where, limits.JSON_BYTES)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    skeleton = JSON_STRING.sub(b'""', raw).translate(None, b" \t\r\n")
    values = count_json_values(skeleton)
    if values > limits.JSON_VALUES.value():
        raise DataError(limits.JSON_VALUES.over(where, f"about {values:,} values"))
    _check_json_depth(_JSON_NON_BRACKETS.sub(b"", skeleton), where)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            seen: set[str] = set()
            twice = next(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise DataError(f"{where}: key {twice!r} appears twice in one object")
        return obj

    for run in _JSON_LONG_INT.finditer(skeleton):  # digits outside strings, at C speed
        text = run.group().decode()
        if len(text) > _LONG_INT or not _fits_float(int(text)):
            raise _int_out_of_range(text, where)
    return json.loads(data, object_pairs_hook=pairs)


def count_json_values(skeleton: bytes) -> int:
    """Values in JSON text with its strings blanked and its whitespace removed: the root, and
    each array or object's elements, which are one more than its commas unless it is empty."""
    opened = skeleton.count(b"[") + skeleton.count(b"{")
    empty = skeleton.count(b"[]") + skeleton.count(b"{}")
    return 1 + skeleton.count(b",") + opened - empty


def _check_json_depth(brackets: bytes, where: str) -> None:
    """Peel the innermost ``[]``/``{}`` pairs off, one level per pass, at most the limit's passes.

    Unbalanced brackets (invalid JSON) stop the peeling early and are left to the parser.
    """
    bound = limits.DOCUMENT_DEPTH.value()
    for _ in range(bound):
        if not brackets:
            return
        peeled = _JSON_INNERMOST.sub(b"", brackets)
        if len(peeled) == len(brackets):
            return  # not balanced: json.loads says where
        brackets = peeled
    if brackets and _JSON_INNERMOST.search(brackets):
        raise DataError(limits.DOCUMENT_DEPTH.over(where, f"more than {bound} levels of nesting"))


# --- YAML -------------------------------------------------------------------------------------


def load_yaml(data: bytes | str, where: str) -> Any:
    """``data`` parsed as YAML (safe constructors) within the document limits."""
    _check_size(data, where, limits.YAML_BYTES)
    import yaml

    loader = _loader_class()(data)
    loader.where = where
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:  # libyaml's scanner looks ahead and has its own depth bound
        if "nesting depth" not in str(exc.problem) or exc.problem_mark is None:
            raise
        bound = limits.DOCUMENT_DEPTH.value()
        found = f"line {exc.problem_mark.line + 1}: more than {bound} levels of nesting"
        raise DataError(limits.DOCUMENT_DEPTH.over(where, found)) from None
    finally:
        loader.dispose()


_LOADER: type | None = None


def _loader_class() -> type:
    """A safe loader whose composer (Python) counts values and depth on libyaml's events."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    from yaml.resolver import Resolver

    try:
        from yaml import _yaml

        parser: Any = _yaml.CParser
    except ImportError:  # PyYAML built without libyaml
        parser = _python_parser()
    composer: Any = _composer_class()
    constructor: Any = _constructor_class()

    class BoundedSafeLoader(composer, parser, constructor, Resolver):
        def __init__(self, stream: bytes | str) -> None:
            parser.__init__(self, stream)
            composer.__init__(self)
            constructor.__init__(self)
            Resolver.__init__(self)

    _LOADER = BoundedSafeLoader
    return _LOADER


def _composer_class() -> type:
    """PyYAML's composer counting the values (aliases expanded) and the depth of what it composes
    (``YAML_VALUES``, ``DOCUMENT_DEPTH``) and refusing an alias to a node that contains it."""
    from yaml.composer import Composer
    from yaml.events import AliasEvent
    from yaml.nodes import Node

    class BoundedComposer(Composer):
        where = "YAML document"
        _values = 0
        _depth = 0

        def __init__(self) -> None:
            super().__init__()
            self._sizes: dict[str, int] = {}
            self._node_limit = limits.YAML_VALUES.value()
            self._depth_limit = limits.DOCUMENT_DEPTH.value()

        def _line(self, event: Any) -> str:
            mark = getattr(event, "start_mark", None)
            return "" if mark is None else f"line {mark.line + 1}: "

        def _count(self, n: int, event: Any) -> None:
            self._values += n
            if self._values > self._node_limit:
                found = f"{self._line(event)}more than {self._node_limit:,} values"
                if self._sizes:
                    found += " once its aliases are expanded"
                raise DataError(limits.YAML_VALUES.over(self.where, found))

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            reader: Any = self  # the parser half of the loader (libyaml's or PyYAML's)
            event = reader.peek_event()
            if reader.check_event(AliasEvent):
                anchor = event.anchor
                if anchor in self.anchors and anchor not in self._sizes:
                    raise DataError(
                        f"{self.where}: {self._line(event)}alias *{anchor} refers to a node that "
                        "contains it (a cycle)"
                    )
                self._count(self._sizes.get(anchor, 1), event)
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > self._depth_limit:
                found = f"{self._line(event)}more than {self._depth_limit} levels of nesting"
                raise DataError(limits.DOCUMENT_DEPTH.over(self.where, found))
            start = self._values
            self._count(1, event)
            node = super().compose_node(parent, index)
            if event.anchor is not None:
                self._sizes[event.anchor] = self._values - start
            self._depth -= 1
            return node

        def compose_document(self) -> Node | None:
            self._sizes = {}
            return super().compose_document()

    return BoundedComposer


def _constructor_class() -> type:
    """PyYAML's safe constructor building JSON's values only (see the module's docstring): a key
    written twice in one mapping, an integer beyond a float's range, ``!!binary`` and ``!!set`` are
    refused naming their line; a date or time is kept as the text written."""
    from yaml.constructor import SafeConstructor
    from yaml.nodes import MappingNode, Node, ScalarNode

    MERGE = "tag:yaml.org,2002:merge"

    class PlainConstructor(SafeConstructor):
        """Safe constructors that build JSON's values only (see the module's docstring)."""

        where = "YAML document"

        def _at(self, node: Node) -> str:
            return f"line {node.start_mark.line + 1}: " if node.start_mark is not None else ""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            if isinstance(node, MappingNode):
                first: dict[Any, Node] = {}
                for key_node, _ in node.value:
                    if key_node.tag == MERGE or not isinstance(key_node, ScalarNode):
                        continue  # a merge's keys may be overridden; a complex key fails below
                    key = self.construct_object(key_node)
                    if key in first:
                        line = first[key].start_mark.line + 1
                        raise DataError(
                            f"{self.where}: {self._at(key_node)}key {key!r} appears twice in one "
                            f"mapping (first on line {line})"
                        )
                    first[key] = key_node
            return dict(super().construct_mapping(node, deep=deep))

        def construct_yaml_int(self, node: Any) -> int:
            text = str(node.value).replace("_", "")
            if len(text) > _LONG_INT:
                raise _int_out_of_range(text, self.where, self._at(node))
            value = int(super().construct_yaml_int(node))
            # hexadecimal, octal and binary digits count for more than decimal ones
            if len(text) > 20 and not _fits_float(value):
                raise _int_out_of_range(text, self.where, self._at(node))
            return value

        def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
            return self.construct_scalar(node)  # a date or time: the text as written

        def refuse_tag(self, node: Any) -> Any:
            raise DataError(
                f"{self.where}: {self._at(node)}a {node.tag.replace('tag:yaml.org,2002:', '!!')} value; "
                "graft reads plain YAML values (strings, numbers, booleans, null, lists, mappings)"
            )

    PlainConstructor.yaml_constructors = {
        **SafeConstructor.yaml_constructors,
        **{
            f"tag:yaml.org,2002:{tag}": method
            for tag, method in (
                ("int", PlainConstructor.construct_yaml_int),
                ("timestamp", PlainConstructor.construct_yaml_timestamp),
                ("binary", PlainConstructor.refuse_tag),
                ("set", PlainConstructor.refuse_tag),
            )
        },
    }

    return PlainConstructor


def _python_parser() -> type:
    """PyYAML without libyaml: its own reader, scanner and parser (same events, slower)."""
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class PythonParser(Reader, Scanner, Parser):
        def __init__(self, stream: bytes | str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

    return PythonParser
