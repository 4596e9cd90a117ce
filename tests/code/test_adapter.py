"""The serving adapter loader: shipped project code runs in a private namespace, from memory."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from graft.release.adapter import AdapterError, load, module_name

SCHEMA_OF = """
def input_schema(params):
    return {{"type": "object", "properties": {{"x": {{"type": "number"}}}}, "required": ["x"]}}
"""


def project_files(scale: float, import_style: str = "absolute") -> dict[str, bytes]:
    """A tiny project: stages/features.py doubles (or scales) x; stages/serving.py is the adapter."""
    imports = {
        "absolute": "from stages.features import scale",
        "module": "import stages.features\nscale = stages.features.scale",
        "relative": "from .features import scale",
        "from-package": "from stages import features\nscale = features.scale",
    }[import_style]
    serving = f"""
import numpy as np
{imports}
{SCHEMA_OF.format()}
def encode(columns, spec):
    return np.asarray(scale(columns["x"]), dtype=float).reshape(-1, 1) * spec.get("factor", 1)
"""
    features = f"""
FACTOR = {scale}

def scale(values):
    import stages.helpers  # an import at call time resolves to the shipped copy too
    return [stages.helpers.times(v, FACTOR) for v in values]
"""
    helpers = "def times(a, b):\n    return a * b\n"
    return {
        "stages/serving.py": serving.encode(),
        "stages/features.py": features.encode(),
        "stages/helpers.py": helpers.encode(),
    }


@pytest.mark.parametrize("style", ["absolute", "module", "relative", "from-package"])
def test_two_packages_with_the_same_module_names_never_collide(style):
    before = {k for k in sys.modules if k == "stages" or k.startswith("stages.")}
    double = load(project_files(2.0, style), "stages/serving.py", "pkg-a")
    triple = load(project_files(3.0, style), "stages/serving.py", "pkg-b")
    try:
        columns = {"x": [1.0, 2.0]}
        assert double.encode(columns, {}).tolist() == [[2.0], [4.0]]
        assert triple.encode(columns, {"factor": 10}).tolist() == [[30.0], [60.0]]
        assert double.input_schema({})["required"] == ["x"]
        # nothing was imported under the project's own names, nothing came from the environment
        assert {k for k in sys.modules if k == "stages" or k.startswith("stages.")} == before
        assert double.module.__name__ != triple.module.__name__
        assert double.module.__name__.endswith(".stages.serving")
    finally:
        double.close()
        triple.close()
    assert not [k for k in sys.modules if k.startswith(double.importer.prefix + ".")]
    assert double.importer not in sys.meta_path


def test_script_style_sibling_imports_resolve_beside_the_adapter():
    files = {
        "src/serving.py": (
            "import numpy as np\nimport helpers\nfrom helpers import ONE\n"
            + SCHEMA_OF.format()
            + "def encode(columns, spec):\n"
            + "    return np.array([[helpers.ONE + ONE + v] for v in columns['x']], dtype=float)\n"
        ).encode(),
        "src/helpers.py": b"ONE = 1.0\n",
    }
    adapter = load(files, "src/serving.py", "pkg")
    try:
        assert adapter.encode({"x": [5.0]}, {}).tolist() == [[7.0]]
        assert "helpers" not in sys.modules
    finally:
        adapter.close()


def test_a_module_the_package_does_not_ship_is_named():
    files = project_files(2.0)
    del files["stages/features.py"]
    with pytest.raises(
        AdapterError, match=r"pkg:stages/serving\.py: cannot import 'stages\.features'.*package\.code"
    ):
        load(files, "stages/serving.py", "pkg")
    assert not [k for k in sys.modules if k.startswith("_graft_code_") and k.endswith("stages.serving")]


def test_the_contract_is_checked_by_name():
    files = {"serve.py": b"def input_schema(params):\n    return {}\n"}
    with pytest.raises(AdapterError, match=r"serve\.py: the serving adapter must define encode\(\)"):
        load(files, "serve.py", "pkg")
    bad_schema = {"serve.py": b"def input_schema(params):\n    return []\ndef encode(c, s):\n    return 1\n"}
    adapter = load(bad_schema, "serve.py", "pkg")
    try:
        with pytest.raises(AdapterError, match=r"input_schema\(\) must return a JSON Schema of an object"):
            adapter.input_schema({})
        with pytest.raises(AdapterError, match=r"encode\(\) must return one row per record .*, got int$"):
            adapter.encode({"x": [1]}, {})
    finally:
        adapter.close()


def test_errors_inside_project_code_name_the_function_and_the_exception():
    files = project_files(2.0)
    adapter = load(files, "stages/serving.py", "pkg-a")
    try:
        with pytest.raises(AdapterError, match=r"pkg-a:stages/serving\.py: encode\(\) failed: KeyError: 'x'"):
            adapter.encode({"y": [1.0]}, {})
    finally:
        adapter.close()
    with pytest.raises(AdapterError, match=r"failed to load: ZeroDivisionError"):
        load({"a.py": b"1 / 0\n"}, "a.py", "pkg")


def test_code_paths_must_be_modules_inside_the_project():
    for path in ("../evil.py", "/abs.py", "stages/data.json", "my-stages/x.py"):
        with pytest.raises(AdapterError, match="pkg"):
            load({path: b""}, path, "pkg")
    with pytest.raises(AdapterError, match=r"'stages/serving\.py' is not among the shipped code files"):
        load({"stages/other.py": b""}, "stages/serving.py", "pkg")
    assert module_name("stages/__init__.py") == "stages"
    assert module_name("stages/serving.py") == "stages.serving"


def test_encode_result_rows_must_match_the_records():
    files = {
        "a.py": (
            SCHEMA_OF.format() + "def encode(c, s):\n    import numpy\n    return numpy.zeros((3, 2))\n"
        ).encode()
    }
    adapter = load(files, "a.py", "pkg")
    try:
        with pytest.raises(AdapterError, match="returned 3 rows for 1 records"):
            adapter.encode({"x": [1.0]}, {})
        assert isinstance(adapter.encode({"x": [1.0, 2.0, 3.0]}, {}), np.ndarray)
    finally:
        adapter.close()
