"""`graft init`: write graft.yaml for an existing DVC project (shows it first; --force replaces).

The file is shown on stderr (like the other messages), except when an existing file refuses the
write (without ``--force``): then only the one-line refusal (``--dry-run`` shows it). ``--format
json`` prints the files, the inference notes and what was written on stdout.
"""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_format


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="replace files that exist")
    parser.add_argument("--dry-run", action="store_true", help="show what would be written, write nothing")
    add_format(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    plan = api.init_plan(ui.root)
    refused = bool(plan.existing) and not args.force and not args.dry_run  # init_write says why
    for path, text in [] if refused else plan.files.items():  # shown as it is written (--dry-run: only)
        ui.message(f"--- {path}\n{text.rstrip()}")
    written = [] if args.dry_run else api.init_write(plan, force=args.force)
    if ui.json_mode:
        from graft.project.init import InitResult

        ui.json(InitResult.of(plan, written, args.dry_run))
    for done in written:
        ui.message(f"wrote {done}")
    return 0
