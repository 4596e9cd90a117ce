"""The package archive: a gzip'd POSIX tar of one folder, written deterministically and read back
without trusting it.

Writing (:func:`deterministic_targz`): sorted members, regular files only, fixed owner and modes,
one mtime, gzip without a name or timestamp, so equal contents give equal bytes.

Reading (:func:`extract`, :func:`read_member`) never uses ``tarfile``'s extraction or its
filters (``filter="data"`` is bypassed by a symlink/hard-link chain before Python 3.11.13,
CVE-2025-4517). It makes two passes over the decompressed stream:

1. **check** — nothing is written. Every member must be a regular file or a folder (symbolic and
   hard links, devices, FIFOs and sparse files are refused by name); every name a plain relative
   POSIX path (no ``..``, ``.``, empty, absolute, backslash, control-character or non-UTF-8
   component) inside the one top-level folder, given once; the member count, every declared size,
   their total and the decompression ratio within :mod:`graft.core.limits` (``PACKAGE_*``);
   ``manifest.json`` at most ``MANIFEST_BYTES``, of this graft's format, naming exactly the other
   files; every file's SHA-256 (hashed as it streams past, never held in memory) equal to the
   manifest's.
2. **extract** — the same stream again into a new folder: each file created exclusively, never
   through a link, hashed again as written; any difference from the first pass (the archive
   changed in between) removes the folder.

A failure raises :class:`ArchiveError` naming the archive and the member at fault and leaves
nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from graft.core import limits
from graft.core.errors import GraftError

MANIFEST = "manifest.json"
PACKAGE_FORMAT = 2
CHUNK = 1024 * 1024
# extended headers (PAX records, GNU long names) are read into memory by tarfile: bound them
EXTENDED_HEADER_BYTES = 64 * 1024
RATIO_AFTER_BYTES = 16 * 1024 * 1024
ONLY = "a package holds only files and folders"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TYPE_NAMES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class PackageError(GraftError):
    """A package that cannot be built or read."""


class ArchiveError(PackageError):
    """A package archive (or extracted package folder) that graft refuses to read."""


# --- writing ---------------------------------------------------------------------------------


def deterministic_targz(folder: str, files: dict[str, bytes], mtime: int) -> bytes:
    """``files`` (name -> bytes) under ``folder/`` as a reproducible ``.tar.gz``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(files[name])
            info.mtime = mtime
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


# --- names and manifests -----------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain relative POSIX path of a package member, or None."""
    if name == "":
        return "is empty"
    if len(name.encode("utf-8", "surrogatepass")) > limits.PACKAGE_NAME_BYTES.value():
        return (
            f"is longer than {limits.PACKAGE_NAME_BYTES.value()} bytes ({limits.PACKAGE_NAME_BYTES.variable})"
        )
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        return "is not valid UTF-8"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is absolute"
    parts = name.split("/")
    if ".." in parts:
        return "has a '..' component"
    if "." in parts or "" in parts:
        return "has an empty or '.' component"
    if any(len(part.encode()) > 255 for part in parts):
        return "has a component longer than 255 bytes"
    return None


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """The manifest's JSON, checked: this graft's format, a ``files`` table of plain names and
    SHA-256 digests (``where`` names the file in messages)."""
    if len(data) > limits.MANIFEST_BYTES.value():
        raise ArchiveError(
            f"{where}: larger than {limits.MANIFEST_BYTES.value()} bytes ({limits.MANIFEST_BYTES.variable})"
        )
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        raise ArchiveError(f"{where}: unreadable manifest (not JSON)") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArchiveError(f"{where}: unreadable manifest (no 'files' table)")
    if manifest.get("format") != PACKAGE_FORMAT:
        raise ArchiveError(
            f"{where}: package format {manifest.get('format')!r}, this graft reads format "
            f"{PACKAGE_FORMAT}: rebuild the package with `graft package`"
        )
    for name, digest in manifest["files"].items():
        problem = name_problem(name)
        if problem is not None or name == MANIFEST:
            raise ArchiveError(f"{where}: file name {name!r} {problem or 'is reserved'}")
        if not isinstance(digest, str) or not SHA256_RE.match(digest):
            raise ArchiveError(f"{where}: file '{name}' has no SHA-256 digest")
    return manifest


def compare_to_manifest(where: str, manifest: dict[str, Any], digests: dict[str, str]) -> None:
    """Refuse, by name, a file the manifest lists but ``digests`` lacks, one it does not list, or
    one whose SHA-256 differs."""
    expected: dict[str, str] = manifest["files"]
    for name in sorted(set(expected) - set(digests)):
        raise ArchiveError(f"{where}: file '{name}' listed in the manifest is missing")
    for name in sorted(set(digests) - set(expected)):
        raise ArchiveError(f"{where}: file '{name}' is not listed in the manifest")
    for name in sorted(expected):
        if digests[name] != expected[name]:
            raise ArchiveError(
                f"{where}: file '{name}' does not match its SHA-256 in the manifest (tampered?)"
            )


# --- the bounded stream ----------------------------------------------------------------------


class _Counted(io.RawIOBase):
    """The compressed file, counting what was read."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.handle.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return int(n or 0)


class _Decompressed(io.RawIOBase):
    """The tar stream: gzip decompressed in bounded steps, refused past the total or the ratio."""

    def __init__(self, archive: Path, handle: IO[bytes]) -> None:
        self.archive = archive
        self.compressed = _Counted(handle)
        self.gz = gzip.GzipFile(fileobj=self.compressed, mode="rb")
        self.count = 0
        # headers and padding come on top of the files' bytes
        self.total = limits.PACKAGE_BYTES.value() + 1024 * limits.PACKAGE_MEMBERS.value() + CHUNK
        self.ratio = limits.PACKAGE_RATIO.value()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self.gz.read(min(len(view), CHUNK))
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"{self.archive}: not a readable package archive ({exc})") from None
        n = len(data)
        view[:n] = data
        self.count += n
        if self.count > self.total:
            raise ArchiveError(
                f"{self.archive}: decompresses to more than {limits.PACKAGE_BYTES.value()} bytes "
                f"({limits.PACKAGE_BYTES.variable})"
            )
        if self.count > RATIO_AFTER_BYTES and self.count > self.ratio * max(self.compressed.count, 1):
            raise ArchiveError(
                f"{self.archive}: decompresses to more than {self.ratio} times its size, a "
                f"decompression bomb ({limits.PACKAGE_RATIO.variable})"
            )
        return n


class _Header(tarfile.TarInfo):
    """tarfile's header parser with the reads it makes into memory bounded."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        extended = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
        long_names = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
        if self.type in (*extended, *long_names) and self.size > EXTENDED_HEADER_BYTES:
            raise ArchiveError(f"an extended header of {self.size} bytes (at most {EXTENDED_HEADER_BYTES})")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveError(f"member '{self.name}' is a sparse file; {ONLY}")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


@dataclass(frozen=True)
class _Scan:
    """What the check pass found."""

    folder: str
    files: dict[str, str]  # name inside the folder -> SHA-256
    manifest: dict[str, Any]


def _members(archive: Path) -> Iterator[tuple[str, IO[bytes] | None]]:
    """Each member of ``archive``, checked for type, name and size, as (its full name, its data
    stream, or None for a folder). Every name lies inside the first name's top-level folder."""
    files: set[str] = set()
    folders: set[str] = set()
    explicit: set[str] = set()
    total = 0
    top: str | None = None
    max_members = limits.PACKAGE_MEMBERS.value()
    max_bytes = limits.PACKAGE_BYTES.value()
    try:
        with archive.open("rb") as handle:
            stream = _Decompressed(archive, handle)
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_Header) as tar:
                for count, info in enumerate(tar, start=1):
                    if count > max_members:
                        variable = limits.PACKAGE_MEMBERS.variable
                        raise ArchiveError(f"more than {max_members} members ({variable})")
                    is_dir = info.isdir()
                    name = info.name.removesuffix("/") if is_dir else info.name
                    problem = name_problem(name)
                    if problem is not None:
                        raise ArchiveError(f"member name {name!r} {problem}")
                    kind = "a sparse file" if info.sparse is not None else TYPE_NAMES.get(info.type)
                    if kind is None and not (info.isreg() or is_dir):
                        kind = f"of tar type {info.type!r}"
                    if kind is not None:
                        raise ArchiveError(f"member '{name}' is {kind}; {ONLY}")
                    first = name.split("/", 1)[0]
                    top = first if top is None else top
                    if first != top:
                        raise ArchiveError(f"expected one top-level folder, found '{top}/' and '{first}/'")
                    if "/" not in name and not is_dir:
                        raise ArchiveError(f"member '{name}' is outside the package folder '{top}/'")
                    parents = {name.rsplit("/", k)[0] for k in range(1, name.count("/") + 1)}
                    clash = name in files or name in explicit or (not is_dir and name in folders)
                    if clash or parents & files:
                        raise ArchiveError(f"member '{name}' appears twice (as a file or as a folder)")
                    folders |= parents
                    if is_dir:
                        explicit.add(name)
                        folders.add(name)
                        yield name, None
                        continue
                    files.add(name)
                    total += info.size
                    if total > max_bytes:
                        raise ArchiveError(
                            f"member '{name}' declares {info.size} bytes; a package's files may total "
                            f"at most {max_bytes} bytes ({limits.PACKAGE_BYTES.variable})"
                        )
                    yield name, tar.extractfile(info)
    except (tarfile.TarError, ValueError, UnicodeError, OverflowError) as exc:
        # tarfile lets ValueError out of malformed PAX and sparse headers
        name = exc.__class__.__name__
        raise ArchiveError(f"{archive}: not a readable package archive ({name}: {exc})") from None
    except ArchiveError as exc:
        if str(exc).startswith(f"{archive}: "):
            raise
        raise ArchiveError(f"{archive}: {exc}") from None
    if top is None:
        raise ArchiveError(f"{archive}: an empty archive (not a graft package)")


def _copy(source: IO[bytes], sink: Callable[[bytes], Any] | None = None) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        if sink is not None:
            sink(chunk)
    return digest.hexdigest()


def _inner(name: str) -> str:
    return name.partition("/")[2]


def _scan(archive: Path) -> _Scan:
    """The check pass: nothing is written."""
    folder = ""
    files: dict[str, str] = {}
    manifest_bytes: bytes | None = None
    for name, data in _members(archive):
        folder = folder or name.split("/", 1)[0]
        if data is None:
            continue
        if _inner(name) == MANIFEST:
            manifest_bytes = data.read(limits.MANIFEST_BYTES.value() + 1)
            files[MANIFEST] = hashlib.sha256(manifest_bytes).hexdigest()
        else:
            files[_inner(name)] = _copy(data)
    if manifest_bytes is None:
        raise ArchiveError(f"{archive}: no {MANIFEST} (not a graft package)")
    manifest = parse_manifest(manifest_bytes, f"{archive}: {MANIFEST}")
    compare_to_manifest(str(archive), manifest, {n: d for n, d in files.items() if n != MANIFEST})
    return _Scan(folder, files, manifest)


def check(archive: Path) -> dict[str, Any]:
    """The check pass alone (nothing is written): the archive's manifest, once every member has
    passed the checks :func:`extract` makes."""
    return _scan(Path(archive)).manifest


@dataclass(frozen=True)
class Extracted:
    """A checked, extracted package folder and its parsed manifest."""

    root: Path
    manifest: dict[str, Any]


def extract(archive: Path, dest: Path) -> Extracted:
    """Check ``archive``, then extract its one folder into ``dest`` (created if needed; the
    package folder must not exist there yet). Nothing is written unless every check passes, and
    nothing is left behind when one fails."""
    archive = Path(archive)
    scan = _scan(archive)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / scan.folder
    try:
        root.mkdir()
    except FileExistsError:
        raise ArchiveError(f"{archive}: {root} already exists; extract into an empty folder") from None
    try:
        written: dict[str, str] = {}
        for name, data in _members(archive):
            inner = _inner(name)
            target = root.joinpath(*inner.split("/")) if inner else root
            if data is None:
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                written[inner] = _copy(data, out.write)
        if written != scan.files:
            raise ArchiveError(f"{archive}: changed while it was read; try again")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Extracted(root, scan.manifest)


def read_member(archive: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of the file ``name`` (inside the package folder) of ``archive``, its members
    checked as :func:`extract` checks them."""
    for member, data in _members(Path(archive)):
        if data is not None and _inner(member) == name:
            content = data.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise ArchiveError(f"{archive}: member '{member}' is larger than {max_bytes} bytes")
            return content
    raise ArchiveError(f"{archive}: no member '{name}'")


def folder_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under an extracted package ``folder`` (relative POSIX names); a
    symbolic link or anything else but files and folders there is refused by name."""
    out: dict[str, str] = {}
    for base, dirs, names in os.walk(folder, followlinks=False):
        for entry in [*dirs, *names]:
            path = Path(base) / entry
            relative = path.relative_to(folder).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"{folder}: '{relative}' is a symbolic link; {ONLY}")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise ArchiveError(f"{folder}: '{relative}' is not a regular file")
            with path.open("rb") as handle:
                out[relative] = _copy(handle)
    return out
