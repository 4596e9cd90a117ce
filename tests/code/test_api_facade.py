"""graft.api stays a thin facade: every public function is a docstring, lazy imports and one call.

What a function does with its arguments (parsing options, defaults beyond the signature, building
objects, choosing between calls) belongs in the capability package that owns it, where the
command line, the web view and other programs share it; the facade only names the entry points.
An argument may be wrapped in ``Path(...)`` (the facade accepts strings where it types paths);
nothing else is computed here.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

API = ROOT / "tools" / "graft" / "api.py"


def functions() -> list[ast.FunctionDef]:
    tree = ast.parse(API.read_text(encoding="utf-8"))
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


def problems(function: ast.FunctionDef) -> list[str]:
    """Why ``function`` is not docstring + imports + ``return one_call(...)`` (empty: it is)."""
    body = list(function.body)
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
        return ["no docstring"]
    *imports, last = body[1:]
    found = [
        f"line {n.lineno}: a statement that is not an import"
        for n in imports
        if not isinstance(n, ast.ImportFrom)
    ]
    if not imports:
        found.append("no lazy import (the facade imports its packages when called)")
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Call)):
        return [*found, f"line {last.lineno}: does not end in `return call(...)`"]
    arguments = [*last.value.args, *(k.value for k in last.value.keywords)]
    for argument in arguments:
        if isinstance(argument, ast.Starred):
            argument = argument.value
        if (
            isinstance(argument, ast.Call)
            and ast.unparse(argument.func) == "Path"
            and len(argument.args) == 1
        ):
            argument = argument.args[0]
        if not isinstance(argument, (ast.Name, ast.Constant)):
            found.append(f"line {argument.lineno}: computes an argument ({ast.unparse(argument)})")
    return found


def test_the_facade_is_read_whole():
    names = [f.name for f in functions()]
    assert len(names) >= 30 and {"serve", "replay", "exp_search", "significance", "data_diff"} <= set(names)


@pytest.mark.parametrize("function", functions(), ids=lambda f: f.name)
def test_each_function_is_one_call(function):
    assert problems(function) == []


def test_the_check_finds_logic():
    """The rule above can fail: logic like the facade once held is named."""
    source = '''
def significance(root, base, head):
    """Doc."""
    from graft.project import Project

    project = Project.find(root)
    return bootstrap(project.at(base), head)


def fetch(root, out_dir=None):
    """Doc."""
    from graft.release.fetch import fetch_ref

    return fetch_ref(Path(root), Path(out_dir) if out_dir is not None else None, sets or [])


def bare(x):
    """Doc."""
    return x
'''
    found = {f.name: problems(f) for f in ast.parse(source).body if isinstance(f, ast.FunctionDef)}
    assert found == {
        "significance": [
            "line 6: a statement that is not an import",
            "line 7: computes an argument (project.at(base))",
        ],
        "fetch": [
            "line 14: computes an argument (Path(out_dir) if out_dir is not None else None)",
            "line 14: computes an argument (sets or [])",
        ],
        "bare": [
            "no lazy import (the facade imports its packages when called)",
            "line 19: does not end in `return call(...)`",
        ],
    }
