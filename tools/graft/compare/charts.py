"""The report's task-specific summaries and charts, computed from committed predictions and files.

* binary: the ROC curve of each revision's predictions, as true positive rates at evenly spaced
  false positive rates (Mermaid line charts need a shared, evenly spaced x axis);
* multiclass: per-class support, precision and recall of each revision;
* regression: each revision's error summary (bias, MAE, median / 90th percentile / largest
  absolute error);
* fairness: per sensitive column, a bar chart of the per-group rate (a metric between 0 and 1)
  that moved most between base and head; none when nothing moved.

PNG versions (``--png-dir``) are drawn with matplotlib, imported only then.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graft.compare.predictions import Scored

ROC_GRID = [i / 20 for i in range(21)]


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "chart"


def roc_series(scored: Scored | None) -> list[float] | None:
    """TPR at the evenly spaced FPRs of ``ROC_GRID`` (None without predictions or one class only)."""
    if scored is None or len(set(scored.y.tolist())) < 2:
        return None
    import numpy as np

    from graft.compare.scorers import roc_curve

    fpr, tpr = roc_curve(scored.y, scored.p)
    # np.interp needs increasing x: at a repeated FPR the curve's highest TPR counts
    return [round(float(v), 4) for v in np.interp(ROC_GRID, fpr, np.maximum.accumulate(tpr))]


def regression_errors(scored: Scored | None) -> dict[str, float] | None:
    if scored is None:
        return None
    import numpy as np

    error = scored.p - scored.y
    absolute = np.abs(error)
    return {
        "rows": len(error),
        "bias": float(error.mean()),
        "mae": float(absolute.mean()),
        "p50": float(np.quantile(absolute, 0.5)),
        "p90": float(np.quantile(absolute, 0.9)),
        "max": float(absolute.max()),
    }


def _per_class(scored: Scored | None, k: int) -> list[dict[str, float | None]] | None:
    if scored is None:
        return None
    predicted = scored.p.argmax(axis=1)
    out: list[dict[str, float | None]] = []
    for c in range(k):
        truth, guess = scored.y == c, predicted == c
        hit = int((truth & guess).sum())
        out.append(
            {
                "support": int(truth.sum()),
                "precision": hit / int(guess.sum()) if guess.any() else None,
                "recall": hit / int(truth.sum()) if truth.any() else None,
            }
        )
    return out


def class_table(base: Scored | None, head: Scored | None, classes: Sequence[str]) -> list[dict[str, Any]]:
    """Per class: support at head, precision and recall of base and head (None: not predicted)."""
    b, h = _per_class(base, len(classes)), _per_class(head, len(classes))
    rows = []
    for i, name in enumerate(classes):
        bi, hi = (b[i] if b else {}), (h[i] if h else {})
        rows.append(
            {
                "class": name,
                "support": hi.get("support", bi.get("support")),
                "precision": {"base": bi.get("precision"), "head": hi.get("precision")},
                "recall": {"base": bi.get("recall"), "head": hi.get("recall")},
            }
        )
    return rows


def _fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def fairness_charts(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Per column, the per-group rate that moved most (largest absolute delta of any group)."""
    columns: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        columns.setdefault(row["column"], []).append(row)
    charts = []
    for column, groups in columns.items():
        best: tuple[float, str] | None = None
        for metric in metrics:
            cells = [g["values"].get(metric) or {} for g in groups]
            values = [v for c in cells for v in (c.get("base"), c.get("head")) if v is not None]
            if not values or not all(_fraction(v) for v in values):
                continue
            moved = max((abs(c["delta"]) for c in cells if c.get("delta") is not None), default=0.0)
            if moved > 0 and (best is None or moved > best[0]):
                best = (moved, metric)
        if best is None:
            continue
        metric = best[1]
        charts.append(
            {
                "column": column,
                "metric": metric,
                "groups": [
                    {
                        "group": g["group"],
                        "base": (g["values"].get(metric) or {}).get("base"),
                        "head": (g["values"].get(metric) or {}).get("head"),
                    }
                    for g in groups
                ],
            }
        )
    return charts


def write_pngs(context: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """The report's charts as PNG files (needs matplotlib: the ``plots`` extra, which the command
    line names when the import fails): the ROC curve and the fairness charts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from graft.core.fsio import atomic_write_bytes

    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(atomic_write_bytes(Path(out_dir) / name, buffer.getvalue()))

    roc = context["roc"]
    if roc and (roc["base"] or roc["head"]):
        fig, ax = plt.subplots(figsize=(5, 5))
        for label in ("base", "head"):
            if roc[label]:
                ax.plot(roc["grid"], roc[label], label=f"{label} ({context[label]['name']})")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test rows)")
        ax.legend(loc="lower right")
        save(fig, "roc.png")
    for chart in (context["fairness"] or {}).get("charts", []):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        groups = [str(g["group"]) for g in chart["groups"]]
        xs = range(len(groups))
        ax.bar([x - 0.2 for x in xs], [g["base"] or 0 for g in chart["groups"]], 0.4, label="base")
        ax.bar([x + 0.2 for x in xs], [g["head"] or 0 for g in chart["groups"]], 0.4, label="head")
        ax.set_xticks(list(xs), groups, rotation=20)
        ax.set(ylabel=chart["metric"], title=f"{chart['metric']} by {chart['column']}")
        ax.legend()
        fig.tight_layout()
        save(fig, _file_name(f"{chart['metric']}_{chart['column']}") + ".png")
    return written
