"""Plots of a monitoring result (matplotlib, Agg backend): PNG bytes, nothing printed or shown."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

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


def feature_distributions(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[dict[str, Any]]
) -> bytes:
    plt = _pyplot()
    cols = 4
    rows = -(-len(features) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows))
    for ax, f in zip(np.ravel(axes), features, strict=False):
        name = f["feature"]
        if f["kind"] == "numeric":
            ref = reference[name].dropna().to_numpy(dtype=float)
            cur = current[name].dropna().to_numpy(dtype=float)
            edges = np.unique(np.quantile(ref, np.linspace(0, 1, 21)))
            if len(edges) < 3:
                edges = np.linspace(ref.min(), ref.max() + 1, 11)
            ax.hist(ref, bins=edges, density=True, alpha=0.55, color=REF_COLOUR, label="training")
            ax.hist(
                np.clip(cur, edges[0], edges[-1]),
                bins=edges,
                density=True,
                alpha=0.55,
                color=CUR_COLOUR,
                label="current",
            )
        else:
            ref_share = reference[name].fillna("<missing>").value_counts(normalize=True)
            cur_share = current[name].fillna("<missing>").value_counts(normalize=True)
            top = ref_share.add(cur_share, fill_value=0).sort_values(ascending=False).index[:8]
            x = np.arange(len(top))
            ax.bar(x - 0.2, ref_share.reindex(top, fill_value=0), 0.4, color=REF_COLOUR, label="training")
            ax.bar(x + 0.2, cur_share.reindex(top, fill_value=0), 0.4, color=CUR_COLOUR, label="current")
            ax.set_xticks(x, [str(t)[:12] for t in top], rotation=45, ha="right", fontsize=7)
        ax.set_title(
            f"{name}{'  DRIFT' if f['drifted'] else ''}",
            color=ALERT_COLOUR if f["drifted"] else "black",
            fontsize=9,
        )
        ax.tick_params(labelsize=7)
    for ax in np.ravel(axes)[len(features) :]:
        ax.axis("off")
    np.ravel(axes)[0].legend(fontsize=7)
    fig.suptitle("Inputs: training reference vs current window", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def drift_scores(features: list[dict[str, Any]]) -> bytes:
    """Each feature's score relative to its threshold (>1 means drift for distances, <1 for p-values)."""
    plt = _pyplot()
    names = [f["feature"] for f in features]
    ratio = [
        (f["threshold"] / max(f["score"], 1e-12))
        if f["method"] in ("ks", "chi2")
        else f["score"] / f["threshold"]
        for f in features
    ]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(names) + 1))
    colours = [ALERT_COLOUR if f["drifted"] else REF_COLOUR for f in features]
    ax.barh(names, np.minimum(ratio, 10), color=colours)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("drift score / threshold (≥ 1 = drift; capped at 10)")
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
    ax.set_xlabel("predicted probability of >50K")
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
