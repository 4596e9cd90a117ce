"""Parameter overrides (``--set section.key=value``): parsing, type checks, round-trip edits.

Keys are dotted paths into params.yaml. A mapping key may itself contain dots
(``gate.thresholds.fairness.sex.demographic_parity_difference.max``), so a path is resolved
against the document, not split blindly. List items are addressed by index
(``validate.ranges.age.1``).

Values are parsed as YAML with the same loader the stages use (PyYAML ``safe_load``) and must
match the type of the value they replace: int for int, int or float for float (stored as a
float), bool for bool, str for str, list for list, mapping for mapping.

Edits go through ruamel.yaml's round-trip mode, so comments, key order, flow style and quoting
of everything else in the file stay as they were. The same holds for the other params files a
stage may declare (:mod:`graft.experiments.paramfiles` picks the file): a JSON file is rewritten
with its own indentation and key order, a TOML file through tomlkit (comments, order and layout
kept). Whatever the format, the edited text is parsed back and must hold exactly the new values.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from graft.core.errors import DataError, ParamsError, UsageError
from graft.core.safeload import load_yaml
from graft.project.dvcfile import DEFAULT_PARAMS as PARAMS_FILE

PathPart = str | int


@dataclass(frozen=True)
class Assignment:
    """One ``key=value`` from the command line, before it is checked against params.yaml."""

    key: str
    raw: str


@dataclass(frozen=True)
class Override:
    """A checked assignment: where it lands in the document, the old and the new value."""

    key: str  # as shown: ``file:key`` for a file other than params.yaml
    path: tuple[PathPart, ...]
    old: Any
    new: Any
    raw: str
    file: str = PARAMS_FILE

    def describe(self) -> str:
        return f"{self.key}={format_value(self.new)}"


def format_value(value: Any) -> str:
    """A compact, YAML-flavoured rendering of a value (``true``, ``0.1``, ``[a, b]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def parse_assignment(text: str) -> Assignment:
    """``"train.num_leaves=63"`` -> ``Assignment("train.num_leaves", "63")``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set '{text}': expected section.key=value (e.g. train.num_leaves=63)")
    if any(not part for part in key.split(".")):
        raise UsageError(f"--set '{text}': '{key}' is not a dotted key (empty part)")
    return Assignment(key, raw.strip())


def parse_assignments(texts: Sequence[str]) -> list[Assignment]:
    out = [parse_assignment(t) for t in texts]
    seen: set[str] = set()
    for a in out:
        if a.key in seen:
            raise UsageError(f"--set: key '{a.key}' given more than once")
        seen.add(a.key)
    return out


def parse_value(raw: str, key: str) -> Any:
    """Parse ``raw`` as YAML the way the stages read params.yaml."""
    try:
        return load_yaml(raw, f"--set {key}") if raw != "" else ""
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ParamsError(f"--set {key}={raw}: not a valid YAML value ({problem})") from None


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else format_value(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    if value is None:
        return "null"
    return type(value).__name__


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def check_type(key: str, old: Any, new: Any, raw: str, source: str = PARAMS_FILE) -> Any:
    """Return ``new`` (a float when ``old`` is one) or raise naming key, expected and got."""
    expected = _type_name(old)
    got = _type_name(new)
    ok: bool
    if expected == "null":
        ok = True
    elif expected == "float":
        if got == "str" and _FLOAT.fullmatch(str(new).strip()):
            new, got = float(new), "float"  # PyYAML reads 1e-3 as a string
        ok = got in ("int", "float")
        if ok:
            new = float(new)
    else:
        ok = expected == got
    if not ok:
        raise ParamsError(
            f"--set {key}={raw}: expected {expected} (like {_show(old)}, the value in {source}), "
            f"got {got} {_show(new)}"
        )
    return new


def _children(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        return [str(k) for k in node]
    if isinstance(node, list):
        return [str(i) for i in range(len(node))]
    return []


def resolve_key(document: Any, key: str) -> tuple[PathPart, ...] | None:
    """The path of ``key`` in ``document`` (mapping keys may contain dots), or None."""
    parts = key.split(".")

    def walk(node: Any, start: int) -> tuple[PathPart, ...] | None:
        if start == len(parts):
            return ()
        if isinstance(node, Mapping):
            # longest dotted candidate first, then shorter ones (backtracking)
            for end in range(len(parts), start, -1):
                candidate = ".".join(parts[start:end])
                if candidate in node:
                    rest = walk(node[candidate], end)
                    if rest is not None:
                        return (candidate, *rest)
            return None
        if isinstance(node, list) and re.fullmatch(r"\d+", parts[start]):
            index = int(parts[start])
            if index < len(node):
                rest = walk(node[index], start + 1)
                if rest is not None:
                    return (index, *rest)
        return None

    return walk(document, 0)


def _unknown_key(document: Any, key: str, source: str, shown: str | None = None) -> ParamsError:
    """An error naming the key and what exists at the deepest level that did match."""
    parts = key.split(".")
    node: Any = document
    where: list[str] = []
    for i in range(len(parts), 0, -1):
        path = resolve_key(document, ".".join(parts[:i]))
        if path is not None:
            node = get_path(document, path)
            where = parts[:i]
            break
    known = _children(node)
    place = f"'{'.'.join(where)}'" if where else "the top level"
    hint = f"; keys at {place}: {', '.join(known)}" if known else f"; {place} is not a mapping"
    return ParamsError(f"--set {shown or key}: no key '{key}' in {source}{hint}")


def get_path(document: Any, path: Sequence[PathPart]) -> Any:
    node = document
    for part in path:
        node = node[part]
    return node


def plan(
    document: Any, assignments: Sequence[Assignment], source: str = PARAMS_FILE, file: str = PARAMS_FILE
) -> list[Override]:
    """Check every assignment against ``document`` (the plain parsed params); raise on the first bad one.

    ``file``: the params file the keys are in; keys of a file other than params.yaml are shown
    (in messages and :attr:`Override.key`) as ``file:key``.
    """
    prefix = "" if file == PARAMS_FILE else f"{file}:"
    out: list[Override] = []
    for a in assignments:
        shown = prefix + a.key
        path = resolve_key(document, a.key)
        if path is None or not path:
            raise _unknown_key(document, a.key, source, shown)
        old = get_path(document, path)
        new = check_type(shown, old, parse_value(a.raw, shown), a.raw, source)
        out.append(Override(shown, path, old, new, a.raw, file))
    return out


FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


def file_format(file: str) -> str:
    """``yaml``, ``json`` or ``toml`` by the file's suffix; another suffix is refused by name."""
    for suffix, kind in FORMATS.items():
        if file.lower().endswith(suffix):
            return kind
    raise ParamsError(
        f"{file}: graft edits params files in YAML, JSON or TOML ({', '.join(FORMATS)}), not this one"
    )


def split_key(key: str) -> tuple[str | None, str]:
    """``"conf.toml:fit.alpha"`` -> ``("conf.toml", "fit.alpha")``; a bare key -> ``(None, key)``.

    Only a prefix ending in a params file suffix (``.yaml``, ``.yml``, ``.json``, ``.toml``) names
    a file, so a key that merely contains ``:`` stays a key.
    """
    file, sep, rest = key.partition(":")
    if sep and rest and file.lower().endswith(tuple(FORMATS)):
        return file, rest
    return None, key


def parse_params(params_text: str, source: str, file: str = PARAMS_FILE) -> Mapping[str, Any]:
    """The plain content of a params file (by its format), refused when unparsable or not a mapping."""
    from graft.core.safeload import load_json, load_toml

    kind = file_format(file)
    try:
        if kind == "json":
            document = load_json(params_text, source)
        elif kind == "toml":
            document = load_toml(params_text, source)
        else:
            document = load_yaml(params_text, source)
    except (yaml.YAMLError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ParamsError(f"{source}: not valid {kind.upper()}: {' '.join(str(exc).split())}") from None
    if not isinstance(document, Mapping):
        raise ParamsError(f"{source}: expected a mapping of sections at the top level")
    return document


def plan_text(
    params_text: str, assignments: Sequence[Assignment], source: str = PARAMS_FILE, file: str = PARAMS_FILE
) -> list[Override]:
    return plan(parse_params(params_text, source, file), assignments, source, file)


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _yaml_safe(value: Any) -> Any:
    """Quote strings PyYAML would read back as something else (``yes``, ``1e3``, ``null``)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str):
        try:
            same = load_yaml(value, "a --set value") == value
        except (yaml.YAMLError, DataError):
            same = False
        return value if same else DoubleQuotedScalarString(value)
    if isinstance(value, list):
        seq = CommentedSeq(_yaml_safe(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, Mapping):
        cmap = CommentedMap((k, _yaml_safe(v)) for k, v in value.items())
        cmap.fa.set_flow_style()
        return cmap
    return value


def _apply_yaml(params_text: str, overrides: Sequence[Override]) -> str:
    rt = _round_trip()
    document = rt.load(params_text)
    for o in overrides:
        parent = get_path(document, o.path[:-1])
        parent[o.path[-1]] = _yaml_safe(o.new)
    buffer = io.StringIO()
    rt.dump(document, buffer)
    return buffer.getvalue()


def json_indent(text: str) -> int | str | None:
    """The indentation of a JSON document's first nested line (None: all on one line)."""
    match = re.search(r"\n([ \t]+)\S", text)
    if match is None:
        return 0 if "\n" in text.strip() else None
    unit = match.group(1)
    return len(unit) if set(unit) == {" "} else unit


def _apply_json(params_text: str, overrides: Sequence[Override]) -> str:
    import json

    document = json.loads(params_text)
    for o in overrides:
        get_path(document, o.path[:-1])[o.path[-1]] = o.new
    ascii_only = params_text.isascii()
    text = json.dumps(document, indent=json_indent(params_text), ensure_ascii=ascii_only)
    return text + "\n" if params_text.endswith("\n") else text


def _apply_toml(params_text: str, overrides: Sequence[Override]) -> str:
    import tomlkit

    document = tomlkit.parse(params_text)
    for o in overrides:
        parent: Any = document
        for part in o.path[:-1]:
            parent = parent[part]
        parent[o.path[-1]] = o.new
    return tomlkit.dumps(document)


def apply(
    params_text: str, overrides: Sequence[Override], source: str = PARAMS_FILE, file: str = PARAMS_FILE
) -> str:
    """``params_text`` (the content of ``file``) with each override applied, in the file's own
    format; everything else kept as it was (comments, order, quoting, indentation)."""
    kind = file_format(file)
    writers = {"yaml": _apply_yaml, "json": _apply_json, "toml": _apply_toml}
    text = writers[kind](params_text, overrides)
    # What the stages will read must be exactly what was asked for.
    reread = parse_params(text, source, file)
    for o in overrides:
        if get_path(reread, o.path) != o.new:
            raise ParamsError(
                f"{source}: writing '{o.key}' did not round-trip (got {get_path(reread, o.path)!r})"
            )
    return text


# ---------------------------------------------------------------------------------------------
# grids


def split_values(raw: str) -> list[str]:
    """Split a grid value list on top-level commas (``[1, 2],[3, 4]`` is two lists)."""
    values: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for ch in raw:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    values.append("".join(current).strip())
    return values


@dataclass(frozen=True)
class GridAxis:
    key: str
    raws: tuple[str, ...]


@dataclass(frozen=True)
class GridPoint:
    name: str
    assignments: tuple[Assignment, ...]


def parse_grid(texts: Sequence[str]) -> list[GridAxis]:
    axes: list[GridAxis] = []
    for a in parse_assignments(texts):
        raws = split_values(a.raw)
        if any(r == "" for r in raws):
            raise UsageError(f"--set {a.key}={a.raw}: empty value in the list")
        if len(set(raws)) != len(raws):
            raise UsageError(f"--set {a.key}={a.raw}: a value is listed twice")
        axes.append(GridAxis(a.key, tuple(raws)))
    if not axes:
        raise UsageError("graft exp grid needs at least one --set section.key=v1,v2,...")
    return axes


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def name_part(text: str) -> str:
    """A fragment safe inside a branch name: runs of other characters become ``_``."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "_"
    return re.sub(r"\.{2,}", ".", cleaned)


def axis_labels(keys: Sequence[str]) -> list[str]:
    """The last part of each key (without a ``file:`` prefix), or more of it where two keys would
    share a label (then the file's stem too, where that is what tells them apart)."""
    inner = [split_key(k)[1] for k in keys]
    labels = [k.split(".")[-1] for k in inner]
    depth = 1
    while len(set(labels)) != len(labels) and depth < max(len(k.split(".")) for k in inner):
        depth += 1
        labels = [".".join(k.split(".")[-depth:]) for k in inner]
    if len(set(labels)) != len(labels):
        labels = [".".join(k.split(".")[-depth - 1 :]) for k in keys]
    return labels


def expand_grid(axes: Sequence[GridAxis], prefix: str = "grid") -> list[GridPoint]:
    """The cartesian product of the axes, in command-line order, with readable names."""
    labels = axis_labels([a.key for a in axes])
    points: list[GridPoint] = []
    for combo in itertools.product(*(a.raws for a in axes)):
        parts = [prefix]
        for label, raw in zip(labels, combo, strict=True):
            parts += [name_part(label), name_part(raw)]
        points.append(
            GridPoint("-".join(parts), tuple(Assignment(a.key, r) for a, r in zip(axes, combo, strict=True)))
        )
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"grid values give the same branch name twice: {', '.join(dupes)}")
    return points
