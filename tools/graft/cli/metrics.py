"""`graft metrics`: the working tree's headline metrics and gate result, one per line."""

from __future__ import annotations

import argparse

from graft import api
from graft.cli.common import Ui, add_format, add_offline


def register(parser: argparse.ArgumentParser) -> None:
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    summary = api.headline_metrics(ui.root)
    if ui.json_mode:
        from graft.release.check import MetricsResult

        ui.json(MetricsResult(metrics=summary["metrics"], gate=summary["gate"]))
        return 0
    width = max([len(k) for k in summary["metrics"]] + [len("gate")])
    for key, value in summary["metrics"].items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        ui.out(f"{key:<{width}}  {shown}")
    gate = summary["gate"]
    ui.out(f"{'gate':<{width}}  {'passed' if gate else 'FAILED' if gate is False else 'not run'}")
    return 0
