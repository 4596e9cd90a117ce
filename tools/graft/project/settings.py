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
                   them within ``tolerance`` (absolute, 1e-6); ``groups``: a table (with
                   ``id``) holding the ``fairness.columns`` of those rows, for the fairness gaps'
                   intervals (default: the predictions file, else ``package.reference.path``)
``fairness``       ``file`` (per-group metrics the pipeline writes) and sensitive ``columns``
``package``        ``name`` (default: the model artifact's name), ``model`` (artifact), ``code``
                   (project files serving needs), ``adapter`` (its entry module), ``files``
                   (name in package -> project path), ``reference`` (monitoring rows), ``card``
                   (model card text: ``intended_use``, ``out_of_scope``, ``data``, ``limitations``),
                   ``flavour`` (the model's framework; default: recognised from the file)
``monitor``        drift, output, feedback and fairness thresholds (see graft.monitoring)
``report``         ``adjust``: ``holm`` (the metrics table's verdicts are Holm-adjusted for the
                   number of intervals) or ``none``; ``quantiles``: absolute-error quantiles a
                   regression report bootstraps (``[0.9]`` -> ``abs_error_q90``)
``stages``         the names ``graft promote`` accepts (dev, staging, prod)
``search``         ``objective``: the validation metric ``exp search`` optimises; ``direction``;
                   or ``objectives`` (a list of ``{metric, direction}``: a multi-objective study);
                   ``constraints`` (validation metric -> {min, max}; default: the gate's bounds
                   read at ``validation`` + key); ``validation`` (that key prefix)
``data``           ``keys``: table path -> the column whose values identify a row (`graft data diff`
                   matches the rows of two revisions by it)
================  =============================================================================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graft.core.errors import ParamsError
from graft.project.dvcfile import Pipeline

SETTINGS_FILE = "graft.yaml"
TaskType = Literal["binary", "multiclass", "regression"]
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)
"""Every task type graft knows, in order (the one list: :data:`TaskType`)."""
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
# Directions of the other metrics graft bootstraps from predictions (graft.compare.stats).
BOOTSTRAP_DIRECTIONS: dict[str, Direction] = {
    "pr_auc": "higher",
    "precision": "higher",
    "recall": "higher",
    "f1": "higher",
    "macro_precision": "higher",
    "macro_recall": "higher",
    "demographic_parity_difference": "lower",
    "equalized_odds_difference": "lower",
    "abs_error": "lower",  # abs_error_q<percent>
}


class _Model(BaseModel):
    # The string under each field is its description: the documentation's graft.yaml reference is
    # generated from them (not pydantic's use_attribute_docstrings, which reads the source at import).
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricRule(_Model):
    direction: Direction
    """Which way is better: `higher` or `lower`."""
    tolerance: float = Field(0.0, ge=0)
    """How far the head may be worse than the base before `graft gate` fails (in the metric's unit)."""


def metric_number(value: Any) -> float | None:
    """A metric's value as a number; None for a missing value, a bool, anything else that is not
    an int or float, and NaN: none of these is ever within a bound."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


class Bound(_Model):
    """An absolute bound on a metric (``gate.thresholds``): the one rule of what holds it."""

    min: float | None = None
    """The lowest value the gate accepts."""
    max: float | None = None
    """The highest value the gate accepts (give `min`, `max` or both)."""

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("needs 'min' and/or 'max'")
        return self

    def violation(self, value: Any) -> str | None:
        """Why ``value`` breaks the bound, or None when it holds it (see :func:`metric_number`)."""
        number = metric_number(value)
        if number is None:
            return "missing" if value is None else f"not a number ({json.dumps(value)})"
        if self.min is not None and number < self.min:
            return f"below the minimum {self.min:.6g}"
        if self.max is not None and number > self.max:
            return f"above the maximum {self.max:.6g}"
        return None


class Task(_Model):
    type: TaskType = "binary"
    """The task: it decides the bootstrapped metrics, what the server predicts and what monitoring checks."""
    labels: list[str] | None = None
    """The classes, as the predictions' label column writes them (binary: negative, then positive)."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Binary: the probability at or above which the positive label is predicted."""

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
    """The headline metrics file (its keys are shown bare); default: the metrics file dvc.yaml declares."""
    files: list[str] | None = None
    """The metrics files `graft diff` shows (default: every one dvc.yaml declares); others' keys
    show as `path:key`."""
    rules: dict[str, MetricRule] = Field(default_factory=dict)
    """Per metric: its direction and tolerance (default: guessed from the metric's name)."""
    headline: list[str] = Field(default_factory=list)
    """The metrics shown first: `exp list`, `models`, the report's verdict (default: the task's first two)."""


class Gate(_Model):
    thresholds: dict[str, Bound] = Field(default_factory=dict)
    """Per metric: absolute bounds `graft gate` enforces on the head."""


class Predictions(_Model):
    path: str | None = None
    """The committed test-set predictions table (default: a stage output named like predictions)."""
    id: str = "row_id"
    """Its id column: rows of two revisions are paired on it."""
    label: str = "label"
    """Its true-label column (regression: the true value); also the outcome `graft replay` sends
    by default."""
    score: str | list[str] = "proba"
    """Its score column: the positive class's probability, the prediction (regression), or one
    probability column per class in `task.labels` order (multiclass)."""
    inputs: str | None = None
    """A table of those rows' raw inputs, with the id column, from which `graft package`
    reproduces the predictions (default: the reference table when it holds them)."""
    tolerance: float = Field(1e-6, ge=0)
    """How far a reproduced prediction may differ from the committed one (absolute)."""
    groups: str | None = None
    """A table with the id column and the `fairness.columns`, joined to the predictions by id so
    the report can bootstrap fairness gaps (default: the predictions file, then the package's
    reference table when it is in the local DVC cache)."""


class Fairness(_Model):
    file: str | None = None
    """The per-group metrics file the pipeline writes."""
    columns: list[str] = Field(default_factory=list)
    """The sensitive columns (none: no fairness section in the report or in monitoring)."""


class Report(_Model):
    adjust: Literal["holm", "none"] = "holm"
    """Multiple-comparison adjustment of the table's verdicts (the headline is never adjusted)."""
    quantiles: list[float] = Field(default_factory=list)
    """Regression: quantiles of the absolute error to bootstrap too, e.g. `[0.9]` adds
    `abs_error_q90`."""

    @field_validator("quantiles")
    @classmethod
    def _fractions(cls, quantiles: list[float]) -> list[float]:
        for q in quantiles:
            if not 0 < q < 1:
                raise ValueError(f"quantile {q} must lie strictly between 0 and 1")
        if len(set(quantiles)) != len(quantiles):
            raise ValueError("quantiles must be distinct")
        return quantiles


class Reference(_Model):
    path: str
    """A Parquet or CSV table holding the raw input columns."""
    rows_from: str | None = None
    """A table whose `id` column lists the rows to keep (e.g. the training split)."""
    id: str | None = None
    """The id column shared by `path` and `rows_from`."""


class Card(_Model):
    intended_use: str = ""
    """What the model is for."""
    data: str = ""
    """What it was trained and evaluated on."""
    out_of_scope: str = ""
    """What it must not be used for."""
    limitations: list[str] = Field(default_factory=list)
    """Known limitations, one per item."""


class Package(_Model):
    name: str | None = None
    """The model's name in release tags and package files (default: the model artifact's name)."""
    model: str | None = None
    """The model artifact in dvc.yaml (`artifacts:`, type `model`; default: the only one)."""
    code: list[str] = Field(default_factory=list)
    """Project files serving needs, copied into the package as committed."""
    adapter: str | None = None
    """The serving adapter among them: defines `input_schema(params)` and `encode(columns, spec)`."""
    flavour: str | None = None
    """The model's framework: lightgbm, xgboost, catboost, sklearn, onnx or custom (default:
    recognised from the file)."""
    files: dict[str, str] = Field(default_factory=dict)
    """Data files the adapter needs: name in the package -> project path."""
    reference: Reference | None = None
    """The rows the model learnt from, which monitoring compares served inputs with."""
    card: Card = Field(default_factory=Card)
    """The model card's text."""


class SearchObjective(_Model):
    metric: str = Field(min_length=1)
    """The metric, named as `graft diff` shows it."""
    direction: Direction
    """`lower` or `higher` is better."""


class Search(_Model):
    """``objective``/``direction``: one validation metric; ``objectives``: several (a
    multi-objective study; then not ``objective``); ``constraints``: metric -> {min, max} on
    validation metrics (None: the gate's bounds, each read at ``validation`` + its key when the
    base has that metric); ``validation``: the key prefix of the validation counterparts of the
    gate's metrics (default: the objective's key less the name of a gate or headline metric it
    ends with, e.g. ``metrics/train.json:valid_`` for ``metrics/train.json:valid_log_loss``)."""

    objective: str | None = None
    """The validation metric `graft exp search` optimises, named as `graft diff` shows it."""
    direction: Direction = "lower"
    """Whether the search minimises (`lower`) or maximises (`higher`) the objective."""
    objectives: list[SearchObjective] = Field(default_factory=list)
    """Several objectives instead of `objective`: a multi-objective study whose Pareto front
    `exp search show` prints and `--keep` keeps."""
    constraints: dict[str, Bound] | None = None
    """Validation metric -> `{min, max}` a trial must satisfy to be kept (default: the gate's
    bounds, read at the `validation` key prefix)."""
    validation: str | None = None
    """The key prefix under which the pipeline writes validation metrics (for the default
    constraints)."""

    @model_validator(mode="after")
    def _one_form(self) -> Search:
        if self.objectives and self.objective is not None:
            raise ValueError("give 'objective' (one metric) or 'objectives' (several), not both")
        keys = [o.metric for o in self.objectives]
        if len(set(keys)) != len(keys):
            raise ValueError("an objective is listed twice in 'objectives'")
        return self


class Data(_Model):
    keys: dict[str, str] = Field(default_factory=dict)
    """Table path (from the project root) -> the column whose values identify a row: `graft data
    diff` matches the rows of two revisions of that table by it."""


class Settings(_Model):
    task: Task = Field(default_factory=Task)
    """What the model predicts."""
    metrics: Metrics = Field(default_factory=Metrics)
    """Which metrics files graft reads and how each metric is judged."""
    gate: Gate = Field(default_factory=Gate)
    """The bounds `graft gate` enforces."""
    predictions: Predictions = Field(default_factory=Predictions)
    """The committed test-set predictions: the report's paired bootstrap, the package's check."""
    fairness: Fairness = Field(default_factory=Fairness)
    """The per-group metrics and sensitive columns."""
    package: Package = Field(default_factory=Package)
    """What the release package carries for serving and monitoring."""
    monitor: dict[str, Any] = Field(default_factory=dict)
    """Monitoring thresholds, packaged with each release (keys below)."""
    stages: list[str] = Field(default_factory=lambda: ["dev", "staging", "prod"])
    """The stages `graft promote` may put a version in (names GTO can write in a tag)."""
    search: Search = Field(default_factory=Search)
    """The objective of `graft exp search`."""
    report: Report = Field(default_factory=Report)
    """How `graft report` judges its table."""
    data: Data = Field(default_factory=Data)
    """The versioned data tables `graft data` reads."""

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
        return (
            TASK_DIRECTIONS.get(metric)
            or TASK_DIRECTIONS.get(split_of(metric)[0])
            or bootstrap_direction(metric)
        )

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


def bootstrap_direction(metric: str) -> Direction | None:
    """Direction of a metric graft bootstraps: ``pr_auc``, per class ``f1.<class>`` (its first
    segment), ``fairness.<column>.<gap>`` (its last), ``abs_error_q90``."""
    segments = metric.split(".")
    for name in (metric, segments[0], segments[-1], metric.split("_q", 1)[0]):
        if name in TASK_DIRECTIONS:
            return TASK_DIRECTIONS[name]
        if name in BOOTSTRAP_DIRECTIONS:
            return BOOTSTRAP_DIRECTIONS[name]
    return None


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
