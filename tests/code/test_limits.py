"""Every bound in graft.core.limits: each is read from its variable, and each document bound holds
at its value and refuses one past it (with the limit lowered through its environment variable, so
the cases stay small). The documentation's limits page, generated from the same table, is checked
by tests/code/test_docs.py."""

from __future__ import annotations

import pytest

from graft.core import limits
from graft.core.errors import DataError, UsageError
from graft.core.safeload import describe, load_json, load_yaml


def test_every_limit_is_read_from_its_variable(monkeypatch):
    for limit in limits.LIMITS.values():
        monkeypatch.setenv(limit.variable, "7")
        assert limit.value() == 7
        monkeypatch.setenv(limit.variable, "0")
        with pytest.raises(UsageError, match=f"^{limit.variable}='0': expected a positive whole number"):
            limit.value()
        monkeypatch.delenv(limit.variable)
        assert limit.value() == limit.default


# --- documents at and past each limit ----------------------------------------------------------


def yaml_values(n: int) -> str:
    """A YAML list of ``n - 1`` scalars: ``n`` values with the list itself."""
    return "[" + ", ".join(["1"] * (n - 1)) + "]"


def yaml_depth(n: int) -> str:
    return "[" * n + "]" * n


def json_values(n: int) -> str:
    return "[" + ",".join(["1"] * (n - 1)) + "]"


CASES = [
    # (limit, value, at-limit document, past-limit document, loader, exact message past it)
    (
        limits.YAML_BYTES,
        100,
        "a: " + "x" * 97,
        "a: " + "x" * 98,
        load_yaml,
        "exp/x:params.yaml: 101 bytes, over the limit of 100 bytes (GRAFT_LIMIT_YAML_BYTES)",
    ),
    (
        limits.YAML_VALUES,
        50,
        yaml_values(50),
        yaml_values(51),
        load_yaml,
        "exp/x:params.yaml: line 1: more than 50 values, over the limit of 50 values "
        "(GRAFT_LIMIT_YAML_VALUES)",
    ),
    (
        limits.YAML_VALUES,
        16,  # the mapping 1, key a 1, &a [x, x, x] 4, key b 1, [*a, *a] 1 + 2 x 4
        "a: &a [x, x, x]\nb: [*a, *a]\n",
        "a: &a [x, x, x]\nb: [*a, *a, x]\n",
        load_yaml,
        "exp/x:params.yaml: line 2: more than 16 values once its aliases are expanded, over the "
        "limit of 16 values (GRAFT_LIMIT_YAML_VALUES)",
    ),
    (
        limits.DOCUMENT_DEPTH,
        10,
        yaml_depth(10),
        yaml_depth(11),
        load_yaml,
        "exp/x:params.yaml: line 1: more than 10 levels of nesting, over the limit of 10 levels "
        "(GRAFT_LIMIT_DOCUMENT_DEPTH)",
    ),
    (
        limits.JSON_BYTES,
        100,
        '"' + "x" * 98 + '"',
        '"' + "x" * 99 + '"',
        load_json,
        "exp/x:params.yaml: 101 bytes, over the limit of 100 bytes (GRAFT_LIMIT_JSON_BYTES)",
    ),
    (
        limits.JSON_VALUES,
        50,
        json_values(50),
        json_values(51),
        load_json,
        "exp/x:params.yaml: about 51 values, over the limit of 50 values (GRAFT_LIMIT_JSON_VALUES)",
    ),
    (
        limits.DOCUMENT_DEPTH,
        10,
        '{"a": ' * 9 + "[]" + "}" * 9,
        '{"a": ' * 10 + "[]" + "}" * 10,
        load_json,
        "exp/x:params.yaml: more than 10 levels of nesting, over the limit of 10 levels "
        "(GRAFT_LIMIT_DOCUMENT_DEPTH)",
    ),
]


@pytest.mark.parametrize(
    ("limit", "value", "at", "past", "loader", "message"),
    CASES,
    ids=[f"{c[0].name}-{c[4].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_document_limit_holds_at_and_refuses_past(monkeypatch, limit, value, at, past, loader, message):
    monkeypatch.setenv(limit.variable, str(value))
    loader(at, "exp/x:params.yaml")  # at the limit: read
    with pytest.raises(DataError) as refused:
        loader(past, "exp/x:params.yaml")
    assert str(refused.value) == message


def test_strings_do_not_count_as_json_structure(monkeypatch):
    monkeypatch.setenv(limits.DOCUMENT_DEPTH.variable, "2")
    monkeypatch.setenv(limits.JSON_VALUES.variable, "3")
    assert load_json('{"a": "[[[[,,,,{{{{\\"]]]"}', "m.json") == {"a": '[[[[,,,,{{{{"]]]'}


def test_a_yaml_alias_to_its_own_container_is_refused():
    with pytest.raises(DataError) as refused:
        load_yaml("a: &a [1, *a]\n", "exp/x:params.yaml")
    expected = "exp/x:params.yaml: line 1: alias *a refers to a node that contains it (a cycle)"
    assert str(refused.value) == expected


def test_yaml_keeps_safe_load_semantics():
    text = "a: &x {k: 1}\nb: *x\nc: {<<: *x, d: 2.5, k: 3}\nf: [yes, null, 1e3, 0x1f, 1_000]\n"
    import yaml

    assert load_yaml(text, "w") == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: !!python/object/apply:os.system ['true']", "w")


# --- plain data only: what every reader of a document can compare and print ---------------------

BIG = "9" * 400  # past a float's range (and short of Python's 4,300-digit int parsing limit)
HUGE = "9" * 5000  # past Python's limit: refused before int() is tried


@pytest.mark.parametrize(
    ("loader", "text", "message"),
    [
        (
            load_yaml,
            "a: 1\nb: 2\na: 3\n",
            "p.yaml: line 3: key 'a' appears twice in one mapping (first on line 1)",
        ),
        (
            load_yaml,
            "l:\n  - {x: 1, x: 2}\n",
            "p.yaml: line 2: key 'x' appears twice in one mapping (first on line 2)",
        ),
        (
            load_yaml,
            "yes: 1\ntrue: 2\n",
            "p.yaml: line 2: key True appears twice in one mapping (first on line 1)",
        ),
        (load_json, '{"a": {"b": 1, "b": 2}}', "p.yaml: key 'b' appears twice in one object"),
        (
            load_yaml,
            f"a: 1\nn: {BIG}\n",
            "p.yaml: line 2: the integer 999999999999... (400 characters) is beyond the range of numbers "
            "graft compares (about 1.8e308)",
        ),
        (
            load_yaml,
            f"n: -{HUGE}\n",
            "p.yaml: line 1: the integer 999999999999... (5,000 characters) is beyond the range of numbers "
            "graft compares (about 1.8e308)",
        ),
        (
            load_yaml,
            "n: 0x" + "f" * 300 + "\n",
            "p.yaml: line 1: the integer 0xffffffffff... (302 characters) is beyond the range of numbers "
            "graft compares (about 1.8e308)",
        ),
        (
            load_json,
            f'{{"roc_auc": {BIG}}}',
            "p.yaml: the integer 999999999999... (400 characters) is beyond the range of numbers graft "
            "compares (about 1.8e308)",
        ),
        (
            load_json,
            f"[-{HUGE}]",
            "p.yaml: the integer 999999999999... (5,000 characters) is beyond the range of numbers graft "
            "compares (about 1.8e308)",
        ),
        (
            load_yaml,
            "b: !!binary aGVsbG8=\n",
            "p.yaml: line 1: a !!binary value; graft reads plain YAML values (strings, numbers, booleans, "
            "null, lists, mappings)",
        ),
        (
            load_yaml,
            "x: 1\ns: !!set {a, b}\n",
            "p.yaml: line 2: a !!set value; graft reads plain YAML values (strings, numbers, booleans, "
            "null, lists, mappings)",
        ),
    ],
)
def test_documents_hold_plain_data_only(loader, text, message):
    """A key written twice (the last one would win silently), an integer no float holds (every
    comparison would overflow) and a YAML tag building a non-JSON value are refused by line."""
    with pytest.raises(DataError) as refused:
        loader(text, "p.yaml")
    assert str(refused.value) == message


def test_plain_data_at_its_bounds_is_read():
    """A merge's keys may be overridden; the largest integers a float holds are read exactly; a YAML
    date or time is the text written (it used to be a date no JSON or report writer could print)."""
    text = "a: &x {k: 1}\nc: {<<: *x, k: 2}\nd: 2024-01-31\nt: 2001-12-14 21:59:43.10 -5\nn: " + "9" * 308
    assert load_yaml(text, "w") == {
        "a": {"k": 1},
        "c": {"k": 2},
        "d": "2024-01-31",
        "t": "2001-12-14 21:59:43.10 -5",
        "n": int("9" * 308),
    }
    assert load_json('{"a": [{"k": 1}, {"k": 2}], "n": ' + "9" * 308 + ', "x": NaN}', "m.json")["n"] == int(
        "9" * 308
    )
    # long digit runs that are not integers: a float's fraction or exponent, text in a string
    long_digits = "[0." + "1" * 400 + ", 1" + "0" * 400 + '.5, 1e400, "' + "9" * 5000 + '"]'
    assert load_json(long_digits, "m.json")[2:] == [float("inf"), "9" * 5000]


@pytest.mark.parametrize(
    ("loader", "data", "described"),
    [
        (
            load_yaml,
            "task:\n\ttype: binary\n",
            "ScannerError: line 2, column 1: found character that cannot start any token",
        ),
        (load_yaml, "x: [1,\n", "ParserError: line 2, column 1: did not find expected node content"),
        (load_yaml, b"a: \xff\n", "ReaderError: byte 3: invalid leading UTF-8 octet"),
        (
            load_json,
            '{"a": 1,}',
            "JSONDecodeError: line 1, column 9: Expecting property name enclosed in double quotes",
        ),
        (load_json, b'{"a": "\xff"}', "UnicodeDecodeError: not UTF-8: byte 0xff at offset 7"),
    ],
)
def test_a_syntax_error_is_described_in_one_line_with_its_position(loader, data, described):
    with pytest.raises(Exception) as failed:
        loader(data, "w")
    assert describe(failed.value) == described
