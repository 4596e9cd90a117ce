"""`graft metrics`: the working tree's headline metrics and gate result, one per line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graft import api


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    summary = api.headline_metrics(args.root)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    width = max(len(k) for k in summary["metrics"])
    for key, value in summary["metrics"].items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    gate = summary["gate"]
    print(f"{'gate':<{width}}  {'passed' if gate else 'FAILED' if gate is False else 'not run'}")
    return 0
