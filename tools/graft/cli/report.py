"""`graft report`: a Markdown comparison of a head against a base, for a pull-request comment.

``--format md`` (default) prints the Markdown (or writes it to ``-o FILE``); ``--format json``
prints the report's data and its Markdown as one JSON document (schemas/report.json). The plots
dvc.yaml declares are drawn into ``--png-dir``, else ``FILE_plots/`` beside ``-o FILE``.
"""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_base, add_bootstrap, add_format, add_offline, path_arg
from graft.core.fsio import atomic_write_text

EXTRA = "plots"  # --png-dir draws with matplotlib, the declared plots with vl-convert


def register(parser: argparse.ArgumentParser) -> None:
    add_base(parser, "the report compares against")
    parser.add_argument("--head", default="HEAD", help="the revision under review (HEAD)")
    parser.add_argument("--also", nargs="+", default=[], metavar="REV", help="more revisions to rank")
    parser.add_argument("--all", dest="all_experiments", action="store_true", help="rank every exp/* branch")
    parser.add_argument("-o", "--output", type=path_arg, help="write the Markdown here instead of stdout")
    parser.add_argument(
        "--png-dir",
        type=path_arg,
        help="also write PNG charts here (needs matplotlib), and dvc.yaml's plots (with -o: FILE_plots/)",
    )
    parser.add_argument(
        "--plot-format", choices=("png", "svg"), default="png", help="dvc.yaml's plots as png or svg (png)"
    )
    add_bootstrap(parser)
    parser.add_argument(
        "--all-metrics", action="store_true", help="list unchanged metrics in the table too (default: folded)"
    )
    add_format(parser, ("md", "json"))
    add_offline(parser)
    parser.set_defaults(handler=run)


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
            output=args.output,
            plot_format=args.plot_format,
            all_metrics=args.all_metrics,
        )
    if args.output:
        atomic_write_text(args.output, result.markdown)
        ui.message(f"wrote {args.output}")
    if ui.json_mode:
        from graft.compare.reportjson import ReportJson

        ui.json(ReportJson.of(result, args.output))
    elif not args.output:
        ui.stdout.write(result.markdown)
    return 0
