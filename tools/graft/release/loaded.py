"""A package read back: verified against its manifest and extracted (:func:`load_package`,
:func:`verify_folder`), then read as :class:`LoadedPackage` (settings, schema, code, reference
rows and test predictions), for `graft serve`, `monitor` and `reproduce`."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from graft.core.safeload import load_json
from graft.release.archive import (
    MANIFEST,
    PackageError,
    compare_to_manifest,
    extract,
    folder_digests,
    parse_manifest,
)
from graft.release.contents import CODE_DIR, PARAMS, PREDICTIONS, SCHEMA, SETTINGS, sha256_bytes, spec_of

if TYPE_CHECKING:
    from graft.project.settings import Settings
    from graft.release.adapter import Adapter


# --- reading a package back ------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedPackage:
    """A verified package folder and what its files say."""

    root: Path
    manifest: dict[str, Any]

    def path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def json(self, name: str) -> Any:
        """A JSON file of the package, parsed within the document limits (errors name it)."""
        return load_json(self.read(name), f"{self.label}: {name}")

    @property
    def name(self) -> str:
        return str(self.manifest.get("model", "model"))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "0.0.0"))

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"

    @cached_property
    def settings(self) -> Settings:
        """The project's graft settings as packaged (task, predictions, monitor thresholds)."""
        from pydantic import ValidationError

        from graft.project.settings import Settings

        try:
            return Settings.model_validate(self.json(SETTINGS))
        except (ValidationError, ValueError, OSError) as exc:
            raise PackageError(f"{self.label}: {SETTINGS} is unreadable ({exc.__class__.__name__})") from None

    @property
    def model_file(self) -> Path:
        return self.path(str(self.manifest["model_file"]))

    @property
    def schema(self) -> dict[str, Any]:
        return dict(self.json(SCHEMA))

    def code(self) -> dict[str, bytes]:
        """The shipped serving code: project path -> bytes, each checked against the manifest."""
        prefix = f"{CODE_DIR}/"
        out: dict[str, bytes] = {}
        for name, digest in self.manifest["files"].items():
            if name.startswith(prefix):
                data = self.read(name)
                if sha256_bytes(data) != digest:
                    raise PackageError(
                        f"{self.label}: file '{name}' does not match its SHA-256 in the manifest"
                    )
                out[name.removeprefix(prefix)] = data
        return out

    def adapter(self) -> Adapter:
        """The shipped serving adapter, loaded from the package's own code (never from the environment)."""
        from graft.release.adapter import load

        entry = str(self.manifest["adapter"]).removeprefix(f"{CODE_DIR}/")
        return load(self.code(), entry, f"package {self.label}")

    def spec(self) -> dict[str, Any]:
        """The adapter's ``spec``: the package's data files parsed."""
        files = {
            n: self.read(n) for n in [*self.settings.package.files, PARAMS] if n in self.manifest["files"]
        }
        return spec_of(self.settings, files)

    def predictions_file(self) -> Path | None:
        found = [n for n in self.manifest["files"] if PurePosixPath(n).stem == PREDICTIONS]
        return self.path(found[0]) if found else None

    def reference_scores(self) -> Any:
        """The committed test predictions' scores (1-D, or 2-D per class), as settings describe them."""
        import numpy as np

        from graft.release.reference import read_table

        path = self.predictions_file()
        if path is None:
            return None
        score = self.settings.predictions.score
        columns = [score] if isinstance(score, str) else list(score)
        table = read_table(path.read_bytes(), str(path), columns)
        return (
            table[score].to_numpy()
            if isinstance(score, str)
            else np.column_stack([table[c] for c in columns])
        )


def verify_folder(folder: Path) -> dict[str, Any]:
    """Check every file of an extracted package folder against its manifest; an extra, missing
    or altered file, a link or a special file is refused by name."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise PackageError(f"{folder}: no {MANIFEST} (not a graft package)")
    manifest = parse_manifest(manifest_path.read_bytes(), str(manifest_path))
    digests = folder_digests(folder)
    digests.pop(MANIFEST, None)
    compare_to_manifest(str(folder), manifest, digests)
    return manifest


def load_package(path: Path, workdir: Path | None = None) -> LoadedPackage:
    """Open a package (archive or extracted folder) after verifying it against its manifest; an
    archive is checked member by member before anything is extracted (graft.release.archive)."""
    path = Path(path)
    if not path.exists():
        raise PackageError(f"{path}: no such package")
    if path.is_dir() and not (path / MANIFEST).is_file():
        archives = sorted(path.glob("*.tar.gz"))
        if len(archives) != 1:
            raise PackageError(
                f"{path}: expected a package folder or a folder with one .tar.gz, found {len(archives)}"
            )
        path = archives[0]
    if path.is_dir():
        return LoadedPackage(path, verify_folder(path))
    if workdir is not None:
        extracted = extract(path, Path(workdir))
        return LoadedPackage(extracted.root, extracted.manifest)
    temporary = Path(tempfile.mkdtemp(prefix="graft-package-"))
    try:
        extracted = extract(path, temporary)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return LoadedPackage(extracted.root, extracted.manifest)
