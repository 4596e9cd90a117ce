"""graft's command line: parse arguments and render results; no logic lives here.

Each command module under :mod:`graft.cli` exposes ``register(parser)``, which adds its
arguments and sets ``handler`` (a function taking the parsed namespace and a
:class:`~graft.cli.common.Ui`, returning an exit code); a module whose command needs an
optional extra names it as ``EXTRA``. Every command parser gets the shared parent parser
(``-C DIR``, ``--quiet``); commands that print a result add ``--format``. Modules are imported
only when their command runs, so ``graft diff`` does not pay for LightGBM or DVC imports;
``graft completion`` builds the full parser tree. Exit codes: :class:`graft.core.errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from graft import __version__
from graft.cli.common import Parser, Ui, common_parent
from graft.core.errors import ExitCode, run_main

# command name -> (module under graft.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check-repro": ("check_repro", "fail when the reproduced dvc.lock or metrics differ from HEAD"),
    "completion": ("completion", "print a shell completion script (bash, zsh, fish)"),
    "data": ("data", "a declared data table at a revision (show), or two revisions compared (diff)"),
    "diff": ("diff", "params and metrics of revisions side by side against a base"),
    "exp": ("exp", "experiments as exp/* branches: new, grid, search, list, prune"),
    "fetch": ("fetch", "fetch a released version's package (by version or stage) and verify its SHA-256"),
    "gate": ("gate", "fail when metrics regress against a base revision or break gate thresholds"),
    "init": ("init", "write graft.yaml for an existing DVC project from dvc.yaml and params"),
    "metrics": ("metrics", "show the working tree's headline metrics and gate result"),
    "models": ("models", "list released model versions with their stages and headline metrics"),
    "monitor": ("monitor", "check a served model's inputs, outputs, feedback and fairness; exit 1 on alert"),
    "package": ("package", "build the reproducible release archive of the current model"),
    "promote": ("promote", "put a released version in a stage (dev, staging, prod) with GTO's tag"),
    "release": ("release", "version, package and tag HEAD as <model>@vX.Y.Z (GTO format)"),
    "replay": ("replay", "send rows (optionally drifted) to a running server and post their outcomes"),
    "report": ("report", "Markdown comparison report of a head against a base (for PR comments)"),
    "reproduce": ("reproduce", "re-run a release in a temporary worktree and verify every output"),
    "serve": ("serve", "serve a model package over HTTP (predict, health, metadata, feedback)"),
    "ui": ("ui", "a read-only local web view of the experiments, models and searches (--export: static)"),
}
PROG = "graft"
GLOBAL_FLAGS = ("-q", "--quiet")


def _top_parser(subcommands: bool = True) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = Parser(
        prog=PROG,
        description="Git-centric ML experiments.",
        parents=[common_parent()],
        epilog="exit codes: 0 success, 1 a check failed, 2 usage error, 3 error",
    )
    parser.add_argument("--version", action="version", version=f"graft {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    return parser, subparsers


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"graft.cli.{COMMANDS[name][0]}")


def _add_command(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help=COMMANDS[name][1], description=COMMANDS[name][1], parents=[common_parent()]
    )
    _module(name).register(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (every command module imported): for help and shell completion."""
    parser, subparsers = _top_parser()
    for name in COMMANDS:
        _add_command(subparsers, name)
    return parser


def _split(argv: list[str]) -> int | None:
    """Index of the command name in ``argv`` (after global options), or None."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in COMMANDS:
            return i
        if arg == "-C":
            i += 2
        elif (arg.startswith("-C") and len(arg) > 2) or arg in GLOBAL_FLAGS:
            i += 1
        else:
            return None
    return None


@contextlib.contextmanager
def _directory(path: Path | None) -> Iterator[None]:
    """``-C``: work in ``path`` for the command's duration."""
    if path is None:
        yield
        return
    if not path.is_dir():
        from graft.core.errors import UsageError

        raise UsageError(f"-C {path}: no such directory")
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _run(args: argparse.Namespace, module: ModuleType) -> int:
    from graft.project.dvccache import offline

    ui = Ui(args.command, getattr(args, "format", None), getattr(args, "quiet", False))
    try:
        directory, local_only = getattr(args, "directory", None), getattr(args, "offline", False)
        with ui.notices(), _directory(directory), offline(local_only):
            return int(args.handler(args, ui) or 0)
    except ModuleNotFoundError as exc:
        from graft.core.extras import missing

        error = missing(exc, f"graft {args.command}", getattr(module, "EXTRA", None))
        if error is None:
            raise
        raise error from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    at = _split(argv)
    try:
        if at is None:  # no command: help, --version or a usage error, from the whole tree
            build_parser().parse_args(argv)
            return ExitCode.USAGE
        top, subparsers = _top_parser()
        name = argv[at]
        _add_command(subparsers, name)
        args = top.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    from graft.core.processes import handling_signals

    return run_main(handling_signals(lambda: _run(args, _module(name))), PROG)


if __name__ == "__main__":
    sys.exit(main())
