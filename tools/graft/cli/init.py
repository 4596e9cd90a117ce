"""`graft init`: write graft.yaml for an existing DVC project (shows it first; --force replaces)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graft import api


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.add_argument("--force", action="store_true", help="replace files that exist")
    parser.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    plan = api.init_plan(args.root)
    for path, text in plan.files.items():
        sys.stderr.write(f"--- {path}\n{text}")
    if args.dry_run:
        return 0
    for written in api.init_write(plan, force=args.force):
        sys.stderr.write(f"wrote {written}\n")
    return 0
