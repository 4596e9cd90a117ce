"""`graft serve`: serve a model package over HTTP (and gRPC, with --grpc-port) with a prediction log."""

from __future__ import annotations

import argparse
from pathlib import Path

from graft import api
from graft.cli import modelref
from graft.cli.common import PORT_MAX, Ui, path_arg, whole
from graft.core import limits
from graft.project.paths import COMPILED_DIR
from graft.serving import DEFAULT_HOST, DEFAULT_LOG_DB, DEFAULT_LOG_DURABILITY, DEFAULT_PORT, LOG_DURABILITIES

EXTRA = "serve"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "package", type=path_arg, nargs="?", help="package archive (.tar.gz) or extracted folder (or --model)"
    )
    modelref.add_arguments(parser)
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=whole(1, PORT_MAX), default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--grpc-port",
        type=whole(1, PORT_MAX),
        help="also serve the Open Inference Protocol's gRPC service (inference.GRPCInferenceService) "
        f"on this port (messages up to {limits.GRPC_MESSAGE_BYTES.default // limits.MIB} MiB, "
        f"{limits.GRPC_MESSAGE_BYTES.variable})",
    )
    parser.add_argument(
        "--log-db",
        default=DEFAULT_LOG_DB,
        help=f"prediction log: sqlite:///PATH (default {DEFAULT_LOG_DB}) or postgresql://...",
    )
    parser.add_argument(
        "--log-durability",
        choices=LOG_DURABILITIES,
        default=DEFAULT_LOG_DURABILITY,
        help="async (default): answer at once and commit the log row in the background (a crash "
        "can lose the last few milliseconds of rows); commit: answer only once the request's row "
        "is committed (concurrent requests share a transaction; a failed commit answers 503)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=whole(1, limits.MAX_BODY_BYTES),
        help="largest accepted request body; larger ones get 413 "
        f"(default {limits.REQUEST_BODY_BYTES.default}, or {limits.REQUEST_BODY_BYTES.variable})",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="score batches over 256 rows with an LLVM-compiled copy of the model (lleaves; "
        "several times faster, agrees with LightGBM to ~1e-15; first start compiles for ~20 s)",
    )
    parser.add_argument(
        "--compile-cache",
        type=path_arg,
        default=Path(COMPILED_DIR),
        help=f"where compiled models are kept, by SHA-256 (default {COMPILED_DIR})",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web origin (scheme://host[:port]) whose pages may call the API from a browser, with "
        "CORS headers; repeat for several. Other browsers' cross-site requests get 403",
    )
    parser.add_argument(
        "--print-openapi", action="store_true", help="print the OpenAPI document (JSON) and exit"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: Ui) -> int:
    package = modelref.package_path(args, args.package, ui)
    if args.print_openapi:
        ui.stdout.write(api.serve_openapi(package))
        return 0
    compile_cache = args.compile_cache if args.compile else None
    if compile_cache is not None:
        ui.message(f"graft serve: loading the compiled model (compiled into {compile_cache} on first use)")
    server = api.serve(
        package,
        args.host,
        args.port,
        args.log_db,
        args.max_body_bytes,
        compile_cache,
        args.log_durability,
        args.allow_origin,
        args.grpc_port,
    )
    grpc = f", gRPC on {server.grpc_address}" if server.grpc_address else ""
    ui.message(
        f"graft serve: {server.model.name} {server.model.version} on {server.url}{grpc} "
        f"(log: {server.log.display_url}, durability {server.log.durability})"
    )
    server.run()
    return 0
