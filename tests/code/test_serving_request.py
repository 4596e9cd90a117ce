"""The API's body parser and Content-Type check: UTF-8 JSON only, no repeated key, only Unicode text.

Each class of bad input is tried in several forms (every encoding and byte order mark, keys and
values, every depth, the fast and the slow parsing path), as a new client's bad day would
produce them.
"""

from __future__ import annotations

import json

import orjson
import pytest

from graft.serving.request import ApiError, check_content_encoding, check_content_type, parse_json
from graft.serving.validator import NonFinite
from tests.samples import RECORD

RECORD_TEXT = json.dumps(RECORD, ensure_ascii=False)
BATCH_TEXT = json.dumps([RECORD, RECORD], ensure_ascii=False)


def refused(body: bytes) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_json(body)
    error = info.value
    assert "\n" not in error.detail
    orjson.dumps({"detail": error.detail, "errors": [e.as_dict() for e in error.errors]})  # sendable
    return error


# --- encodings ------------------------------------------------------------------------------

BOM_ENCODINGS = [("utf-8-sig", "UTF-8"), ("utf-16", "UTF-16LE"), ("utf-32", "UTF-32LE")]
EXPLICIT_BOMS = [
    ("utf-16-be", b"\xfe\xff", "UTF-16BE"),
    ("utf-16-le", b"\xff\xfe", "UTF-16LE"),
    ("utf-32-be", b"\x00\x00\xfe\xff", "UTF-32BE"),
    ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32LE"),
]
NO_BOM = [
    ("utf-16-le", "UTF-16LE"),
    ("utf-16-be", "UTF-16BE"),
    ("utf-32-le", "UTF-32LE"),
    ("utf-32-be", "UTF-32BE"),
]
TEXTS = [RECORD_TEXT, BATCH_TEXT, "5", '"x"', "{}"]


@pytest.mark.parametrize("text", TEXTS, ids=["record", "list", "number", "string", "empty-object"])
@pytest.mark.parametrize(("codec", "name"), BOM_ENCODINGS)
def test_a_byte_order_mark_is_refused_naming_it(text, codec, name):
    error = refused(text.encode(codec))
    assert error.status == 400
    assert f"starts with a {name} byte order mark" in error.detail and "UTF-8 JSON only" in error.detail


@pytest.mark.parametrize("text", TEXTS, ids=["record", "list", "number", "string", "empty-object"])
@pytest.mark.parametrize(("codec", "bom", "name"), EXPLICIT_BOMS)
def test_every_byte_order_mark(text, codec, bom, name):
    error = refused(bom + text.encode(codec))
    assert error.status == 400 and f"{name} byte order mark" in error.detail


@pytest.mark.parametrize("text", TEXTS, ids=["record", "list", "number", "string", "empty-object"])
@pytest.mark.parametrize(("codec", "name"), NO_BOM)
def test_utf16_and_utf32_without_a_mark_are_recognised(text, codec, name):
    error = refused(text.encode(codec))
    assert error.status == 400 and f"looks like {name}" in error.detail and "UTF-8 JSON only" in error.detail


@pytest.mark.parametrize(
    ("body", "offset", "byte"),
    [
        (RECORD_TEXT.replace("Bachelors", "Bachelors\u00e9").encode("latin-1"), None, "0xe9"),
        (b'{"a": "\xed\xa0\x80"}', 7, "0xed"),  # a surrogate encoded in UTF-8 (CESU-8)
        (b'{"a": "\xc0\xaf"}', 7, "0xc0"),  # overlong
        (b'{"a": "\xe2\x82"}', 7, "0xe2"),  # truncated sequence
        (b'["\xff"]', 2, "0xff"),
    ],
    ids=["latin-1", "encoded-surrogate", "overlong", "truncated", "0xff"],
)
def test_bytes_that_are_not_utf8_are_refused_with_their_offset(body, offset, byte):
    error = refused(body)
    assert error.status == 400 and "not valid UTF-8" in error.detail and f"byte {byte}" in error.detail
    if offset is not None:
        assert f"at offset {offset}" in error.detail


def test_a_nul_byte_outside_any_encoding_pattern_is_named():
    error = refused(b"[1]\x00")
    assert error.status == 400 and "NUL byte at offset 3" in error.detail


def test_utf8_text_is_accepted_as_itself():
    assert parse_json('{"k": "caf\u00e9 \U0001f600", "\u00e9": 1}'.encode()) == {
        "k": "caf\u00e9 \U0001f600",
        "\u00e9": 1,
    }
    assert parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"  # an escaped surrogate pair is one character


# --- lone surrogates and U+0000 -------------------------------------------------------------

LONE = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\udc00\\ud800", "\\ud800\\ud800", "x\\ud83d"]


@pytest.mark.parametrize("escape", LONE)
@pytest.mark.parametrize(
    ("template", "where"),
    [
        ('{{"request_id": "{s}", "outcome": ">50K"}}', "body.request_id"),
        ('[{{"a": 1}}, {{"a": "{s}"}}]', "body[1].a"),
        ('{{"inputs": [{{"name": "a", "data": ["ok", "{s}"]}}]}}', "body.inputs[0].data[1]"),
        ('"{s}"', "body"),
    ],
    ids=["value", "record-in-list", "deep", "scalar"],
)
def test_a_lone_surrogate_in_a_value_is_refused_naming_the_field(template, where, escape):
    error = refused(template.format(s=escape).encode())
    assert error.status == 400
    assert error.detail.startswith(f"{where}: string contains a lone surrogate \\u")
    assert error.errors[0].type == "invalid_text"


@pytest.mark.parametrize("escape", LONE)
@pytest.mark.parametrize(
    ("template", "where"),
    [
        ('{{"{s}": 1}}', "body"),
        ('[{{"age": 1}}, {{"age": 2, "{s}": 3}}]', "body[1]"),
        ('{{"a": {{"{s}": 1}}}}', "body.a"),
    ],
    ids=["top", "record-in-list", "nested"],
)
def test_a_lone_surrogate_in_a_key_is_refused_naming_the_object(template, where, escape):
    error = refused(template.format(s=escape).encode())
    assert error.status == 400
    assert error.detail.startswith(f"{where}: key '") and "lone surrogate" in error.detail


def test_nul_characters_are_text_to_the_parser():
    """U+0000 is a Unicode character: the validator refuses it in free text (PostgreSQL cannot
    store it), enum fields never hold it."""
    assert parse_json(b'{"a": "x\\u0000", "\\u0000": 1}') == {"a": "x\x00", "\x00": 1}
    assert parse_json(b'{"a": "\\\\u0000"}') == {"a": "\\u0000"}  # an escaped backslash, then text


# --- duplicate keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (RECORD_TEXT[:-1] + ', "age": 50}', "body.age"),
        (f'[{RECORD_TEXT}, {RECORD_TEXT[:-1]}, "sex": "Female"}}]', "body[1].sex"),
        ('{"a": {"b": [{"c": 1, "c": 1}]}}', "body.a.b[0].c"),  # equal values: still twice
        ('{"a": 1, "\\u0061": 2}', "body.a"),  # the same key spelt two ways
        ('{"a": "x:y", "a": 1}', "body.a"),  # a ':' in a string: the slow path finds it
        ('{"a": NaN, "a": 1}', "body.a"),  # orjson refuses NaN: the slow path finds it
        ('{"inputs": [{"name": "age", "name": "sex"}]}', "body.inputs[0].name"),
        ('{"request_id": "x", "request_id": "y", "outcome": ">50K"}', "body.request_id"),
    ],
    ids=[
        "record",
        "record-in-list",
        "deep-equal-values",
        "escaped-spelling",
        "colon-in-string",
        "nan",
        "v2",
        "feedback",
    ],
)
def test_a_key_given_twice_is_refused_naming_it(body, where):
    error = refused(body.encode())
    assert error.status == 400
    assert error.detail == f"{where}: key given more than once"
    assert error.errors[0].type == "duplicate_key"


def test_the_first_fault_in_document_order_is_named():
    error = refused(b'[{"a": 1}, {"b": 1, "b": 2}, {"c": "\\ud800"}]')
    assert error.detail.startswith("body[1].b:")


@pytest.mark.parametrize(
    "value",
    [
        RECORD,
        [RECORD, dict(RECORD, age=50)],
        {"a": "x:y", "b": {"c": [1, {"d": ":"}]}, "e": []},  # colons in strings, nesting
        {"Age": 1, "age": 2},  # keys differ by case
        {"inputs": [{"name": "age", "shape": [2], "datatype": "INT64", "data": [1, 2]}]},
        [[], {}, [{}], "::", 1.5, None, True],
        {"k": "caf\u00e9", "\U0001f600": ["\u00e9:\u00e9"]},
    ],
    ids=["record", "list", "nested-colons", "case", "v2", "mixed", "unicode"],
)
def test_valid_json_parses_as_orjson_reads_it(value):
    body = json.dumps(value, ensure_ascii=False).encode()
    assert parse_json(body) == orjson.loads(body) == value
    ascii_body = json.dumps(value, ensure_ascii=True).encode()  # escapes: \u00e9, surrogate pairs
    assert parse_json(ascii_body) == value


# --- numbers and syntax -------------------------------------------------------------------------


def test_non_finite_literals_reach_the_validator_named():
    parsed = parse_json(b'{"a": NaN, "b": [Infinity, -Infinity], "c": 1e400}')
    assert isinstance(parsed["a"], NonFinite) and parsed["a"].literal == "NaN"
    assert [x.literal for x in parsed["b"]] == ["Infinity", "-Infinity"]
    assert parsed["c"] == float("inf")  # the validator refuses it as not finite


@pytest.mark.parametrize("nan", [False, True], ids=["orjson", "standard-library"])
def test_integers_are_read_the_same_on_both_paths(nan):
    numbers = [2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**30]
    texts = [*map(str, numbers), "9" * 5000]  # more digits than Python's int() converts
    body = ("[" + ", ".join(texts) + (", NaN" if nan else "") + "]").encode()
    parsed = parse_json(body)[: len(texts)]
    assert parsed[:3] == numbers[:3] and all(type(x) is int for x in parsed[:3])
    assert parsed[3:6] == [float(2**64), float(-(2**63) - 1), 1e30]
    assert parsed[6] == float("inf")
    orjson.dumps(parsed[:6])  # everything parsed can be written to the log again


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"age": 39,', "malformed JSON: Expecting"),
        (RECORD_TEXT.encode() + b"x", "malformed JSON: Extra data at line 1"),
        (b"", "empty request body"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"{'age': 39}", "malformed JSON: Expecting property name"),
    ],
)
def test_malformed_json_is_a_400_with_the_position(body, needle):
    error = refused(body)
    assert error.status == 400 and needle in error.detail


# --- Content-Type -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json;",
    ],
)
def test_json_content_types_are_accepted(value):
    assert check_content_type([value]) == "application/json"


def test_no_content_type_is_json_and_octet_stream_only_where_asked_for():
    assert check_content_type([]) == "application/json"
    assert check_content_type([], octet_stream=True) == "application/json"
    assert check_content_type(["application/octet-stream"], octet_stream=True) == "application/octet-stream"
    assert check_content_type(["Application/Octet-Stream"], octet_stream=True) == "application/octet-stream"
    with pytest.raises(ApiError) as info:
        check_content_type(["application/octet-stream"])
    assert info.value.status == 415
    assert info.value.detail == (
        "Content-Type 'application/octet-stream' is not supported: send the body as application/json"
    )
    with pytest.raises(ApiError) as info:
        check_content_type(["text/plain"], octet_stream=True)
    assert info.value.detail == (
        "Content-Type 'text/plain' is not supported: send the body as application/json or "
        "application/octet-stream"
    )


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ([""], "Content-Type '' is not supported"),
        (["text/plain"], "Content-Type 'text/plain' is not supported"),
        (["text/plain; charset=utf-8"], "'text/plain; charset=utf-8' is not supported"),
        (["application/x-www-form-urlencoded"], "'application/x-www-form-urlencoded' is not supported"),
        (["multipart/form-data; boundary=x"], "'multipart/form-data; boundary=x' is not supported"),
        (["application/json-patch+json"], "is not supported"),
        (["application/jsonl"], "is not supported"),
        (["text/json"], "is not supported"),
        (["application/json; charset=utf-16"], "charset 'utf-16' is not supported"),
        (["application/json; charset=latin-1"], "charset 'latin-1' is not supported"),
        (["application/json; charset="], "charset '' is not supported"),
        (["application/json; profile=x"], "parameter 'profile=x' is not supported"),
        (["application/json", "application/json"], "given 2 times"),
    ],
)
def test_anything_but_json_is_a_415(values, needle):
    with pytest.raises(ApiError) as info:
        check_content_type(values)
    assert info.value.status == 415 and needle in info.value.detail


@pytest.mark.parametrize(
    ("values", "named"), [(["gzip"], "'gzip'"), (["br"], "'br'"), (["identity, deflate"], "'deflate'")]
)
def test_a_content_coded_body_is_a_415(values, named):
    with pytest.raises(ApiError) as info:
        check_content_encoding(values)
    assert info.value.status == 415
    assert info.value.detail == f"Content-Encoding {named} is not supported: send the body uncompressed"


def test_no_or_identity_content_coding_is_accepted():
    check_content_encoding([])
    check_content_encoding(["identity"])


# --- the request clock (graft.serving.protocol.Deadline) -------------------------------------------


def run_deadline(actions: list[str], seconds: float = 0.05, after: float = 0.3) -> list[str]:
    """Drive a Deadline on a real event loop: each action ("start"/"stop") in turn, ``seconds``/2
    apart, then wait ``after``; the events seen (each expiry as "expired")."""
    import asyncio

    from graft.serving.protocol import Deadline

    seen: list[str] = []

    async def main() -> None:
        deadline = Deadline(asyncio.get_running_loop(), seconds, lambda: seen.append("expired"))
        for action in actions:
            getattr(deadline, action)()
            seen.append(f"{action}:{'running' if deadline.running else 'idle'}")
            await asyncio.sleep(seconds / 2)
        await asyncio.sleep(after)
        seen.append("running" if deadline.running else "idle")

    asyncio.run(main())
    return seen


def test_a_request_clock_not_stopped_expires_once():
    pytest.importorskip("httptools")
    assert run_deadline(["start"]) == ["start:running", "expired", "idle"]


def test_a_request_clock_stopped_in_time_never_expires():
    pytest.importorskip("httptools")
    assert run_deadline(["start", "stop"]) == ["start:running", "stop:idle", "idle"]


def test_a_request_clock_restarted_counts_from_the_restart():
    """Started four times half its time apart, then stopped: it would have expired twice over had
    a start not reset it."""
    pytest.importorskip("httptools")
    seen = run_deadline(["start"] * 4 + ["stop"], seconds=1.0, after=0.2)
    assert seen == ["start:running"] * 4 + ["stop:idle", "idle"]


def test_the_request_time_follows_its_variable(monkeypatch):
    pytest.importorskip("httptools")
    from graft.core.errors import UsageError
    from graft.serving.protocol import HeadBounds

    monkeypatch.setenv("GRAFT_LIMIT_REQUEST_SECONDS", "7")
    bounds = HeadBounds.now()
    assert bounds.seconds == 7
    assert bounds.too_slow == "request not received in full within 7 s (GRAFT_LIMIT_REQUEST_SECONDS)"
    monkeypatch.setenv("GRAFT_LIMIT_REQUEST_SECONDS", "0")
    with pytest.raises(
        UsageError, match=r"GRAFT_LIMIT_REQUEST_SECONDS='0': expected a positive whole number"
    ):
        HeadBounds.now()
