"""`graft check-repro`: fail when the reproduced dvc.lock or declared results differ from HEAD."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api
from graft.core.errors import GraftError


class NotReproducible(GraftError):
    pass


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        help="files or folders to compare with HEAD (default: dvc.lock and every metrics, plots "
        "and predictions file the project declares)",
    )
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    differences = api.check_repro(args.root, args.paths or None)
    what = " ".join(args.paths) if args.paths else "dvc.lock and the declared results"
    if not differences:
        print(f"reproduced: {what} match HEAD")
        return 0
    for diff in differences:
        print(f"{diff.path}: {diff.status}")
        for line in diff.details:
            print(f"  {line}")
    names = ", ".join(d.path for d in differences)
    raise NotReproducible(f"the reproduced results differ from the committed ones: {names}")
