"""graft's own settings for a project: ``graft.yaml`` at the project root, typed and validated.

Every key has a documented default; a project without ``graft.yaml`` runs on defaults inferred
from ``dvc.yaml`` and the params files (:func:`infer`), and ``graft init`` writes them down.
A value may be ``${key}``: the value at that dotted key of ``params.yaml``, as in ``dvc.yaml``
(so a bound the pipeline also reads is written once).

================  =============================================================================
``task``           ``type``: binary | multiclass | regression; ``labels``: the classes (binary:
                   negative then positive); ``threshold``: binary decision threshold (0.5)
``metrics``        ``file``: the headline metrics file (keys shown bare); ``files``: the metrics
                   files diff shows (default: all that dvc.yaml declares; others' keys are
                   ``path:key``); ``rules``: metric -> {direction, tolerance}; ``headline``:
                   the metrics listed first (exp list, models, verdicts)
``gate``           ``thresholds``: metric -> {min, max}
``predictions``    the committed test-set predictions: ``path``, ``id``, ``label`` and
                   ``score`` columns (multiclass: one probability column per class, in order);
                   ``inputs``: a table of those rows' raw inputs (with ``id``; default: the
                   reference table when it holds them), from which `graft package` reproduces
                   them within ``tolerance`` (absolute, 1e-6)
``fairness``       ``file`` (per-group metrics the pipeline writes) and sensitive ``columns``
``package``        ``name`` (default: the model artifact's name), ``model`` (artifact), ``code``
                   (project files serving needs), ``adapter`` (its entry module), ``files``
                   (name in package -> project path), ``reference`` (monitoring rows), ``card``
                   (model card text: ``intended_use``, ``out_of_scope``, ``data``, ``limitations``),
                   ``flavour`` (the model's framework; default: recognised from the file)
``monitor``        drift, output, feedback and fairness thresholds (see graft.monitoring)
``stages``         the names ``graft promote`` accepts (dev, staging, prod)
``search``         ``objective``: the validation metric ``exp search`` optimises; ``direction``
``data``           ``keys``: table path -> the column whose values identify a row (`graft data diff`
                   matches the rows of two revisions by it)
================  =============================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graft.core.errors import ParamsError
from graft.project.dvcfile import Pipeline

SETTINGS_FILE = "graft.yaml"
TaskType = Literal["binary", "multiclass", "regression"]
Direction = Literal["higher", "lower"]
_REFERENCE = re.compile(r"^\$\{\s*([^}]+?)\s*\}$")
# a model stage as GTO writes it in a tag (MODEL#STAGE#N): letters, digits, '-', '_', '/'
STAGE_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?$")

# Metrics each task's report bootstraps (the ones its predictions allow), in display order.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "log_loss", "accuracy", "brier"),
    "multiclass": ("log_loss", "accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}
TASK_DIRECTIONS: dict[str, Direction] = {
    "roc_auc": "higher",
    "log_loss": "lower",
    "accuracy": "higher",
    "brier": "lower",
    "macro_f1": "higher",
    "rmse": "lower",
    "mae": "lower",
    "r2": "higher",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricRule(_Model):
    direction: Direction
    tolerance: float = Field(0.0, ge=0)


class Bound(_Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("needs 'min' and/or 'max'")
        return self


class Task(_Model):
    type: TaskType = "binary"
    labels: list[str] | None = None
    threshold: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _labels(self) -> Task:
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        if self.type == "binary" and self.labels is not None and len(self.labels) != 2:
            raise ValueError("a binary task has exactly two labels: [negative, positive]")
        return self

    @property
    def positive(self) -> str | None:
        return self.labels[1] if self.type == "binary" and self.labels else None


class Metrics(_Model):
    file: str | None = None
    files: list[str] | None = None
    rules: dict[str, MetricRule] = Field(default_factory=dict)
    headline: list[str] = Field(default_factory=list)


class Gate(_Model):
    thresholds: dict[str, Bound] = Field(default_factory=dict)


class Predictions(_Model):
    path: str | None = None
    id: str = "row_id"
    label: str = "label"
    score: str | list[str] = "proba"
    inputs: str | None = None
    tolerance: float = Field(1e-6, ge=0)


class Fairness(_Model):
    file: str | None = None
    columns: list[str] = Field(default_factory=list)


class Reference(_Model):
    path: str
    rows_from: str | None = None
    id: str | None = None


class Card(_Model):
    intended_use: str = ""
    data: str = ""
    out_of_scope: str = ""
    limitations: list[str] = Field(default_factory=list)


class Package(_Model):
    name: str | None = None
    model: str | None = None
    code: list[str] = Field(default_factory=list)
    adapter: str | None = None
    flavour: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    reference: Reference | None = None
    card: Card = Field(default_factory=Card)


class Search(_Model):
    objective: str | None = None
    direction: Direction = "lower"


class Data(_Model):
    keys: dict[str, str] = Field(default_factory=dict)  # table path (from the root) -> key column


class Settings(_Model):
    task: Task = Field(default_factory=Task)
    metrics: Metrics = Field(default_factory=Metrics)
    gate: Gate = Field(default_factory=Gate)
    predictions: Predictions = Field(default_factory=Predictions)
    fairness: Fairness = Field(default_factory=Fairness)
    package: Package = Field(default_factory=Package)
    monitor: dict[str, Any] = Field(default_factory=dict)
    stages: list[str] = Field(default_factory=lambda: ["dev", "staging", "prod"])
    search: Search = Field(default_factory=Search)
    data: Data = Field(default_factory=Data)

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, stages: list[str]) -> list[str]:
        for name in stages:
            if not STAGE_NAME.match(name):
                raise ValueError(
                    f"stage '{name}' cannot be written in a GTO tag: letters, digits, '-', '_' and '/', "
                    "starting and ending with a letter or digit"
                )
        if len(set(stages)) != len(stages):
            raise ValueError("stage names must be distinct")
        return stages

    def direction(self, metric: str) -> Direction | None:
        rule = self.metrics.rules.get(metric)
        if rule:
            return rule.direction
        return TASK_DIRECTIONS.get(metric) or TASK_DIRECTIONS.get(split_of(metric)[0])

    @property
    def task_metrics(self) -> tuple[str, ...]:
        return TASK_METRICS[self.task.type]


def resolve_references(node: Any, params: Mapping[str, Any], where: str, path: str = "") -> Any:
    """Replace every ``${key}`` value by the value at ``key`` in ``params`` (errors name both)."""
    if isinstance(node, Mapping):
        return {k: resolve_references(v, params, where, f"{path}{k}.") for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_references(v, params, where, f"{path}{i}.") for i, v in enumerate(node)]
    if isinstance(node, str) and (match := _REFERENCE.match(node)):
        key: Any = params
        for part in match.group(1).split("."):
            if isinstance(key, Mapping) and part in key:
                key = key[part]
            else:
                raise ParamsError(
                    f"{where}: '{path.rstrip('.')}' refers to '{match.group(1)}', "
                    "which params.yaml does not have"
                )
        return key
    return node


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    if error["type"] == "missing":
        return f"missing key '{where}'"
    return f"'{where}': {error['msg']} (got {error.get('input')!r})"


def parse_settings(
    document: Any,
    params: Mapping[str, Any],
    where: str = SETTINGS_FILE,
    validated: dict[str, Settings] | None = None,
) -> Settings:
    """Validate a parsed graft.yaml (``${...}`` resolved against ``params``); errors name the key.

    ``validated`` keeps settings by their resolved contents, so equal documents are validated once.
    """
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ParamsError(f"{where}: expected a mapping of settings at the top level")
    resolved = resolve_references(document, params, where)
    key = json.dumps(resolved, sort_keys=True, default=repr) if validated is not None else ""
    if validated is not None and key in validated:
        return validated[key]
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors()[:5])
        raise ParamsError(f"{where}: {problems}") from None
    if validated is not None:
        validated[key] = settings
    return settings


# --- inference (no graft.yaml, and `graft init`) --------------------------------------------------

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
# Key segments naming a data split (dvclive's {"roc_auc": {"train": .., "test": ..}}), best
# headline first: held-out test data over validation over training.
SPLITS = ("test", "holdout", "valid", "validation", "val", "eval", "dev", "train", "training")
_HEADLINE_SPLITS = SPLITS[: SPLITS.index("train")]


def split_of(metric: str) -> tuple[str, str | None]:
    """``roc_auc.test`` -> (``roc_auc``, ``test``): the metric's name without its split segment."""
    key = metric.rsplit(":", 1)[-1]
    parts = key.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].lower() in SPLITS and len(parts) > 1:
            return ".".join(parts[:i] + parts[i + 1 :]), parts[i].lower()
    return key, None


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
