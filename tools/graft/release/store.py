"""Where released packages are kept: the project's default DVC remote, beside the data and model.

The one primary store of release packages is the DVC remote the project already pushes its data
and model to (``core.remote`` in ``.dvc/config``), under a fixed prefix::

    <remote>/graft/packages/<model>/<model>-<version>.tar.gz

So a package is reached with the credentials that already reach the model (S3 keys, an OIDC
role, ...), by anything that can read the remote, and outside DVC's content-addressed
``files/md5/`` tree, so ``dvc gc --cloud`` never deletes it. The store is not the trust root:
the archive's SHA-256 is in the release tag's annotation, and :mod:`graft.release.fetch`
refuses a download that does not match it.

Uploads go to a temporary name beside the target and are then moved into place, so a reader
never sees half a package; re-uploading the same version replaces the object (only allowed
before the version's tag exists: see :func:`graft.release.versions.release`).

A checkout also has its own package folder, ``.graft/packages/`` (:data:`LOCAL_DIR`):
:mod:`graft.release.fetch` looks there first and downloads
into it; a release that uploads nowhere (no default DVC remote, or ``--no-upload``) keeps its
package there (:func:`keep_local`), so ``serve``/``monitor``/``fetch --stage`` find it in that
checkout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graft.core.errors import GraftError
from graft.project.paths import PACKAGES_DIR

PREFIX = ("graft", "packages")
LOCAL_DIR = PACKAGES_DIR  # a checkout's own packages (relative to the project root)


class StoreError(GraftError):
    pass


@dataclass
class PackageStore:
    """The packages folder of one DVC remote (its filesystem through DVC, credentials included)."""

    remote: str
    fs: Any
    base: str
    url: str

    def location(self, model: str, file_name: str) -> str:
        return self.fs.join(self.base, *PREFIX, model, file_name)

    def where(self, model: str, file_name: str) -> str:
        """The location as the user configured the remote (for messages)."""
        return "/".join([self.url.rstrip("/"), *PREFIX, model, file_name])

    def _fail(self, action: str, model: str, file_name: str, exc: BaseException) -> StoreError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return StoreError(
            f"could not {action} {self.where(model, file_name)} (DVC remote '{self.remote}'): {detail}"
        )

    def exists(self, model: str, file_name: str) -> bool:
        try:
            return bool(self.fs.exists(self.location(model, file_name)))
        except Exception as exc:  # any backend's error (OSError, botocore, ...) -> one line naming the object
            raise self._fail("check", model, file_name, exc) from exc

    def upload(self, archive: Path, model: str) -> str:
        """Put ``archive`` at its place in the store (temporary name, then moved); its location."""
        target = self.location(model, archive.name)
        temporary = f"{target}.{uuid.uuid4().hex}.partial"
        try:
            self.fs.makedirs(self.fs.parent(target), exist_ok=True)
            self.fs.put_file(str(archive), temporary)
            self.fs.mv(temporary, target)
        except BaseException as exc:  # a backend's error, or a signal (Interrupted): no partial object
            try:
                if self.fs.exists(temporary):
                    self.fs.rm(temporary)
            except Exception:  # cleanup is best effort; the original error is what matters
                pass
            if not isinstance(exc, Exception):
                raise
            raise self._fail("upload", model, archive.name, exc) from exc
        return self.where(model, archive.name)

    def download(self, model: str, file_name: str, dest: Path, sha256: str) -> Path:
        """Download to ``dest`` (temporary file, checked against ``sha256``, then renamed)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        os.close(fd)
        try:
            try:
                self.fs.get_file(self.location(model, file_name), temporary)
            except Exception as exc:  # any backend's error -> one line naming the object
                raise self._fail("download", model, file_name, exc) from exc
            found = file_sha256(Path(temporary))
            if found != sha256:
                raise StoreError(
                    f"{self.where(model, file_name)} has SHA-256 {found}, but the release tag records "
                    f"{sha256}: refusing the package (altered or replaced in the store)"
                )
            Path(temporary).replace(dest)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return dest


def keep_local(root: Path, archive: Path) -> Path:
    """``archive`` in the checkout's package folder (temporary name, then renamed); its path there."""
    from graft.project import find_root

    folder = find_root(root) / LOCAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / archive.name
    if target.exists() and target.resolve() == archive.resolve():
        return target
    if target.is_file() and file_sha256(target) == file_sha256(archive):
        return target
    fd, temporary = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".partial", dir=folder)
    os.close(fd)
    try:
        shutil.copyfile(archive, temporary)
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_remote(root: Path) -> str | None:
    """The project's default DVC remote name (``core.remote``), or None when there is none."""
    from dvc.repo import Repo

    if not (Path(root) / ".dvc").is_dir():
        return None
    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        return str(name) if name else None


def open_store(root: Path) -> PackageStore | None:
    """The packages folder on the project's default DVC remote; None when no default remote is set."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    if not (Path(root) / ".dvc").is_dir():
        return None
    with Repo(str(root)) as repo:
        name = repo.config["core"].get("remote")
        if not name:
            return None
        try:
            remote = repo.cloud.get_remote(name, command="push")
        except DvcException as exc:
            raise StoreError(f"DVC remote '{name}' (the default remote) cannot be opened: {exc}") from exc
        url = str(repo.config["remote"].get(name, {}).get("url", remote.path))
        return PackageStore(str(name), remote.fs, remote.path, url)
