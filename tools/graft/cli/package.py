"""`graft package`: build the release archive of the current pipeline outputs."""

from __future__ import annotations

import argparse
from typing import Any

from graft import api
from graft.cli.common import Ui, add_format, add_offline, path_arg


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=path_arg, help="output folder (default: dist/ at the project root)")
    parser.add_argument(
        "--version", dest="pkg_version", help="package version X.Y.Z (default 0.0.0+g<commit>)"
    )
    parser.add_argument("--allow-dirty", action="store_true", help="package despite uncommitted changes")
    add_format(parser)
    add_offline(parser)
    parser.set_defaults(handler=run)


def check_line(result: Any) -> str:
    """What `graft package` found the model to be, and whether it reproduces its predictions."""
    flavour = result.flavour
    framework = f" ({flavour['framework']} {flavour['version']})" if flavour.get("framework") else ""
    check = result.prediction_check
    if check.get("rows"):
        done = (
            f"reproduces its {check['rows']} test predictions (max |difference| "
            f"{check['max_abs_difference']:.3g}, tolerance {check['tolerance']:g})"
        )
    else:
        done = f"predictions not compared: {check.get('not_run', 'no rows')}"
    return f"model: {flavour.get('name')}{framework}; {done}"


def run(args: argparse.Namespace, ui: Ui) -> int:
    out = (args.out if args.out is not None else ui.root / "dist").resolve()  # JSON paths are absolute
    with ui.progress() as progress:
        progress.step("building the release package")
        result = api.package(ui.root, out, version=args.pkg_version, allow_dirty=args.allow_dirty)
    if ui.json_mode:
        from graft.release.package import PackageSummary

        ui.json(PackageSummary.of(result))
    else:
        ui.out(f"{result.path}  sha256:{result.sha256}  ({len(result.files)} files)")
        ui.out(check_line(result))
    return 0
