"""graft's command line: parse arguments and render results; no logic lives here.

Each command module under :mod:`graft.cli` exposes ``register(subparsers)``, which adds
its parser and sets ``handler`` (a function taking the parsed namespace and returning an exit
code). Commands call :mod:`graft.api` and print what it returns. Modules are imported only
when their command runs, so ``graft diff`` does not pay for LightGBM or DVC imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from graft import __version__
from graft.core.errors import run_main

# command name -> (module under graft.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check-repro": ("check_repro", "fail when the reproduced dvc.lock or metrics/ differ from HEAD"),
    "diff": ("diff", "params and metrics of revisions side by side against a base"),
    "exp": ("exp", "experiments as exp/* branches: new, grid, search, list"),
    "init": ("init", "write graft.yaml for an existing DVC project from dvc.yaml and params"),
    "gate": ("gate", "fail when metrics regress against a base revision or break gate.thresholds"),
    "metrics": ("metrics", "show the working tree's headline metrics and gate result"),
    "models": ("models", "list released model versions with their headline metrics"),
    "monitor": ("monitor", "check a served model's inputs, outputs, feedback and fairness; exit 1 on alert"),
    "package": ("package", "build the reproducible release archive of the current model"),
    "release": ("release", "version, package and tag HEAD as <model>@vX.Y.Z (GTO format)"),
    "replay": ("replay", "send rows (optionally drifted) to a running server and post their outcomes"),
    "report": ("report", "Markdown comparison report of a head against a base (for PR comments)"),
    "reproduce": ("reproduce", "re-run a release in a temporary worktree and verify every output"),
    "serve": ("serve", "serve a model package over HTTP (predict, health, metadata, feedback)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graft", description="Git-centric ML experiments.")
    parser.add_argument("--version", action="version", version=f"graft {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, (_module, help_text) in COMMANDS.items():
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_parser(name: str) -> argparse.ArgumentParser:
    module = importlib.import_module(f"graft.cli.{COMMANDS[name][0]}")
    parser = argparse.ArgumentParser(prog=f"graft {name}", description=COMMANDS[name][1])
    module.register(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    if not argv or argv[0] not in COMMANDS:
        try:
            top.parse_args(argv)
        except SystemExit as exc:
            return int(exc.code or 0)
        return 2
    try:
        args = _command_parser(argv[0]).parse_args(argv[1:])
    except SystemExit as exc:
        return int(exc.code or 0)
    _log_to_stderr()
    return run_main(lambda: args.handler(args), "graft")


def _log_to_stderr() -> None:
    """Library notices (logging) reach the user as ``graft: message`` lines on stderr."""
    import logging

    logger = logging.getLogger("graft")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("graft: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


if __name__ == "__main__":
    sys.exit(main())
