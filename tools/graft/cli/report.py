"""`graft report`: a Markdown comparison of a head against a base, for a pull-request comment.

``--format md`` (default) prints the Markdown (or writes it to ``-o FILE``); ``--format json``
prints the report's data and its Markdown as one JSON document (schemas/report.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graft import api
from graft.cli.common import Ui, add_format, add_offline
from graft.core.fsio import atomic_write_text

EXTRA = "plots"  # --png-dir draws with matplotlib
JSON_KEYS = ("task", "base", "head", "gate", "metrics", "params", "data", "fairness", "leaderboard", "png")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default="main", help="the reference revision (main)")
    parser.add_argument("--head", default="HEAD", help="the revision under review (HEAD)")
    parser.add_argument("--also", nargs="+", default=[], metavar="REV", help="more revisions to rank")
    parser.add_argument("--all", dest="all_experiments", action="store_true", help="rank every exp/* branch")
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown here instead of stdout")
    parser.add_argument("--png-dir", type=Path, help="also write PNG charts here (needs matplotlib)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    add_format(parser, ("md", "json"))
    add_offline(parser)
    parser.set_defaults(handler=run)


def to_json(result: Any, output: Path | None) -> dict[str, Any]:
    payload = {key: result.context.get(key) for key in JSON_KEYS}
    payload["output"] = None if output is None else str(output.resolve())
    payload["markdown"] = result.markdown
    return payload


def run(args: argparse.Namespace, ui: Ui) -> int:
    with ui.progress() as progress:
        progress.step(f"comparing {args.head} with {args.base} ({args.resamples} bootstrap resamples)")
        result = api.report(
            ui.root,
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
        ui.message(f"wrote {args.output}")
    if ui.json_mode:
        ui.json(to_json(result, args.output))
    elif not args.output:
        ui.stdout.write(result.markdown)
    return 0
