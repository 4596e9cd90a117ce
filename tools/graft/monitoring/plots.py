"""Plots of a monitoring result (matplotlib, Agg backend): PNG bytes, nothing printed or shown."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from graft.monitoring.drift import INSUFFICIENT, CategoricalReference, NumericReference, Reference

REF_COLOUR, CUR_COLOUR, ALERT_COLOUR = "#4C72B0", "#DD8452", "#C44E52"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def _numeric_panel(ax: Any, ref: NumericReference, current: pd.Series) -> None:
    values = pd.to_numeric(current).to_numpy(dtype=float)
    if ref.point_mass is None:
        edges = np.unique(np.quantile(ref.values, np.linspace(0, 1, 21)))
        if len(edges) < 3:
            edges = np.linspace(ref.values.min(), ref.values.max() + 1, 11)
        # current values outside the training range are counted in the outer bins
        counts = np.histogram(values, bins=edges)[0]
        counts[0] += int(np.sum(values < edges[0]))
        counts[-1] += int(np.sum(values > edges[-1]))
        ax.hist(ref.values, bins=edges, density=True, alpha=0.55, color=REF_COLOUR, label="training")
        ax.hist(
            edges[:-1],
            bins=edges,
            weights=counts,
            density=True,
            alpha=0.55,
            color=CUR_COLOUR,
            label="current",
        )
        return
    cur = values[~np.isnan(values)]
    # a point mass: its share in the legend, the other values as shares of all values per bin
    ref_counts, cur_counts = ref.counts, ref.bin_counts(cur)
    ref_share = ref_counts / max(ref_counts.sum(), 1)
    cur_share = cur_counts / max(cur_counts.sum(), 1)
    x = np.arange(len(ref_counts) - 1)
    mass = f"{ref.point_mass:g}"
    ax.bar(x - 0.2, ref_share[1:], 0.4, color=REF_COLOUR, label=f"training ({ref_share[0]:.1%} at {mass})")
    ax.bar(x + 0.2, cur_share[1:], 0.4, color=CUR_COLOUR, label=f"current ({cur_share[0]:.1%} at {mass})")
    ax.set_xticks(x, ref.bin_labels()[1:], rotation=45, ha="right", fontsize=6)
    ax.set_ylabel(f"share of all values (bins: ≠ {mass})", fontsize=7)
    ax.legend(fontsize=6)


def _categorical_panel(ax: Any, ref: CategoricalReference, current: pd.Series) -> None:
    ref_share = pd.Series(ref.counts, dtype=float)
    ref_share = ref_share / max(ref_share.sum(), 1)
    counts = current.value_counts()
    cur_share = pd.Series({str(k): float(v) for k, v in counts.items() if v}, dtype=float)
    cur_share = cur_share / max(cur_share.sum(), 1)
    top = ref_share.add(cur_share, fill_value=0).sort_values(ascending=False).index[:8]
    x = np.arange(len(top))
    ax.bar(x - 0.2, ref_share.reindex(top, fill_value=0), 0.4, color=REF_COLOUR, label="training")
    ax.bar(x + 0.2, cur_share.reindex(top, fill_value=0), 0.4, color=CUR_COLOUR, label="current")
    ax.set_xticks(x, [str(t)[:12] for t in top], rotation=45, ha="right", fontsize=7)


def feature_distributions(
    reference: Reference, current: pd.DataFrame, features: list[dict[str, Any]]
) -> bytes:
    """Training vs current per feature (values present; missing rates are in the table).

    Numeric features: histograms over training quantile bins; a feature with a point mass
    shows its share at that value in the legend and the other values as bars per bin.
    """
    plt = _pyplot()
    cols = 4
    rows = -(-len(features) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows))
    for ax, f in zip(np.ravel(axes), features, strict=False):
        name = f["feature"]
        if f["kind"] == "numeric":
            _numeric_panel(ax, reference.numeric[name], current[name])
        else:
            _categorical_panel(ax, reference.categorical[name], current[name])
        note = "  DRIFT" if f["drifted"] else ("  (insufficient data)" if f["status"] == INSUFFICIENT else "")
        ax.set_title(f"{name}{note}", color=ALERT_COLOUR if f["drifted"] else "black", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in np.ravel(axes)[len(features) :]:
        ax.axis("off")
    np.ravel(axes)[0].legend(fontsize=7)
    fig.suptitle("Inputs: training reference vs current window", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def drift_scores(features: list[dict[str, Any]]) -> bytes:
    """Each feature's evidence relative to its threshold (>= 1 means drift): alpha / Holm-adjusted
    p-value for tests, distance / threshold otherwise; 0 where the data was insufficient."""
    plt = _pyplot()
    names = [f["feature"] for f in features]
    ratio = []
    for f in features:
        if f["score"] is None:
            ratio.append(0.0)
        elif f["p_adjusted"] is not None:
            ratio.append(f["threshold"] / max(f["p_adjusted"], 1e-12))
        else:
            ratio.append(f["score"] / f["threshold"])
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1))
    colours = [ALERT_COLOUR if f["drifted"] else REF_COLOUR for f in features]
    ax.barh(names, np.minimum(ratio, 10), color=colours)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("evidence / threshold (≥ 1 = drift; capped at 10)")
    ax.invert_yaxis()
    ax.set_title("Drift score per feature")
    return _png(fig)


def predictions(current: np.ndarray, reference: np.ndarray, threshold: float) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    edges = np.linspace(0, 1, 21)
    ax.hist(reference, bins=edges, density=True, alpha=0.55, color=REF_COLOUR, label="test set (release)")
    ax.hist(current, bins=edges, density=True, alpha=0.55, color=CUR_COLOUR, label="current")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlabel("predicted probability of the positive label")
    ax.legend(fontsize=8)
    ax.set_title("Outputs: prediction distribution")
    return _png(fig)


def predicted_classes(current: np.ndarray, reference: np.ndarray, classes: list[str]) -> bytes:
    """Share of predictions per (arg-max) class: the release's test set against the window."""
    plt = _pyplot()
    k = len(classes)
    ref_share = np.bincount(reference.argmax(axis=1), minlength=k) / max(len(reference), 1)
    cur_share = np.bincount(current.argmax(axis=1), minlength=k) / max(len(current), 1)
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(k)
    ax.bar(x - 0.2, ref_share, 0.4, color=REF_COLOUR, label="test set (release)")
    ax.bar(x + 0.2, cur_share, 0.4, color=CUR_COLOUR, label="current")
    ax.set_xticks(x, [str(c)[:14] for c in classes], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("share of predictions")
    ax.legend(fontsize=8)
    ax.set_title("Outputs: predicted-class distribution")
    return _png(fig)


def prediction_values(current: np.ndarray, reference: np.ndarray) -> bytes:
    """Predicted values: the release's test set against the window, over the reference's range."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    low = float(min(reference.min(), current.min())) if len(current) else float(reference.min())
    high = float(max(reference.max(), current.max())) if len(current) else float(reference.max())
    edges = np.linspace(low, high if high > low else low + 1, 21)
    ax.hist(reference, bins=edges, density=True, alpha=0.55, color=REF_COLOUR, label="test set (release)")
    ax.hist(current, bins=edges, density=True, alpha=0.55, color=CUR_COLOUR, label="current")
    ax.set_xlabel("predicted value")
    ax.legend(fontsize=8)
    ax.set_title("Outputs: prediction distribution")
    return _png(fig)


def fairness(result: dict[str, Any]) -> bytes:
    plt = _pyplot()
    columns = list(result)
    fig, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 3), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        groups = result[column]["groups"]
        names = list(groups)
        x = np.arange(len(names))
        for offset, key, colour in (
            (-0.25, "selection_rate", REF_COLOUR),
            (0, "tpr", CUR_COLOUR),
            (0.25, "fpr", "#55A868"),
        ):
            values = [groups[g][key] if groups[g][key] is not None else 0.0 for g in names]
            ax.bar(x + offset, values, 0.25, label=key, color=colour)
        ax.set_xticks(x, [n[:14] for n in names], rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"{column}: DP gap {result[column]['demographic_parity_difference']}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Fairness by group", fontsize=11)
    fig.tight_layout()
    return _png(fig)
