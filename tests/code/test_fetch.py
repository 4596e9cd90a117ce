"""Resolving a version by name or stage and fetching its package: the package store on a local DVC
remote, SHA-256 verification against the release tag, and every refusal, named (small repos; the
full deploy story is tests/integration/test_lifecycle_story.py)."""

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import time

import pygit2
import pytest

from graft.cli import main
from graft.core import gitrepo
from graft.release import versions as releases
from graft.release.archive import PACKAGE_FORMAT, deterministic_targz
from graft.release.store import StoreError, open_store
from tests.conftest import BIN, git
from tests.releasing import outputs_file, small_project

pytestmark = pytest.mark.slow  # a DVC project (and DVC's Repo) per test: seconds each
MODEL = "adult-income"
FILES = {"model.txt": b"tree\n", "schema.json": b"{}"}
MANIFEST = {"format": PACKAGE_FORMAT, "files": {n: hashlib.sha256(b).hexdigest() for n, b in FILES.items()}}
ARCHIVE = deterministic_targz(f"{MODEL}-1.0.0", {**FILES, "manifest.json": json.dumps(MANIFEST).encode()}, 0)
SHA = hashlib.sha256(ARCHIVE).hexdigest()


def tag(repo, name, message, later=0):
    """An annotated tag at HEAD, ``later`` seconds from now (GTO orders events by the second)."""
    pygit2_repo = gitrepo.open_repo(repo)
    head = pygit2_repo.revparse_single("HEAD").id
    sig = releases.signature(pygit2_repo)
    sig = pygit2.Signature(sig.name, sig.email, int(time.time()) + later, 0)
    pygit2_repo.create_tag(name, head, pygit2.enums.ObjectType.COMMIT, sig, message)


def released(version="1.0.0", sha=SHA):
    return (
        f"Registering artifact {MODEL} version v{version}\n\nbump: major (first release)\nprevious: none\n"
        f"package: {MODEL}-{version}.tar.gz sha256:{sha}\ncontents: sha256:{'e' * 64}\n"
    )


@pytest.fixture
def repo(tmp_path):
    root = small_project(tmp_path / "repo", {"roc_auc": 0.9, "log_loss": 0.3})
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "dvc init")
    return root


@pytest.fixture
def remote(repo, tmp_path):
    store = tmp_path / "dvc-remote"
    store.mkdir()
    subprocess.run(
        [str(BIN / "dvc"), "remote", "add", "-q", "-d", "storage", str(store)], cwd=repo, check=True
    )
    git(repo, "commit", "-q", "-am", "DVC remote")
    return store


def upload(repo, tmp_path, version="1.0.0", data=ARCHIVE):
    archive = tmp_path / f"{MODEL}-{version}.tar.gz"
    archive.write_bytes(data)
    return open_store(repo).upload(archive, MODEL)


def test_fetch_by_stage_downloads_verifies_and_caches(repo, remote, tmp_path, capsys):
    tag(repo, f"{MODEL}@v1.0.0", released())
    tag(repo, f"{MODEL}#prod#1", f"Assigning stage prod to artifact {MODEL} version v1.0.0\n")
    where = upload(repo, tmp_path)
    assert where == f"{remote}/graft/packages/{MODEL}/{MODEL}-1.0.0.tar.gz"
    outputs = tmp_path / "outputs"
    assert main(["fetch", "-C", str(repo), f"{MODEL}#prod", "--outputs", str(outputs)]) == 0
    out = capsys.readouterr().out
    cached = repo / ".graft" / "packages" / f"{MODEL}-1.0.0.tar.gz"
    assert f"{MODEL} v1.0.0 (prod): {cached}" in out and f"sha256 {SHA} matches {MODEL}@v1.0.0" in out
    assert cached.read_bytes() == ARCHIVE
    found = outputs_file(outputs)
    assert (found["found"], found["version"], found["stage"], found["sha256"]) == (
        "true",
        "1.0.0",
        "prod",
        SHA,
    )
    # the second time it comes from the cache; --out copies it there
    assert (
        main(
            [
                "fetch",
                "-C",
                str(repo),
                "--stage",
                "prod",
                "--out",
                str(tmp_path / "deploy"),
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert '"source": "cache"' in capsys.readouterr().out
    assert (tmp_path / "deploy" / f"{MODEL}-1.0.0.tar.gz").read_bytes() == ARCHIVE


def test_a_package_that_does_not_match_the_tag_is_refused_and_not_kept(repo, remote, tmp_path, capsys):
    tag(repo, f"{MODEL}@v1.0.0", released())
    other = b"something else\n"
    upload(repo, tmp_path, data=other)
    assert main(["fetch", "-C", str(repo), f"{MODEL}@v1.0.0"]) == 3
    err = capsys.readouterr().err
    assert f"{MODEL}-1.0.0.tar.gz has SHA-256 {hashlib.sha256(other).hexdigest()}" in err
    assert f"the release tag records {SHA}: refusing the package" in err
    assert not list((repo / ".graft" / "packages").glob("*"))
    # a cached file that does not match is not used either
    (repo / ".graft" / "packages" / f"{MODEL}-1.0.0.tar.gz").write_bytes(b"stale\n")
    assert main(["fetch", "-C", str(repo), f"{MODEL}@v1.0.0"]) == 3
    assert "refusing the package" in capsys.readouterr().err


def test_refusals_name_what_is_missing(repo, tmp_path, capsys):
    def refused(*args, code=3):
        assert main(["fetch", "-C", str(repo), *args]) == code
        return capsys.readouterr().err

    assert "no version of 'adult-income' is in stage 'prod' ('adult-income' has no versions)" in refused(
        "--stage", "prod"
    )
    outputs = tmp_path / "outputs"
    assert main(["fetch", "-C", str(repo), "--stage", "prod", "--missing-ok", "--outputs", str(outputs)]) == 0
    assert outputs_file(outputs) == {"found": "false"}
    capsys.readouterr()
    # registered by `gto register` (no package checksum in the annotation)
    tag(repo, f"{MODEL}@v1.0.0", f"Registering artifact {MODEL} version v1.0.0\n")
    assert "adult-income@v1.0.0 records no package checksum in its annotation" in refused(f"{MODEL}@v1.0.0")
    assert "no version of 'adult-income' is in stage 'prod' (stages in use: none)" in refused(
        "--stage", "prod"
    )
    assert "'adult-income' has no version v2.0.0 (versions: v1.0.0)" in refused("--version", "2.0.0")
    # released by graft, but no DVC remote to fetch from and nothing cached
    git(repo, "commit", "-q", "--allow-empty", "-m", "next")
    tag(repo, f"{MODEL}@v1.1.0", released("1.1.0"))
    assert "the project has no default DVC remote to fetch it from" in refused()
    tag(repo, f"{MODEL}@v1.1.0!", f"Deregistering artifact {MODEL} version v1.1.0\n")
    assert "adult-income v1.1.0 is deregistered (tag adult-income@v1.1.0!)" in refused(f"{MODEL}@v1.1.0")
    tag(repo, f"{MODEL}@deprecated", f"Deprecating artifact '{MODEL}'\n", later=10)
    assert "no version of 'adult-income' is in stage 'prod' ('adult-income' is deprecated)" in refused(
        "--stage", "prod"
    )
    assert "'adult-income' is deprecated (tag adult-income@deprecated)" in refused(f"{MODEL}@v1.0.0")


def test_serve_and_monitor_take_a_package_or_a_model_not_both(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    assert main(["serve", "some.tar.gz", "--stage", "prod"]) == 2
    assert "give either a package path or --model/--stage, not both" in capsys.readouterr().err
    assert main(["serve"]) == 2
    assert (
        "give a package path, or name a released model with --model and/or --stage" in capsys.readouterr().err
    )
    assert main(["monitor", "--log-db", "sqlite:///x.db"]) == 2
    assert "give a package path, or name a released model" in capsys.readouterr().err
    assert main(["serve", "--model", f"{MODEL}#prod"]) == 3
    assert "no version of 'adult-income' is in stage 'prod'" in capsys.readouterr().err


def test_the_store_reports_a_remote_it_cannot_write(repo, remote, tmp_path):
    (remote / "graft").write_text("a file where the packages folder should be\n")
    with pytest.raises(
        StoreError,
        match=r"could not upload .*/graft/packages/adult-income/adult-income-1\.0\.0\.tar\.gz "
        r"\(DVC remote 'storage'\)",
    ):
        upload(repo, tmp_path)


def test_a_hostile_package_the_tag_vouches_for_is_refused_and_removed(repo, remote, tmp_path, capsys):
    """The tag's SHA-256 is the trust root for *which* bytes, not for their safety: a package
    holding a link is refused by `graft fetch` as by `graft serve`, and not left in --out."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        link = tarfile.TarInfo(f"{MODEL}-1.0.0/model.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    hostile = gzip.compress(raw.getvalue())
    tag(repo, f"{MODEL}@v1.0.0", released(sha=hashlib.sha256(hostile).hexdigest()))
    upload(repo, tmp_path, data=hostile)
    deploy = tmp_path / "deploy"
    assert main(["fetch", "-C", str(repo), f"{MODEL}@v1.0.0", "--out", str(deploy)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"graft: error: {deploy / f'{MODEL}-1.0.0.tar.gz'}: member '{MODEL}-1.0.0/model.txt' is a "
        "symbolic link; a package holds only files and folders"
    ]
    assert not list(deploy.glob("*"))
