"""What graft infers from a DVC project where ``graft.yaml`` is silent (and what `graft init` writes).

:func:`infer` reads ``dvc.yaml`` (:class:`~graft.project.dvcfile.Pipeline`), the params and the
headline metrics and returns a ``graft.yaml`` document with one note per value: the task (from
an objective in the params), the headline metrics file, each metric's direction (from its name),
the headline metrics (the held-out split's), the predictions file and its columns, the model
artifact. The ``guess_*`` functions are its steps, each returning its answer and why. Layering:
above :mod:`graft.project.settings` (whose vocabulary -- task types, metric names, splits -- it
uses); the project's :class:`~graft.project.view.View` and `graft init` call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graft.project.dvcfile import Pipeline
from graft.project.settings import (
    SPLITS,
    TASK_DIRECTIONS,
    TASK_METRICS,
    Direction,
    TaskType,
    split_of,
)

_TASK_HINTS: dict[str, TaskType] = {
    "binary": "binary", "binary:logistic": "binary", "cross_entropy": "binary", "logloss": "binary",
    "multiclass": "multiclass", "multiclassova": "multiclass", "softmax": "multiclass",
    "multi:softprob": "multiclass", "multi:softmax": "multiclass", "multi_logloss": "multiclass",
    "regression": "regression", "regression_l2": "regression", "regression_l1": "regression",
    "l2": "regression", "mse": "regression", "rmse": "regression", "huber": "regression",
    "reg:squarederror": "regression", "squared_error": "regression", "poisson": "regression",
}  # fmt: skip
_LOWER = ("loss", "error", "rmse", "mse", "mae", "brier", "mape", "deviance")
_HIGHER = ("auc", "acc", "f1", "precision", "prec", "recall", "r2", "score", "ndcg", "iou")
_HEADLINE_SPLITS = SPLITS[: SPLITS.index("train")]


def guess_direction(metric: str) -> Direction | None:
    """From any segment of the key, the last that tells (``roc_auc.test`` higher, ``loss.valid``
    lower); a split name (test, valid, ...) tells nothing."""
    segments = metric.rsplit(":", 1)[-1].lower().split(".")
    for name in reversed(segments):
        if name in SPLITS:
            continue
        if name in TASK_DIRECTIONS:
            return TASK_DIRECTIONS[name]
        if any(h in name for h in _LOWER):
            return "lower"
        if any(h in name for h in _HIGHER):
            return "higher"
    return None


def guess_headline(task: TaskType, ruled: list[str]) -> list[str]:
    """Up to two headline metrics: the task's own metrics first; when keys name splits, only
    the held-out split's (test, else holdout, else validation)."""
    split_keys = {key: split_of(key) for key in ruled}
    splits = {split for _, split in split_keys.values() if split is not None}
    held_out = next((s for s in _HEADLINE_SPLITS if s in splits), None)
    pool = [k for k in ruled if held_out is None or split_keys[k][1] == held_out]
    preferred = TASK_METRICS[task]

    def rank(key: str) -> int:
        name = split_keys[key][0]
        return preferred.index(name) if name in preferred else len(preferred)

    return sorted(pool, key=rank)[:2]


def guess_task(params: Mapping[str, Any]) -> tuple[TaskType, str]:
    """The task a params file suggests (an objective/task value), and why."""
    stack: list[tuple[str, Any]] = list(params.items())
    while stack:
        key, value = stack.pop(0)
        if isinstance(value, Mapping):
            stack.extend((f"{key}.{k}", v) for k, v in value.items())
        elif isinstance(value, str) and value.lower() in _TASK_HINTS:
            task = _TASK_HINTS[value.lower()]
            return task, f"params.yaml '{key}: {value}'"
    return "binary", "no objective in params.yaml names a task; binary is the default"


def guess_metrics_file(pipeline: Pipeline) -> tuple[str | None, str]:
    declared = list(pipeline.metrics)
    if not declared:
        return None, "dvc.yaml declares no metrics file"
    if len(declared) == 1:
        return declared[0], "the only metrics file dvc.yaml declares"
    named = [p for p in declared if p.rsplit("/", 1)[-1].startswith("metrics")]
    pick = named[-1] if named else declared[-1]
    return pick, f"one of {len(declared)} metrics files in dvc.yaml ({', '.join(declared)})"


def guess_predictions(pipeline: Pipeline, inside: Sequence[str] = ()) -> tuple[str | None, str]:
    """The predictions file: the last stage output named like predictions, else the last such file
    ``inside`` a directory output (e.g. dvclive's ``eval/predictions.csv`` in a DVC-cached ``eval/``)."""

    def named(paths: Sequence[str]) -> list[str]:
        return [p for p in paths if "predict" in p.rsplit("/", 1)[-1].lower()]

    found = named(pipeline.outputs)
    if found:
        return found[-1], "a stage output named like predictions"
    within = named(sorted(inside))
    if within:
        return within[
            -1
        ], f"a file named like predictions inside the stage output {within[-1].rsplit('/', 1)[0]}"
    return None, "no stage output is named like predictions; the report skips the bootstrap"


_ID = ("row_id", "id", "index", "row")
_LABEL = ("label", "target", "y", "y_true", "actual", "truth")
_SCORE = ("proba", "probability", "prob", "score", "prediction", "pred", "y_pred", "predicted")


def guess_columns(columns: list[str], task: TaskType) -> tuple[dict[str, Any], str]:
    """id, label and score columns of a predictions table, by their names."""
    lower = {c.lower(): c for c in columns}
    found: dict[str, Any] = {}
    for key, names in (("id", _ID), ("label", _LABEL), ("score", _SCORE)):
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is not None:
            found[key] = hit
    if task == "multiclass":
        probs = [c for c in columns if c.lower().startswith(("proba_", "prob_", "p_"))]
        if probs:
            found["score"] = probs
    missing = [k for k in ("id", "label", "score") if k not in found]
    why = f"columns {', '.join(columns)}" + (f"; could not tell {', '.join(missing)}" if missing else "")
    return found, why


def infer(
    pipeline: Pipeline,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any] | None,
    prediction_columns: list[str] | None = None,
    output_files: Sequence[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """A graft.yaml document inferred from dvc.yaml and params, with one explanation per value."""
    notes: list[str] = []
    task, why = guess_task(params)
    notes.append(f"task.type: {task} ({why})")
    doc: dict[str, Any] = {"task": {"type": task}}
    metrics_file, why = guess_metrics_file(pipeline)
    notes.append(f"metrics.file: {metrics_file} ({why})")
    rules: dict[str, Any] = {}
    if metrics:
        from graft.project.lock import flatten

        for key, value in flatten(metrics).items():
            direction = guess_direction(key)
            if direction and isinstance(value, (int, float)) and not isinstance(value, bool):
                rules[key] = {"direction": direction, "tolerance": 0.0}
        unknown = [k for k in flatten(metrics) if k not in rules]
        if unknown:
            shown = ", ".join(unknown[:8])
            notes.append(f"metrics.rules: no direction guessed for {shown} (add them by hand)")
    headline = guess_headline(task, list(rules))
    if any(split_of(k)[1] for k in rules):
        notes.append(f"metrics.headline: {', '.join(headline)} (the held-out split's metrics)")
    doc["metrics"] = {"file": metrics_file, "rules": rules, "headline": headline}
    predictions, why = guess_predictions(pipeline, output_files)
    notes.append(f"predictions.path: {predictions} ({why})")
    if predictions:
        doc["predictions"] = {"path": predictions}
        if prediction_columns:
            columns, why = guess_columns(prediction_columns, task)
            doc["predictions"].update(columns)
            notes.append(f"predictions columns: {columns} ({why})")
    models = pipeline.models()
    if len(models) == 1:
        doc["package"] = {"model": models[0].name}
        notes.append(f"package.model: {models[0].name} (the model artifact in dvc.yaml)")
    else:
        notes.append(
            "package.model: not set (dvc.yaml declares "
            f"{'no' if not models else len(models)} model artifacts; add one under 'artifacts:')"
        )
    notes.append("fairness.columns: none (no sensitive columns can be inferred; the report skips fairness)")
    return doc, notes
