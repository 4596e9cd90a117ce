"""`graft models`: released versions (GTO-format tags) with their stages and headline metrics."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from graft import api
from graft.cli.common import Ui, add_format, add_offline


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="only this model name (default: every model)")
    parser.add_argument("--stage", help="only the version in this stage")
    parser.add_argument(
        "--all",
        dest="include_inactive",
        action="store_true",
        help="also deregistered versions and deprecated models, marked in 'status'",
    )
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def _created(time: int) -> datetime:
    return datetime.fromtimestamp(time, UTC)


def run(args: argparse.Namespace, ui: Ui) -> int:
    from graft.core.texttable import format_table
    from graft.release.releases import headline_columns

    if args.stage is not None:
        from graft.release.tags import check_name

        check_name(args.stage, "--stage")
    versions = api.models(ui.root, args.model, args.include_inactive)
    if args.stage:
        versions = [v for v in versions if args.stage in v.release.stages]
    if ui.json_mode:
        from graft.release.releases import ModelsResult

        ui.json(ModelsResult.of(versions))
        return 0
    if not versions:
        ui.out("no released models (tags <model>@vX.Y.Z)" + (f" in stage {args.stage}" if args.stage else ""))
        return 0
    names = headline_columns(versions)
    status = ["status"] if args.include_inactive else []
    rows = [
        [
            v.release.tag,
            ",".join(v.release.stages) or "-",
            *([v.release.status] if args.include_inactive else []),
            v.release.commit[:8],
            _created(v.release.time).strftime("%Y-%m-%d %H:%M"),
            *(f"{v.metrics[k]:.4f}" if isinstance(v.metrics.get(k), float) else "-" for k in names),
        ]
        for v in versions
    ]
    ui.out(format_table(["tag", "stages", *status, "commit", "created (UTC)", *names], rows))
    return 0
