"""`graft ui`: the project's experiments, models and searches in a local, read-only web page.

Serves on 127.0.0.1 unless ``--host`` is given (then one warning line: anyone who can reach
that address can read the project's params, metrics and commit messages); prints the URL and
serves until interrupted. ``--export DIR`` writes the pages as static HTML instead.
"""

from __future__ import annotations

import argparse

from graft.cli.common import Ui, add_base, add_bootstrap, path_arg, whole

EXTRA = "serve"  # FastAPI and uvicorn
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=whole(0, 65535), default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    parser.add_argument(
        "--host", default=None, help=f"address to bind ({DEFAULT_HOST}; another one is reachable by others)"
    )
    add_base(parser, "the experiments are compared with")
    parser.add_argument(
        "--monitor", type=path_arg, help="a `graft monitor --json FILE` result to show on Models"
    )
    parser.add_argument(
        "--export", type=path_arg, metavar="DIR", help="write the pages as static HTML into DIR"
    )
    add_bootstrap(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    from graft.core.errors import UsageError
    from graft.ui.pages.common import Site

    if args.monitor is not None and not args.monitor.is_file():
        raise UsageError(f"--monitor {args.monitor}: no such file")
    site = Site(ui.root, base=args.base, monitor=args.monitor, resamples=args.resamples, seed=args.seed)
    site.resolve(args.base, "base revision")
    if args.export is not None:
        from graft.ui.export import export

        with ui.progress() as progress:
            written = export(site, args.export, progress=lambda f: progress.step(f"writing {f}"))
        ui.out(f"wrote {len(written)} pages into {args.export} (open {args.export / 'index.html'})")
        return 0
    from graft.ui.app import run as serve

    host = args.host or DEFAULT_HOST
    if args.host is not None and args.host not in ("127.0.0.1", "localhost", "::1"):
        import logging

        logging.getLogger("graft").warning(
            "serving on %s, not loopback: anyone who can reach it reads this project", host
        )
    shown = f"[{host}]" if ":" in host else host
    ui.message(f"graft ui: http://{shown}:{args.port}/ (base {args.base}; Ctrl-C stops)")
    serve(site, host, args.port)
    return 0
