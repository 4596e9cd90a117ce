"""Real services for the cluster tests, on loopback: an S3 API server (moto's server mode), a Dask
scheduler with worker processes, and a project whose Git remote is a bare repository and whose
DVC remote is a bucket of that S3 server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import BIN, git
from tests.integration.conftest import HOST, checked_out_project, dvc, free_port

# moto accepts any credentials; the workers and the client get these through their environment
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "graft-test",
    "AWS_SECRET_ACCESS_KEY": "graft-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _wait(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            detail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited {proc.returncode}:\n{detail}")
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout}s")


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@dataclass
class S3Server:
    """``python -m moto.server`` on a free loopback port (started and stopped by a fixture)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> S3Server:
        log = self.workdir / f"moto-{self.port}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(lambda: self.client().list_buckets() is not None, 60, "moto server", self.proc, log)
        return self

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


def worker_env(home: Path, worker_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    env.update(S3_ENV)
    env.update(
        {
            "GRAFT_WORKER_DIR": str(worker_dir),
            "HOME": str(home),
            "OMP_WAIT_POLICY": "PASSIVE",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # one retry: the server is on loopback, and an unreachable endpoint fails fast
            "AWS_MAX_ATTEMPTS": "2",
        }
    )
    return env


@dataclass
class Worker:
    name: str
    directory: Path  # its GRAFT_WORKER_DIR
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the worker and the commands it runs (its process group): as when its machine
        goes away (no nanny restarts it; the scheduler sees the worker gone)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def running_logs(self) -> list[Path]:
        logs = self.directory / "logs"
        return sorted(logs.glob("*.log")) if logs.is_dir() else []


@dataclass
class DaskCluster:
    """A ``dask scheduler`` and ``dask worker`` processes (one thread each, no nanny) on loopback."""

    workdir: Path
    port: int = field(default_factory=free_port)
    scheduler: subprocess.Popen | None = None
    workers: list[Worker] = field(default_factory=list)
    started: int = 0

    @property
    def address(self) -> str:
        return f"tcp://{HOST}:{self.port}"

    def start(self, workers: int = 2) -> DaskCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "scheduler.log"
        with log.open("wb") as out:
            self.scheduler = subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", HOST, "--port", str(self.port), "--no-dashboard"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=worker_env(self.workdir, self.workdir / "scheduler"),
            )
        _wait(lambda: "Scheduler at" in log.read_text(), 60, "dask scheduler", self.scheduler, log)
        for _ in range(workers):
            self.add_worker()
        self.wait_for(workers)
        return self

    def add_worker(self) -> Worker:
        self.started += 1
        name = f"w{self.started}"
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    self.address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--local-directory",
                    str(directory / "dask"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=worker_env(self.workdir, directory),
            )
        worker = Worker(name, directory, proc, log)
        self.workers.append(worker)
        return worker

    def alive(self) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    def connected(self) -> int:
        from distributed import Client

        with Client(self.address, timeout="10s") as client:
            return len(client.scheduler_info()["workers"])

    def wait_for(self, count: int, timeout: float = 120) -> None:
        _wait(lambda: self.connected() == count, timeout, f"{count} dask worker(s)")

    def forget(self) -> None:
        """Delete what the (idle) workers kept: their Git clones, DVC caches and worktrees."""
        for worker in self.alive():
            for kept in ("clones", "dvc-cache", "worktrees"):
                shutil.rmtree(worker.directory / kept, ignore_errors=True)

    def stop(self) -> None:
        for worker in self.workers:
            _stop(worker.proc)
        if self.scheduler is not None:
            _stop(self.scheduler)


@contextlib.contextmanager
def s3_server(workdir: Path) -> Iterator[S3Server]:
    server = S3Server(workdir).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def dask_cluster(workdir: Path, workers: int = 2) -> Iterator[DaskCluster]:
    cluster = DaskCluster(workdir)
    try:
        yield cluster.start(workers)
    finally:
        cluster.stop()


def shared_project(base: Path, s3: S3Server, bucket: str) -> Path:
    """A project checkout with a bare Git remote ``origin`` and an S3 default DVC remote (committed),
    main pushed to both."""
    root = checked_out_project(base / "project")
    git(base, "init", "-q", "--bare", "origin.git")
    git(root, "remote", "add", "origin", str(base / "origin.git"))
    dvc(root, "remote", "add", "-d", "s3", f"s3://{bucket}/dvc")
    dvc(root, "remote", "modify", "s3", "endpointurl", s3.endpoint)
    git(root, "commit", "-q", "-am", "DVC remote: the test S3 server")
    git(root, "push", "-q", "origin", "main")
    env = {**os.environ, **S3_ENV}
    subprocess.run([str(BIN / "dvc"), "push", "-q"], cwd=root, check=True, capture_output=True, env=env)
    return root


def remote_refs(origin: Path) -> dict[str, str]:
    out = git(origin, "for-each-ref", "--format=%(refname) %(objectname)")
    refs = {}
    for line in out.splitlines():
        ref, sha = line.split(" ", 1)
        refs[ref] = sha
    return refs
