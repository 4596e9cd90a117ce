"""The boundaries: between the toolkit and the reference project, and inside the toolkit.

The pipeline (stages/) is project code: it imports nothing from graft, so editing graft can
never change what the pipeline computes, and dvc.yaml depends only on project files (editing
tools/ leaves `dvc status` clean). graft's wheel carries graft alone.

Inside tools/graft the packages are layered ``cli -> api -> capability packages -> project ->
core`` (``graft`` itself, which holds only ``__version__``, counts as core): no module imports
from a higher layer, the capability packages import each other only along
:data:`CAPABILITY_IMPORTS`, and no module takes part in an import circle. Every import
statement counts wherever it stands -- at module level, inside a function, or under
``if TYPE_CHECKING`` -- because a function-level import that closes a circle is a circle a
reader must untangle all the same, only deferred to run time. What does not count is the
implicit import of a package's ``__init__`` when one of its submodules is imported (that is
Python's machinery, not a dependency the code states).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

STAGES_DIR = ROOT / "stages"
GRAFT_DIR = ROOT / "tools" / "graft"

LAYERS = {"cli": 4, "ui": 4, "api": 3, "project": 1, "core": 0, "graft": 0}
"""Each package's layer (higher imports lower); the capability packages are layer 2; the web view
(ui) renders like the command line."""
CAPABILITIES = ("compare", "data", "experiments", "monitoring", "release", "serving")
CAPABILITY_IMPORTS: dict[str, set[str]] = {
    "compare": set(),
    "experiments": set(),
    "release": set(),
    # a served model is a release's package
    "serving": {"release"},
    # monitoring reads a package (release), its prediction log (serving) and reuses the
    # comparison's statistics (compare)
    "monitoring": {"compare", "release", "serving"},
    # a versioned table's columns are judged with the monitor's drift tests
    "data": {"monitoring"},
}
"""The capability packages each capability package may import (the graph as it is, a DAG)."""


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` statement in ``path`` names (at any depth: functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def graft_modules() -> dict[str, tuple[Path, bool]]:
    """Every module under tools/graft by dotted name: its file and whether it is a package."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(GRAFT_DIR.rglob("*.py")):
        parts = list(path.relative_to(GRAFT_DIR.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def graft_imports(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Each graft module's graft imports (module names that exist, relative imports resolved)."""
    edges: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - (0 if package else 1)]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
        edges[name] = {t for t in targets if t in modules and t != name}
    return edges


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(package: str) -> int:
    return 2 if package in CAPABILITIES else LAYERS[package]


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle (a strongly connected component of more than one module), as a path
    ``a -> b -> ... -> a`` through it, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(_circle_through(component, edges) for component in components)


def _circle_through(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """One circle inside ``component``: a shortest path from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for target in sorted(edges[node] & component):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                todo.append(target)
    raise AssertionError(f"no circle through {sorted(component)}")  # a component always has one


def stage_modules() -> list[Path]:
    return sorted(STAGES_DIR.glob("*.py"))


def stage_deps() -> dict[str, list[str]]:
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    return {name: list(stage.get("deps", [])) for name, stage in document["stages"].items()}


def project_closure(module: str) -> set[str]:
    """The stages/*.py files ``module`` (``stages.<name>``) runs, following its stages imports."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = STAGES_DIR / f"{name.split('.')[1]}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        todo.extend(m for m in imported_modules(path) if m.startswith("stages.") and m.count(".") == 1)
    return {f"stages/{name.split('.')[1]}.py" for name in seen}


def test_the_parser_sees_every_kind_of_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\nimport graft.errors as e\nfrom graft import fsio\nfrom . import sibling\n"
        "def f():\n    from graft.api import package\n",
        encoding="utf-8",
    )
    assert imported_modules(probe) == {
        "os", "graft.errors", "graft", "graft.fsio", "graft.api", "graft.api.package",
    }  # fmt: skip


def test_the_graft_import_graph_resolves_every_kind_of_import(tmp_path, monkeypatch):
    package = tmp_path / "graft" / "pkg"
    package.mkdir(parents=True)
    (tmp_path / "graft" / "__init__.py").write_text("", encoding="utf-8")
    (package / "__init__.py").write_text("from . import a\n", encoding="utf-8")
    (package / "a.py").write_text("from .b import thing\nimport graft.pkg.c\n", encoding="utf-8")
    (package / "b.py").write_text("def f():\n    from graft.pkg import a\n", encoding="utf-8")
    (package / "c.py").write_text("from .. import pkg\nfrom ..pkg.b import f\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "GRAFT_DIR", tmp_path / "graft")
    edges = graft_imports(graft_modules())
    assert edges == {
        "graft": set(),
        "graft.pkg": {"graft.pkg.a"},
        "graft.pkg.a": {"graft.pkg.b", "graft.pkg.c"},
        "graft.pkg.b": {"graft.pkg.a"},
        "graft.pkg.c": {"graft.pkg", "graft.pkg.b"},
    }
    # one circle component {pkg, a, b, c}, named by its shortest way back to its first module
    assert import_cycles(edges) == [["graft.pkg", "graft.pkg.a", "graft.pkg.c", "graft.pkg"]]


def test_a_circle_is_named_module_by_module():
    edges = {"x.a": {"x.b"}, "x.b": {"x.c"}, "x.c": {"x.a", "x.d"}, "x.d": set(), "x.e": {"x.e"}}
    assert import_cycles(edges) == [["x.a", "x.b", "x.c", "x.a"]]
    assert import_cycles({"x.a": {"x.b"}, "x.b": set()}) == []


def test_no_import_circle_in_graft():
    cycles = import_cycles(graft_imports(graft_modules()))
    assert cycles == [], "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_package_imports_from_a_higher_layer():
    upward = sorted(
        f"{source} imports {target}"
        for source, targets in graft_imports(graft_modules()).items()
        for target in targets
        if layer_of(package_of(target)) > layer_of(package_of(source))
    )
    assert upward == []


def test_capability_packages_import_each_other_only_as_documented():
    used: dict[str, set[str]] = {name: set() for name in CAPABILITIES}
    for source, targets in graft_imports(graft_modules()).items():
        for target in targets:
            pair = package_of(source), package_of(target)
            if pair[0] in CAPABILITIES and pair[1] in CAPABILITIES and pair[0] != pair[1]:
                used[pair[0]].add(pair[1])
    undocumented = {name: sorted(used[name] - CAPABILITY_IMPORTS[name]) for name in CAPABILITIES}
    assert {name: extra for name, extra in undocumented.items() if extra} == {}


def test_each_ui_page_module_builds_on_the_pages_common_module_only():
    """graft.ui.pages is layered: every page module imports pages.common and no other page;
    pages.common imports no page."""
    package = "graft.ui.pages."
    common = package + "common"
    inside = {
        source: sorted(t for t in targets if t.startswith(package))
        for source, targets in graft_imports(graft_modules()).items()
        if source.startswith(package)
    }
    assert len(inside) > 1
    assert inside == {name: [] if name == common else [common] for name in inside}


def test_every_graft_package_has_a_layer():
    assert {package_of(m) for m in graft_modules()} == set(LAYERS) | set(CAPABILITIES)


@pytest.mark.parametrize("path", stage_modules(), ids=lambda p: p.name)
def test_no_stage_module_imports_graft(path: Path):
    offending = sorted(m for m in imported_modules(path) if m == "graft" or m.startswith("graft."))
    assert offending == [], f"stages/{path.name} imports {offending}"


def test_every_stage_module_is_found():
    assert {p.name for p in stage_modules()} >= {"ingest.py", "validate.py", "errors.py", "fsio.py"}


def test_dvc_yaml_depends_on_no_toolkit_file():
    under_tools = {
        stage: [d for d in deps if Path(d).parts[:1] == ("tools",)] for stage, deps in stage_deps().items()
    }
    assert {stage: deps for stage, deps in under_tools.items() if deps} == {}


def test_each_stage_lists_the_project_code_it_runs():
    """A stage's deps name every stages/*.py its module imports (directly or not), so an edit to
    a helper reruns exactly the stages that use it."""
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    for name, stage in document["stages"].items():
        module = re.fullmatch(r"python -m (stages\.\w+)", stage["cmd"])
        assert module is not None, f"{name}: unexpected cmd {stage['cmd']!r}"
        listed = {d for d in stage["deps"] if d.startswith("stages/")}
        assert listed == project_closure(module.group(1)), name


@pytest.mark.slow
def test_the_wheel_holds_only_graft(tmp_path):
    """`pip wheel` of the project: one top-level package, graft, with its templates."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "tools", source / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(STAGES_DIR, source / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"graft", f"{wheel.name.split('-py')[0]}.dist-info"}
    assert "graft/templates/model_card.md.j2" in names
    ui = ROOT / "tools" / "graft" / "ui"
    assets = sorted(
        f"graft/ui/{p.relative_to(ui).as_posix()}"
        for folder in ("templates", "static")
        for p in (ui / folder).rglob("*")
        if p.is_file()
    )
    assert "graft/ui/static/vendor/vega-embed/LICENSE" in assets  # the page works offline
    assert [a for a in assets if a not in names] == []
    assert not [n for n in names if n.startswith("stages")]


def test_only_the_project_layer_spells_a_graft_folder_path():
    """Every ``.graft/`` path comes from graft.project.paths (docstrings and comments may name them)."""
    spelt = []
    for name, (path, _) in graft_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        strings = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        ]
        spelt += [
            f"{name}:{node.lineno}: {node.value!r}"
            for node in strings
            if re.search(r"(^|[^\w-])\.graft(/|$)", node.value)
        ]
    assert [s for s in spelt if not s.startswith("graft.project.paths:")] == []


# --- size: a module does one job a reader can hold; a function reads in one screen --------------

MODULE_LINES = 500
FUNCTION_LINES = 80


def _sources() -> list[Path]:
    """graft's hand-written modules (the gRPC stubs are generated by `make grpc-stubs`)."""
    return sorted(p for p in GRAFT_DIR.rglob("*.py") if "_pb2" not in p.name)


def test_no_module_is_over_its_line_bound():
    long = {
        p.relative_to(GRAFT_DIR).as_posix(): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert long == {}, f"split these modules by job (over {MODULE_LINES} lines): {long}"


def test_no_function_is_over_its_line_bound():
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long[f"{path.relative_to(GRAFT_DIR).as_posix()}:{node.name}"] = lines
    assert long == {}, f"split these into named steps (over {FUNCTION_LINES} lines): {long}"
