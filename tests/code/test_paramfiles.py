"""`--set` and search spaces on any params file a stage declares: which file a key lands in, the
refusals (each naming file and key), and edits that keep each format's layout."""

import tomllib

import pytest
import yaml

from graft.core.errors import DataError, ParamsError
from graft.core.safeload import load, load_toml
from graft.experiments.overrides import apply, axis_labels, parse_assignments, split_key
from graft.experiments.paramfiles import BaseParams
from graft.experiments.search.space import check_space, parse_params, parse_space_file

PARAMS = "train:\n  lr: 0.1  # the rate\n  seed: 7\n"
OTHER = "# other\nfeaturize:\n  bins: 4\nshared:\n  x: 1\n"
CONFIG = '{\n  "model": {\n    "depth": 3,\n    "name": "tree"\n  },\n  "shared": {"x": 2}\n}\n'
CONF = "# fit settings\n[fit]\nalpha = 0.5  # regularisation\nflag = true\n\n[fit.inner]\nk = [1, 2]\n"

DECLARED = {
    "params.yaml": ("train",),
    "other.yaml": ("featurize", "shared"),
    "config.json": ("model", "shared.x"),
    "conf.toml": ("",),
}


def files(**extra):
    texts = {"params.yaml": PARAMS, "other.yaml": OTHER, "config.json": CONFIG, "conf.toml": CONF, **extra}
    return BaseParams.of_texts(texts, DECLARED, "main")


def plan(*sets, base=None):
    return (base or files()).plan(parse_assignments(sets))


def refused(*sets, base=None):
    with pytest.raises(ParamsError) as info:
        plan(*sets, base=base)
    return str(info.value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("other.yaml:train.lr", ("other.yaml", "train.lr")),
        ("conf.toml:fit.alpha", ("conf.toml", "fit.alpha")),
        ("sub/c.JSON:a", ("sub/c.JSON", "a")),
        ("train.lr", (None, "train.lr")),
        ("urls.http:x", (None, "urls.http:x")),  # not a params file suffix: a key with a colon
        ("other.yaml:", (None, "other.yaml:")),
    ],
)
def test_split_key(key, expected):
    assert split_key(key) == expected


def test_a_named_file_is_edited_in_its_own_format():
    overrides = plan("config.json:model.depth=5", "conf.toml:fit.alpha=1", "other.yaml:featurize.bins=8")
    assert [(o.key, o.file, o.old, o.new) for o in overrides] == [
        ("config.json:model.depth", "config.json", 3, 5),
        ("conf.toml:fit.alpha", "conf.toml", 0.5, 1.0),
        ("other.yaml:featurize.bins", "other.yaml", 4, 8),
    ]
    assert [o.describe() for o in overrides] == [
        "config.json:model.depth=5",
        "conf.toml:fit.alpha=1.0",
        "other.yaml:featurize.bins=8",
    ]
    texts = files().contents(overrides)
    assert list(texts) == ["config.json", "conf.toml", "other.yaml"]
    # JSON: same two-space indentation and key order, a trailing newline as before
    assert texts["config.json"] == (
        '{\n  "model": {\n    "depth": 5,\n    "name": "tree"\n  },\n  "shared": {\n    "x": 2\n  }\n}\n'
    )
    # TOML: only the value changed, comments and layout kept
    assert texts["conf.toml"] == CONF.replace("alpha = 0.5", "alpha = 1.0")
    assert tomllib.loads(texts["conf.toml"])["fit"]["alpha"] == 1.0
    # YAML: the comment kept
    assert texts["other.yaml"] == OTHER.replace("bins: 4", "bins: 8")


def test_json_indentation_is_kept_whatever_it_is():
    compact = '{"a": {"b": 1}}'
    four = '{\n    "a": {\n        "b": 1\n    }\n}'
    tabs = '{\n\t"a": 1\n}\n'
    for text, key, expected in [
        (compact, "c.json:a.b=2", '{"a": {"b": 2}}'),
        (four, "c.json:a.b=2", four.replace("1", "2")),
        (tabs, "c.json:a=3", tabs.replace("1", "3")),
    ]:
        base = BaseParams.of_texts({"c.json": text})
        assert base.contents(plan(key, base=base))["c.json"] == expected


def test_toml_arrays_tables_and_strings_round_trip():
    base = files()
    overrides = plan("conf.toml:fit.inner.k=[3, 4, 5]", "conf.toml:fit.flag=false", base=base)
    text = base.contents(overrides)["conf.toml"]
    assert tomllib.loads(text) == {"fit": {"alpha": 0.5, "flag": False, "inner": {"k": [3, 4, 5]}}}
    assert "# regularisation" in text and text.startswith("# fit settings\n")


def test_a_bare_key_means_params_yaml():
    (o,) = plan("train.lr=0.2")
    assert (o.key, o.file) == ("train.lr", "params.yaml")


def test_a_bare_key_only_another_declared_file_holds_goes_there_and_says_so():
    (o,) = plan("featurize.bins=6")
    assert (o.key, o.file, o.path) == ("other.yaml:featurize.bins", "other.yaml", ("featurize", "bins"))
    (o,) = plan("fit.alpha=0.25")  # conf.toml is declared whole
    assert (o.key, o.file) == ("conf.toml:fit.alpha", "conf.toml")


def test_a_bare_key_in_two_other_files_is_refused_naming_both():
    assert refused("shared.x=3") == (
        "--set shared.x: the key is in other.yaml and config.json (not in params.yaml); "
        "name the file: other.yaml:shared.x, config.json:shared.x"
    )
    (o,) = plan("config.json:shared.x=3")
    assert (o.file, o.new) == ("config.json", 3)


def test_a_key_a_stage_does_not_declare_is_not_looked_for_in_that_file():
    declared = {**DECLARED, "config.json": ("shared.x",)}
    base = BaseParams.of_texts({"params.yaml": PARAMS, "config.json": CONFIG}, declared, "main")
    assert refused("model.depth=4", base=base) == (
        "--set model.depth: no key 'model.depth' in params.yaml at main; keys at the top level: train"
    )


def test_refusals_name_the_file_and_the_key():
    assert refused("nope.yaml:a=1") == (
        "--set nope.yaml:a: no stage declares the params file 'nope.yaml' at main "
        "(declared: params.yaml, other.yaml, config.json, conf.toml)"
    )
    assert refused("config.json:model.width=4") == (
        "--set config.json:model.width: no key 'model.width' in config.json at main; "
        "keys at 'model': depth, name"
    )
    assert refused("conf.toml:fit.flag=3") == (
        "--set conf.toml:fit.flag=3: expected bool (like true, the value in conf.toml at main), got int 3"
    )
    assert refused("config.json:model.name=[1]") == (
        "--set config.json:model.name=[1]: expected str (like 'tree', the value in config.json at main), "
        "got list [1]"
    )
    assert refused("train.lr=1", "params.yaml:train.lr=2") == (
        "--set: 'params.yaml:train.lr' and 'train.lr' are the same key of params.yaml"
    )


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("config.json", '{"model": ', "config.json at main: not valid JSON: Expecting value: line 1"),
        ("conf.toml", "[fit\nalpha = 1\n", "conf.toml at main: not valid TOML: Expected ']' at the end"),
        ("other.yaml", "a: [1\n", "other.yaml at main: not valid YAML: while parsing a flow sequence"),
        ("config.json", "[1, 2]", "config.json at main: expected a mapping of sections at the top level"),
    ],
)
def test_unparsable_files_are_refused_naming_them(file, text, message):
    key = {"config.json": "model.depth", "conf.toml": "fit.alpha", "other.yaml": "featurize.bins"}[file]
    assert refused(f"{file}:{key}=1", base=files(**{file: text})).startswith(message)


def test_a_declared_file_missing_at_the_base_is_refused():
    base = BaseParams.of_texts({"params.yaml": PARAMS}, {"extra.toml": ("",)}, "main")
    assert refused("extra.toml:a=1", base=base) == "extra.toml: not found"


def test_another_format_is_refused():
    base = BaseParams.of_texts({"params.yaml": PARAMS, "p.py": "A = 1\n"}, {"p.py": ("",)}, "main")
    assert refused("p.py:A=2", base=base) == (
        "--set p.py:A: graft edits params files in YAML, JSON or TOML (.yaml, .yml, .json, .toml), not 'p.py'"
    )


def test_a_type_change_in_toml_is_refused():
    base = BaseParams.of_texts({"c.toml": 'a = "x"\n'})
    assert refused("c.toml:a=null", base=base) == (
        "--set c.toml:a=null: expected str (like 'x', the value in c.toml), got null null"
    )


def test_toml_is_read_within_its_limits(monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_TOML_BYTES", "10")
    with pytest.raises(DataError) as info:
        load_toml("a = 12345678\n", "x.toml")
    assert str(info.value) == "x.toml: 13 bytes, over the limit of 10 bytes (GRAFT_LIMIT_TOML_BYTES)"
    monkeypatch.delenv("GRAFT_LIMIT_TOML_BYTES")
    monkeypatch.setenv("GRAFT_LIMIT_DOCUMENT_DEPTH", "3")
    assert load_toml("a = [[1]]\n", "x.toml") == {"a": [[1]]}
    with pytest.raises(DataError) as info:
        load_toml("a = [[[1]]]\n", "x.toml")
    assert str(info.value) == (
        "x.toml: more than 3 levels, over the limit of 3 levels (GRAFT_LIMIT_DOCUMENT_DEPTH)"
    )
    assert load(b"[s]\nk = 1\n", "rev:p.toml") == {"s": {"k": 1}}


def test_search_space_keys_resolve_like_set():
    dims = parse_params(["conf.toml:fit.alpha=float:0.1..0.9", "featurize.bins=int:2..9"])
    check_space(dims, files())
    with pytest.raises(ParamsError) as info:
        check_space(parse_params(["conf.toml:fit.flag=int:1..3"]), files())
    assert str(info.value) == (
        "search space conf.toml:fit.flag=int:1..3: conf.toml:fit.flag=1: expected bool "
        "(like true, the value in conf.toml at main), got int 1"
    )


def test_grid_labels_leave_out_the_file():
    assert axis_labels(["conf.toml:fit.alpha", "train.lr"]) == ["alpha", "lr"]
    assert axis_labels(["c.json:train.lr", "train.lr"]) == ["c.json:train.lr", "train.lr"]


def test_yaml_edit_is_unchanged_for_params_yaml():
    (o,) = plan("train.seed=9")
    assert files().contents([o]) == {"params.yaml": PARAMS.replace("seed: 7", "seed: 9")}
    assert apply(PARAMS, [o]) == PARAMS.replace("seed: 7", "seed: 9")
    assert yaml.safe_load(files().contents([o])["params.yaml"])["train"]["seed"] == 9


def test_a_space_file_names_params_files_like_set(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "conf.toml:fit.alpha: float:0.1..0.9\nconfig.json:model.depth: {type: int, low: 2, high: 8}\n"
    )
    dims = parse_space_file(space)
    assert [(d.key, d.text()) for d in dims] == [
        ("conf.toml:fit.alpha", "float:0.1..0.9"),
        ("config.json:model.depth", "int:2..8"),
    ]
    check_space(dims, files())
    overrides = files().plan(parse_assignments([f"{d.key}={d.raw(d.low)}" for d in dims]))
    assert [(o.file, o.path, o.new) for o in overrides] == [
        ("conf.toml", ("fit", "alpha"), 0.1),
        ("config.json", ("model", "depth"), 2),
    ]
