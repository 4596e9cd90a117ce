"""One context per page of `graft ui`, built from :mod:`graft.api` (the web layer only renders).

Each page function takes the :class:`Site` (the project, its base, an optional monitor result)
and the page's parsed URL query, and returns a plain dictionary the page's template renders.
Every view setting is a query parameter (:func:`parse_query` checks names and values), so a
view survives a reload and can be sent to a colleague. Bad input raises :class:`BadQuery` (400)
or :class:`NotFound` (404), each naming the parameter, branch or version at fault.

Verdicts (better / worse / within noise) are what :mod:`graft.compare` returns; the pages pass
them on and one template macro words them.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graft import api
from graft.core import limits
from graft.core.errors import GraftError

# a compare page this wide or narrower is a transposed table; wider, parallel coordinates
TRANSPOSED_MAX = 5
SORT_PATTERN = re.compile(r"^(name|[pmd]:.+)$")


class BadQuery(GraftError):
    """A page's URL query names an unknown parameter or gives a value it cannot take (400)."""


class NotFound(GraftError):
    """The branch, version or search a page is asked for does not exist (404)."""


@dataclass
class Site:
    """What every page reads: the project root, the base revision and, with ``--monitor``, the
    monitor result file. Bootstrap results are cached per (base sha, head sha)."""

    root: Path
    base: str = "main"
    monitor: Path | None = None
    resamples: int = 1000
    seed: int = 0
    _cache: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[tuple[str, str], Any] = field(default_factory=dict)  # api.diff's memo
    _headlines: dict[str, list[str]] = field(default_factory=dict)  # base sha -> headline metrics
    _diffs: dict[tuple[str, tuple[str, ...]], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, name: str, what: str = "branch") -> str:
        """The commit sha of ``name``; NotFound names it when it does not resolve."""
        from graft.core import gitrepo

        try:
            return gitrepo.resolve(gitrepo.open_repo(self.root), name).sha
        except GraftError:
            raise NotFound(f"unknown {what} '{name}'") from None

    def significance(self, head: str) -> dict[str, Any]:
        key = (self.resolve(self.base, "base"), self.resolve(head))
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            try:
                found = api.significance(self.root, self.base, head, self.resamples, self.seed)
            except GraftError as exc:
                found = {"available": False, "missing": [], "reason": str(exc)}
            with self._lock:
                self._cache[key] = found
        return found

    def headline(self) -> list[str]:
        """The base's headline metrics (read once per base commit)."""
        key = self.resolve(self.base, "base")
        if key not in self._headlines:
            self._headlines[key] = headline(self.root, self.base)
        return list(self._headlines[key])

    def experiments_diff(self, archived: Sequence[str]) -> Any:
        """api.diff of every experiment (and the ``archived`` ones) against the base, kept while
        no ref moves (keyed by :meth:`refs_tag`): sorting and filtering a view re-read nothing."""
        key = (self.refs_tag(), tuple(archived))
        with self._lock:
            found = self._diffs.get(key)
        if found is None:
            found = api.diff(
                self.root, list(archived), base=self.base, all_experiments=True, memo=self.snapshots
            )
            with self._lock:
                self._diffs.clear()  # only the current refs' result is worth keeping
                self._diffs[key] = found
        return found

    def refs_tag(self) -> str:
        """A digest of every ref (branches, tags, archive refs): the pages' ETag for updates."""
        import hashlib

        from graft.core import gitrepo

        repo = gitrepo.open_repo(self.root)
        digest = hashlib.sha256()
        for name in sorted(repo.references):
            ref = repo.references.get(name)
            target = ref.target if ref is not None else ""
            digest.update(f"{name} {target}\n".encode())
        return digest.hexdigest()[:32]


# --- the query -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One query parameter a page takes: repeatable or not, and its allowed values (None: any)."""

    name: str
    repeat: bool = False
    choices: tuple[str, ...] | None = None
    default: str = ""


FLAG = ("0", "1")
PAGE_PARAMS: dict[str, tuple[Param, ...]] = {
    "experiments": (
        Param("q"),
        Param("where"),
        Param("all", choices=FLAG, default="0"),
        Param("archived", choices=FLAG, default="0"),
        Param("sort", default="name"),
        Param("desc", choices=FLAG, default="0"),
        Param("sel", repeat=True),
    ),
    "compare": (Param("b", repeat=True), Param("all", choices=FLAG, default="0")),
    "branch": (Param("name"),),
    "models": (),
    "version": (Param("model"), Param("version")),
    "search": (Param("name"),),
    "data": (Param("path"), Param("rev"), Param("a"), Param("b"), Param("key")),
    "refs": (),
}


def parse_query(page: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The page's settings from the URL query's (name, value) pairs: unknown names, repeats of a
    single parameter and values outside a parameter's choices are refused by name."""
    size = sum(len(k) + len(v) + 2 for k, v in pairs)
    if size > limits.UI_QUERY_BYTES.value():
        raise BadQuery(limits.UI_QUERY_BYTES.over("the URL query", f"{size:,} bytes"))
    spec = {p.name: p for p in PAGE_PARAMS[page]}
    out: dict[str, Any] = {p.name: [] if p.repeat else p.default for p in spec.values()}
    seen: set[str] = set()
    for name, value in pairs:
        param = spec.get(name)
        if param is None:
            known = ", ".join(spec) or "none"
            raise BadQuery(f"unknown query parameter '{name}' (this page takes: {known})")
        if param.choices is not None and value not in param.choices:
            raise BadQuery(f"query parameter '{name}': '{value}' is not one of {', '.join(param.choices)}")
        if param.repeat:
            if value and value not in out[name]:
                out[name].append(value)
        elif name in seen:
            raise BadQuery(f"query parameter '{name}' is given more than once")
        else:
            out[name] = value
            seen.add(name)
    return out


# --- values ----------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A param or metric value as the pages show it (the CLI's formatting)."""
    from graft.compare.formats import fmt_value

    return "" if value is None else fmt_value(value)


def show_delta(value: float | None) -> str:
    from graft.compare.formats import fmt_delta

    return "" if value is None else fmt_delta(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(cell: Any, base: Any = None) -> dict[str, Any]:
    """A diff cell as the templates show it; ``changed`` when ``base`` (the base's cell) is given
    and holds another value or status."""
    value = cell.value if cell.status == "value" else None
    return {
        "changed": base is not None and (base.status, base.value) != (cell.status, cell.value),
        "status": cell.status,
        "value": value,
        "text": show(value) if cell.status == "value" else cell.status.replace("_", " "),
        "delta": cell.delta,
        "delta_text": show_delta(cell.delta),
        "best": cell.best,
    }


def headline(root: Path, base: str) -> list[str]:
    """The headline metrics of the base's settings (graft.yaml ``metrics.headline``, else the
    task's first two metrics)."""
    from graft.project import Project

    settings = Project.find(root).at(base).settings
    return list(settings.metrics.headline) or list(settings.task_metrics[:2])


# --- experiments -----------------------------------------------------------------------------


def archived_names(root: Path) -> list[str]:
    """``exp/NAME`` of every archive ref `graft exp prune` left whose branch is gone."""
    from graft.core import gitrepo

    repo = gitrepo.open_repo(root)
    live = set(gitrepo.branches(repo))
    prefix = gitrepo.ARCHIVE_PREFIX
    found = [r[len(prefix) :] for r in repo.references if r.startswith(prefix + gitrepo.EXP_PREFIX)]
    return sorted(n for n in found if n not in live)


def _sort_key(sort: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    kind, _, key = sort.partition(":")

    def by(row: dict[str, Any]) -> tuple[int, Any]:
        if kind == "name":
            return 0, row["name"]
        cells = row["params"] if kind == "p" else row["metrics"]
        cell = cells.get(key)
        if cell is None:
            return 2, ""
        raw = cell["delta"] if kind == "d" else cell["value"]
        number = _number(raw)
        if number is not None:
            return 0, number
        return (1, show(raw)) if raw is not None else (2, "")

    return by


def experiments(site: Site, query: Mapping[str, Any], with_significance: bool = False) -> dict[str, Any]:
    """The Experiments page: one row per ``exp/*`` branch (archived ones with ``archived=1``),
    params that differ (all with ``all=1``), headline metrics with their delta against the base,
    filtered by name (``q``) and param value (``where=KEY=VALUE``), sorted by ``sort`` (``name``,
    ``p:KEY``, ``m:KEY`` or ``d:KEY`` for a metric's delta; ``desc=1`` reverses)."""
    archived = archived_names(site.root) if query["archived"] == "1" else []
    result = site.experiments_diff(archived)
    heads = site.headline()
    metric_rows = [r for r in result.rows if r.section == "metrics"]
    metric_keys = [k for k in heads if any(r.key == k for r in metric_rows)] or [
        r.key for r in metric_rows[:2]
    ]
    show_all = query["all"] == "1"
    param_rows = [r for r in result.rows if r.section == "params" and (show_all or r.changed)]
    by_key = {r.key: r for r in result.rows}
    archived_set = set(archived)
    rows: list[dict[str, Any]] = []
    base_column = next(i for i, c in enumerate(result.columns) if c.is_base)
    for i, column in enumerate(result.columns):
        if column.is_base:
            continue
        rows.append(
            {
                "name": column.name,
                "sha": column.sha[:8],
                "archived": column.name in archived_set,
                "params": {r.key: _cell(r.cells[i], r.cells[base_column]) for r in param_rows},
                "metrics": {k: _cell(by_key[k].cells[i]) for k in metric_keys},
            }
        )
    base_row = {
        "name": result.columns[base_column].name,
        "sha": result.columns[base_column].sha[:8],
        "params": {r.key: _cell(r.cells[base_column]) for r in param_rows},
        "metrics": {k: _cell(by_key[k].cells[base_column]) for k in metric_keys},
    }
    total = len(rows)
    name_filter = query["q"].strip()
    if name_filter:
        rows = [r for r in rows if name_filter.lower() in r["name"].lower()]
    where = query["where"].strip()
    if where:
        key, sep, wanted = where.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadQuery(f"query parameter 'where': '{where}' is not KEY=VALUE")
        param = next((r for r in result.rows if r.section == "params" and r.key == key), None)
        if param is None:
            raise BadQuery(f"query parameter 'where': no param '{key}' in any branch")
        index = {c.name: i for i, c in enumerate(result.columns)}
        rows = [r for r in rows if show(param.cells[index[r["name"]]].value) == wanted.strip()]
    sort = query["sort"] or "name"
    known_sort = sort == "name" or (
        SORT_PATTERN.match(sort) is not None
        and sort[2:] in ({r.key for r in param_rows} if sort[0] == "p" else set(metric_keys))
    )
    if not known_sort:
        raise BadQuery(f"query parameter 'sort': no column '{sort}' on this page")
    key_of = _sort_key(sort)
    present = [r for r in rows if key_of(r)[0] < 2]
    absent = [r for r in rows if key_of(r)[0] == 2]
    present.sort(key=key_of, reverse=query["desc"] == "1")
    rows = present + absent  # rows without the value last, whichever the direction
    selected = [n for n in query["sel"] if any(r["name"] == n for r in rows)]
    if with_significance:
        for row in rows:
            row["significance"] = significance_cells(site, row["name"], metric_keys)
    return {
        "base": base_row,
        "rows": rows,
        "total": total,
        "param_keys": [r.key for r in param_rows],
        "metric_keys": metric_keys,
        "directions": {k: by_key[k].direction for k in metric_keys},
        "query": dict(query),
        "selected": selected,
        "archived_count": len(archived),
    }


def significance_cells(site: Site, branch: str, metric_keys: Sequence[str]) -> list[dict[str, Any]]:
    """Each headline metric's paired-bootstrap interval for ``branch`` against the base, with
    compare's verdict (``None`` interval and a ``reason`` when it cannot be computed)."""
    site.resolve(branch)
    boot = site.significance(branch)
    out = []
    for key in metric_keys:
        ci = boot["metrics"].get(key) if boot.get("available") else None
        if ci is None:
            why = boot.get("reason") or (
                f"no predictions at {', '.join(boot['missing'])}"
                if boot.get("missing")
                else "not a metric the task's bootstrap computes"
            )
            out.append({"key": key, "ci": None, "reason": why})
        else:
            out.append({"key": key, "ci": ci, "reason": None, "level": boot["level"]})
    return out


# --- compare ---------------------------------------------------------------------------------


def _check_branches(site: Site, names: Sequence[str]) -> None:
    bound = limits.UI_COMPARE_BRANCHES
    if len(names) > bound.value():
        raise BadQuery(bound.over("query parameter 'b'", f"{len(names):,} branches"))
    for name in names:
        site.resolve(name)


def compare(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Compare page of the branches ``b`` (every experiment with ``all=1``): a transposed
    table for a few (differing rows first), parallel coordinates for many, and the plots
    dvc.yaml declares for the base and the first selected branches, overlaid."""
    from graft.core import gitrepo

    names = list(query["b"])
    if query["all"] == "1":
        names = list(dict.fromkeys([*names, *gitrepo.branches(gitrepo.open_repo(site.root))]))
    if not names:
        raise BadQuery("query parameter 'b': select at least one branch to compare")
    _check_branches(site, names)
    result = api.diff(site.root, names, base=site.base, memo=site.snapshots)
    columns = [{"name": c.name, "sha": c.sha[:8], "is_base": c.is_base} for c in result.columns]
    rows = [
        {
            "section": r.section,
            "key": r.key,
            "changed": r.changed,
            "direction": r.direction,
            "cells": [_cell(c) for c in r.cells],
        }
        for r in result.rows
    ]
    rows.sort(key=lambda r: (r["section"] != "params", not r["changed"]))
    context: dict[str, Any] = {"columns": columns, "rows": rows, "names": names, "query": dict(query)}
    context["transposed"] = len(names) <= TRANSPOSED_MAX
    context["parallel"] = None if context["transposed"] else parallel_spec(result)
    context["plots"] = plot_views(site, names)
    return context


def parallel_spec(result: Any) -> dict[str, Any]:
    """A Vega-Lite parallel-coordinates chart: one line per revision over every numeric row that
    differs, each axis scaled to its own range (the raw value in the tooltip)."""
    values: list[dict[str, Any]] = []
    axes: list[str] = []
    for row in result.rows:
        numbers = [_number(c.value) if c.status == "value" else None for c in row.cells]
        known = [n for n in numbers if n is not None]
        if not row.changed or len(known) < 2:
            continue
        low, high = min(known), max(known)
        axes.append(row.key)
        for column, number in zip(result.columns, numbers, strict=True):
            if number is None:
                continue
            scaled = 0.5 if high == low else (number - low) / (high - low)
            values.append({"revision": column.name, "axis": row.key, "scaled": scaled, "value": number})
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": max(300, 90 * len(axes)),
        "height": 300,
        "data": {"values": values},
        "mark": {"type": "line", "point": True, "opacity": 0.6},
        "encoding": {
            "x": {"field": "axis", "type": "nominal", "sort": axes, "title": None},
            "y": {"field": "scaled", "type": "quantitative", "title": "scaled to each axis' range"},
            "detail": {"field": "revision"},
            "color": {"field": "revision", "legend": None},
            "tooltip": [{"field": "revision"}, {"field": "axis"}, {"field": "value"}],
        },
    }


def plot_views(site: Site, names: Sequence[str]) -> list[dict[str, Any]]:
    """The declared plots of the base and the first selected branches, as Vega-Lite specs DVC's
    templates fill (images as data URIs), with the notes saying what could not be drawn."""
    import base64

    from graft.compare import plots
    from graft.project import Project

    project = Project.find(site.root)
    shown = [site.base, *[n for n in names if n != site.base]][: limits.UI_PLOT_REVISIONS.value()]
    views = [(project.at(project.resolve(n)), n) for n in shown]
    try:
        found = plots.collect_many(views)
    except GraftError as exc:
        return [{"name": "plots", "kind": "error", "notes": [str(exc)], "spec": None, "images": []}]
    out = []
    for plot in found:
        images = []
        for rev, (file, data) in plot.images.items():
            mime = "image/svg+xml" if file.lower().endswith(".svg") else _image_mime(file)
            images.append(
                {
                    "revision": rev,
                    "file": file,
                    "uri": f"data:{mime};base64,{base64.b64encode(data).decode()}",
                }
            )
        out.append(
            {"name": plot.name, "kind": plot.kind, "notes": plot.notes, "spec": plot.spec, "images": images}
        )
    return out


def _image_mime(file: str) -> str:
    ext = Path(file).suffix.lower().lstrip(".")
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}.get(ext, "image/png")


# --- branch ----------------------------------------------------------------------------------


def branch(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Branch page: params against the base, the commits since the fork point, the stages
    whose dvc.lock entries changed, and the comparison report `graft report` renders."""
    name = query["name"]
    if not name:
        raise BadQuery("query parameter 'name': which branch to show")
    site.resolve(name)
    result = api.diff(site.root, [name], base=site.base, memo=site.snapshots)
    index = next(i for i, c in enumerate(result.columns) if not c.is_base) if len(result.columns) > 1 else 0
    params = [
        {"key": r.key, "base": _cell(r.cells[0]), "head": _cell(r.cells[index])}
        for r in result.rows
        if r.section == "params" and r.changed
    ]
    metrics = [
        {"key": r.key, "direction": r.direction, "base": _cell(r.cells[0]), "head": _cell(r.cells[index])}
        for r in result.rows
        if r.section == "metrics"
    ]
    hist = api.branch_history(site.root, site.base, name, limits.UI_LOG_COMMITS.value())
    try:
        report = api.report(site.root, base=site.base, head=name, resamples=site.resamples, seed=site.seed)
        report_text, report_error = report.markdown, None
        verdict = report.context.get("verdict") or []
    except GraftError as exc:
        report_text, report_error, verdict = "", str(exc), []
    return {
        "name": name,
        "sha": result.columns[index].sha[:8],
        "params": params,
        "metrics": metrics,
        "history": hist,
        "report": report_text,
        "report_error": report_error,
        "verdict": verdict,
    }


# --- models ----------------------------------------------------------------------------------


def monitor_result(site: Site) -> dict[str, Any] | None:
    """The ``--monitor`` result file (`graft monitor --json FILE`): its status and verdict."""
    if site.monitor is None:
        return None
    try:
        data = json.loads(Path(site.monitor).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"{site.monitor}: cannot be read as a monitor result ({exc.__class__.__name__})"}
    if not isinstance(data, dict):
        return {"error": f"{site.monitor}: not a monitor result (expected a JSON object)"}
    window: dict[str, Any] = data["window"] if isinstance(data.get("window"), dict) else {}
    versions = window["model_versions"] if isinstance(window.get("model_versions"), dict) else {}
    return {
        "error": None,
        "file": str(site.monitor),
        "status": str(data.get("status", "?")),
        "verdict": str(data.get("verdict", "")),
        "alert": bool(data.get("alert")),
        "since": window.get("since"),
        "until": window.get("until"),
        "versions": [str(v) for v in versions],
    }


def _event(event: Any, version: str | None, stage: str | None) -> dict[str, Any]:
    return {
        "time": event.time,
        "tag": event.tag,
        "action": event.action.value,
        "version": version,
        "stage": stage,
        "tagger": event.tagger,
        "commit": event.commit[:8],
    }


def models(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Models page: per model, version x stage, each version's commit and headline metrics,
    and the timeline of registrations, assignments and deprecations (newest first)."""
    state = api.registry_state(site.root)
    listed = {(v.release.model, v.release.version): v for v in api.models(site.root, include_inactive=True)}
    out = []
    for name, artifact in sorted(state.items()):
        stages = sorted({s for v in artifact.versions.values() for s in v.stage_events})
        versions = []
        for v in artifact.version_list(include_inactive=True):
            shown_version = v.version[1:] if v.registered else v.version
            found = listed.get((name, shown_version))
            versions.append(
                {
                    "version": v.version,
                    "commit": v.commit[:8],
                    "status": found.release.status if found else v.status,
                    "stages": {s: s in v.stages for s in stages},
                    "metrics": {k: show(x) for k, x in (found.metrics if found else {}).items()},
                }
            )
        events = [_event(e, None, None) for e in artifact.deprecations]
        for v in artifact.versions.values():
            events += [_event(e, v.version, None) for e in v.events]
            for stage, st in v.stage_events.items():
                events += [_event(e, v.version, stage) for e in st.events]
        events.sort(key=lambda e: (e["time"], e["tag"]), reverse=True)
        metric_keys = list(dict.fromkeys(k for v in versions for k in v["metrics"]))
        out.append(
            {
                "name": name,
                "stages": stages,
                "versions": versions,
                "events": events,
                "metric_keys": metric_keys,
                "active": artifact.active,
            }
        )
    return {"models": out, "monitor": monitor_result(site)}


def version(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """One model version: its commit, registration, stages, every metric at its commit and its
    events; the monitor verdict when the ``--monitor`` result saw this version."""
    from graft.project import Project

    model, wanted = query["model"], query["version"]
    if not model or not wanted:
        raise BadQuery("query parameters 'model' and 'version': which model version to show")
    artifact = api.registry_state(site.root).get(model)
    if artifact is None:
        raise NotFound(f"unknown model '{model}'")
    found = artifact.find(wanted) or artifact.versions.get(wanted)
    if found is None:
        raise NotFound(f"model '{model}' has no version '{wanted}'")
    view = Project.find(site.root).at(found.commit)
    try:
        metrics = {k: show(v) for k, v in (view.metrics() or {}).items()}
        metrics_error = None
    except GraftError as exc:
        metrics, metrics_error = {}, str(exc)
    events = [_event(e, found.version, None) for e in found.events]
    for stage, st in found.stage_events.items():
        events += [_event(e, found.version, stage) for e in st.events]
    events.sort(key=lambda e: (e["time"], e["tag"]), reverse=True)
    registration = found.registration
    monitor = monitor_result(site)
    plain = found.version.lstrip("v")
    seen = (
        monitor is not None
        and not monitor.get("error")
        and plain in {v.lstrip("v") for v in monitor["versions"]}
    )
    return {
        "model": model,
        "version": found.version,
        "commit": found.commit,
        "status": found.status,
        "stages": list(found.stages),
        "message": registration.message if registration else "",
        "metrics": metrics,
        "metrics_error": metrics_error,
        "events": events,
        "monitor": monitor if seen else None,
    }


# --- search ----------------------------------------------------------------------------------


def search(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Search page: the studies kept here; for ``name``, its trials, the objective over the
    trials (with the best so far) and each param against the objective."""
    names = api.search_names(site.root)
    name = query["name"] or (names[0] if len(names) == 1 else "")
    if not name:
        return {"names": names, "study": None}
    if name not in names:
        raise NotFound(f"unknown search '{name}'" + (f" (kept here: {', '.join(names)})" if names else ""))
    summary = api.exp_search_show(name, cwd=site.root)
    trials = [
        {
            "number": t.number,
            "state": t.state,
            "value": t.value,
            "value_text": show(t.value),
            "params": {k: show(v) for k, v in t.params.items()},
            "branch": t.branch,
            "error": t.error,
        }
        for t in summary.rows
    ]
    keys = list(dict.fromkeys(k for t in summary.rows for k in t.params))
    done = [t for t in summary.rows if t.value is not None]
    better = max if summary.direction == "higher" else min
    best_so_far: list[dict[str, Any]] = []
    for t in sorted(done, key=lambda t: t.number):
        previous = best_so_far[-1]["best"] if best_so_far else None
        value = float(t.value)  # type: ignore[arg-type]
        best_so_far.append(
            {
                "trial": t.number,
                "value": value,
                "best": better(previous, value) if previous is not None else value,
            }
        )
    objective_spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": 480,
        "height": 240,
        "data": {"values": best_so_far},
        "layer": [
            {
                "mark": {"type": "point", "filled": True},
                "encoding": {
                    "x": {"field": "trial", "type": "quantitative", "title": "trial"},
                    "y": {"field": "value", "type": "quantitative", "title": summary.objective},
                    "tooltip": [{"field": "trial"}, {"field": "value"}],
                },
            },
            {
                "mark": {"type": "line", "interpolate": "step-after"},
                "encoding": {
                    "x": {"field": "trial", "type": "quantitative"},
                    "y": {"field": "best", "type": "quantitative"},
                },
            },
        ],
    }
    param_values = [
        {"param": k, "value": _number(t.params.get(k)), "text": show(t.params.get(k)), "objective": t.value}
        for t in done
        for k in keys
        if k in t.params
    ]
    numeric = {v["param"] for v in param_values if v["value"] is not None}
    param_specs = [
        {
            "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
            "title": key,
            "width": 220,
            "height": 180,
            "data": {"values": [v for v in param_values if v["param"] == key]},
            "mark": {"type": "point", "filled": True},
            "encoding": {
                "x": {
                    "field": "value" if key in numeric else "text",
                    "type": "quantitative" if key in numeric else "nominal",
                    "title": key,
                },
                "y": {"field": "objective", "type": "quantitative", "title": summary.objective},
                "tooltip": [{"field": "text", "title": key}, {"field": "objective"}],
            },
        }
        for key in keys
    ]
    return {
        "names": names,
        "study": {
            "name": summary.name,
            "objective": summary.objective,
            "direction": summary.direction,
            "best": summary.best_number,
            "trials": trials,
            "param_keys": keys,
            "objective_spec": objective_spec,
            "param_specs": param_specs,
        },
    }


# --- data ------------------------------------------------------------------------------------


def _distribution(column: Any, revision: str) -> list[dict[str, Any]]:
    if column.kind == "numeric":
        return [{"rev": revision, "low": b.low, "high": b.high, "count": b.count} for b in column.histogram]
    values = [{"rev": revision, "value": c.value, "count": c.count} for c in column.top]
    if column.other:
        values.append({"rev": revision, "value": "(other)", "count": column.other})
    return values


def distribution_spec(name: str, kind: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """A column's histogram (numeric) or top categories, one colour per revision."""
    if kind == "numeric":
        encoding = {
            "x": {"field": "low", "type": "quantitative", "title": name, "bin": {"binned": True}},
            "x2": {"field": "high"},
            "y": {"field": "count", "type": "quantitative", "stack": None},
        }
    else:
        encoding = {
            "y": {"field": "value", "type": "nominal", "sort": "-x", "title": name},
            "x": {"field": "count", "type": "quantitative"},
            "yOffset": {"field": "rev"},
        }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": 260,
        "height": 140,
        "data": {"values": values},
        "mark": {"type": "bar", "opacity": 0.6},
        "encoding": {**encoding, "color": {"field": "rev", "type": "nominal", "title": "revision"}},
    }


def _column_view(column: Any) -> dict[str, Any]:
    return {
        "name": column.name,
        "kind": column.kind,
        "dtype": column.dtype,
        "missing_share": column.missing_share,
        "distinct": column.distinct,
        "distinct_capped": column.distinct_capped,
        "mean": show(column.mean),
        "min": show(column.min),
        "max": show(column.max),
    }


def data(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Data page: the tables the pipeline declares at the base; for ``path``, the table at
    ``rev`` (rows, and per column its type, missing share and distribution); with ``a`` and
    ``b``, the table compared between them (rows added, removed and changed by ``key`` when one
    is set; which columns' distributions moved beyond noise, as `graft data diff` judges)."""
    path, rev, a, b, key = query["path"], query["rev"], query["a"], query["b"], query["key"]
    tables = api.data_tables(site.root, rev or site.base)
    context: dict[str, Any] = {"tables": tables, "path": path, "summary": None, "diff": None, "error": None}
    context["query"] = dict(query)
    if not path:
        return context
    if bool(a) != bool(b):
        raise BadQuery("query parameters 'a' and 'b': give both revisions to compare, or neither")
    if a:
        for name in (a, b):
            site.resolve(name, "revision")
        diff = api.data_diff(site.root, path, a, b, key or None)
        by_name_b = {c.name: c for c in diff.b.columns}
        columns = []
        for move in diff.columns:
            col_a, col_b = diff.a.column(move.name), by_name_b.get(move.name)
            values = _distribution(col_a, a) + (_distribution(col_b, b) if col_b is not None else [])
            kind = col_a.kind if col_a is not None and (col_b is None or col_b.kind == col_a.kind) else ""
            columns.append(
                {
                    "name": move.name,
                    "status": move.status,
                    "moved": move.moved,
                    "method": move.method,
                    "score": show(move.score),
                    "threshold": show(move.threshold),
                    "missing": (move.missing_share_a, move.missing_share_b),
                    "new_categories": move.new_categories,
                    "spec": distribution_spec(move.name, kind, values) if kind else None,
                }
            )
        context["diff"] = {
            "a": a,
            "b": b,
            "rows": (diff.a.rows, diff.b.rows),
            "identical": diff.identical,
            "added": diff.columns_added,
            "removed": diff.columns_removed,
            "columns": columns,
            "rowdiff": diff.keys,
        }
        return context
    name = rev or site.base
    site.resolve(name, "revision")
    summary = api.data_show(site.root, path, name)
    context["summary"] = {
        "rev": name,
        "commit": summary.commit[:8],
        "rows": summary.rows,
        "format": summary.format,
        "stored": summary.stored,
        "bytes": summary.bytes,
        "columns": [
            {**_column_view(c), "spec": distribution_spec(c.name, c.kind, _distribution(c, name))}
            for c in summary.columns
        ],
    }
    return context
