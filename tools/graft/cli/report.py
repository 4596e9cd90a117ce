"""`graft report`: a Markdown comparison of a head against a base, for a pull-request comment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graft import api
from graft.core.fsio import atomic_write_text


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default="main", help="the reference revision (main)")
    parser.add_argument("--head", default="HEAD", help="the revision under review (HEAD)")
    parser.add_argument("--also", nargs="+", default=[], metavar="REV", help="more revisions to rank")
    parser.add_argument("--all", dest="all_experiments", action="store_true", help="rank every exp/* branch")
    parser.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    parser.add_argument("--png-dir", type=Path, help="also write PNG charts here (needs matplotlib)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = api.report(
        args.root,
        base=args.base,
        head=args.head,
        also=args.also,
        all_experiments=args.all_experiments,
        png_dir=args.png_dir,
        resamples=args.resamples,
        seed=args.seed,
    )
    if args.output:
        atomic_write_text(args.output, result.markdown)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(result.markdown)
    return 0
