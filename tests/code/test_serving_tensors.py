"""Raw tensor bytes (gRPC raw contents, the HTTP binary extension): every datatype's layout and
size, BYTES length prefixes, and every malformed tensor a 400 naming the input and its place."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from graft.serving.request import ApiError
from graft.serving.tensors import DATATYPE_BYTES, byte_size, decode, element_count, encode, encode_bytes
from graft.serving.v2 import DATATYPES

LOC = ("inputs", 3)

# (datatype, values at both ends of its range, the struct format of one element)
EXTREMES = [
    ("BOOL", [False, True], "?"),
    ("UINT8", [0, 255], "B"),
    ("UINT16", [0, 65535], "H"),
    ("UINT32", [0, 2**32 - 1], "I"),
    ("UINT64", [0, 2**64 - 1], "Q"),
    ("INT8", [-128, 127], "b"),
    ("INT16", [-(2**15), 2**15 - 1], "h"),
    ("INT32", [-(2**31), 2**31 - 1], "i"),
    ("INT64", [-(2**63), 2**63 - 1], "q"),
    ("FP16", [-65504.0, 0.5], "e"),
    ("FP32", [-3.4028234663852886e38, 1.5], "f"),
    ("FP64", [-1.7976931348623157e308, 2.5e-300], "d"),
]


def refusal(call: object, *args: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        call(*args)  # type: ignore[operator]
    assert info.value.status == 400
    return info.value


def test_every_fixed_size_datatype_has_a_size_and_every_protocol_datatype_is_covered():
    assert set(DATATYPE_BYTES) | {"BYTES"} == set(DATATYPES)
    assert {dt: struct.calcsize(fmt) for dt, _, fmt in EXTREMES} == DATATYPE_BYTES
    assert byte_size(10, "FP64") == 80
    assert byte_size(10, "BYTES") is None


@pytest.mark.parametrize(("datatype", "values", "fmt"), EXTREMES)
def test_values_decode_from_and_encode_to_little_endian_bytes(datatype, values, fmt):
    raw = struct.pack(f"<{len(values)}{fmt}", *values)
    assert encode(values, datatype) == raw
    decoded = decode(raw, [len(values)], datatype, "x", LOC)
    assert decoded == values
    assert [type(v) for v in decoded] == [type(v) for v in values]
    # a memoryview or bytearray (a slice of a larger message) decodes the same
    assert decode(memoryview(b"??" + raw)[2:], [len(values), 1], datatype, "x", LOC) == values
    assert decode(bytearray(raw), [1, len(values)], datatype, "x", LOC) == values


def test_bytes_elements_are_length_prefixed_utf8():
    values = ["red", "", "Privé", "日本", "x" * 300]
    raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    assert encode(values, "BYTES") == raw
    assert encode_bytes(np.array(values, dtype=object)) == raw
    assert decode(raw, [5], "BYTES", "colour", LOC) == values
    ascii_only = ["a", "bb", "", "a"]
    assert decode(encode_bytes(ascii_only), [2, 2], "BYTES", "colour", LOC) == ascii_only
    assert decode(b"", [0], "BYTES", "colour", LOC) == []
    labels = ["<=50K", ">50K", "Privé", "<=50K"] * 3  # few distinct values: encoded once each
    assert encode(labels, "BYTES") == b"".join(
        struct.pack("<I", len(v.encode())) + v.encode() for v in labels
    )
    assert encode_bytes([b"\xff", bytearray(b"ab")]) == b"\x01\0\0\0\xff\x02\0\0\0ab"


@pytest.mark.parametrize(
    ("datatype", "raw", "shape", "message"),
    [
        (
            "INT64",
            b"\0" * 12,
            [2],
            "inputs[3]: input 'age': 12 bytes of tensor data, but shape [2] of INT64 needs 16 "
            "(2 elements of 8 bytes)",
        ),
        (
            "FP32",
            b"\0" * 20,
            [2, 2],
            "inputs[3]: input 'age': 20 bytes of tensor data, but shape [2, 2] of FP32 needs 16 "
            "(4 elements of 4 bytes)",
        ),
        (
            "UINT8",
            b"",
            [1],
            "inputs[3]: input 'age': 0 bytes of tensor data, but shape [1] of UINT8 needs 1 "
            "(1 elements of 1 bytes)",
        ),
    ],
)
def test_a_fixed_size_tensor_must_be_exactly_its_shape_times_its_size(datatype, raw, shape, message):
    error = refusal(decode, raw, shape, datatype, "age", LOC)
    assert error.detail == message
    assert error.errors[0].loc == LOC
    assert error.errors[0].type == "byte_size"


def test_a_huge_shape_is_refused_from_its_size_without_allocating():
    error = refusal(decode, b"\0" * 8, [2**40, 2**40], "FP64", "age", LOC)
    assert (
        "needs 9,671,406,556,917,033,397,649,408 (1,208,925,819,614,629,174,706,176 elements" in error.detail
    )
    error = refusal(decode, b"\0" * 8, [2**40], "BYTES", "colour", LOC)
    assert error.detail == (
        "inputs[3]: input 'colour': 8 bytes of BYTES tensor data cannot hold 1,099,511,627,776 "
        "elements (each needs at least its 4-byte length)"
    )


@pytest.mark.parametrize(
    ("raw", "shape", "message", "kind"),
    [
        (
            struct.pack("<I", 5) + b"red",
            [1],
            "BYTES element 0 is cut short: its length says 5 bytes, 3 remain",
            "truncated",
        ),
        (
            struct.pack("<I", 3) + b"red" + struct.pack("<I", 4) + b"bl",
            [2],
            "BYTES element 1 is cut short: its length says 4 bytes, 2 remain",
            "truncated",
        ),
        (
            struct.pack("<I", 1) + b"a" + b"\0\0" + b"\0\0\0\0",
            [2],
            "2 bytes after the last of its 2 BYTES elements",
            "byte_size",
        ),
        (
            struct.pack("<I", 0) + struct.pack("<I", 0) + b"\0\0\0",
            [2],
            "3 bytes after the last of its 2 BYTES elements",
            "byte_size",
        ),
        (
            struct.pack("<I", 3) + b"red" + struct.pack("<I", 4) + b"blue" + b"\x01\x00",
            [3],
            "BYTES element 2 is cut short: 2 bytes left for its length",
            "truncated",
        ),
        (
            struct.pack("<I", 2) + b"\xc3\x28",
            [1],
            "BYTES element 0 is not UTF-8 text (byte 0xc3 at offset 0: invalid continuation byte)",
            "invalid_text",
        ),
        (
            encode_bytes(["ok", "fine"]) + struct.pack("<I", 3) + b"\xed\xa0\x80",
            [3],
            "BYTES element 2 is not UTF-8 text (byte 0xed at offset 0: invalid continuation byte)",
            "invalid_text",
        ),
    ],
)
def test_malformed_bytes_tensors_are_refused_naming_the_element(raw, shape, message, kind):
    error = refusal(decode, raw, shape, "BYTES", "colour", LOC)
    assert error.detail == f"inputs[3]: input 'colour': {message}"
    assert error.errors[0].type == kind


def test_a_bool_byte_other_than_0_or_1_is_refused():
    error = refusal(decode, b"\x00\x01\x02", [3], "BOOL", "flag", LOC)
    assert error.detail == "inputs[3]: input 'flag': BOOL element 2 is the byte 2; expected 0 or 1"


@pytest.mark.parametrize("shape", [[], [-1], [2.0], ["2"], [True], None, "2", {"n": 2}], ids=repr)
def test_a_shape_must_be_a_list_of_non_negative_whole_numbers(shape):
    error = refusal(decode, b"", shape, "FP64", "age", LOC)
    assert error.detail == (
        f"inputs[3].shape: input 'age': shape {shape!r} is not a list of non-negative whole numbers"
    )
    assert error.errors[0].loc == (*LOC, "shape")


def test_an_unknown_datatype_is_refused_naming_the_input():
    error = refusal(decode, b"\0" * 8, [1], "FLOAT64", "age", ("body", "inputs", 0))
    assert (
        error.detail
        == "body.inputs[0].datatype: input 'age': 'FLOAT64' is not an Open Inference Protocol datatype"
    )
    assert element_count((2, 3), "age", LOC) == 6


def test_encoding_refuses_an_unknown_datatype():
    with pytest.raises(ValueError, match="'FLOAT' is not an Open Inference Protocol datatype"):
        encode([1.0], "FLOAT")


def reference_parse(raw: bytes, count: int) -> list[str] | None:
    """Element by element, as the protocol defines BYTES data; None when malformed."""
    out, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(raw):
            return None
        size = struct.unpack_from("<I", raw, pos)[0]
        pos += 4
        if pos + size > len(raw):
            return None
        out.append(raw[pos : pos + size].decode("utf-8"))
        pos += size
    return out if pos == len(raw) else None


def test_every_fast_path_reads_what_an_element_by_element_parse_reads():
    """Texts holding NULs (even three in a row), empty and long elements, non-ASCII text, and
    data cut or extended by a few bytes: decode agrees with the reference parse, or refuses
    exactly when it finds the data malformed."""
    import random

    rng = random.Random(18)
    alphabet = ["a", "b", "\0", "\0\0\0", "x" * 130, "é", "", "Private"]
    for _ in range(3000):
        count = rng.randint(1, 6)
        values = ["".join(rng.choices(alphabet, k=rng.randint(0, 3))) for _ in range(count)]
        raw = encode_bytes(values)
        cut = rng.choice([0, 0, 0, -1, -3, 1, 4])
        raw = raw[:cut] if cut < 0 else raw + b"\0" * cut
        want = reference_parse(raw, count)
        if want is None:
            with pytest.raises(ApiError):
                decode(raw, [count], "BYTES", "x", LOC)
        else:
            assert decode(raw, [count], "BYTES", "x", LOC) == want, (values, cut)
