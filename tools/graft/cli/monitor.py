"""`graft monitor`: drift, outputs, feedback and fairness of a served model, from its prediction log."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api
from graft.cli import modelref


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", type=Path, help="the released package (archive or folder), or --model")
    modelref.add_arguments(parser)
    parser.add_argument(
        "--log-db", required=True, help="sqlite:///PATH or postgresql://... of the prediction log"
    )
    parser.add_argument(
        "--since", help="window start (inclusive): ISO 8601, or a duration back from now (24h, 7d)"
    )
    parser.add_argument("--until", help="window end (exclusive): ISO 8601 or a duration back from now")
    parser.add_argument("-o", "--output", type=Path, help="report file: .md (PNG plots beside it) or .html")
    parser.add_argument("--json", dest="json_out", type=Path, help="machine-readable result")
    parser.add_argument(
        "--params", type=Path, help="thresholds from this params.yaml instead of the package's"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = api.monitor(
        modelref.package_path(args, args.package),
        args.log_db,
        args.since,
        args.until,
        args.output,
        args.json_out,
        args.params,
    )
    window = result["window"]
    counts = f"{window['predictions']} predictions, {window['feedback']} feedback events"
    print(f"{result['model_version']}: {counts}")
    for alert in result["alerts"]:
        print(f"ALERT {alert['kind']}: {alert['detail']}")
    for path in result["outputs_written"]:
        print(f"wrote {path}")
    print(f"verdict: {result['verdict']}")
    return 1 if result["alert"] else 0
