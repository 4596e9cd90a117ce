"""`graft diff`: params and metrics of revisions side by side against a base."""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_base, add_format, add_offline
from graft.compare.formats import FORMATS, render


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revisions", nargs="*", metavar="REV", help="revisions to compare (default: HEAD)")
    parser.add_argument("--all", dest="all_experiments", action="store_true", help="every exp/* branch")
    add_base(parser, "deltas are taken against")
    add_format(parser, FORMATS)
    parser.add_argument("--sort", metavar="METRIC", help="order revisions best-first by this metric")
    parser.add_argument("--only-changed", action="store_true", help="hide rows equal in every revision")
    add_offline(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    result = api.diff(
        ui.root,
        args.revisions,
        base=args.base,
        all_experiments=args.all_experiments,
        only_changed=args.only_changed,
        sort=args.sort,
    )
    ui.stdout.write(render(result, args.format))
    return 0
