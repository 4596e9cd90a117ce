"""Render a monitoring result as Markdown or HTML (with plots) and JSON, atomically."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graft.core.errors import UsageError
from graft.core.fsio import atomic_write_bytes, atomic_write_text, dumps_json
from graft.core.templating import render
from graft.monitoring import plots
from graft.monitoring.drift import Reference


def make_plots(
    result: dict[str, Any],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    reference_proba: np.ndarray,
    threshold: float,
) -> dict[str, bytes]:
    if "inputs" not in result:
        return {}
    features = result["inputs"]["features"]
    profile = Reference.build(
        reference,
        [f["feature"] for f in features if f["kind"] == "numeric"],
        [f["feature"] for f in features if f["kind"] == "categorical"],
    )
    return {
        "features": plots.feature_distributions(profile, current, features),
        "drift": plots.drift_scores(result["inputs"]["features"]),
        "predictions": plots.predictions(current["proba"].to_numpy(dtype=float), reference_proba, threshold),
        "fairness": plots.fairness(result["fairness"]),
    }


def write_report(out: Path, result: dict[str, Any], images: dict[str, bytes]) -> list[Path]:
    """Write ``out`` (.md or .html). Markdown links PNGs in ``<stem>_files/``; HTML embeds them."""
    written: list[Path] = []
    if out.suffix == ".html":
        links = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in images.items()}
        written.append(atomic_write_text(out, render("monitor_report.html.j2", r=result, images=links)))
    elif out.suffix == ".md":
        folder = out.with_name(f"{out.stem}_files")
        links = {}
        for name, data in images.items():
            written.append(atomic_write_bytes(folder / f"{name}.png", data))
            links[name] = f"{folder.name}/{name}.png"
        written.append(atomic_write_text(out, render("monitor_report.md.j2", r=result, images=links)))
    else:
        raise UsageError(f"-o {out}: the report must end in .md or .html")
    return written


def write_json(path: Path, result: dict[str, Any]) -> Path:
    return atomic_write_text(path, dumps_json(result))
