"""What a project's ``dvc.yaml`` declares, read the way DVC reads it.

* metrics files: the top-level ``metrics:`` list and every stage's ``metrics`` outputs;
* plots files: the top-level ``plots:`` entries (a path, or ``{id: {y: {file: column}}}``) and
  every stage's ``plots`` outputs; each declaration with its properties (template, x, y, titles)
  is kept too (:class:`PlotDefinition`), grouped as DVC groups them;
* params: each stage's ``params`` (``section`` or ``key`` entries of ``params.yaml``, or
  ``{file: [keys]}``) and the top-level ``params:`` files;
* artifacts: the top-level ``artifacts:`` (name -> path, type, desc, labels, meta);
* per stage: its command, dependencies and outputs.

A project may have more dvc.yaml files in subfolders (DVC reads them all; dvclive may write
``dvclive/dvc.yaml``): :meth:`Pipeline.including` adds one, its paths made relative to the
project root and its stages named ``folder/dvc.yaml:stage`` as DVC names them.

``${key}`` in a path is resolved against ``vars:`` (inline mappings) and ``params.yaml``, as
DVC's templating does; ``foreach`` and ``matrix`` stages are expanded as DVC expands them
(``name@key`` for each item of a list or mapping, ``${item}``/``${key}``; ``name@v1-v2`` for
each combination of a matrix, ``${item.axis}``), with DVC's naming of composite items (index,
``axis<index>``). A value ``${...}`` that is a whole string (``foreach: ${models}``) stands for
the value itself.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from graft.core.errors import ParamsError

DEFAULT_PARAMS = "params.yaml"
_INTERPOLATION = re.compile(r"\$\{\s*([^}]+?)\s*\}")


@dataclass(frozen=True)
class Artifact:
    name: str
    path: str
    type: str | None = None
    desc: str | None = None
    labels: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


# the properties a stage's plots output may carry (DVC's PLOT_PROPS); its other options
# (cache, persist, ...) are not the plot's
PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title", "header")
TOP_LEVEL = "dvc.yaml"  # the group of top-level plots; a stage's plots outputs are in group ""


def join_posix(base: str, path: str) -> str:
    """``path`` (relative to the folder ``base``) from the project root, ``.``/``..`` resolved."""
    joined = PurePosixPath(base) / path if base else PurePosixPath(path)
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


@dataclass(frozen=True)
class PlotDefinition:
    """One declared plot: ``id`` (a file or folder path, or a name whose ``y`` maps files to
    columns), its properties and its ``group`` (``dvc.yaml`` for the top-level ``plots:``, ``""``
    for a stage's plots output, as ``dvc plots`` names them)."""

    id: str
    props: Mapping[str, Any]
    group: str


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    metrics: tuple[str, ...]
    plots: tuple[str, ...]
    params: Mapping[str, tuple[str, ...]]  # file -> keys ('' = the whole file)


@dataclass(frozen=True)
class Pipeline:
    """The files ``dvc.yaml`` declares (empty when the project has no dvc.yaml)."""

    stages: Mapping[str, Stage] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    artifacts: Mapping[str, Artifact] = field(default_factory=dict)
    params_files: tuple[str, ...] = (DEFAULT_PARAMS,)
    plot_definitions: tuple[PlotDefinition, ...] = ()

    @property
    def params(self) -> dict[str, tuple[str, ...]]:
        """Params file -> the keys the stages read (in stage order, no repeats)."""
        out: dict[str, dict[str, None]] = {}
        for stage in self.stages.values():
            for file, keys in stage.params.items():
                out.setdefault(file, {}).update(dict.fromkeys(keys))
        return {file: tuple(keys) for file, keys in out.items()}

    @property
    def outputs(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for stage in self.stages.values():
            seen.update(dict.fromkeys([*stage.outs, *stage.metrics, *stage.plots]))
        return tuple(seen)

    def models(self) -> list[Artifact]:
        return [a for a in self.artifacts.values() if a.type == "model"]

    def including(self, other: Pipeline, folder: str) -> Pipeline:
        """This pipeline and ``other`` (the dvc.yaml in ``folder``), paths from the project root."""

        def paths(items: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(join_posix(folder, p) for p in items)

        stages = dict(self.stages)
        for name, stage in other.stages.items():
            full = f"{folder}/dvc.yaml:{name}"
            stages[full] = Stage(
                name=full,
                cmd=stage.cmd,
                deps=paths(stage.deps),
                outs=paths(stage.outs),
                metrics=paths(stage.metrics),
                plots=paths(stage.plots),
                params={join_posix(folder, f): keys for f, keys in stage.params.items()},
            )
        artifacts = dict(self.artifacts)
        for name, artifact in other.artifacts.items():
            artifacts.setdefault(name, replace(artifact, path=join_posix(folder, artifact.path)))
        definitions = [
            replace(
                d,
                # a plot's id is a path unless its y maps files (then it is a name)
                id=d.id if isinstance(d.props.get("y"), Mapping) else join_posix(folder, d.id),
                props={
                    k: ({join_posix(folder, f): c for f, c in v.items()} if isinstance(v, Mapping) else v)
                    if k in ("x", "y")
                    else v
                    for k, v in d.props.items()
                },
            )
            for d in other.plot_definitions
        ]
        return Pipeline(
            stages=stages,
            metrics=tuple(dict.fromkeys([*self.metrics, *paths(other.metrics)])),
            plots=tuple(dict.fromkeys([*self.plots, *paths(other.plots)])),
            artifacts=artifacts,
            params_files=tuple(dict.fromkeys([*self.params_files, *paths(other.params_files)])),
            plot_definitions=(*self.plot_definitions, *definitions),
        )


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    node: Any = context
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def interpolate(text: str, context: Mapping[str, Any]) -> str:
    """``${a.b}`` -> the value at ``a.b`` of ``context``; unresolvable references stay as written."""

    def one(match: re.Match[str]) -> str:
        value = _lookup(context, match.group(1))
        return match.group(0) if value is None or isinstance(value, (Mapping, list)) else _key_text(value)

    return _INTERPOLATION.sub(one, text)


def _value(raw: Any, context: Mapping[str, Any]) -> Any:
    """``${a.b}`` as a whole string -> the value at ``a.b`` (any type); anything else as is."""
    if isinstance(raw, str):
        match = _INTERPOLATION.fullmatch(raw.strip())
        if match:
            found = _lookup(context, match.group(1))
            return raw if found is None else found
    return raw


def _key_text(value: Any) -> str:
    """A generated stage name's part, as DVC writes it (booleans lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _expand(
    name: str, body: Mapping[str, Any], context: Mapping[str, Any], where: str
) -> list[tuple[str, Any, dict[str, Any]]]:
    """A stage, or the stages a ``foreach``/``matrix`` stage generates: (name, body, context)."""
    if "foreach" in body:
        items = _value(body["foreach"], context)
        template = body.get("do")
        if isinstance(items, Mapping):
            pairs = [(_key_text(k), v) for k, v in items.items()]
        elif isinstance(items, list):
            composite = any(isinstance(v, (Mapping, list)) for v in items)
            pairs = [(str(i) if composite else _key_text(v), v) for i, v in enumerate(items)]
        else:
            raise ParamsError(f"{where}: stages.{name}.foreach must be a list or mapping (got {items!r})")
        return [(f"{name}@{key}", template, {**context, "key": key, "item": item}) for key, item in pairs]
    if "matrix" in body:
        axes = body["matrix"]
        if not isinstance(axes, Mapping):
            raise ParamsError(f"{where}: stages.{name}.matrix must be a mapping of name -> values")
        resolved = {str(k): _value(v, context) for k, v in axes.items()}
        for axis, values in resolved.items():
            if not isinstance(values, list):
                raise ParamsError(f"{where}: stages.{name}.matrix.{axis} must be a list (got {values!r})")
        out = []
        for combination in itertools.product(*(list(enumerate(v)) for v in resolved.values())):
            item = {axis: v for axis, (_, v) in zip(resolved, combination, strict=True)}
            parts = [
                f"{axis}{i}" if isinstance(v, (Mapping, list)) else _key_text(v)
                for axis, (i, v) in zip(resolved, combination, strict=True)
            ]
            out.append((f"{name}@{'-'.join(parts)}", body, {**context, "item": item, "key": "-".join(parts)}))
        return out
    return [(name, body, dict(context))]


def _paths(entries: Any, context: Mapping[str, Any], where: str) -> tuple[str, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ParamsError(f"{where}: expected a list")
    out: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(interpolate(entry, context))
        elif isinstance(entry, Mapping) and len(entry) == 1:
            out.append(interpolate(str(next(iter(entry))), context))
        else:
            raise ParamsError(f"{where}: expected a path or {{path: options}} (got {entry!r})")
    return tuple(out)


def _params(entries: Any, where: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for entry in entries or []:
        if isinstance(entry, str):
            out.setdefault(DEFAULT_PARAMS, []).append(entry)
        elif isinstance(entry, Mapping):
            for file, keys in entry.items():
                if keys is None or keys == []:
                    out.setdefault(str(file), []).append("")
                elif isinstance(keys, list):
                    out.setdefault(str(file), []).extend(str(k) for k in keys)
                else:
                    raise ParamsError(f"{where}: params of '{file}' must be a list of keys")
        else:
            raise ParamsError(f"{where}: expected a params key or {{file: [keys]}} (got {entry!r})")
    return {file: tuple(keys) for file, keys in out.items()}


def _top_plots(entries: Any, context: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for entry in entries or []:
        if isinstance(entry, str):
            out.append(interpolate(entry, context))
        elif isinstance(entry, Mapping):
            for name, spec in entry.items():
                y = spec.get("y") if isinstance(spec, Mapping) else None
                if isinstance(y, Mapping):
                    out.extend(interpolate(str(f), context) for f in y)
                elif isinstance(y, str) or y is None:
                    out.append(interpolate(str(name), context))
    return out


def _files_of(axis: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(axis, Mapping):
        return {interpolate(str(f), context): v for f, v in axis.items()}
    return axis


def plot_definitions(document: Mapping[str, Any], context: Mapping[str, Any]) -> list[PlotDefinition]:
    """Every plot ``dvc.yaml`` declares: the top-level ``plots:`` (a path, ``{path: props}`` or
    ``{id: props}`` whose ``x``/``y`` map files), then each stage's plots outputs."""
    out: list[PlotDefinition] = []
    for entry in document.get("plots") or []:
        if not isinstance(entry, (str, Mapping)):
            continue
        for name, spec in ({entry: None} if isinstance(entry, str) else entry).items():
            props = dict(spec) if isinstance(spec, Mapping) else {}
            props.update({a: _files_of(props[a], context) for a in ("x", "y") if a in props})
            out.append(PlotDefinition(interpolate(str(name), context), props, TOP_LEVEL))
    for body in (document.get("stages") or {}).values():
        entries = body.get("plots") if isinstance(body, Mapping) else None
        for entry in entries if isinstance(entries, list) else []:
            name, spec = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
            options = spec if isinstance(spec, Mapping) else {}
            props = {k: options[k] for k in PLOT_PROPS if k in options}
            out.append(PlotDefinition(interpolate(str(name), context), props, ""))
    return out


def uncached_outputs(document: Any) -> frozenset[str]:
    """The outputs a parsed dvc.yaml declares ``cache: false`` (kept in Git, never in DVC's cache)."""
    found: set[str] = set()
    stages = document.get("stages") if isinstance(document, Mapping) else None
    for body in stages.values() if isinstance(stages, Mapping) else ():
        for kind in ("outs", "metrics", "plots"):
            entries = body.get(kind) if isinstance(body, Mapping) else None
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, Mapping) and len(entry) == 1:
                    path, options = next(iter(entry.items()))
                    if isinstance(options, Mapping) and options.get("cache") is False:
                        found.add(str(path).strip("/"))
    return frozenset(found)


def parse_pipeline(
    document: Any, params: Mapping[str, Any] | None = None, where: str = "dvc.yaml"
) -> Pipeline:
    """A :class:`Pipeline` from a parsed dvc.yaml; ``params`` (params.yaml) resolves ``${...}``."""
    if document is None:
        return Pipeline()
    if not isinstance(document, Mapping):
        raise ParamsError(f"{where}: expected a mapping at the top level")
    context: dict[str, Any] = dict(params or {})
    for entry in document.get("vars") or []:
        if isinstance(entry, Mapping):
            context.update(entry)
    stages: dict[str, Stage] = {}
    raw_stages = document.get("stages") or {}
    if not isinstance(raw_stages, Mapping):
        raise ParamsError(f"{where}: 'stages' must be a mapping of stage name -> stage")
    for group, group_body in raw_stages.items():
        if not isinstance(group_body, Mapping):
            raise ParamsError(f"{where}: stage '{group}' must be a mapping")
        for name, body, local in _expand(str(group), group_body, context, where):
            if not isinstance(body, Mapping):
                raise ParamsError(f"{where}: stage '{group}' needs a 'do' mapping")
            at = f"{where}: stages.{name}"
            cmd = body.get("cmd", "")
            stages[name] = Stage(
                name=name,
                cmd=" && ".join(map(str, cmd)) if isinstance(cmd, list) else interpolate(str(cmd), local),
                deps=_paths(body.get("deps"), local, f"{at}.deps"),
                outs=_paths(body.get("outs"), local, f"{at}.outs"),
                metrics=_paths(body.get("metrics"), local, f"{at}.metrics"),
                plots=_paths(body.get("plots"), local, f"{at}.plots"),
                params=_params(body.get("params"), f"{at}.params"),
            )
    metrics = list(_paths(document.get("metrics"), context, f"{where}: metrics"))
    plots = _top_plots(document.get("plots"), context)
    for stage in stages.values():
        metrics.extend(stage.metrics)
        plots.extend(stage.plots)
    artifacts: dict[str, Artifact] = {}
    for name, spec in (document.get("artifacts") or {}).items():
        if not isinstance(spec, Mapping) or "path" not in spec:
            raise ParamsError(f"{where}: artifacts.{name} needs a 'path'")
        artifacts[str(name)] = Artifact(
            name=str(name),
            path=interpolate(str(spec["path"]), context),
            type=None if spec.get("type") is None else str(spec["type"]),
            desc=None if spec.get("desc") is None else str(spec["desc"]),
            labels=tuple(str(x) for x in spec.get("labels") or ()),
            meta=dict(spec.get("meta") or {}),
        )
    params_files = [DEFAULT_PARAMS]
    for entry in document.get("params") or []:
        if isinstance(entry, str) and entry not in params_files:
            params_files.append(entry)
    for stage in stages.values():
        params_files.extend(f for f in stage.params if f not in params_files)
    return Pipeline(
        stages=stages,
        metrics=tuple(dict.fromkeys(metrics)),
        plots=tuple(dict.fromkeys(plots)),
        artifacts=artifacts,
        params_files=tuple(params_files),
        plot_definitions=tuple(plot_definitions(document, context)),
    )
