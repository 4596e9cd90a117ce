"""Render a monitoring result as Markdown or HTML (with plots) and JSON (its model's dump), atomically.

The wording is the templates' (monitor_report.md.j2, monitor_report.html.j2); they get the
result, the plots and the metrics' display names (:data:`graft.monitoring.checks.METRIC_NAMES`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from graft.core.errors import UsageError
from graft.core.fsio import atomic_write_bytes, atomic_write_text, dumps_json
from graft.core.templating import render
from graft.monitoring import checks, plots
from graft.monitoring.drift import Reference

if TYPE_CHECKING:
    from graft.monitoring.results import MonitorResult


def make_plots(
    result: dict[str, Any],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    reference_proba: np.ndarray,
    threshold: float,
    classes: Sequence[str] = (),
) -> dict[str, bytes]:
    """PNG plots of a judged window: inputs, drift evidence, outputs as the task defines them
    (``reference_proba``: the test predictions; ``classes``: a multiclass model's labels) and,
    for a binary model with sensitive columns, fairness."""
    if "inputs" not in result:
        return {}
    task = result.get("task", "binary")
    features = result["inputs"]["features"]
    profile = Reference.build(
        reference,
        [f["feature"] for f in features if f["kind"] == "numeric"],
        [f["feature"] for f in features if f["kind"] == "categorical"],
    )
    images = {
        "features": plots.feature_distributions(profile, current, features),
        "drift": plots.drift_scores(result["inputs"]["features"]),
    }
    scores = checks.predicted(current, task, len(classes))
    if task == "binary":
        images["predictions"] = plots.predictions(scores, reference_proba, threshold)
    elif task == "multiclass":
        images["predictions"] = plots.predicted_classes(scores, np.asarray(reference_proba), list(classes))
    else:
        images["predictions"] = plots.prediction_values(scores, np.asarray(reference_proba, dtype=float))
    if task == "binary" and result.get("fairness"):
        images["fairness"] = plots.fairness(result["fairness"])
    return images


def write_report(out: Path, result: dict[str, Any], images: dict[str, bytes]) -> list[Path]:
    """Write ``out`` (.md or .html). Markdown links PNGs in ``<stem>_files/``; HTML embeds them."""
    written: list[Path] = []
    if out.suffix == ".html":
        links = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in images.items()}
        written.append(
            atomic_write_text(
                out, render("monitor_report.html.j2", r=result, images=links, names=checks.METRIC_NAMES)
            )
        )
    elif out.suffix == ".md":
        folder = out.with_name(f"{out.stem}_files")
        links = {}
        for name, data in images.items():
            written.append(atomic_write_bytes(folder / f"{name}.png", data))
            links[name] = f"{folder.name}/{name}.png"
        written.append(
            atomic_write_text(
                out, render("monitor_report.md.j2", r=result, images=links, names=checks.METRIC_NAMES)
            )
        )
    else:
        raise UsageError(f"-o {out}: the report must end in .md or .html")
    return written


def write_json(path: Path, result: MonitorResult) -> Path:
    """The result's JSON document (schemas/monitor.json), keys sorted."""
    return atomic_write_text(path, dumps_json(result.model_dump(mode="json")))
