"""`graft package`: build the release archive of the current pipeline outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist/)")
    parser.add_argument(
        "--version", dest="pkg_version", help="package version X.Y.Z (default 0.0.0+g<commit>)"
    )
    parser.add_argument("--allow-dirty", action="store_true", help="package despite uncommitted changes")
    parser.add_argument("-C", dest="root", type=Path, default=Path(), help="project folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = api.package(args.root, args.out, version=args.pkg_version, allow_dirty=args.allow_dirty)
    print(f"{result.path}  sha256:{result.sha256}  ({len(result.files)} files)")
    return 0
