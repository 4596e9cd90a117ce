"""The boundary between the toolkit and the reference project, seen from the project's side.

The pipeline (stages/) is project code: it imports nothing from graft, so editing graft can
never change what the pipeline computes, and dvc.yaml depends only on project files (editing
tools/ leaves `dvc status` clean). graft's wheel carries graft alone.
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
