"""The command-line layer without a project: parsing, progress rendering, JSON, extras, completion."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest

from graft.cli import COMMANDS, build_parser, main
from graft.cli.common import Ui, dump_json
from graft.core import extras
from tests.conftest import BIN


def test_version_exits_zero(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("graft ")


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _leaf_parsers():
    """(name, parser) of every runnable command, `exp new` etc. included."""
    for name, parser in _subparsers(build_parser()).items():
        subs = _subparsers(parser)
        if subs:
            yield from ((f"{name} {sub}", p) for sub, p in subs.items())
        else:
            yield name, parser


def _options(parser) -> dict[str, object]:
    return {opt: action for action in parser._actions for opt in action.option_strings}


def test_every_command_takes_the_shared_options():
    for name, parser in _leaf_parsers():
        options = _options(parser)
        assert {"-C", "-q", "--quiet"} <= set(options), name


# commands that print no result of their own: serve and ui run a server (ui --export writes
# HTML files), completion prints a script
NO_RESULT = {"serve", "completion", "ui"}


def test_every_command_that_prints_a_result_takes_format_json():
    for name, parser in _leaf_parsers():
        if name in NO_RESULT:
            continue
        fmt = _options(parser).get("--format")
        assert fmt is not None and "json" in fmt.choices, name


def test_every_json_command_has_a_documented_schema():
    from tests.schemas import schema

    for name, _ in _leaf_parsers():
        if name not in NO_RESULT:
            assert schema(name.replace(" ", "-"))["title"].startswith(f"graft {name} --format json"), name


def test_global_options_before_the_command_are_not_overwritten(tmp_path, monkeypatch):
    from graft.cli import _add_command, _top_parser

    top, subparsers = _top_parser()
    _add_command(subparsers, "metrics")
    args = top.parse_args(["-C", str(tmp_path), "-q", "metrics"])
    assert (args.directory, args.quiet, args.format) == (tmp_path, True, "table")
    args = top.parse_args(["metrics", "-C", str(tmp_path)])
    assert args.directory == tmp_path and not hasattr(args, "quiet")


# --- progress and output ------------------------------------------------------------------------


def _ui(fmt="table", quiet=False, terminal=False):
    out, err = io.StringIO(), io.StringIO()
    return Ui("demo", fmt, quiet, stdout=out, stderr=err, terminal=terminal), out, err


def test_progress_off_a_terminal_is_one_plain_line_per_step():
    ui, out, err = _ui()
    with ui.progress() as progress:
        progress.step("first step")
        progress.update(3)
        progress.step("second step", total=10)
        for i in range(1, 11):
            progress.update(i)
        ui.message("a message")
    assert err.getvalue() == "graft demo: first step\ngraft demo: second step\na message\n"
    assert out.getvalue() == ""


def test_progress_on_a_terminal_is_drawn_by_rich():
    ui, out, err = _ui(terminal=True)
    with ui.progress() as progress:
        progress.step("rows", total=4)
        progress.update(4)
        ui.message("in between")
        progress.step("spinner step")
    drawn = err.getvalue()
    assert "\x1b[" in drawn  # cursor movement and colour: a live display, not plain lines
    assert "rows" in drawn and "4/4" in drawn and "spinner step" in drawn and "in between" in drawn
    assert out.getvalue() == ""


@pytest.mark.parametrize(("fmt", "quiet"), [("json", False), ("table", True), ("json", True)])
def test_json_mode_and_quiet_add_nothing_to_stderr(fmt, quiet):
    for terminal in (False, True):
        ui, out, err = _ui(fmt, quiet, terminal)
        with ui.progress() as progress:
            progress.step("step", total=2)
            progress.update(1)
            ui.message("message")
        assert err.getvalue() == "" and out.getvalue() == ""


def test_json_is_plain_standard_json():
    import numpy as np

    text = dump_json({"a": float("nan"), "b": np.float32(0.5), "c": np.arange(2), "d": (1, float("inf"))})
    assert json.loads(text) == {"a": None, "b": 0.5, "c": [0, 1], "d": [1, None]}
    assert "NaN" not in text and text.endswith("\n")


# --- optional extras ------------------------------------------------------------------------------


def test_extras_are_read_from_the_installed_metadata():
    assert extras.distribution() == "graft-toolkit"
    assert extras.extra_for("fastapi") == "serve"
    assert extras.extra_for("uvicorn.server") == "serve"
    assert extras.extra_for("orjson", preferred="monitor") == "monitor"
    assert extras.extra_for("sklearn.metrics", preferred="monitor") == "monitor"
    assert extras.extra_for("lleaves", preferred="serve") == "fast"
    assert extras.extra_for("matplotlib", preferred="plots") == "plots"
    assert extras.extra_for("distributed") == "cluster"
    assert extras.extra_for("optuna") == "search"
    assert extras.extra_for("dvc_s3") == "s3"
    assert extras.extra_for("pandas") is None  # a base dependency: no extra brings it
    assert extras.extra_for("no_such_module") is None


def test_a_missing_module_no_extra_brings_stays_an_unexpected_error(monkeypatch, capsys):
    from graft.cli import metrics

    def broken(args, ui):
        import no_such_module_anywhere  # noqa: F401

        return 0

    monkeypatch.setattr(metrics, "run", broken)
    monkeypatch.delenv("GRAFT_DEBUG", raising=False)
    assert main(["metrics"]) == 3
    assert "unexpected error: ModuleNotFoundError: No module named 'no_such_module_anywhere'" in (
        capsys.readouterr().err
    )


# --- shell completion -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_every_command(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for name in COMMANDS:
        assert name in script, name
    assert "working-tree" in script and "format" in script


def _bash_complete(script: str, line: str) -> list[str]:
    words = line.split(" ")
    program = f"""
source /dev/stdin <<'SCRIPT'
{script}
SCRIPT
COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}
_shtab_graft
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_subcommands_and_options(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert _bash_complete(script, "graft ex") == ["exp"]
    assert _bash_complete(script, "graft exp ") == ["new", "grid", "search", "list", "prune"]
    assert set(_bash_complete(script, "graft gate --")) >= {"--base", "--head", "--working-tree", "--format"}
    assert _bash_complete(script, "graft completion ") == ["bash", "zsh", "fish"]
    assert _bash_complete(script, "graft diff --format ") == ["table", "md", "json", "csv"]


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["-n"]), ("fish", ["--no-execute"])])
def test_zsh_and_fish_scripts_parse(shell, check, capsys, tmp_path):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    assert main(["completion", shell]) == 0
    path = tmp_path / f"graft.{shell}"
    path.write_text(capsys.readouterr().out)
    done = subprocess.run([shell, *check, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_completion_needs_no_project(tmp_path):
    done = subprocess.run(
        [str(BIN / "graft"), "-C", str(tmp_path), "completion", "bash"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "_shtab_graft" in done.stdout and done.stderr == ""


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion_completes_commands_and_options(capsys, tmp_path):
    assert main(["completion", "fish"]) == 0
    path = tmp_path / "graft.fish"
    path.write_text(capsys.readouterr().out)
    program = f'source {path}; complete -C "graft exp "; echo SPLIT; complete -C "graft gate --"'
    done = subprocess.run(["fish", "-c", program], capture_output=True, text=True, check=True)
    subcommands, options = done.stdout.split("SPLIT\n")
    assert [line.split("\t")[0] for line in subcommands.splitlines()] == [
        "grid",
        "list",
        "new",
        "prune",
        "search",
    ]
    assert {"--base", "--head", "--working-tree", "--format", "--quiet"} <= {
        line.split("\t")[0] for line in options.splitlines()
    }
