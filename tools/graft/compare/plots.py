"""The plots a project's ``dvc.yaml`` declares, base and head together, for ``graft report``.

Every declaration ``dvc plots`` reads is shown: the top-level ``plots:`` (a file or folder path
with options, or a plot id whose ``x``/``y`` map several files) and each stage's plots outputs.
Files are read at each revision through the project layer (``View.read``), never from a
checkout; a folder is expanded to its files, as DVC does.

* Data files (JSON: a list of records or dvclive's ``{"step": [..]}`` forms; YAML; CSV/TSV) go
  through DVC's own converter and the Vega-Lite templates the installed ``dvc_render`` ships
  (linear, simple, scatter, smooth, confusion, confusion_normalized, bar_horizontal,
  bar_horizontal_sorted, or a template file): one spec per plot with base and head overlaid on
  a ``rev`` field, the spec ``dvc plots diff --json`` gives for the same revisions. With an
  output folder, :func:`write` renders each spec to PNG or SVG with vl-convert (no browser).
* Images (.png, .jpg, .jpeg, .gif, .svg) are copied per revision, shown side by side.
* Confusion plots also get their counts as a table (actual x predicted, per revision).

Bounds (``graft.core.limits``): a plot file's size (PLOT_BYTES) and data points (PLOT_ROWS),
and the files read per revision (PLOT_FILES). A file missing at one revision, over a bound, or
unreadable is a note on its plot, never fatal: the rest of the report stands.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from graft.core import limits
from graft.core.errors import DataError
from graft.core.safeload import load_json, load_yaml
from graft.project.dvcfile import PlotDefinition

if TYPE_CHECKING:
    from graft.project.view import View

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg")
DATA_EXTENSIONS = (".json", ".yaml", ".yml", ".csv", ".tsv")
CONFUSION_TEMPLATES = ("confusion", "confusion_normalized")
TEMPLATES_DIR = ".dvc/plots"  # a project's own templates, as `dvc plots templates` writes them
FORMATS = ("png", "svg")


@dataclass
class Plot:
    """One plot as the report shows it. ``kind``: ``vega`` (a spec over both revisions) or
    ``image`` (one file per revision); ``revisions``: the revisions that had data for it."""

    name: str
    kind: str
    template: str | None
    files: list[str]
    revisions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spec: dict[str, Any] | None = None
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # rev -> (file, bytes)
    confusion: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # rev or "spec" -> link from the report

    def summary(self) -> dict[str, Any]:
        """What ``graft report --format json`` lists (schemas/report.json)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "template": self.template,
            "files": self.files,
            "revisions": self.revisions,
            "written": self.written,
            "links": self.links,
            "notes": self.notes,
            "confusion": self.confusion,
        }


# --- reading -----------------------------------------------------------------------------------


def _extension(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def is_image(path: str) -> bool:
    return _extension(path) in IMAGE_EXTENSIONS


def _id_is_path(props: Mapping[str, Any]) -> bool:
    return not isinstance(props.get("y"), Mapping)


def sources_of(plot_id: str, props: Mapping[str, Any]) -> list[str]:
    """The files a plot reads: its ``y`` files (else the id itself) and its first ``x`` file."""
    y, x = props.get("y"), props.get("x")
    files = list(y) if isinstance(y, Mapping) else [plot_id]
    if isinstance(x, Mapping) and x:
        files.append(next(iter(x)))
    return list(dict.fromkeys(str(f) for f in files))


def _count(value: Any) -> int:
    """Data points in a parsed plot file: the records of every list in it."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_count(v) for v in value.values())
    return 0


def parse(data: bytes, path: str, header: bool = True) -> Any:
    """A plot file's data as DVC reads it (CSV/TSV rows as dicts of strings; JSON; YAML).
    Raises ValueError (naming what is wrong) for a file that cannot be read."""
    size = limits.PLOT_BYTES.value()
    if len(data) > size:
        raise ValueError(f"{len(data)} bytes, over the {size}-byte bound ({limits.PLOT_BYTES.variable})")
    extension = _extension(path)
    try:
        text = data.decode("utf-8")
        if extension in (".csv", ".tsv"):
            delimiter = "\t" if extension == ".tsv" else ","
            if header:
                value: Any = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
            else:
                rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
                value = [{str(i): cell for i, cell in enumerate(row)} for row in rows]
        elif extension == ".json":
            value = load_json(data, path)
        else:
            value = load_yaml(data, path)  # aliases bounded (graft.core.safeload)
    except DataError as exc:  # past a document limit: its own message
        raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
    except Exception as exc:  # json/csv/yaml errors, UnicodeDecodeError: the file is at fault
        raise ValueError(f"cannot be parsed ({exc.__class__.__name__})") from None
    bound = limits.PLOT_ROWS.value()
    if _count(value) > bound:
        raise ValueError(
            f"{_count(value)} data points, over the bound of {bound} ({limits.PLOT_ROWS.variable})"
        )
    if not isinstance(value, (list, Mapping)):
        raise ValueError("holds no records (expected a list of records or a mapping of lists)")
    return value


@dataclass
class _Revision:
    """One revision's plot declarations and files, as DVC's ``plots show`` shapes them."""

    name: str
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # group -> id -> props
    sources: dict[str, Any] = field(default_factory=dict)  # file -> parsed data or image bytes
    problems: dict[str, str] = field(default_factory=dict)  # file -> why it is not shown
    dropped: dict[str, tuple[list[str], str]] = field(default_factory=dict)  # id -> (files, note)


def _template(view: View, name: str) -> Any:
    """A plot's template as ``dvc plots`` finds it: a file in ``.dvc/plots/`` (``NAME`` or
    ``NAME.json``) or at the path ``NAME``, read at this revision, else one of dvc_render's
    templates by name. Raises ValueError naming the template when there is neither."""
    from dvc_render.vega_templates import TEMPLATES, Template

    for path in (f"{TEMPLATES_DIR}/{name}", f"{TEMPLATES_DIR}/{name}.json", name):
        data = view.read(path)
        if data is None:
            continue
        try:
            content = load_json(data, path)
        except DataError as exc:
            raise ValueError(f"template {exc}") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"template {path}: cannot be parsed ({exc.__class__.__name__})") from None
        if not isinstance(content, dict):
            raise ValueError(f"template {path}: expected a Vega-Lite spec (a JSON object)")
        return Template(content, name=name)
    names = [t.DEFAULT_NAME for t in TEMPLATES]
    if name in names:
        return name
    raise ValueError(
        f"template {name!r} is neither one of DVC's ({', '.join(names)}) nor a file in {TEMPLATES_DIR}/"
    )


def _expand(view: View, definition: PlotDefinition, rev: _Revision) -> list[tuple[str, dict[str, Any]]]:
    """A definition's (id, props) entries: a folder path is one entry per file, as DVC does (the
    first PLOT_FILES of them; a note on the folder says so)."""
    props = dict(definition.props)
    if not _id_is_path(props) or _extension(definition.id) in (*DATA_EXTENSIONS, *IMAGE_EXTENSIONS):
        return [(definition.id, props)]
    files = [f for f in view.paths_under(definition.id) if f != definition.id.strip("/")]
    if not files:
        return [(definition.id, props)]
    bound = limits.PLOT_FILES
    if len(files) > bound.value():
        why = f"{definition.id} at {rev.name}: {len(files)} files, over the bound of {bound.value()}"
        rev.dropped[definition.id] = ([definition.id], f"{why} ({bound.variable}); the first are shown")
    return [(file, dict(props)) for file in files[: bound.value()]]


def _read_revision(view: View, name: str) -> _Revision:
    out = _Revision(name)
    left = limits.PLOT_FILES.value()
    for definition in view.pipeline.plot_definitions:
        for plot_id, props in _expand(view, definition, out):
            if props.get("template") is not None:
                try:
                    props["template"] = _template(view, str(props["template"]))
                except ValueError as exc:
                    out.dropped[plot_id] = (sources_of(plot_id, props), f"not drawn at {name}: {exc}")
                    continue
            out.definitions.setdefault(definition.group, {})[plot_id] = props
            for path in sources_of(plot_id, props):
                if path in out.sources or path in out.problems:
                    continue
                if left <= 0:
                    bound = limits.PLOT_FILES
                    out.problems[path] = (
                        f"not read: over the bound of {bound.value()} files ({bound.variable})"
                    )
                    continue
                left -= 1
                data = view.read(path)
                if data is None:
                    out.problems[path] = "missing"
                elif is_image(path):
                    out.sources[path] = data
                elif _extension(path) not in DATA_EXTENSIONS:
                    out.problems[path] = f"not a plot format graft reads ({', '.join(DATA_EXTENSIONS)})"
                else:
                    try:
                        out.sources[path] = parse(data, path, header=props.get("header", True) is not False)
                    except ValueError as exc:
                        out.problems[path] = str(exc)
    return out


# --- building ----------------------------------------------------------------------------------


def _plots_data(revisions: Sequence[_Revision], images: bool) -> dict[str, Any]:
    """``dvc plots diff``'s data structure, for either the data plots or the image plots."""
    data: dict[str, Any] = {}
    for rev in revisions:
        groups = {
            group: {"data": {i: p for i, p in ids.items() if (is_image(i) and _id_is_path(p)) == images}}
            for group, ids in rev.definitions.items()
        }
        sources = {path: {"data": value} for path, value in rev.sources.items()}
        data[rev.name] = {"definitions": {"data": groups}, "sources": {"data": sources}}
    return data


def _notes(files: Sequence[str], revisions: Sequence[_Revision]) -> list[str]:
    notes = []
    for path in files:
        for rev in revisions:
            problem = rev.problems.get(path)
            if problem == "missing":
                notes.append(f"{path} is not in {rev.name}")
            elif problem is not None:
                notes.append(f"{path} at {rev.name}: {problem}")
    return notes


def _confusion(
    datapoints: Sequence[Mapping[str, Any]], x: str, y: str, revs: Sequence[str]
) -> dict[str, Any]:
    """Counts of (actual = x, predicted = y) per revision, over the classes of every revision."""
    classes = sorted({str(d.get(f)) for d in datapoints for f in (x, y)})
    index = {c: i for i, c in enumerate(classes)}
    counts = {rev: [[0] * len(classes) for _ in classes] for rev in revs}
    for d in datapoints:
        if d.get("rev") in counts:
            counts[d["rev"]][index[str(d.get(x))]][index[str(d.get(y))]] += 1
    return {"actual": x, "predicted": y, "classes": classes, "counts": counts}


def _too_costly(
    datapoints: Sequence[Mapping[str, Any]], props: Mapping[str, Any], template: str | None
) -> str | None:
    """Why a plot is not drawn (its drawing cost is over a bound), or None."""
    if template in CONFUSION_TEMPLATES:
        bound = limits.PLOT_CLASSES
        axes = [str(props.get(a)) for a in ("x", "y")]
        classes = max(len({str(d.get(a)) for d in datapoints}) for a in axes)
        if classes > bound.value():
            return f"{classes} classes, over the bound of {bound.value()} ({bound.variable})"
        return None
    bound = limits.PLOT_POINTS
    if len(datapoints) > bound.value():
        return (
            f"{len(datapoints)} data points, over the bound of {bound.value()} in one plot ({bound.variable})"
        )
    return None


def _vega_plots(revisions: Sequence[_Revision]) -> list[Plot]:
    from dvc.render.match import match_defs_renderers
    from dvc.utils.plots import group_definitions_by_id
    from dvc_render.exceptions import DvcRenderError

    data = _plots_data(revisions, images=False)
    files: dict[str, list[str]] = {}
    for rev in revisions:
        groups = data[rev.name]["definitions"]["data"]
        for plot_name, (plot_id, props) in group_definitions_by_id(groups).items():
            files.setdefault(plot_name, [])
            files[plot_name] = list(dict.fromkeys([*files[plot_name], *sources_of(plot_id, props)]))
    plots = []
    for renderer, _, definition_errors in match_defs_renderers(data):
        name = renderer.name
        plot = Plot(name, "vega", renderer.template.name, files.get(name, []))
        plot.notes = _notes(plot.files, revisions)
        plot.notes.extend(f"{rev}: {str(exc).rstrip('.')}" for rev, exc in definition_errors.items())
        if renderer.datapoints:
            plot.revisions = list(renderer.get_revs())
            why_not = _too_costly(renderer.datapoints, renderer.properties, plot.template)
            if why_not is not None:
                plot.notes.append(f"not drawn: {why_not}")
                plots.append(plot)
                continue
            try:
                plot.spec = renderer.get_filled_template()
            except DvcRenderError as exc:  # a template without DVC's anchors, a field not in the data
                plot.notes.append(f"not drawn: {exc}")
                plots.append(plot)
                continue
            if plot.template in CONFUSION_TEMPLATES:
                x, y = renderer.properties.get("x"), renderer.properties.get("y")
                plot.confusion = _confusion(renderer.datapoints, x, y, plot.revisions)
        plots.append(plot)
    return plots


def _image_plots(revisions: Sequence[_Revision]) -> list[Plot]:
    names: dict[str, None] = {}
    for rev in revisions:
        for ids in rev.definitions.values():
            names.update({i: None for i, p in ids.items() if is_image(i) and _id_is_path(p)})
    plots = []
    for name in names:
        plot = Plot(name, "image", None, [name])
        for rev in revisions:
            if isinstance(rev.sources.get(name), bytes):
                plot.images[rev.name] = (name, rev.sources[name])
                plot.revisions.append(rev.name)
        plot.notes = _notes(plot.files, revisions)
        plots.append(plot)
    return plots


def revision_names(base: str, head: str, base_sha: str, head_sha: str) -> tuple[str, str]:
    """The names the plots give the two revisions (``rev``): as given, told apart when equal."""
    if base != head:
        return base, head
    return f"{base} ({base_sha})", f"{head} ({head_sha})"


def collect(base: View, head: View, names: tuple[str, str]) -> list[Plot]:
    """Every plot either revision's ``dvc.yaml`` declares, base and head together."""
    return collect_many([(base, names[0]), (head, names[1])])


def collect_many(views: Sequence[tuple[View, str]]) -> list[Plot]:
    """Every plot any of the (view, name) revisions declares, all of them overlaid in one spec
    (DVC's templates draw one series per revision), images one per revision."""
    revisions = [_read_revision(view, name) for view, name in views]
    if not any(rev.definitions for rev in revisions):
        return []
    plots = _vega_plots(revisions) if any(_has_data_plots(r) for r in revisions) else []
    plots += _image_plots(revisions)
    by_name = {plot.name: plot for plot in plots}
    for rev in revisions:
        for plot_id, (files, why) in rev.dropped.items():
            if plot_id not in by_name:
                by_name[plot_id] = Plot(plot_id, "vega", None, files)
                plots.append(by_name[plot_id])
            by_name[plot_id].notes.append(why)
    return plots


def _has_data_plots(rev: _Revision) -> bool:
    return any(
        not (is_image(i) and _id_is_path(p)) for ids in rev.definitions.values() for i, p in ids.items()
    )


# --- writing -----------------------------------------------------------------------------------


def file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "plot"


def _render(spec: dict[str, Any], fmt: str) -> bytes:
    import vl_convert

    # no external data: a spec draws the values graft read, never a URL a template names
    if fmt == "svg":
        return _renumber_clips(vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])).encode("utf-8")
    return bytes(vl_convert.vegalite_to_png(spec, allowed_base_urls=[]))


def _renumber_clips(svg: str) -> str:
    """Vega numbers SVG clip paths and gradients with counters that live as long as the process;
    numbered afresh in order of appearance, the same spec gives the same bytes on every call."""
    ids: dict[str, str] = {}

    def one(match: re.Match[str]) -> str:
        kind = match.group(1)
        count = sum(1 for key in ids if key.startswith(kind))
        return ids.setdefault(match.group(0), f"{kind}{count + (kind == 'clip')}")

    return re.sub(r"\b(clip|gradient_)(\d+)\b", one, svg)


def write(
    plots: Sequence[Plot], out_dir: Path, link_base: Path, fmt: str = "png", taken: Sequence[str] = ()
) -> list[Path]:
    """Render each plot into ``out_dir`` (data plots as ``fmt``, images as they are) and record
    each file's link relative to ``link_base`` (the report's folder); ``taken``: file names
    already written there. Needs vl-convert (the ``plots`` extra) when a data plot is drawn."""
    from graft.core.extras import require
    from graft.core.fsio import atomic_write_bytes

    if any(plot.spec is not None for plot in plots):  # refused before any file is written
        require("vl_convert", "graft report", "plots")
    out_dir = Path(out_dir)
    used = {name.lower() for name in taken}

    def target(name: str, extension: str) -> Path:
        stem, n = file_name(name), 1
        candidate = f"{stem}{extension}"
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem}_{n}{extension}"
        used.add(candidate.lower())
        return out_dir / candidate

    written: list[Path] = []

    def save(plot: Plot, key: str, path: Path, data: bytes) -> None:
        written.append(atomic_write_bytes(path, data))
        plot.written.append(str(path))
        plot.links[key] = Path(os.path.relpath(path.resolve(), link_base.resolve())).as_posix()

    for plot in plots:
        if plot.spec is not None:
            try:
                image = _render(plot.spec, fmt)
            except ValueError as exc:  # vl-convert: a spec it cannot draw (a project's own template)
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                plot.notes.append(f"not drawn: {lines[1] if len(lines) > 1 else str(exc)}")
            else:
                save(plot, "spec", target(plot.name, f".{fmt}"), image)
        for rev, (source, data) in plot.images.items():
            stem = source[: len(source) - len(_extension(source))]
            save(plot, rev, target(f"{rev}_{stem}", _extension(source)), data)
    return written
