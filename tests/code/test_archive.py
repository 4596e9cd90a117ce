"""Hostile package archives: a corpus of archives that must be refused before anything is written.

Each case builds an archive from a small valid package (the layout ``graft package`` writes) and
names the message graft must give. Every case runs in a sandbox holding a victim folder beside
the extraction folder; the whole sandbox is snapshot before and after (paths, types, bytes,
link targets), so a write anywhere — outside, or a half-extracted package inside — fails the
test. A bomb runs in a child process whose peak memory is asserted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from graft.core import limits
from graft.release.archive import (
    MANIFEST,
    PACKAGE_FORMAT,
    ArchiveError,
    deterministic_targz,
    extract,
    read_member,
)
from graft.release.package import PackageError, load_package

FOLDER = "demo-1.0.0"
GOOD = {
    "model.txt": b"tree\nversion=v4\n" * 50,
    "schema.json": b'{"properties": {"x": {"type": "number"}}}',
    "code/serving.py": b"def encode(records, spec):\n    return records\n",
}


def manifest(files: dict[str, bytes], **extra: object) -> bytes:
    document = {
        "format": PACKAGE_FORMAT,
        "model": "demo",
        "version": "1.0.0",
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
        **extra,
    }
    return json.dumps(document, sort_keys=True).encode()


def package_files(files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    files = dict(GOOD if files is None else files)
    return {**files, MANIFEST: manifest(files)}


def good_archive() -> bytes:
    return deterministic_targz(FOLDER, package_files(), 1_700_000_000)


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A .tar.gz of hand-made members (info, data); data None for links, folders, devices."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue())


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    if kind == tarfile.DIRTYPE:
        info.mode = 0o755
    return info, None


def the_package(*extra: tuple[tarfile.TarInfo, bytes | None]) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The valid package's members, then ``extra``."""
    return [regular(f"{FOLDER}/{n}", b) for n, b in sorted(package_files().items())] + list(extra)


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    return special(name, kind, target)


def cve_2025_4517_chain(sandbox: Path) -> bytes:
    """The published bypass of ``filter="data"`` (CPython's test_realpath_limit_attack), aimed at
    ``sandbox/work``: long-named folders and links whose resolved path outgrows PATH_MAX, so the
    filter stops resolving; an escaping link through them; a hard link to a file outside through
    it; a file written over the hard link and a new file created outside. Python 3.11.7's
    ``extractall(filter="data")`` overwrites ``outside/victim.txt`` with it."""
    dest = sandbox / "work"
    steps = "abcdefghijklmnop"
    component = "d" * ((os.pathconf(sandbox, "PC_PATH_MAX") - len(str(dest)) - 1) // (len(steps) + 1))
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    folders: list[str] = []
    for step in steps:
        members.append(special("/".join([*folders, component]), tarfile.DIRTYPE))
        members.append(link("/".join([*folders, step]), component))
        folders.append(component)
    linkpath = "/".join([*steps, "l" * 254])
    members.append(link(linkpath, "/".join([".."] * len(steps))))
    members.append(link("escape", f"{linkpath}/.."))
    members.append(link("flaglink", "escape/outside/victim.txt", tarfile.LNKTYPE))
    members.append(regular("flaglink", b"overwritten\n"))
    members.append(regular("escape/outside/created.txt", b"new\n"))
    return tar_of(members + the_package())


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], bytes]
    message: str
    env: dict[str, str] | None = None


def pax(name: str, data: bytes, headers: dict[str, str]) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.pax_headers = headers
    return info, data


def with_manifest(files: dict[str, bytes], document: bytes) -> bytes:
    return deterministic_targz(FOLDER, {**files, MANIFEST: document}, 0)


CASES = [
    Case("cve-2025-4517 link chain", cve_2025_4517_chain, "member 'a' is a symbolic link"),
    Case(
        "symbolic link to a folder outside",
        lambda s: tar_of(the_package(special(f"{FOLDER}/out", tarfile.SYMTYPE, str(s / "outside")))),
        f"member '{FOLDER}/out' is a symbolic link; a package holds only files and folders",
    ),
    Case(
        "hard link to a file outside",
        lambda s: tar_of(the_package(special(f"{FOLDER}/h", tarfile.LNKTYPE, str(s / "outside/victim.txt")))),
        f"member '{FOLDER}/h' is a hard link",
    ),
    Case(
        "hard link inside the package",
        lambda s: tar_of(the_package(special(f"{FOLDER}/h", tarfile.LNKTYPE, f"{FOLDER}/model.txt"))),
        f"member '{FOLDER}/h' is a hard link",
    ),
    Case(
        "FIFO",
        lambda s: tar_of(the_package(special(f"{FOLDER}/fifo", tarfile.FIFOTYPE))),
        f"member '{FOLDER}/fifo' is a FIFO",
    ),
    Case(
        "character device",
        lambda s: tar_of(the_package(special(f"{FOLDER}/null", tarfile.CHRTYPE))),
        f"member '{FOLDER}/null' is a character device",
    ),
    Case(
        "block device",
        lambda s: tar_of(the_package(special(f"{FOLDER}/sda", tarfile.BLKTYPE))),
        f"member '{FOLDER}/sda' is a block device",
    ),
    Case(
        "malformed sparse header",
        lambda s: tar_of(
            the_package(pax(f"{FOLDER}/sparse", b"x", {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"})),
        ),
        "not a readable package archive (ValueError",
    ),
    Case(
        "sparse file",
        lambda s: tar_of(
            the_package(pax(f"{FOLDER}/sparse", b"x", {"GNU.sparse.map": "0,1", "GNU.sparse.size": "1"})),
        ),
        f"member '{FOLDER}/sparse' is a sparse file",
    ),
    Case(
        "parent-folder name",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/../outside/created.txt", b"x"))),
        f"member name '{FOLDER}/../outside/created.txt' has a '..' component",
    ),
    Case(
        "absolute name",
        lambda s: tar_of(the_package(regular(str(s / "outside/created.txt"), b"x"))),
        "is absolute",
    ),
    Case(
        "name made absolute by a PAX path record",
        lambda s: tar_of(the_package(pax(f"{FOLDER}/ok", b"x", {"path": str(s / "outside/created.txt")}))),
        "is absolute",
    ),
    Case(
        "backslash in a name",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/..\\..\\created.txt", b"x"))),
        "contains a backslash",
    ),
    Case(
        "control character in a name",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/a\nb", b"x"))),
        "contains a control character",
    ),
    Case(
        "'.' component",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/./model2.txt", b"x"))),
        "has an empty or '.' component",
    ),
    Case(
        "a name past the length limit",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/" + "n/" * 600 + "x", b"x"))),
        "is longer than 1024 bytes (GRAFT_LIMIT_PACKAGE_NAME_BYTES)",
    ),
    Case(
        "a second top-level folder",
        lambda s: tar_of(the_package(regular("other-1.0.0/model.txt", b"x"))),
        f"expected one top-level folder, found '{FOLDER}/' and 'other-1.0.0/'",
    ),
    Case(
        "a file beside the package folder",
        lambda s: tar_of([regular("README", b"x"), *the_package()]),
        "member 'README' is outside the package folder 'README/'",
    ),
    Case(
        "a member given twice (the second would replace the checked one)",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/model.txt", b"evil"))),
        f"member '{FOLDER}/model.txt' appears twice",
    ),
    Case(
        "a file under a name that is a file",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/model.txt/x", b"evil"))),
        f"member '{FOLDER}/model.txt/x' appears twice",
    ),
    Case(
        "a file not in the manifest",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/notes.txt", b"hi"))),
        "file 'notes.txt' is not listed in the manifest",
    ),
    Case(
        "a file of the manifest missing",
        lambda s: with_manifest({"model.txt": GOOD["model.txt"]}, manifest(GOOD)),
        "file 'code/serving.py' listed in the manifest is missing",
    ),
    Case(
        "a tampered file",
        lambda s: with_manifest({**GOOD, "model.txt": b"evil"}, manifest(GOOD)),
        "file 'model.txt' does not match its SHA-256 in the manifest (tampered?)",
    ),
    Case(
        "a manifest naming a file outside",
        lambda s: with_manifest({}, manifest({"../outside/victim.txt": b"x"})),
        "file name '../outside/victim.txt' has a '..' component",
    ),
    Case(
        "a manifest of another format",
        lambda s: with_manifest(GOOD, json.dumps({"format": 1, "files": {}}).encode()),
        "package format 1, this graft reads format 2",
    ),
    Case(
        "a manifest that is not JSON",
        lambda s: with_manifest(GOOD, b"\xff\xfe{"),
        "manifest.json: unreadable manifest (not JSON)",
    ),
    Case(
        "no manifest",
        lambda s: deterministic_targz(FOLDER, GOOD, 0),
        "no manifest.json (not a graft package)",
    ),
    Case("not gzip", lambda s: b"PK\x03\x04 a zip file", "not a readable package archive"),
    Case("truncated", lambda s: good_archive()[:300], "not a readable package archive"),
    Case("empty tar", lambda s: gzip.compress(b"\0" * 1024), "an empty archive (not a graft package)"),
    Case(
        "an extended header past its bound",
        lambda s: tar_of(the_package(pax(f"{FOLDER}/big", b"x", {"comment": "c" * 200_000}))),
        "an extended header of",
    ),
    Case(
        "a declared size past the total",
        lambda s: tar_of(the_package(regular(f"{FOLDER}/big.bin", b"x" * 5000))),
        "declares 5000 bytes; a package's files may total at most 4096 bytes (GRAFT_LIMIT_PACKAGE_BYTES)",
        {"GRAFT_LIMIT_PACKAGE_BYTES": "4096"},
    ),
    Case(
        "more members than the limit",
        lambda s: good_archive(),
        "more than 3 members (GRAFT_LIMIT_PACKAGE_MEMBERS)",
        {"GRAFT_LIMIT_PACKAGE_MEMBERS": "3"},
    ),
    Case(
        "a manifest past its bound",
        lambda s: good_archive(),
        "manifest.json: larger than 100 bytes (GRAFT_LIMIT_MANIFEST_BYTES)",
        {"GRAFT_LIMIT_MANIFEST_BYTES": "100"},
    ),
]


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every path under ``root``: its kind and its content digest or link target."""
    out: dict[str, tuple[str, str]] = {}
    for base, dirs, files in os.walk(root):
        for entry in [*dirs, *files]:
            path = Path(base) / entry
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", str(path.readlink()))
            elif path.is_dir():
                out[rel] = ("dir", "")
            else:
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "victim.txt").write_text("precious\n")
    (tmp_path / "work").mkdir()
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_archive_is_refused_and_nothing_is_written(case: Case, sandbox: Path, monkeypatch) -> None:
    for key, value in (case.env or {}).items():
        monkeypatch.setenv(key, value)
    archive = sandbox / "pkg.tar.gz"
    archive.write_bytes(case.build(sandbox))
    before = snapshot(sandbox)
    with pytest.raises(ArchiveError) as caught:
        extract(archive, sandbox / "work")
    message = str(caught.value)
    assert message.startswith(f"{archive}: "), message
    assert case.message in message, message
    assert snapshot(sandbox) == before
    assert isinstance(caught.value, PackageError)  # what callers catch


def test_a_good_archive_is_extracted_with_its_manifest(sandbox: Path) -> None:
    archive = sandbox / "pkg.tar.gz"
    archive.write_bytes(good_archive())
    extracted = extract(archive, sandbox / "work")
    assert extracted.root == sandbox / "work" / FOLDER
    assert {p.relative_to(extracted.root).as_posix() for p in extracted.root.rglob("*") if p.is_file()} == {
        *GOOD,
        MANIFEST,
    }
    assert (extracted.root / "code" / "serving.py").read_bytes() == GOOD["code/serving.py"]
    assert extracted.manifest["files"]["model.txt"] == hashlib.sha256(GOOD["model.txt"]).hexdigest()
    assert oct((extracted.root / "model.txt").stat().st_mode & 0o777) == "0o644"
    with pytest.raises(ArchiveError, match=re.escape("already exists; extract into an empty folder")):
        extract(archive, sandbox / "work")


def test_folder_entries_and_limits_at_their_bound_are_accepted(sandbox: Path, monkeypatch) -> None:
    files = package_files()
    members = [special(FOLDER, tarfile.DIRTYPE), special(f"{FOLDER}/code", tarfile.DIRTYPE)]
    members += [regular(f"{FOLDER}/{n}", b) for n, b in sorted(files.items())]
    archive = sandbox / "pkg.tar.gz"
    archive.write_bytes(tar_of(members))
    monkeypatch.setenv("GRAFT_LIMIT_PACKAGE_MEMBERS", str(len(members)))
    monkeypatch.setenv("GRAFT_LIMIT_PACKAGE_BYTES", str(sum(len(b) for b in files.values())))
    monkeypatch.setenv("GRAFT_LIMIT_MANIFEST_BYTES", str(len(files[MANIFEST])))
    assert extract(archive, sandbox / "work").root.is_dir()
    monkeypatch.setenv("GRAFT_LIMIT_PACKAGE_BYTES", str(sum(len(b) for b in files.values()) - 1))
    with pytest.raises(ArchiveError, match="GRAFT_LIMIT_PACKAGE_BYTES"):
        extract(archive, sandbox / "again")


def test_read_member_reads_one_checked_file(sandbox: Path) -> None:
    archive = sandbox / "pkg.tar.gz"
    archive.write_bytes(good_archive())
    assert read_member(archive, "schema.json", 1000) == GOOD["schema.json"]
    with pytest.raises(ArchiveError, match=re.escape(f"member '{FOLDER}/model.txt' is larger than 10")):
        read_member(archive, "model.txt", 10)
    archive.write_bytes(tar_of(the_package(special(f"{FOLDER}/l", tarfile.SYMTYPE, "/etc"))))
    with pytest.raises(ArchiveError, match="is a symbolic link"):
        read_member(archive, "zzz", 10)


def test_an_invalid_limit_override_names_the_variable(monkeypatch) -> None:
    from graft.core.errors import UsageError

    monkeypatch.setenv("GRAFT_LIMIT_PACKAGE_BYTES", "lots")
    with pytest.raises(UsageError, match=re.escape("GRAFT_LIMIT_PACKAGE_BYTES='lots': expected a positive")):
        limits.PACKAGE_BYTES.value()


def test_an_extracted_folder_with_a_link_is_refused(sandbox: Path) -> None:
    archive = sandbox / "pkg.tar.gz"
    archive.write_bytes(good_archive())
    root = extract(archive, sandbox / "work").root
    (root / "model.txt").unlink()
    (root / "model.txt").symlink_to(sandbox / "outside" / "victim.txt")
    with pytest.raises(PackageError, match=re.escape("'model.txt' is a symbolic link")):
        load_package(root)


BOMB = """
import sys
from pathlib import Path
from graft.release.archive import ArchiveError, extract
try:
    extract(Path(sys.argv[1]), Path(sys.argv[2]))
except ArchiveError as exc:
    print(exc)
# the peak of this process's own memory (ru_maxrss would include the forked pytest's, pre-exec)
status = Path("/proc/self/status").read_text()
print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) // 1024)
"""


def bomb_archive(path: Path, size: int) -> None:
    """A package whose model.txt is ``size`` zero bytes, as about ``size / 1000`` bytes of gzip:
    the tar header, then one gzip member of 1 MiB of zeros repeated (gzip files may hold many)."""
    info = tarfile.TarInfo(f"{FOLDER}/model.txt")
    info.size = size
    zeros = gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0)
    with path.open("wb") as out:
        out.write(gzip.compress(info.tobuf(tarfile.PAX_FORMAT), mtime=0))
        for _ in range(size >> 20):
            out.write(zeros)


def test_a_decompression_bomb_stops_early_with_bounded_memory(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    bomb_archive(archive, 2 << 30)  # 2 GiB, under the 4 GiB total: the ratio must stop it
    assert archive.stat().st_size < 3 << 20
    out = subprocess.run(
        [sys.executable, "-c", BOMB, str(archive), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "decompresses to more than 200 times its size, a decompression bomb" in out[0]
    assert "GRAFT_LIMIT_PACKAGE_RATIO" in out[0]
    assert int(out[1]) < 200, f"peak RSS {out[1]} MiB"
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


@pytest.fixture
def released_repo(sandbox: Path) -> Path:
    """A Git repository with a release tag (nothing to rebuild: the archive must be refused first)."""
    from tests.conftest import git

    repo = sandbox / "work" / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "init")
    git(repo, "tag", "-a", "demo@v1.0.0", "-m", "Registering artifact demo version v1.0.0")
    return repo


@pytest.mark.parametrize("command", ["serve", "monitor", "reproduce"])
def test_every_command_that_opens_an_archive_refuses_the_link_chain(
    command: str, sandbox: Path, released_repo: Path
) -> None:
    """`graft serve X`, `graft monitor --package X` and `graft reproduce TAG --package X` with the
    CVE-2025-4517 chain: exit 3, one line naming the member, nothing written anywhere (the
    temporary extraction folders are inside the sandbox and removed)."""
    from tests.conftest import BIN

    archive = sandbox / "hostile.tar.gz"
    archive.write_bytes(cve_2025_4517_chain(sandbox))
    args = {
        "serve": ["serve", str(archive), "--port", "59999"],
        "monitor": ["monitor", "--package", str(archive), "--log-db", f"sqlite:///{sandbox}/log.db"],
        "reproduce": ["reproduce", "demo@v1.0.0", "--package", str(archive)],
    }[command]
    before = snapshot(sandbox)
    done = subprocess.run(
        [str(BIN / "graft"), "-q", *args],
        cwd=released_repo,
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(sandbox / "work")},
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"graft: error: {archive}: member 'a' is a symbolic link; a package holds only files and folders"
    ]
    after = snapshot(sandbox)
    after.pop("log.db", None)  # monitor may create its (empty) log database before opening the package
    assert after == before
