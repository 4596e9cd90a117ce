"""`graft models`: released versions (GTO tags) with their stages and headline metrics."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from graft import api


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="only this model name (default: every model)")
    parser.add_argument("--stage", help="only the version in this stage")
    parser.add_argument(
        "--all",
        dest="include_inactive",
        action="store_true",
        help="also deregistered versions and deprecated models, marked in 'status'",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from graft.core.texttable import format_table
    from graft.release.versions import headline_columns

    versions = api.models(args.root, args.model, args.include_inactive)
    if args.stage:
        versions = [v for v in versions if args.stage in v.release.stages]
    if args.format == "json":
        payload = [
            {
                "tag": v.release.tag,
                "model": v.release.model,
                "version": v.release.version,
                "stages": list(v.release.stages),
                "status": v.release.status,
                "commit": v.release.commit,
                "tagger": v.release.tagger,
                "created": datetime.fromtimestamp(v.release.time, UTC).isoformat(),
                "metrics": v.metrics,
            }
            for v in versions
        ]
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 0
    if not versions:
        print("no released models (tags <model>@vX.Y.Z)" + (f" in stage {args.stage}" if args.stage else ""))
        return 0
    columns = headline_columns(versions)
    status = ["status"] if args.include_inactive else []
    rows = [
        [
            v.release.tag,
            ",".join(v.release.stages) or "-",
            *([v.release.status] if args.include_inactive else []),
            v.release.commit[:8],
            datetime.fromtimestamp(v.release.time, UTC).strftime("%Y-%m-%d %H:%M"),
            *(f"{v.metrics[k]:.4f}" if isinstance(v.metrics.get(k), float) else "-" for k in columns),
        ]
        for v in versions
    ]
    print(format_table(["tag", "stages", *status, "commit", "created (UTC)", *columns], rows))
    return 0
