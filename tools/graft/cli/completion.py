"""`graft completion bash|zsh|fish`: a shell completion script, generated from the parser by shtab.

Like ``dvc completion``: load it with ``eval "$(graft completion bash)"`` in ``~/.bashrc``, or
save ``graft completion zsh > ~/.zfunc/_graft`` / ``graft completion fish >
~/.config/fish/completions/graft.fish``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graft.cli.common import Ui

SHELLS = ("bash", "zsh", "fish")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.set_defaults(handler=run)


def _paths(parser: argparse.ArgumentParser, shtab: Any) -> None:
    """Complete ``-C`` with directories and every Path-typed argument with files."""
    for action in parser._actions:
        if action.dest == "directory":
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        elif action.type is Path:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _paths(sub, shtab)


def run(args: argparse.Namespace, ui: Ui) -> int:
    import shtab

    from graft.cli import build_parser

    parser = build_parser()
    _paths(parser, shtab)
    ui.out(shtab.complete(parser, shell=args.shell))
    return 0
