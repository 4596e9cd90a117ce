"""The Search page of `graft ui`: the hyperparameter studies `graft exp search` kept here.

:func:`page` returns the names of the studies; for the study ``name`` (the only one when just
one is kept), its trials (state, objective value, params, branch, error), the objective over the
trials with the best so far (:func:`objective_spec`) and each param against the objective
(:func:`param_specs`), both as Vega-Lite specs. An unknown study is a
:class:`~graft.ui.pages.common.NotFound` naming the ones kept. Studies are read through
:mod:`graft.api` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graft import api
from graft.ui.pages.common import VEGA_LITE, NotFound, Site, number_of, show


def page(site: Site, query: Mapping[str, Any]) -> dict[str, Any]:
    """The Search page: the studies kept here; for ``name``, its trials, the objective over the
    trials (with the best so far) and each param against the objective."""
    names = api.search_names(site.root)
    name = query["name"] or (names[0] if len(names) == 1 else "")
    if not name:
        return {"names": names, "study": None}
    if name not in names:
        raise NotFound(f"unknown search '{name}'" + (f" (kept here: {', '.join(names)})" if names else ""))
    summary = api.exp_search_show(name, cwd=site.root)
    keys = list(dict.fromkeys(k for t in summary.rows for k in t.params))
    done = [t for t in summary.rows if t.value is not None]
    return {
        "names": names,
        "study": {
            "name": summary.name,
            "objective": summary.objective,
            "direction": summary.direction,
            "best": summary.best_number,
            "trials": [_trial(t) for t in summary.rows],
            "param_keys": keys,
            "objective_spec": objective_spec(summary.objective, best_so_far(done, summary.direction)),
            "param_specs": param_specs(summary.objective, keys, done),
        },
    }


def _trial(trial: Any) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state,
        "value": trial.value,
        "value_text": show(trial.value),
        "params": {k: show(v) for k, v in trial.params.items()},
        "branch": trial.branch,
        "error": trial.error,
    }


def best_so_far(done: Sequence[Any], direction: str) -> list[dict[str, Any]]:
    """Each finished trial's objective value (in trial order) and the best value up to it
    (``direction`` ``higher``: the largest, else the smallest)."""
    better = max if direction == "higher" else min
    out: list[dict[str, Any]] = []
    for t in sorted(done, key=lambda t: t.number):
        previous = out[-1]["best"] if out else None
        value = float(t.value)
        out.append(
            {
                "trial": t.number,
                "value": value,
                "best": better(previous, value) if previous is not None else value,
            }
        )
    return out


def objective_spec(objective: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """The objective per trial (points) and the best so far (a step line)."""
    return {
        "$schema": VEGA_LITE,
        "width": 480,
        "height": 240,
        "data": {"values": values},
        "layer": [
            {
                "mark": {"type": "point", "filled": True},
                "encoding": {
                    "x": {"field": "trial", "type": "quantitative", "title": "trial"},
                    "y": {"field": "value", "type": "quantitative", "title": objective},
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


def param_specs(objective: str, keys: Sequence[str], done: Sequence[Any]) -> list[dict[str, Any]]:
    """One scatter per param of the finished trials: its value (a number axis when any value is
    a number, else by name) against the objective."""
    values = [
        {"param": k, "value": number_of(t.params.get(k)), "text": show(t.params.get(k)), "objective": t.value}
        for t in done
        for k in keys
        if k in t.params
    ]
    numeric = {v["param"] for v in values if v["value"] is not None}
    return [
        {
            "$schema": VEGA_LITE,
            "title": key,
            "width": 220,
            "height": 180,
            "data": {"values": [v for v in values if v["param"] == key]},
            "mark": {"type": "point", "filled": True},
            "encoding": {
                "x": {
                    "field": "value" if key in numeric else "text",
                    "type": "quantitative" if key in numeric else "nominal",
                    "title": key,
                },
                "y": {"field": "objective", "type": "quantitative", "title": objective},
                "tooltip": [{"field": "text", "title": key}, {"field": "objective"}],
            },
        }
        for key in keys
    ]
