"""Experiments on a real Dask cluster: a scheduler and two worker processes on loopback, a bare Git
remote, and an S3 API server (moto) as the DVC remote for data and run cache."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pygit2
import pytest
import yaml

from graft import api
from graft.core.gitrepo import commit_files
from tests.conftest import BIN, git
from tests.integration.cluster import dask_cluster, remote_refs, s3_server, shared_project
from tests.integration.conftest import free_port, repo_state

pytestmark = pytest.mark.slow

GRID = ["train.num_leaves=15,31", "evaluate.threshold=0.4,0.5"]
POINTS = ["num_leaves-15-threshold-0.4", "num_leaves-15-threshold-0.5", "num_leaves-31-threshold-0.4"]
POINTS.append("num_leaves-31-threshold-0.5")


@pytest.fixture(scope="module")
def services(module_env, tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    with s3_server(base) as s3:
        bucket = s3.create_bucket("graft-dvc")
        root = shared_project(base, s3, bucket)
        with dask_cluster(base / "dask", workers=2) as cluster:
            yield root, s3, bucket, cluster


@pytest.fixture
def repo(services) -> Path:
    return services[0]


@pytest.fixture
def cluster(services):
    return services[3]


def origin(root: Path) -> Path:
    return root.parent / "origin.git"


def graft(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "graft"), *args], cwd=cwd, capture_output=True, text=True, check=False)


def variant(root: Path, branch: str, config_edit) -> str:
    """A commit on ``branch`` whose .dvc/config is edited, pushed to origin (no checkout touched)."""
    repo = pygit2.Repository(str(root))
    config = repo.revparse_single("main").peel(pygit2.Commit).tree[".dvc/config"].data.decode()
    commit = commit_files(repo, branch, {".dvc/config": config_edit(config).encode()}, f"variant {branch}")
    git(root, "push", "-q", "origin", branch)
    return str(commit.id)


def lock(root: Path, rev: str) -> dict:
    return yaml.safe_load(git(root, "show", f"{rev}:dvc.lock"))


# --- refusals: one line, before anything is created ----------------------------------------


def refused(root: Path, *args: str) -> str:
    before, refs = repo_state(root), remote_refs(origin(root))
    proc = graft(root, "exp", "grid", "--set", "evaluate.threshold=0.45", "--prefix", "refused", *args)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graft: error: "), proc.stderr
    assert repo_state(root) == before
    assert remote_refs(origin(root)) == refs
    return lines[0]


def test_unreachable_scheduler(repo):
    address = f"tcp://127.0.0.1:{free_port()}"
    line = refused(repo, "--cluster", address)
    assert f"--cluster {address}: no Dask scheduler answered within 10s" in line


def test_unreachable_git_remote(repo, cluster):
    line = refused(repo, "--cluster", cluster.address, "--git-remote", "/nonexistent/origin.git")
    assert "Git remote /nonexistent/origin.git cannot be reached" in line


def test_base_not_on_the_git_remote(repo, cluster):
    repo_obj = pygit2.Repository(str(repo))
    commit_files(repo_obj, "unpushed", {"notes.txt": b"local only\n"}, "not pushed")
    line = refused(repo, "--cluster", cluster.address, "--base", "unpushed")
    assert (
        "base 'unpushed'" in line
        and "is not on the Git remote" in line
        and "git push origin unpushed" in line
    )


def test_missing_dvc_remote(repo, cluster):
    variant(repo, "no-dvc-remote", lambda text: text.replace("remote = s3", ""))
    line = refused(repo, "--cluster", cluster.address, "--base", "no-dvc-remote")
    assert "no default DVC remote in .dvc/config at 'no-dvc-remote'" in line
    assert "dvc remote add -d" in line


def test_worker_cannot_reach_the_dvc_remote(repo, cluster, services):
    s3 = services[1]
    dead = f"http://127.0.0.1:{free_port()}"
    variant(repo, "dead-endpoint", lambda text: text.replace(s3.endpoint, dead))
    line = refused(repo, "--cluster", cluster.address, "--base", "dead-endpoint")
    assert line.startswith("graft: error: worker tcp://127.0.0.1:")
    assert "DVC remote 's3' (s3://graft-dvc/dvc) cannot be reached" in line and dead in line


def test_missing_bucket(repo, cluster):
    variant(repo, "no-bucket", lambda text: text.replace("s3://graft-dvc/", "s3://no-such-bucket/"))
    line = refused(repo, "--cluster", cluster.address, "--base", "no-bucket")
    assert "DVC remote 's3' (s3://no-such-bucket/dvc): 'no-such-bucket' does not exist" in line


def test_bad_cluster_address_is_a_usage_error(repo):
    proc = graft(repo, "exp", "grid", "--set", "evaluate.threshold=0.45", "--cluster", "somewhere")
    assert proc.returncode == 2
    assert "--cluster somewhere: expected tcp://HOST:PORT of a Dask scheduler, or local:N" in proc.stderr


# --- a grid on the cluster ----------------------------------------------------------------


def test_grid_on_the_cluster_equals_a_local_run(repo, cluster, services):
    s3, bucket = services[1], services[2]
    sets = [arg for s in GRID for arg in ("--set", s)]
    proc = graft(repo, "exp", "grid", *sets, "--cluster", cluster.address)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"grid: 4 experiment(s), cluster {cluster.address}, 2 worker(s)"
    assert len([x for x in lines if x.startswith("[") and " ok " in x]) == 4
    # pushed to the Git remote and fetched back here, same commits
    refs = remote_refs(origin(repo))
    for point in POINTS:
        branch = f"exp/grid-{point}"
        assert refs[f"refs/heads/{branch}"] == git(repo, "rev-parse", branch)
        assert git(repo, "rev-parse", f"{branch}~1") == git(repo, "rev-parse", "main")
        assert f"{branch}\t{git(repo, 'rev-parse', '--short=8', branch)}" in proc.stdout
    # the outputs and the run cache are in the bucket
    keys = s3.keys(bucket, "dvc/")
    model = next(o for o in lock(repo, "exp/grid-num_leaves-15-threshold-0.4")["stages"]["train"]["outs"])
    assert f"dvc/files/md5/{model['md5'][:2]}/{model['md5'][2:]}" in keys
    assert any(k.startswith("dvc/runs/") for k in keys)
    # the same points run here give the same dvc.lock
    outcomes = api.exp_grid(GRID, jobs=2, prefix="local", cwd=repo)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    for point in POINTS:
        assert lock(repo, f"exp/grid-{point}") == lock(repo, f"exp/local-{point}")
    assert git(repo, "status", "--porcelain") == ""


def test_a_killed_worker_still_yields_every_branch_once(repo, cluster):
    grid = ["train.min_child_samples=10,40", "evaluate.threshold=0.4,0.5"]
    outcomes: list = []
    errors: list = []

    def run() -> None:
        try:
            outcomes.extend(api.exp_grid(grid, prefix="kill", cwd=repo, cluster=cluster.address))
        except Exception as exc:  # surfaced by the assertions below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    victim = None
    deadline = time.monotonic() + 600
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        for worker in cluster.alive():
            if any(
                "Running stage 'train'" in log.read_text(errors="replace") for log in worker.running_logs()
            ):
                victim = worker
                break
        time.sleep(0.2)
    assert victim is not None, "no worker started training"
    victim.kill()  # mid-task: it was training
    cluster.add_worker()  # a replacement joins; the retried task may land on either
    thread.join(1200)
    assert not thread.is_alive() and not errors, errors
    assert [o.ok for o in outcomes] == [True] * 4, [o.error for o in outcomes]
    assert all(o.result.worker and str(victim.pid) not in o.result.worker for o in outcomes)
    refs = {r: s for r, s in remote_refs(origin(repo)).items() if r.startswith("refs/heads/exp/kill-")}
    names = [f"min_child_samples-{a}-threshold-{b}" for a in (10, 40) for b in (0.4, 0.5)]
    assert sorted(refs) == sorted(f"refs/heads/exp/kill-{n}" for n in names)
    for ref, sha in refs.items():
        assert git(repo, "rev-list", "--count", f"main..{sha}") == "1"
        assert git(repo, "rev-parse", ref.removeprefix("refs/heads/")) == sha
    cluster.wait_for(2)


def test_a_second_grid_on_a_fresh_clone_restores_every_stage(repo, cluster, tmp_path):
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(origin(repo)), str(fresh))
    cluster.replace_workers()  # new workers: no kept clone, empty DVC cache
    outcomes = api.exp_grid(GRID, prefix="again", cwd=fresh, cluster=cluster.address)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    for o in outcomes:
        # what differs from main is restored from the run cache; the rest is main's, pulled
        trains = "num_leaves-15" in o.spec.name
        evaluates = trains or "threshold-0.4" in o.spec.name
        later = "restored" if evaluates else "unchanged"
        assert o.result.stages == {
            "ingest": "unchanged",
            "validate": "unchanged",
            "featurize": "unchanged",
            "train": "restored" if trains else "unchanged",
            "evaluate": later,
            "gate": later,
        }, o.spec.name
    for point in POINTS:
        assert lock(fresh, f"exp/again-{point}") == lock(repo, f"exp/grid-{point}")
