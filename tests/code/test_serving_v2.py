"""Open Inference Protocol tensors: every protocol datatype against every schema type, values that
do not fit their datatype, and the tensor shapes; each fault a 422 naming the tensor and input."""

from __future__ import annotations

import pytest

from graft.serving.request import ApiError
from graft.serving.v2 import ACCEPTED, DATATYPES, columns_from_tensors
from graft.serving.validator import InvalidInput, RecordValidator

# a schema with one field of each type (graft schemas have no boolean field)
SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 0, "maximum": 1000},
        "ratio": {"type": ["number", "null"]},
        "colour": {"type": ["string", "null"], "enum": ["red", "blue", None]},
    },
    "required": ["count"],
    "additionalProperties": False,
}
VALUES = {"count": [3, 4], "ratio": [2, 0], "colour": ["red", None]}  # whole ratios fit INT8
KINDS = {"count": "integer", "ratio": "number", "colour": "string"}
PROTOCOL = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")
PROTOCOL += ("FP16", "FP32", "FP64", "BYTES")


@pytest.fixture(scope="module")
def validator() -> RecordValidator:
    return RecordValidator(SCHEMA)


def tensor(name: str, datatype: object, data: list | None = None) -> dict:
    data = VALUES[name] if data is None else data
    return {"name": name, "shape": [len(data)], "datatype": datatype, "data": data}


def request(**overrides: dict) -> dict:
    inputs = [overrides.get(name) or tensor(name, ACCEPTED[KINDS[name]][-1]) for name in VALUES]
    return {"inputs": inputs}


def refused(payload: dict, validator: RecordValidator) -> ApiError:
    with pytest.raises(ApiError) as info:
        columns_from_tensors(payload, validator)
    assert info.value.status == 422 and "\n" not in info.value.detail
    return info.value


def test_the_datatypes_are_the_protocols():
    assert DATATYPES == PROTOCOL
    assert ACCEPTED["string"] == ("BYTES",)
    assert "BOOL" not in {d for accepted in ACCEPTED.values() for d in accepted}
    assert not {"FP16", "BYTES"} & set(ACCEPTED["integer"])
    assert {"FP16", "FP32", "FP64", "INT64", "UINT8"} <= set(ACCEPTED["number"])


@pytest.mark.parametrize("datatype", PROTOCOL)
@pytest.mark.parametrize("name", list(VALUES))
def test_each_datatype_is_accepted_exactly_where_it_carries_the_field(validator, name, datatype):
    payload = request(**{name: tensor(name, datatype)})
    if datatype in ACCEPTED[KINDS[name]]:
        columns, n = columns_from_tensors(payload, validator)
        assert (
            n == 2
            and validator.validate_columns(columns, ("body", "inputs"), index=False)[name] == VALUES[name]
        )
    else:
        error = refused(payload, validator)
        i = list(VALUES).index(name)
        assert error.detail.startswith(f"body.inputs[{i}].datatype: {datatype} cannot carry input '{name}'")
        assert error.errors[0].loc == ("body", "inputs", i, "datatype")


@pytest.mark.parametrize("datatype", ["FLOAT", "int64", "Int64", "STRING", "", "FP128", 64, None, ["INT64"]])
def test_an_unknown_or_missing_datatype_is_refused_naming_the_input(validator, datatype):
    bad = tensor("count", datatype)
    if datatype is None:
        del bad["datatype"]
    error = refused(request(count=bad), validator)
    assert error.detail.startswith("body.inputs[0].datatype: ")
    assert "'count'" in error.detail and "expected one of UINT8" in error.detail
    if datatype is not None:
        assert "is not an Open Inference Protocol datatype" in error.detail


@pytest.mark.parametrize(
    ("name", "datatype", "data", "bad", "reason"),
    [
        ("count", "INT8", [3, 300], 1, "outside -128..127"),
        ("count", "UINT8", [-1, 3], 0, "outside 0..255"),
        ("count", "INT32", [3, 2**31], 1, "outside -2147483648..2147483647"),
        ("count", "UINT64", [3, float(2**64)], 1, "outside 0..18446744073709551615"),  # as orjson reads 2**64
        ("ratio", "INT64", [0.5, 2], 0, "not a whole number"),
        ("ratio", "UINT16", [1, 2.5], 1, "not a whole number"),
        ("ratio", "FP16", [1.0, 70000.0], 1, "its largest finite magnitude is 65504"),
        ("ratio", "FP32", [-1e39, 1.0], 0, "its largest finite magnitude is 3.40282e+38"),
    ],
)
def test_a_value_that_does_not_fit_its_datatype_is_refused(validator, name, datatype, data, bad, reason):
    error = refused(request(**{name: tensor(name, datatype, data)}), validator)
    i = list(VALUES).index(name)
    assert error.detail.startswith(f"body.inputs[{i}].datatype: input '{name}' value {bad} (")
    assert f"does not fit {datatype}: {reason}" in error.detail


def test_values_of_the_wrong_type_are_left_to_the_validator(validator):
    payload = request(count=tensor("count", "INT64", [3, "x"]), colour=tensor("colour", "BYTES", ["red", 5]))
    columns, _ = columns_from_tensors(payload, validator)
    with pytest.raises(InvalidInput) as info:
        validator.validate_columns(columns, ("body", "inputs"), index=False)
    assert [e.where for e in info.value.errors] == ["body.inputs.count[1]", "body.inputs.colour[1]"]


def test_whole_floats_in_a_float_tensor_carry_an_integer(validator):
    columns, _ = columns_from_tensors(request(count=tensor("count", "FP64", [3.0, 4.0])), validator)
    assert validator.validate_columns(columns, ("body", "inputs"), index=False)["count"] == [3.0, 4.0]


def test_nulls_and_absent_nullable_inputs(validator):
    payload = {"inputs": [tensor("count", "INT32"), tensor("ratio", "FP64", [None, 1.5])]}
    columns, n = columns_from_tensors(payload, validator)
    columns = validator.validate_columns(columns, ("body", "inputs"), index=False)
    assert n == 2 and columns == {"count": [3, 4], "ratio": [None, 1.5], "colour": [None, None]}


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({}, "body.inputs: expected a non-empty list"),
        ({"inputs": []}, "body.inputs: expected a non-empty list"),
        ({"inputs": [5]}, "body.inputs[0]: expected an object"),
        ({"inputs": [tensor("weight", "FP64", [1.0, 2.0])]}, "body.inputs[0].name: unknown input 'weight'"),
        ({"inputs": [tensor("count", "INT64"), tensor("count", "INT64")]}, "input 'count' given twice"),
        (
            {"inputs": [dict(tensor("count", "INT64"), shape=[3])]},
            "body.inputs[0].shape: expected [2] or [2, 1]",
        ),
        ({"inputs": [dict(tensor("count", "INT64"), shape=[2, 2])]}, "body.inputs[0].shape"),
        ({"inputs": [dict(tensor("count", "INT64"), data=5)]}, "body.inputs[0].data: expected a list"),
        (
            {"inputs": [tensor("count", "INT64"), tensor("ratio", "FP64", [1.0])]},
            "body.inputs[1].data: 1 values, other inputs have 2",
        ),
        ({"inputs": [tensor("count", "INT64", [])]}, "body.inputs: no values"),
    ],
)
def test_tensor_faults_name_the_tensor(validator, payload, needle):
    assert needle in refused(payload, validator).detail
