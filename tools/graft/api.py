"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graft.packaging import LoadedPackage, PackageResult
    from graft.serving.server import Server


def package(
    root: Path, out_dir: Path, version: str | None = None, allow_dirty: bool = False
) -> PackageResult:
    """Build the release archive of the current (up-to-date, committed) pipeline outputs."""
    from graft.packaging import package as build

    return build(Path(root), Path(out_dir), version=version, allow_dirty=allow_dirty)


def open_package(path: Path, workdir: Path | None = None) -> LoadedPackage:
    """Verify a package (archive or folder) against its manifest and open it."""
    from graft.packaging import load_package

    return load_package(Path(path), workdir)


def serve(
    package: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_db: str = "sqlite:///predictions.db",
    max_body_bytes: int = 8 * 1024 * 1024,
) -> Server:
    """Verify and load a package, open the prediction log and return a server ready to ``run()``."""
    from graft.serving.server import build_server

    return build_server(Path(package), host, port, log_db, max_body_bytes)


def serve_openapi(package: Path) -> str:
    """The serving app's OpenAPI document for a package, as canonical JSON."""
    from graft.serving.server import openapi_document

    return openapi_document(Path(package))
