"""Integration fixtures: module-scoped throwaway projects (one `dvc repro` shared by many tests),
real `graft serve` processes on free loopback ports, a throwaway PostgreSQL server, and for the
cluster and search tests one S3 server, one Dask cluster and one shared project per session."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import BIN, copy_project, git, isolate_git_env
from tests.releasing import clone_tree

if TYPE_CHECKING:
    from tests.integration.cluster import DaskCluster, S3Server

SKIP_DIRS = {".git", ".dvc/cache", ".dvc/tmp", ".venv"}


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The isolated Git identity of tests/conftest.py, for module-scoped fixtures."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("home"))
        yield


def dvc(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def checked_out_project(dest: Path) -> Path:
    """A project copy whose DVC outputs are in the workspace, like a user's checkout after repro."""
    copy_project(dest)
    dvc(dest, "checkout", "--quiet")
    return dest


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (DVC outputs and .graft/ included; .git and the cache not)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == d or rel.startswith(d + "/") for d in SKIP_DIRS) or not path.is_file():
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def repo_state(root: Path) -> dict[str, object]:
    """Everything a refused command must leave exactly as it was."""
    return {
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "branches": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(root, "rev-parse", "HEAD"),
        "symbolic_head": git(root, "symbolic-ref", "-q", "HEAD"),
        "worktrees": git(root, "worktree", "list", "--porcelain"),
        "files": file_hashes(root),
    }


def log_counts(db: Path) -> tuple[int, int]:
    """(predictions, feedback) rows in a SQLite prediction log, as they are now."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM predictions").fetchone()[0],
            conn.execute("SELECT count(*) FROM feedback").fetchone()[0],
        )


def settled_counts(db: Path, expected: tuple[int, int] | None = None) -> tuple[int, int]:
    """The log's counts once the server's asynchronous writer has caught up.

    With ``expected``, wait until the log reaches it; without it, until three readings 100 ms
    apart agree (the writer commits at once when idle; the margin covers a busy machine).
    """
    readings: list[tuple[int, int]] = []
    for _ in range(200):
        readings.append(log_counts(db))
        if expected is not None and readings[-1] == expected:
            break
        if expected is None and len(readings) >= 3 and readings[-1] == readings[-2] == readings[-3]:
            break
        time.sleep(0.05 if expected is not None else 0.1)
    return readings[-1]


HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`graft serve PACKAGE --port P --log-db URL`; stop() sends SIGTERM (graceful shutdown),
    kill() SIGKILL (a crash)."""

    def __init__(self, package: Path, log_db: str, workdir: Path, *extra: str) -> None:
        self.package, self.log_db, self.workdir, self.extra = package, log_db, workdir, extra
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = workdir / f"serve-{self.port}.err"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        cmd = [str(BIN / "graft"), "serve", str(self.package), "--host", HOST, "--port", str(self.port)]
        cmd += ["--log-db", self.log_db, *self.extra]
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.stderr_path.read_text()
                raise RuntimeError(f"graft serve exited {self.proc.returncode}: {err}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"graft serve not ready after {timeout}s: {self.stderr_path.read_text()}")

    def kill(self) -> int:
        """SIGKILL: the process ends at once, without any shutdown (a crash); its exit status."""
        if self.proc is None:
            raise RuntimeError("the server was never started")
        self.proc.kill()
        return self.proc.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


@pytest.fixture(scope="module")
def server(model_package, tmp_path_factory) -> Iterator[ServerProcess]:
    """One server per test module, SQLite log, a 1 MiB body limit."""
    work = tmp_path_factory.mktemp("serve")
    proc = ServerProcess(
        model_package.archive, f"sqlite:///{work / 'log.db'}", work, "--max-body-bytes", str(1 << 20)
    )
    proc.start()
    yield proc
    proc.stop()


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server started for the session (initdb + pg_ctl in a temp dir, loopback only).

    Skipped, with the reason, where the binaries are missing or the server cannot start.
    As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
    """
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        if runuser is None:
            pytest.skip("running as root and runuser is missing")
        prefix = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="graft-pg-"))
    root.chmod(0o755)
    data = root / "data"
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    log = root / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120, cwd=root)

    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "graft", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[:300]}")
    options = f"-p {port} -k {root} -c listen_addresses={HOST} -c fsync=off"
    pg_ctl = str(bindir / "pg_ctl")
    start = run(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    if start.returncode != 0:
        detail = log.read_text()[-300:] if log.exists() else start.stderr
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {detail.strip()}")
    try:
        yield f"postgresql://graft@{HOST}:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_database(postgres_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def raw_test_rows(model_package) -> tuple[list[int], list[dict]]:
    """Raw records of adult.test (split == 'test') as JSON-ready dicts, with their row_ids."""
    import pandas as pd

    from stages.schema import FEATURE_COLUMNS, NUMERIC, ROW_ID, SPLIT

    frame = pd.read_parquet(model_package.project / "data" / "validated" / "adult.parquet")
    frame = frame[frame[SPLIT] == "test"].sort_values(ROW_ID)
    records = []
    for row in frame[list(FEATURE_COLUMNS)].astype(object).itertuples(index=False):
        record = {}
        for name, value in zip(FEATURE_COLUMNS, row, strict=True):
            if pd.isna(value):
                continue  # nullable fields may be omitted
            record[name] = int(value) if name in NUMERIC else str(value)
        records.append(record)
    return frame[ROW_ID].astype(int).tolist(), records


@pytest.fixture
def start_server(model_package, tmp_path) -> Iterator:
    """Factory: ``start_server(log_db, *extra_args)`` -> a running ServerProcess (stopped at teardown).

    With ``--compile`` the server compiles the trees before it is ready (minutes on a busy
    machine), so readiness is awaited longer.
    """
    started: list[ServerProcess] = []

    def start(log_db: str, *extra: str) -> ServerProcess:
        proc = ServerProcess(model_package.archive, log_db, tmp_path, *extra)
        started.append(proc)
        return proc.start(timeout=900.0 if "--compile" in extra else 60.0)

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def pipeline_template(pipeline_project: Path) -> Path:
    """This project, committed on main, after `dvc repro` (shared by the session; do not modify)."""
    assert git(pipeline_project, "status", "--porcelain") == "", "dvc repro changed committed files"
    return pipeline_project


@pytest.fixture
def pipeline_copy(pipeline_template: Path, tmp_path: Path) -> Path:
    """A private copy of the session's reproduced project (Git history, DVC cache, outputs)."""
    return clone_tree(pipeline_template, tmp_path / "project")


@pytest.fixture(scope="session")
def second_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second project (tests/integration/second.py) built once per session, its pipeline run
    once; modules take a byte copy (:func:`second_copy`) instead of running it again."""
    from tests.integration import second

    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("second-home"))
        return second.build(tmp_path_factory.mktemp("second-template") / "diabetes")


def second_copy(template: Path, parent: Path) -> Path:
    """A private copy of the session's second project (Git history, DVC cache, outputs)."""
    return clone_tree(template, parent / "diabetes")


# --- a cluster: S3 server, Dask scheduler and workers, a shared project ----------------------


@dataclass(frozen=True)
class Shared:
    """The session's project with a bare Git remote and the S3 server's bucket as DVC remote."""

    root: Path
    origin: Path
    s3: S3Server
    bucket: str


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3 API server (moto) on loopback for the session."""
    from tests.integration.cluster import s3_server

    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def shared(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One project for the session's cluster and search tests (its DVC cache and outputs from the
    session's warm cache), main pushed to a bare Git remote and to the S3 bucket."""
    from tests.integration.cluster import shared_project

    base = tmp_path_factory.mktemp("shared")
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("shared-home"))
        root = shared_project(base, s3, s3.create_bucket("graft-dvc"))
    yield Shared(root, base / "origin.git", s3, "graft-dvc")


@pytest.fixture(scope="session")
def dask(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """One Dask scheduler with two worker processes (one thread each) on loopback for the session."""
    from tests.integration.cluster import dask_cluster

    with dask_cluster(tmp_path_factory.mktemp("dask"), workers=2) as cluster:
        yield cluster


@dataclass(frozen=True)
class GetStarted:
    """The get-started-shaped project (tests/integration/getstarted.py): ``origin`` with main and
    exp/* reproduced and committed, every output pushed to the local-folder DVC ``remote``."""

    origin: Path
    remote: Path


@pytest.fixture(scope="session")
def getstarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GetStarted]:
    """Built once per session; tests that change files restore them or work in a clone."""
    from tests.integration import getstarted as project

    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("getstarted-home"))
        base = tmp_path_factory.mktemp("getstarted")
        origin = project.build(base / "origin", base / "remote")
        yield GetStarted(origin, base / "remote")
