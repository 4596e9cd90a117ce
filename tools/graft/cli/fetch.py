"""`graft fetch`: resolve a released version by name or stage and fetch its verified package."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api
from graft.cli.common import Ui, add_format, path_arg
from graft.project.paths import PACKAGES_DIR


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref",
        nargs="?",
        metavar="MODEL[@vX.Y.Z|#STAGE]",
        help="the version: MODEL@vX.Y.Z, MODEL#STAGE, a GTO tag name, or MODEL (its latest version); "
        "default: the project's model",
    )
    parser.add_argument("--stage", help="the version in this stage")
    parser.add_argument("--version", dest="model_version", metavar="vX.Y.Z", help="this version")
    parser.add_argument("--out", type=path_arg, help=f"folder for the package (default: {PACKAGES_DIR}/)")
    parser.add_argument(
        "--missing-ok",
        action="store_true",
        help="when no version is in the stage, say so and exit 0 (outputs: found=false)",
    )
    parser.add_argument(
        "--outputs",
        type=path_arg,
        metavar="FILE",
        help="append found=, model=, version=, tag=, commit=, stage=, package=, sha256= lines "
        "(e.g. $GITHUB_OUTPUT)",
    )
    add_format(parser)
    parser.set_defaults(handler=run)


def _write_outputs(path: Path, values: dict[str, str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in values.items())


def run(args: argparse.Namespace, ui: Ui) -> int:
    from graft.release.fetch import EmptyStage

    try:
        fetched = api.fetch_package(ui.root, args.ref, args.model_version, args.stage, args.out)
    except EmptyStage as exc:
        if not args.missing_ok:
            raise
        ui.message(f"graft fetch: {exc}; nothing fetched")
        if args.outputs is not None:
            _write_outputs(args.outputs, {"found": "false"})
        if ui.json_mode:
            from graft.release.fetch import FetchSummary

            ui.json(FetchSummary.missing(str(exc)))
        return 0
    release = fetched.release
    values = {
        "found": "true",
        "model": release.model,
        "version": release.version,
        "tag": release.tag,
        "commit": release.commit,
        "stage": fetched.resolved.stage or "",
        "package": str(fetched.path),
        "sha256": fetched.sha256,
    }
    if args.outputs is not None:
        _write_outputs(args.outputs, values)
    if ui.json_mode:
        from graft.release.fetch import FetchSummary

        ui.json(FetchSummary.found(fetched))
        return 0
    stage = f" ({fetched.resolved.stage})" if fetched.resolved.stage else ""
    ui.out(f"{release.model} v{release.version}{stage}: {fetched.path}")
    ui.out(f"sha256 {fetched.sha256} matches {release.tag} (from {fetched.source})")
    return 0
