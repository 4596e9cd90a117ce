"""The record validator compiled once from the package's schema.json.

* :class:`RecordValidator` checks types, ranges, categories, string lengths, required and extra
  fields. One record is checked field by field; a list of records is checked column by column
  with set and min/max operations, falling back to a per-value scan only to name the first
  offending record.
* Every problem is a :class:`FieldError` whose location names the field (``body[3].size``);
  :class:`InvalidInput` carries up to ``MAX_ERRORS`` of them and reads as the first one.
* Values come from the strict JSON parser (:mod:`graft.serving.request`): ``NaN``/``Infinity``
  literals arrive as :class:`NonFinite` so they can be refused naming their field.

No numpy, no FastAPI: this module is pure Python.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any

from graft.core.errors import GraftError

MAX_ERRORS = 20


class ServingError(GraftError):
    """The package cannot be served (inconsistent schema, feature spec or model)."""


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


def show(value: Any) -> str:
    """A short repr of a value for a message (non-printable characters escaped)."""
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
                return (f"unknown category {show(value)}", "unknown_category")
            if "\x00" in value:
                return ("must not contain U+0000 (NUL)", "invalid_text")
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
                return (f"must be an integer, got {show(value)}", "type")
        elif kind is not int:
            return (
                f"must be {'an integer' if self.kind == 'integer' else 'a number'}, got {_json_type(value)}",
                "type",
            )
        if self.minimum is not None and value < self.minimum:
            return (f"{show(value)} is less than the minimum {self.minimum}", "range")
        if self.maximum is not None and value > self.maximum:
            return (f"{show(value)} is greater than the maximum {self.maximum}", "range")
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
        extra = heapq.nsmallest(MAX_ERRORS, record.keys() - self.allowed, key=str)  # the first, sorted
        return [FieldError((*loc, name), "extra field not permitted", "extra_forbidden") for name in extra]

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
            found = (e for i, r in enumerate(records) for e in self._extra(r, (*loc, i)))
            raise InvalidInput(list(islice(found, MAX_ERRORS)))  # no more are reported
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
                all(type(v) is str and "\x00" not in v for v in present)
                and rule.min_length is None
                and rule.max_length is None
            )
        kinds = set(map(type, values))
        if not kinds <= {int}:
            return False
        if rule.minimum is not None and min(values) < rule.minimum:
            return False
        return not (rule.maximum is not None and max(values) > rule.maximum)
