"""graft's own settings for a project: ``graft.yaml`` at the project root, typed and validated.

Every key has a documented default; a project without ``graft.yaml`` runs on defaults inferred
from ``dvc.yaml`` and the params files (:func:`graft.project.infer.infer`), and ``graft init``
writes them down.
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
import posixpath
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from graft.core.errors import ParamsError

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
# Directions of the other metrics graft bootstraps from predictions (graft.compare.scorers).
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

# Key segments naming a data split (dvclive's {"roc_auc": {"train": .., "test": ..}}), best
# headline first: held-out test data over validation over training.
SPLITS = ("test", "holdout", "valid", "validation", "val", "eval", "dev", "train", "training")


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


def project_relative(path: str) -> str:
    """A path setting as written, when it names a place inside the project: refused when absolute
    (``/etc/passwd``, ``~/x``, ``C:/x``) or when it leaves the project root after normalisation
    (``../x``, ``data/../../x``); kept normalised (``./a/../b.json`` -> ``b.json``). Every path
    field of :class:`Settings` is of this type."""
    if not path.strip():
        raise ValueError("an empty path")
    posix = path.replace("\\", "/")
    if posix.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", posix):
        raise ValueError("an absolute path: give one relative to the project root")
    normal = posixpath.normpath(posix)
    if normal == ".." or normal.startswith("../"):
        raise ValueError("a path leaving the project root: give one inside it")
    return normal


ProjectPath = Annotated[str, AfterValidator(project_relative)]
"""A path from the project root that stays inside it (see :func:`project_relative`)."""


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
    file: ProjectPath | None = None
    """The headline metrics file (its keys are shown bare); default: the metrics file dvc.yaml declares."""
    files: list[ProjectPath] | None = None
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
    path: ProjectPath | None = None
    """The committed test-set predictions table (default: a stage output named like predictions)."""
    id: str = "row_id"
    """Its id column: rows of two revisions are paired on it."""
    label: str = "label"
    """Its true-label column (regression: the true value); also the outcome `graft replay` sends
    by default."""
    score: str | list[str] = "proba"
    """Its score column: the positive class's probability, the prediction (regression), or one
    probability column per class in `task.labels` order (multiclass)."""
    inputs: ProjectPath | None = None
    """A table of those rows' raw inputs, with the id column, from which `graft package`
    reproduces the predictions (default: the reference table when it holds them)."""
    tolerance: float = Field(1e-6, ge=0)
    """How far a reproduced prediction may differ from the committed one (absolute)."""
    groups: ProjectPath | None = None
    """A table with the id column and the `fairness.columns`, joined to the predictions by id so
    the report can bootstrap fairness gaps (default: the predictions file, then the package's
    reference table when it is in the local DVC cache)."""


class Fairness(_Model):
    file: ProjectPath | None = None
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
    path: ProjectPath
    """A Parquet or CSV table holding the raw input columns."""
    rows_from: ProjectPath | None = None
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
    code: list[ProjectPath] = Field(default_factory=list)
    """Project files serving needs, copied into the package as committed."""
    adapter: ProjectPath | None = None
    """The serving adapter among them: defines `input_schema(params)` and `encode(columns, spec)`."""
    flavour: str | None = None
    """The model's framework: lightgbm, xgboost, catboost, sklearn, onnx or custom (default:
    recognised from the file)."""
    files: dict[str, ProjectPath] = Field(default_factory=dict)
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
    keys: dict[ProjectPath, str] = Field(default_factory=dict)
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


def refuse_non_text_keys(node: Any, where: str, path: str = "") -> None:
    """Refuse a mapping key that is not text (``1:``, ``true:``, ``null:``) anywhere in ``node``,
    naming the key's dotted path and ``where``: graft's settings are keyed by names, and keys of
    mixed types cannot even be ordered."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            if not isinstance(k, str):
                at = f"'{path}{k!r}'" if path else repr(k)
                kind = "null" if k is None else "a boolean" if isinstance(k, bool) else "a number"
                raise ParamsError(f"{where}: key {at} is {kind}, not text; quote it if it is a name")
            refuse_non_text_keys(v, where, f"{path}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            refuse_non_text_keys(v, where, f"{path}{i}.")


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
        referred = f"{where}: '{path.rstrip('.')}' refers to params.yaml '{match.group(1)}', where"
        refuse_non_text_keys(key, referred)
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
    refuse_non_text_keys(document, where)
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
