"""The Models and Version pages of `graft ui`: the model registry, read from its Git tags.

:func:`page` returns, per model, each version (its commit, status, stages and headline metrics),
the stages any version was ever assigned and the timeline of registrations, assignments and
deprecations (newest first), with the ``--monitor`` result (:func:`monitor_result`) when one is
given. :func:`version` returns one version: its commit, registration message, stages, every
metric at its commit (or why they cannot be read) and its events, with the monitor result when
that result saw this version. An unreadable monitor file is shown as its error, never raised; an
unknown model or version is a :class:`~graft.ui.pages.common.NotFound`, a missing one a
:class:`~graft.ui.pages.common.BadQuery`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graft import api
from graft.core.errors import GraftError
from graft.ui.pages.common import BadQuery, NotFound, Site, show


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


def _version_events(found: Any) -> list[dict[str, Any]]:
    """One version's events: its own (registration, deprecation), then each stage's."""
    events = [_event(e, found.version, None) for e in found.events]
    for stage, st in found.stage_events.items():
        events += [_event(e, found.version, stage) for e in st.events]
    return events


def _newest_first(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events.sort(key=lambda e: (e["time"], e["tag"]), reverse=True)
    return events


def page(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Models page: per model, version x stage, each version's commit and headline metrics,
    and the timeline of registrations, assignments and deprecations (newest first)."""
    state = api.registry_state(site.root)
    listed = {(v.release.model, v.release.version): v for v in api.models(site.root, include_inactive=True)}
    out = []
    for name, artifact in sorted(state.items()):
        stages = sorted({s for v in artifact.versions.values() for s in v.stage_events})
        versions = _version_rows(name, artifact, stages, listed)
        events = [_event(e, None, None) for e in artifact.deprecations]
        for v in artifact.versions.values():
            events += _version_events(v)
        out.append(
            {
                "name": name,
                "stages": stages,
                "versions": versions,
                "events": _newest_first(events),
                "metric_keys": list(dict.fromkeys(k for v in versions for k in v["metrics"])),
                "active": artifact.active,
            }
        )
    return {"models": out, "monitor": monitor_result(site)}


def _version_rows(
    name: str, artifact: Any, stages: list[str], listed: Mapping[tuple[str, str], Any]
) -> list[dict[str, Any]]:
    """Model ``name``'s versions (inactive ones too): commit, status, which of ``stages`` each
    holds and its metrics as `graft model list` reads them (``listed``)."""
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
    return versions


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
    registration = found.registration
    return {
        "model": model,
        "version": found.version,
        "commit": found.commit,
        "status": found.status,
        "stages": list(found.stages),
        "message": registration.message if registration else "",
        "metrics": metrics,
        "metrics_error": metrics_error,
        "events": _newest_first(_version_events(found)),
        "monitor": _monitor_of(site, found.version),
    }


def _monitor_of(site: Site, shown: str) -> dict[str, Any] | None:
    """The monitor result when it saw version ``shown`` (with or without its ``v``), else None."""
    monitor = monitor_result(site)
    plain = shown.lstrip("v")
    seen = (
        monitor is not None
        and not monitor.get("error")
        and plain in {v.lstrip("v") for v in monitor["versions"]}
    )
    return monitor if seen else None
