"""The record validator compiled from the package's input schema (built here from params.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from graft.serving.validator import InvalidInput, NonFinite, RecordValidator
from stages.serving import input_schema  # the reference project's serving adapter
from tests.samples import RECORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validator() -> RecordValidator:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # round-trip through JSON as the package does
    return RecordValidator(json.loads(json.dumps(input_schema(params))))


def test_valid_record_becomes_columns(validator):
    columns = validator.validate_record(dict(RECORD, workclass=None))
    assert columns["age"] == [39] and columns["workclass"] == [None]
    omitted = {k: v for k, v in RECORD.items() if k != "occupation"}
    assert validator.validate_record(omitted)["occupation"] == [None]
    assert validator.validate_record(dict(RECORD, age=39.0))["age"] == [
        39.0
    ]  # JSON Schema: 39.0 is an integer


@pytest.mark.parametrize(
    ("change", "where", "kind"),
    [
        ({"age": "39"}, "body.age", "type"),
        ({"age": True}, "body.age", "type"),
        ({"age": 39.5}, "body.age", "type"),
        ({"age": 91}, "body.age", "range"),
        ({"capital_loss": -1}, "body.capital_loss", "range"),
        ({"age": NonFinite("NaN")}, "body.age", "non_finite"),
        ({"age": float("inf")}, "body.age", "non_finite"),
        ({"sex": "Robot"}, "body.sex", "unknown_category"),
        ({"sex": None}, "body.sex", "null"),
        ({"sex": ["Male"]}, "body.sex", "type"),
        ({"bonus": 1}, "body.bonus", "extra_forbidden"),
    ],
)
def test_single_record_errors_name_the_field(validator, change, where, kind):
    with pytest.raises(InvalidInput) as info:
        validator.validate_record(dict(RECORD, **change))
    assert info.value.errors[0].where == where and info.value.errors[0].type == kind
    assert str(info.value).startswith(where)


def test_missing_required_field(validator):
    record = {k: v for k, v in RECORD.items() if k != "race"}
    with pytest.raises(InvalidInput, match=r"body\.race: field required"):
        validator.validate_record(record)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"age": "39"}, "body[7].age"),
        ({"education": "PhD"}, "body[7].education"),
        ({"hours_per_week": 0}, "body[7].hours_per_week"),
        ({"native_country": {"a": 1}}, "body[7].native_country"),
        ({"extra": 1}, "body[7].extra"),
        ({"fnlwgt": NonFinite("Infinity")}, "body[7].fnlwgt"),
    ],
)
def test_batch_errors_name_record_and_field(validator, change, where):
    records = [dict(RECORD) for _ in range(10)]
    records[7].update(change)
    with pytest.raises(InvalidInput) as info:
        validator.validate_records(records)
    assert info.value.errors[0].where == where


def test_batch_column_wise_equals_record_wise(validator):
    records = [dict(RECORD, age=17 + i, workclass=None if i % 3 == 0 else "Private") for i in range(50)]
    records[4].pop("occupation")
    columns = validator.validate_records(records)
    for i, record in enumerate(records):
        one = validator.validate_record(record)
        assert {k: v[0] for k, v in one.items()} == {k: v[i] for k, v in columns.items()}


def test_batch_rejects_non_records_and_empty(validator):
    with pytest.raises(InvalidInput, match=r"body\[1\]: must be an object"):
        validator.validate_records([RECORD, [1, 2]])
    with pytest.raises(InvalidInput, match="at least one record"):
        validator.validate_records([])


def test_errors_are_capped(validator):
    records = [dict(RECORD, age="x") for _ in range(1000)]
    with pytest.raises(InvalidInput) as info:
        validator.validate_records(records)
    assert len(info.value.errors) == 20


def test_free_text_must_not_hold_nul():
    """A string field without an enum (another project's schema; feedback's request_id) refuses
    U+0000, which PostgreSQL text cannot store; elsewhere any Unicode text is accepted."""
    text = RecordValidator(
        {
            "type": "object",
            "properties": {"note": {"type": ["string", "null"]}, "n": {"type": "integer"}},
            "required": ["n"],
        }
    )
    assert text.validate_record({"n": 1, "note": "caf\u00e9 \U0001f600"})["note"] == ["caf\u00e9 \U0001f600"]
    with pytest.raises(InvalidInput) as info:
        text.validate_record({"n": 1, "note": "a\x00b"})
    assert str(info.value) == "body.note: must not contain U+0000 (NUL)"
    records = [{"n": i, "note": "ok"} for i in range(5)] + [{"n": 5, "note": "\x00"}]
    with pytest.raises(InvalidInput) as info:
        text.validate_records(records)
    assert info.value.errors[0].where == "body[5].note" and info.value.errors[0].type == "invalid_text"
