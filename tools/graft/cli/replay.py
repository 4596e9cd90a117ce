"""`graft replay`: send rows to a running server (optionally drifted) and post their outcomes."""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import SEED_MAX, Ui, add_format, path_arg, seconds, share, whole
from graft.core import limits


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data",
        type=path_arg,
        help="Parquet or CSV table with the served model's input columns (its /metadata "
        "input_schema) and the outcome column",
    )
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="keep only rows where COLUMN equals VALUE (repeatable; all must hold), e.g. split=test",
    )
    parser.add_argument(
        "--label",
        metavar="COLUMN",
        help="the outcome column sent as feedback (default: the server's label_column, "
        "graft.yaml predictions.label)",
    )
    parser.add_argument("--limit", type=whole(1), help="send at most this many rows (the first ones)")
    parser.add_argument(
        "--shift", action="append", default=[], metavar="COL=+N|-N|*N", help="move a numeric input"
    )
    parser.add_argument(
        "--mix",
        action="append",
        default=[],
        metavar="COL=CAT:SHARE",
        help="rewrite a share of a categorical input to one category",
    )
    parser.add_argument(
        "--ratio", action="append", default=[], metavar="COL=CAT:SHARE", help="resample a group's share"
    )
    parser.add_argument(
        "--flip-labels", type=share, default=0.0, metavar="SHARE", help="replace this share of outcomes"
    )
    parser.add_argument(
        "--feedback-rate",
        type=share,
        default=1.0,
        help="share of rows that get feedback (0: no feedback, no outcome column needed)",
    )
    parser.add_argument(
        "--feedback-delay",
        type=seconds(limits.FEEDBACK_DELAY_SECONDS),
        default=0.0,
        metavar="SECONDS",
        help="wait before feedback",
    )
    parser.add_argument(
        "--batch-size",
        type=whole(1, limits.REPLAY_BATCH_ROWS),
        default=50,
        help="records per /predict request",
    )
    parser.add_argument(
        "--seed",
        type=whole(0, SEED_MAX),
        default=0,
        help="seed of the induced drift and of which rows get feedback (default: 0)",
    )
    add_format(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    with ui.progress() as progress:
        started: list[int] = []

        def sent(done: int, total: int) -> None:
            if not started:
                started.append(total)
                progress.step(f"sending rows to {args.url}", total=total)
            progress.update(done)

        result = api.replay(
            args.data,
            args.url,
            where=args.where,
            label=args.label,
            limit=args.limit,
            shifts=args.shift,
            mixes=args.mix,
            ratios=args.ratio,
            flip_labels=args.flip_labels,
            feedback_rate=args.feedback_rate,
            feedback_delay=args.feedback_delay,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=sent,
        )
    if ui.json_mode:
        from graft.monitoring.replay import ReplaySummary

        ui.json(ReplaySummary.of(result))
        return 0
    ui.out(
        f"replayed {result.rows} rows in {result.requests} requests, {result.feedback} feedback events "
        f"({result.flipped} flipped) in {result.seconds:.1f} s; "
        f"{result.rejected} row(s) rejected by the server"
        + (f"; {result.without_outcome} row(s) without an outcome" if result.without_outcome else "")
    )
    for line in result.rejections:
        ui.out(f"  rejected: {line}")
    return 0
