"""Every bound in graft.core.limits: each is read from its variable, and each document bound holds
at its value and refuses one past it (with the limit lowered through its environment variable, so
the cases stay small). The documentation's limits page, generated from the same table, is checked
by tests/code/test_docs.py."""

from __future__ import annotations

import pytest

from graft.core import limits
from graft.core.errors import DataError, UsageError
from graft.core.safeload import load_json, load_yaml


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
    text = "a: &x {k: 1}\nb: *x\nc: {<<: *x, d: 2.5}\ne: 2026-01-01\nf: [yes, null, 1e3]\n"
    import yaml

    assert load_yaml(text, "w") == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: !!python/object/apply:os.system ['true']", "w")
