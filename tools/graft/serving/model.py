"""Input validation against the package's schema.json and prediction straight from numpy.

* :class:`RecordValidator` is compiled once from schema.json (types, ranges, categories,
  required and extra fields). One record is checked field by field; a list of records is
  checked column by column with set and min/max operations, falling back to a per-value
  scan only to name the first offending record.
* :class:`ServingModel` encodes validated columns with the package's own serving adapter (the
  project code of the commit that trained the model, see graft.release.adapter) and predicts
  with the LightGBM Booster (binary, multiclass or regression); no DataFrame.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from graft.core.errors import GraftError

# Rows above which a prediction uses every core (and runs off the event loop).
BATCH_ROWS = 256
MAX_ERRORS = 20


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class NonFinite:
    """What the JSON parser returns for the NaN/Infinity literals Python's json accepts."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return self.literal


class ServingError(GraftError):
    """The package cannot be served (inconsistent schema, feature spec or model)."""


@dataclass(frozen=True)
class FieldError:
    loc: tuple[str | int, ...]
    msg: str
    type: str

    @property
    def where(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class InvalidInput(Exception):
    """The request body does not satisfy the input schema; carries every error found (capped)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors[:MAX_ERRORS]
        first = self.errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.where}: {first.msg}{more}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # integer | number | string
    nullable: bool
    required: bool
    minimum: float | None
    maximum: float | None
    enum: frozenset[str] | None
    min_length: int | None = None
    max_length: int | None = None

    def check(self, value: Any) -> tuple[str, str] | None:
        """(message, type) when ``value`` breaks the rule, else None."""
        if value is MISSING:
            return ("field required", "missing") if self.required else None
        if value is None:
            return None if self.nullable else ("must not be null", "null")
        if isinstance(value, NonFinite):
            return (f"{value.literal} is not allowed (numbers must be finite)", "non_finite")
        if self.kind == "string":
            if type(value) is not str:
                return (f"must be a string, got {_json_type(value)}", "type")
            if self.enum is not None and value not in self.enum:
                return (f"unknown category {_show(value)}", "unknown_category")
            if self.min_length is not None and len(value) < self.min_length:
                return (f"must have at least {self.min_length} character(s)", "too_short")
            if self.max_length is not None and len(value) > self.max_length:
                return (f"must have at most {self.max_length} characters", "too_long")
            return None
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                return ("must be a finite number", "non_finite")
            if self.kind == "integer" and not value.is_integer():
                return (f"must be an integer, got {_show(value)}", "type")
        elif kind is not int:
            return (
                f"must be {'an integer' if self.kind == 'integer' else 'a number'}, got {_json_type(value)}",
                "type",
            )
        if self.minimum is not None and value < self.minimum:
            return (f"{_show(value)} is less than the minimum {self.minimum}", "range")
        if self.maximum is not None and value > self.maximum:
            return (f"{_show(value)} is greater than the maximum {self.maximum}", "range")
        return None


@dataclass
class RecordValidator:
    """Checks records against a JSON Schema of one flat record (the package's schema.json)."""

    schema: Mapping[str, Any]
    rules: list[Rule] = field(init=False)
    allowed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.schema.get("type") != "object" or not isinstance(self.schema.get("properties"), dict):
            raise ServingError("schema.json: expected an object schema with 'properties'")
        required = set(self.schema.get("required", []))
        rules = []
        for name, prop in self.schema["properties"].items():
            types = prop.get("type")
            types = [types] if isinstance(types, str) else list(types or [])
            kinds = [t for t in types if t != "null"]
            if len(kinds) != 1 or kinds[0] not in ("integer", "number", "string"):
                raise ServingError(f"schema.json: field '{name}' has an unsupported type {types}")
            enum = prop.get("enum")
            rules.append(
                Rule(
                    name=name,
                    kind=kinds[0],
                    nullable="null" in types,
                    required=name in required,
                    minimum=prop.get("minimum"),
                    maximum=prop.get("maximum"),
                    enum=frozenset(v for v in enum if v is not None) if enum is not None else None,
                    min_length=prop.get("minLength"),
                    max_length=prop.get("maxLength"),
                )
            )
        self.rules = rules
        self.allowed = frozenset(r.name for r in rules)
        self.additional = self.schema.get("additionalProperties", True) is not False

    @property
    def columns(self) -> list[str]:
        return [r.name for r in self.rules]

    def _extra(self, record: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[FieldError]:
        if self.additional:
            return []
        return [
            FieldError((*loc, name), "extra field not permitted", "extra_forbidden")
            for name in sorted(set(record) - self.allowed, key=str)
        ]

    def validate_record(self, record: Any, loc: tuple[str | int, ...] = ("body",)) -> dict[str, list[Any]]:
        """One record -> columns of length 1 (None for a missing nullable field)."""
        if type(record) is not dict:
            raise InvalidInput([FieldError(loc, f"must be an object, got {_json_type(record)}", "type")])
        errors = self._extra(record, loc) if record.keys() - self.allowed else []
        columns: dict[str, list[Any]] = {}
        for rule in self.rules:
            value = record.get(rule.name, MISSING)
            problem = rule.check(value)
            if problem is not None:
                errors.append(FieldError((*loc, rule.name), *problem))
            columns[rule.name] = [None if value is MISSING else value]
        if errors:
            raise InvalidInput(errors)
        return columns

    def validate_records(
        self, records: list[Any], loc: tuple[str | int, ...] = ("body",)
    ) -> dict[str, list[Any]]:
        """A list of records -> columns, checked column-wise."""
        if not records:
            raise InvalidInput([FieldError(loc, "at least one record is required", "too_short")])
        if set(map(type, records)) != {dict}:
            i = next(i for i, r in enumerate(records) if type(r) is not dict)
            raise InvalidInput(
                [FieldError((*loc, i), f"must be an object, got {_json_type(records[i])}", "type")]
            )
        if not self.additional and set().union(*records) - self.allowed:
            errors = [e for i, r in enumerate(records) for e in self._extra(r, (*loc, i))]
            raise InvalidInput(errors)
        names = [rule.name for rule in self.rules]
        if len(names) > 1 and set(map(len, records)) == {len(names)}:
            # every record has every field (extra keys were refused above): transpose in C
            rows = map(itemgetter(*names), records)
            columns = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))
        else:
            columns = {name: [r.get(name, MISSING) for r in records] for name in names}
        return self.validate_columns(columns, loc, index=True)

    def validate_columns(
        self, columns: dict[str, list[Any]], loc: tuple[str | int, ...], index: bool = True
    ) -> dict[str, list[Any]]:
        """Equal-length columns (MISSING where a record lacks a field) -> validated columns.

        ``index`` puts the record index in an error's location (body[i].field); otherwise the
        location is the column (inputs.field[i]).
        """
        errors: list[FieldError] = []
        for rule in self.rules:
            values = columns[rule.name]
            if not self._column_ok(rule, values):
                for i, value in enumerate(values):
                    problem = rule.check(value)
                    if problem is not None:
                        where = (*loc, i, rule.name) if index else (*loc, rule.name, i)
                        errors.append(FieldError(where, *problem))
                        if len(errors) >= MAX_ERRORS:
                            raise InvalidInput(errors)
            if MISSING in values:
                columns[rule.name] = [None if v is MISSING else v for v in values]
        if errors:
            raise InvalidInput(errors)
        return columns

    @staticmethod
    def _column_ok(rule: Rule, values: list[Any]) -> bool:
        """Fast whole-column check; False means "scan the values to find what is wrong"."""
        if rule.kind == "string":
            try:
                present = set(values)
            except TypeError:  # unhashable values (lists, objects)
                return False
            if rule.nullable:
                present.discard(None)
            if not rule.required:
                present.discard(MISSING)
            if rule.enum is not None:
                return present <= rule.enum
            return (
                all(type(v) is str for v in present) and rule.min_length is None and rule.max_length is None
            )
        kinds = set(map(type, values))
        if not kinds <= {int}:
            return False
        if rule.minimum is not None and min(values) < rule.minimum:
            return False
        return not (rule.maximum is not None and max(values) > rule.maximum)


# LightGBM objectives (the model file's ``objective=`` line, first word) per task type.
BINARY_OBJECTIVES = ("binary", "cross_entropy", "xentropy")
MULTICLASS_OBJECTIVES = ("multiclass", "multiclassova", "softmax", "ovr", "multiclass_ova", "ova")
NOT_REGRESSION = (
    *BINARY_OBJECTIVES,
    *MULTICLASS_OBJECTIVES,
    "lambdarank",
    "rank_xendcg",
    "cross_entropy_lambda",
)


def model_objective(model_file: Path) -> str:
    """The objective a LightGBM text model was trained with (its ``objective=`` header line)."""
    with model_file.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("objective="):
                words = line.removeprefix("objective=").split()
                return words[0] if words else ""
            if line.startswith("Tree="):
                break
    return ""


def check_task(task: str, objective: str, outputs: int, classes: Sequence[str], model: str) -> None:
    """Refuse a model whose objective or output count is not the configured task's."""
    found = f"{model} is a LightGBM '{objective or 'unknown'}' model with {outputs} output(s)"
    if task == "binary":
        ok = objective in BINARY_OBJECTIVES and outputs == 1
    elif task == "multiclass":
        ok = objective in MULTICLASS_OBJECTIVES and outputs == len(classes)
        if objective in MULTICLASS_OBJECTIVES and outputs != len(classes):
            raise ServingError(
                f"{found}, but settings task.labels list {len(classes)} classes ({', '.join(classes)})"
            )
    else:
        ok = objective not in NOT_REGRESSION and outputs == 1
    if not ok:
        raise ServingError(f"{found}, but the package's task.type is {task}")


@dataclass
class ServingModel:
    """A verified package, ready to predict what its task predicts.

    * binary: ``predict_columns`` gives the positive class's probability, ``labels`` applies
      ``threshold`` (``labels[1]`` at or above it);
    * multiclass: a (records, classes) probability matrix, the label of the largest;
    * regression: the predicted value (no labels, no threshold).

    Features come from the package's own adapter (``encode``), never from installed code.
    """

    name: str
    version: str
    manifest: dict[str, Any]
    spec: dict[str, Any]
    validator: RecordValidator
    task: str
    classes: list[str]
    threshold: float | None
    booster: Any
    adapter: Any
    # with `graft serve --compile`: an LLVM-compiled copy of the trees for large batches
    batch_predict: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def from_package(cls, package: Any, compile_cache: Path | None = None) -> ServingModel:
        """Build from a :class:`graft.release.package.LoadedPackage` (already verified).

        Everything is read into memory here (the package folder may be deleted afterwards).
        With ``compile_cache``, batches above ``BATCH_ROWS`` rows are scored by the model
        compiled with lleaves (cached there by the model's SHA-256): several times faster;
        probabilities agree with LightGBM's to about 1e-15, not bit for bit, so single records
        and small batches keep LightGBM's exact answer.
        """
        import lightgbm as lgb

        manifest = package.manifest
        settings = package.settings
        task = settings.task
        validator = RecordValidator(package.schema)
        spec = package.spec()
        model_file = package.model_file
        booster = lgb.Booster(model_file=str(model_file))
        outputs = booster.num_model_per_iteration()
        if task.type == "binary":
            classes = list(task.labels or ("0", "1"))
        elif task.type == "multiclass":
            classes = list(task.labels or (str(i) for i in range(outputs)))
        else:
            classes = []
        check_task(task.type, model_objective(model_file), outputs, classes, model_file.name)
        adapter = package.adapter()
        try:
            width = adapter.encode({name: [] for name in validator.columns}, spec).shape[1]
        except GraftError:
            adapter.close()
            raise
        if booster.num_feature() != width:
            adapter.close()
            raise ServingError(
                f"{model_file.name} expects {booster.num_feature()} features, the package's "
                f"adapter ({manifest['adapter']}) encodes {width}"
            )
        batch_predict = None
        if compile_cache is not None:
            batch_predict = compiled_predictor(model_file, manifest["files"][model_file.name], compile_cache)
        return cls(
            name=package.name,
            version=package.version,
            manifest=manifest,
            spec=spec,
            validator=validator,
            task=task.type,
            classes=classes,
            threshold=task.threshold if task.type == "binary" else None,
            booster=booster,
            adapter=adapter,
            batch_predict=batch_predict,
        )

    def encode(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Validated columns -> the model's feature matrix, by the package's own code."""
        return self.adapter.encode(columns, self.spec)

    def predict_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Validated columns -> scores, float64: P(positive) (binary), (n, classes) (multiclass), value."""
        matrix = self.encode(columns)
        if len(matrix) <= BATCH_ROWS:
            return self.booster.predict(matrix, num_threads=1)
        if self.batch_predict is not None:
            return self.batch_predict(matrix)
        return self.booster.predict(matrix, num_threads=0)  # 0: LightGBM's default (all cores)

    def labels(self, scores: np.ndarray) -> list[str] | None:
        """The predicted label per record (None for regression, which predicts a value)."""
        if self.task == "binary":
            neg, pos = self.classes
            t = self.threshold
            return [pos if p >= t else neg for p in scores.tolist()]
        if self.task == "multiclass":
            return [self.classes[i] for i in scores.argmax(axis=1).tolist()]
        return None

    def outputs(self, scores: np.ndarray) -> list[dict[str, Any]]:
        """One JSON-ready prediction per record, as the task defines it.

        binary ``{"probability", "label"}``; multiclass ``{"probabilities": {class: p}, "label"}``;
        regression ``{"prediction"}``.
        """
        labels = self.labels(scores)
        if self.task == "binary" and labels is not None:
            return [{"probability": p, "label": lab} for p, lab in zip(scores.tolist(), labels, strict=True)]
        if self.task == "multiclass" and labels is not None:
            return [
                {"probabilities": dict(zip(self.classes, row, strict=True)), "label": lab}
                for row, lab in zip(scores.tolist(), labels, strict=True)
            ]
        return [{"prediction": v} for v in scores.tolist()]

    def output_columns(self, scores: np.ndarray) -> dict[str, Any]:
        """The same predictions column-wise (prediction log, Open Inference Protocol outputs)."""
        labels = self.labels(scores)
        if self.task == "regression" or labels is None:
            return {"prediction": scores.tolist()}
        return {"probability": scores.tolist(), "label": labels}


def compiled_predictor(model_file: Path, sha256: str, cache_dir: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Compile the trees to machine code with lleaves (once per model; cached by SHA-256)."""
    try:
        import lleaves
    except ImportError:
        raise ServingError("--compile needs lleaves: pip install 'graft[fast]'") from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    compiled = lleaves.Model(model_file=str(model_file))
    compiled.compile(cache=str(cache_dir / f"{sha256}.so"))
    jobs = os.cpu_count() or 1
    return lambda matrix: compiled.predict(matrix, n_jobs=jobs)
