"""`graft check-repro [PATH...]`: fail when the reproduced dvc.lock or declared results differ from HEAD.

PATHs are relative to the current directory (default: ``dvc.lock`` and every metrics, plots and
predictions file the project declares). Exit 1 (a check that failed) naming every differing file.
"""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_format, add_offline
from graft.core.errors import CheckFailed


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders to compare with HEAD (default: dvc.lock and every metrics, plots "
        "and predictions file the project declares)",
    )
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    paths = [ui.repo_path(p) for p in args.paths] or None
    differences = api.check_repro(ui.root, paths)
    if ui.json_mode:
        from graft.release.check import CheckReproResult

        ui.json(CheckReproResult.of(paths, differences))
    what = " ".join(paths) if paths else "dvc.lock and the declared results"
    if not differences:
        if not ui.json_mode:
            ui.out(f"reproduced: {what} match HEAD")
        return 0
    if not ui.json_mode:
        for diff in differences:
            ui.out(f"{diff.path}: {diff.status}")
            for line in diff.details:
                ui.out(f"  {line}")
    names = ", ".join(d.path for d in differences)
    raise CheckFailed(f"the reproduced results differ from the committed ones: {names}")
