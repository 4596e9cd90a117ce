"""`graft report`: everything a pull-request comment needs to judge a head against a base.

Reads committed files of both revisions straight from Git objects: metrics, fairness, gate
result, plot data, dvc.lock and the test-set predictions (``metrics/predictions.parquet``).
Builds one context dictionary; the wording lives in ``templates/report.md.j2``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from graft.compare.diff import Snapshot, SnapshotReader, best_indices, build_diff, is_number, rules_from
from graft.core import gitrepo
from graft.core.errors import DataError, GraftError
from graft.core.gitrepo import Revision
from graft.project.metrics import (
    DVC_LOCK,
    FAIRNESS_FILE,
    GATE_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    MetricRule,
)

MARKER = "<!-- graft-report -->"
ROC_FILE = "metrics/plots/roc.csv"
BOOTSTRAP_METRICS = ("roc_auc", "log_loss", "accuracy", "brier")
VERDICT_METRICS = ("roc_auc", "log_loss")
DIRECTIONS: dict[str, str] = {
    "roc_auc": "higher",
    "log_loss": "lower",
    "accuracy": "higher",
    "brier": "lower",
}
LEADERBOARD_METRICS = ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1", "brier")
ROC_GRID = [i / 20 for i in range(21)]


@dataclass(frozen=True)
class ReportResult:
    markdown: str
    context: dict[str, Any]
    png_files: list[Path] = field(default_factory=list)


# --- reading -----------------------------------------------------------------------------------


def _json(rev: Revision, path: str) -> Any:
    data = gitrepo.read_file(rev.commit, path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise DataError(f"{rev.name}:{path}: not valid JSON") from None


def read_predictions(rev: Revision) -> dict[str, Any] | None:
    """row_id, label and proba of the committed test-set predictions (numpy arrays), or None."""
    data = gitrepo.read_file(rev.commit, PREDICTIONS_FILE)
    if data is None:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data), columns=["row_id", "label", "proba"])
    except Exception as exc:
        raise DataError(f"{rev.name}:{PREDICTIONS_FILE}: cannot be read ({exc})") from None
    return {name: table.column(name).to_numpy() for name in ("row_id", "label", "proba")}


def read_roc(rev: Revision) -> list[tuple[float, float]] | None:
    data = gitrepo.read_file(rev.commit, ROC_FILE)
    if data is None:
        return None
    rows = csv.DictReader(io.StringIO(data.decode("utf-8")))
    try:
        return [(float(r["fpr"]), float(r["tpr"])) for r in rows]
    except (KeyError, ValueError):
        raise DataError(f"{rev.name}:{ROC_FILE}: expected numeric columns fpr,tpr") from None


def data_hashes(rev: Revision) -> dict[str, str]:
    """Path -> md5 of every data dependency/output in dvc.lock (code files left out)."""
    import yaml

    raw = gitrepo.read_file(rev.commit, DVC_LOCK)
    if raw is None:
        return {}
    lock = yaml.safe_load(raw) or {}
    out: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for entry in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            path = str(entry.get("path", ""))
            if path.startswith("data/") and "md5" in entry:
                out[path] = str(entry["md5"])
    return out


# --- comparing ---------------------------------------------------------------------------------


def paired_predictions(base: Mapping[str, Any], head: Mapping[str, Any], names: tuple[str, str]) -> Any:
    """Labels and both models' probabilities on the rows both revisions scored (joined on row_id)."""
    import numpy as np

    _, ib, ih = np.intersect1d(base["row_id"], head["row_id"], assume_unique=True, return_indices=True)
    if len(ib) == 0:
        raise DataError(f"{names[0]} and {names[1]}: predictions share no row_id")
    y = base["label"][ib]
    if not np.array_equal(y, head["label"][ih]):
        raise DataError(f"{names[0]} and {names[1]}: labels differ on shared row_id in {PREDICTIONS_FILE}")
    return y, base["proba"][ib], head["proba"][ih]


def classify(interval: Any, direction: str) -> str:
    """'improvement' / 'regression' when the CI excludes zero, else 'noise'."""
    if not interval.excludes_zero:
        return "noise"
    better = interval.low > 0 if direction == "higher" else interval.high < 0
    return "improvement" if better else "regression"


def bootstrap(
    base: Revision, head: Revision, resamples: int, seed: int, threshold: float
) -> dict[str, Any] | None:
    bp, hp = read_predictions(base), read_predictions(head)
    missing = [r.name for r, p in ((base, bp), (head, hp)) if p is None]
    if missing:
        return {"available": False, "missing": missing}
    from graft.compare.stats import paired_bootstrap

    y, pb, ph = paired_predictions(bp, hp, (base.name, head.name))  # type: ignore[arg-type]
    intervals = paired_bootstrap(y, pb, ph, resamples=resamples, seed=seed, threshold=threshold)
    return {
        "available": True,
        "rows": len(y),
        "resamples": resamples,
        "seed": seed,
        "level": 0.95,
        "metrics": {
            m: {
                "base": iv.base,
                "head": iv.head,
                "delta": iv.delta,
                "low": iv.low,
                "high": iv.high,
                "verdict": classify(iv, DIRECTIONS[m]),
            }
            for m, iv in intervals.items()
        },
    }


def metric_rows(base: Snapshot, head: Snapshot, rules: Mapping[str, MetricRule], boot: Any) -> list[dict]:
    rows = []
    diff = build_diff([base, head], rules)
    for row in diff.rows:
        if row.section != "metrics":
            continue
        b, h = row.cells
        entry: dict[str, Any] = {
            "key": row.key,
            "base": b.value if b.status == "value" else None,
            "head": h.value if h.status == "value" else None,
            "delta": h.delta,
            "direction": row.direction,
            "ci": None,
        }
        if entry["delta"] is not None and row.direction and entry["delta"] != 0:
            up = entry["delta"] > 0
            entry["better"] = up if row.direction == "higher" else not up
        else:
            entry["better"] = None
        if boot and boot.get("available") and row.key in boot["metrics"]:
            entry["ci"] = boot["metrics"][row.key]
        rows.append(entry)
    return rows


def params_changed(base: Snapshot, head: Snapshot) -> list[dict[str, Any]]:
    diff = build_diff([base, head], {}, only_changed=True)
    return [
        {
            "key": r.key,
            "base": r.cells[0].value if r.cells[0].status == "value" else None,
            "head": r.cells[1].value if r.cells[1].status == "value" else None,
            "base_status": r.cells[0].status,
            "head_status": r.cells[1].status,
        }
        for r in diff.rows
        if r.section == "params"
    ]


def data_changed(base: Revision, head: Revision) -> list[dict[str, Any]]:
    b, h = data_hashes(base), data_hashes(head)
    out = []
    for path in sorted(set(b) | set(h)):
        if b.get(path) != h.get(path):
            status = "added" if path not in b else "removed" if path not in h else "changed"
            out.append({"path": path, "base": b.get(path), "head": h.get(path), "status": status})
    return out


def fairness_rows(base: Any, head: Any) -> list[dict[str, Any]]:
    """One row per (group column, group) with base, head and delta of each per-group metric."""
    rows = []
    base, head = base or {}, head or {}
    for column in list(dict.fromkeys([*base, *head])):
        groups_b, groups_h = base.get(column) or {}, head.get(column) or {}
        for group in list(dict.fromkeys([*groups_b, *groups_h])):
            gb, gh = groups_b.get(group) or {}, groups_h.get(group) or {}
            row: dict[str, Any] = {"column": column, "group": group}
            for m in ("count", "selection_rate", "tpr", "fpr", "roc_auc"):
                vb, vh = gb.get(m), gh.get(m)
                row[m] = {
                    "base": vb,
                    "head": vh,
                    "delta": vh - vb if is_number(vb) and is_number(vh) else None,
                }
            rows.append(row)
    return rows


def gate_summary(gate: Any) -> dict[str, Any]:
    if not isinstance(gate, Mapping) or "passed" not in gate:
        return {"present": False, "passed": None, "failed": []}
    failed = [c for c in gate.get("checks") or [] if not c.get("passed", True)]
    return {"present": True, "passed": bool(gate["passed"]), "failed": failed}


def roc_series(points: Sequence[tuple[float, float]] | None) -> list[float] | None:
    """TPR at evenly spaced FPR (Mermaid line charts need a shared, evenly spaced x axis)."""
    if not points:
        return None
    import numpy as np

    pts = sorted(points)
    fpr = np.array([p[0] for p in pts])
    tpr = np.maximum.accumulate(np.array([p[1] for p in pts]))
    return [round(float(v), 4) for v in np.interp(ROC_GRID, fpr, tpr)]


def selection_charts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    charts: dict[str, dict[str, Any]] = {}
    for row in rows:
        chart = charts.setdefault(row["column"], {"column": row["column"], "groups": []})
        sr = row["selection_rate"]
        chart["groups"].append({"group": row["group"], "base": sr["base"], "head": sr["head"]})
    return list(charts.values())


def leaderboard(
    repo: pygit2.Repository, reader: SnapshotReader, names: list[str], rules: Mapping[str, MetricRule]
) -> dict[str, Any]:
    revs = [gitrepo.resolve(repo, n) for n in names]
    snaps = [reader.read(r) for r in revs]
    gates = [gate_summary(_json(r, GATE_FILE)) for r in revs]
    sort_metric = next((m for m in LEADERBOARD_METRICS if m in rules), "roc_auc")
    sign = -1.0 if rules.get(sort_metric, MetricRule("higher", 0)).direction == "higher" else 1.0

    def key(i: int) -> tuple[int, float]:
        value = (snaps[i].metrics or {}).get(sort_metric)
        return (0, sign * value) if is_number(value) else (1, 0.0)

    order = sorted(range(len(snaps)), key=key)
    best: dict[str, set[int]] = {}
    for m in LEADERBOARD_METRICS:
        direction = rules[m].direction if m in rules else None
        best[m] = best_indices([(s.metrics or {}).get(m) for s in snaps], direction)
    entries = []
    for rank, i in enumerate(order, start=1):
        metrics = snaps[i].metrics
        entries.append(
            {
                "rank": rank,
                "name": snaps[i].name,
                "sha": snaps[i].sha[:8],
                "has_metrics": metrics is not None,
                "values": {
                    m: {"value": (metrics or {}).get(m), "best": i in best[m]} for m in LEADERBOARD_METRICS
                },
                "gate": gates[i],
            }
        )
    return {"sort": sort_metric, "metrics": list(LEADERBOARD_METRICS), "entries": entries}


# --- the report --------------------------------------------------------------------------------


def build_context(
    root: Path,
    base: str = "main",
    head: str = "HEAD",
    also: Sequence[str] = (),
    all_experiments: bool = False,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    repo = gitrepo.open_repo(root)
    base_rev, head_rev = gitrepo.resolve(repo, base), gitrepo.resolve(repo, head)
    reader = SnapshotReader()
    base_snap, head_snap = reader.read(base_rev), reader.read(head_rev)
    if head_snap.metrics is None:
        raise GraftError(f"{head}: no {METRICS_FILE} committed (run `dvc repro` and commit)")
    rules = rules_from(base_snap)
    threshold = (head_snap.metrics or {}).get("threshold", 0.5)
    boot = bootstrap(base_rev, head_rev, resamples, seed, float(threshold if is_number(threshold) else 0.5))
    fair = fairness_rows(_json(base_rev, FAIRNESS_FILE), _json(head_rev, FAIRNESS_FILE))
    board_names: list[str] = []
    if also or all_experiments:
        extra = list(also) + (gitrepo.branches(repo) if all_experiments else [])
        board_names = list(dict.fromkeys([base, head, *extra]))
    return {
        "marker": MARKER,
        "base": {"name": base, "sha": base_rev.short, "has_metrics": base_snap.metrics is not None},
        "head": {"name": head, "sha": head_rev.short},
        "gate": gate_summary(_json(head_rev, GATE_FILE)),
        "bootstrap": boot,
        "verdict_metrics": list(VERDICT_METRICS),
        "metrics": metric_rows(base_snap, head_snap, rules, boot),
        "params": params_changed(base_snap, head_snap),
        "data": data_changed(base_rev, head_rev),
        "fairness": fair,
        "roc": {
            "grid": ROC_GRID,
            "base": roc_series(read_roc(base_rev)),
            "head": roc_series(read_roc(head_rev)),
        },
        "selection": selection_charts(fair),
        "leaderboard": leaderboard(repo, reader, board_names, rules) if board_names else None,
        "png": [],
    }


def write_pngs(context: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """ROC and per-group selection-rate charts as PNG files (needs matplotlib: the ``plots`` extra;
    the command line names it when the import fails)."""
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
    fig, ax = plt.subplots(figsize=(5, 5))
    for label in ("base", "head"):
        if roc[label]:
            ax.plot(roc["grid"], roc[label], label=f"{label} ({context[label]['name']})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test split)")
    ax.legend(loc="lower right")
    save(fig, "roc.png")
    for chart in context["selection"]:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        groups = [g["group"] for g in chart["groups"]]
        xs = range(len(groups))
        ax.bar([x - 0.2 for x in xs], [g["base"] or 0 for g in chart["groups"]], 0.4, label="base")
        ax.bar([x + 0.2 for x in xs], [g["head"] or 0 for g in chart["groups"]], 0.4, label="head")
        ax.set_xticks(list(xs), groups, rotation=20)
        ax.set(ylabel="selection rate", title=f"Selection rate by {chart['column']}")
        ax.legend()
        fig.tight_layout()
        save(fig, f"selection_rate_{chart['column']}.png")
    return written


def render(context: Mapping[str, Any]) -> str:
    from graft.core.templating import render as render_template

    return render_template("report.md.j2", **context)
