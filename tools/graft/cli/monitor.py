"""`graft monitor`: drift, outputs, feedback and fairness of a served model, from its prediction log.

Exit 1 (a check that failed) when an alert fires; the result is printed either way
(``--format json``: schemas/monitor.json, the same document ``--json FILE`` writes).
"""

from __future__ import annotations

import argparse

from graft import api
from graft.cli import modelref
from graft.cli.common import Ui, add_format, add_offline, moment, path_arg
from graft.core.errors import CheckFailed, ExitCode

EXTRA = "monitor"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--package", type=path_arg, help="the released package (archive or folder), or --model"
    )
    modelref.add_arguments(parser)
    parser.add_argument(
        "--log-db", required=True, help="sqlite:///PATH or postgresql://... of the prediction log"
    )
    parser.add_argument(
        "--since",
        type=moment,
        help="window start (inclusive): ISO 8601, or a duration back from now (24h, 7d)",
    )
    parser.add_argument(
        "--until", type=moment, help="window end (exclusive): ISO 8601 or a duration back from now"
    )
    parser.add_argument(
        "-o", "--output", type=path_arg, help="report file: .md (PNG plots beside it) or .html"
    )
    parser.add_argument(
        "--json", dest="json_out", type=path_arg, metavar="FILE", help="also write the result here"
    )
    parser.add_argument(
        "--params", type=path_arg, help="thresholds from this params.yaml instead of the package's"
    )
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    with ui.progress() as progress:
        result = api.monitor(
            modelref.package_path(args, args.package, ui),
            args.log_db,
            args.since,
            args.until,
            args.output,
            args.json_out,
            args.params,
            progress=progress,
        )
    if ui.json_mode:
        ui.json(result)
    else:
        window = result.window
        ui.out(f"{result.model_version}: {window.predictions} predictions, {window.feedback} feedback events")
        for alert in result.alerts:
            ui.out(f"ALERT {alert.kind}: {alert.detail}")
        ui.out(f"verdict: {result.verdict}")
    for path in result.outputs_written:
        ui.message(f"wrote {path}")
    if result.alert:
        kinds = ", ".join(dict.fromkeys(a.kind for a in result.alerts))
        raise CheckFailed(f"{len(result.alerts)} alert(s): {kinds}")
    if result.status == "no_data":
        ui.message("no data in the window: nothing was judged")
        return ExitCode.NO_DATA
    return 0
