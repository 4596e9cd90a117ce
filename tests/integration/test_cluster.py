"""Experiments on a real Dask cluster: a scheduler and two worker processes on loopback, a bare Git
remote, and an S3 API server (moto) as the DVC remote for data and run cache.

The session shares one of each (tests/integration/conftest.py). The pipeline runs in two module
fixtures only, each checked by several tests: a 4-point grid during which a worker is killed
mid-task (then the same points run here), and the same grid from a fresh clone on fresh workers.
The refusals run no pipeline: each is one line, before anything is created.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest
import yaml

from graft import api
from graft.cli import main
from graft.experiments import executors
from tests.conftest import BIN, git
from tests.gitobjects import commit_files
from tests.integration.cluster import S3_ENV, remote_refs
from tests.integration.conftest import free_port, repo_state
from tests.schemas import validate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# one axis trains (num_leaves 31 is main's), the other changes only the last stage, cheaply
# (gate.thresholds.roc_auc.min 0.926 is main's): one point is main itself, one reruns only the gate
GRID = ["train.num_leaves=15,31", "gate.thresholds.roc_auc.min=0.926,0.9"]
POINTS = [f"num_leaves-{a}-min-{b}" for a in (15, 31) for b in (0.926, 0.9)]
SETS = [arg for axis in GRID for arg in ("--set", axis)]


@pytest.fixture(autouse=True)
def s3_credentials(monkeypatch):
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)


def graft(monkeypatch, capsys, cwd: Path, *argv: str) -> tuple[int, str, str]:
    """graft in-process from ``cwd``: (exit code, stdout, stderr)."""
    monkeypatch.chdir(cwd)
    code = main(list(argv))
    out = capsys.readouterr()
    return int(code), out.out, out.err


def variant(root: Path, branch: str, config_edit) -> str:
    """A commit on ``branch`` whose .dvc/config is edited, pushed to origin (no checkout touched)."""
    repo = pygit2.Repository(str(root))
    if repo.lookup_branch(branch) is None:
        config = repo.revparse_single("main").peel(pygit2.Commit).tree[".dvc/config"].data.decode()
        commit_files(repo, branch, {".dvc/config": config_edit(config).encode()}, f"variant {branch}")
        git(root, "push", "-q", "origin", branch)
    return git(root, "rev-parse", branch)


def lock(root: Path, rev: str) -> dict:
    return yaml.safe_load(git(root, "show", f"{rev}:dvc.lock"))


# --- refusals: one line, before anything is created (no pipeline runs) -------------------------


@pytest.fixture
def refused(shared, monkeypatch, capsys):
    def run(*args: str, code: int = 3) -> str:
        root = shared.root
        before, refs = repo_state(root), remote_refs(shared.origin)
        argv = ["exp", "grid", "--set", "evaluate.threshold=0.45", "--prefix", "refused", *args]
        got, out, err = graft(monkeypatch, capsys, root, *argv)
        assert (got, out) == (code, ""), err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("graft: error: "), err
        assert repo_state(root) == before
        assert remote_refs(shared.origin) == refs
        return lines[0]

    return run


def test_unreachable_scheduler(refused, monkeypatch):
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 2.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    line = refused("--cluster", address)
    assert f"--cluster {address}: no Dask scheduler answered within 2s" in line


def test_bad_cluster_address_is_a_usage_error(refused):
    line = refused("--cluster", "somewhere", code=2)
    assert "--cluster somewhere: expected tcp://HOST:PORT of a Dask scheduler, or local:N" in line


def test_unreachable_git_remote(refused, dask):
    line = refused("--cluster", dask.address, "--git-remote", "/nonexistent/origin.git")
    assert "Git remote /nonexistent/origin.git cannot be reached" in line


def test_base_not_on_the_git_remote(refused, dask, shared):
    repo = pygit2.Repository(str(shared.root))
    if repo.lookup_branch("unpushed") is None:
        commit_files(repo, "unpushed", {"notes.txt": b"local only\n"}, "not pushed")
    line = refused("--cluster", dask.address, "--base", "unpushed")
    assert "base 'unpushed'" in line and "is not on the Git remote" in line
    assert "git push origin unpushed" in line


def test_missing_dvc_remote(refused, dask, shared):
    variant(shared.root, "no-dvc-remote", lambda text: text.replace("remote = s3", ""))
    line = refused("--cluster", dask.address, "--base", "no-dvc-remote")
    assert "no default DVC remote in .dvc/config at 'no-dvc-remote'" in line
    assert "dvc remote add -d" in line


def test_worker_cannot_reach_the_dvc_remote(refused, dask, shared):
    dead = f"http://127.0.0.1:{free_port()}"
    variant(shared.root, "dead-endpoint", lambda text: text.replace(shared.s3.endpoint, dead))
    line = refused("--cluster", dask.address, "--base", "dead-endpoint")
    assert line.startswith("graft: error: worker tcp://127.0.0.1:")
    assert "DVC remote 's3' (s3://graft-dvc/dvc) cannot be reached" in line and dead in line


def test_missing_bucket(refused, dask, shared):
    variant(shared.root, "no-bucket", lambda text: text.replace("s3://graft-dvc/", "s3://no-such-bucket/"))
    line = refused("--cluster", dask.address, "--base", "no-bucket")
    assert "DVC remote 's3' (s3://no-such-bucket/dvc): 'no-such-bucket' does not exist" in line


def test_a_name_taken_on_the_git_remote(refused, dask, shared):
    git(shared.root, "push", "-q", "origin", "main:refs/heads/exp/refused-threshold-0.45")
    try:
        line = refused("--cluster", dask.address)
    finally:
        git(shared.root, "push", "-q", "origin", ":refs/heads/exp/refused-threshold-0.45")
    assert "branch 'exp/refused-threshold-0.45' already exists on the Git remote" in line


# --- exp new on the cluster (params only: no pipeline) -----------------------------------------


def test_exp_new_no_run_on_the_cluster(shared, dask, monkeypatch, capsys):
    argv = ["exp", "new", "on-worker", "--no-run", "--set", "train.num_leaves=7", "--format", "json"]
    code, out, err = graft(monkeypatch, capsys, shared.root / "stages", *argv, "--cluster", dask.address)
    assert (code, err) == (0, "")
    result = json.loads(out)
    validate(result, "exp-new")
    assert result["commit"] == git(shared.root, "rev-parse", "exp/on-worker")
    assert result["commit"] == remote_refs(shared.origin)["refs/heads/exp/on-worker"]
    assert result["worker"] and result["pushed"] and result["files"] == ["params.yaml"]
    assert result["overrides"] == [{"key": "train.num_leaves", "old": 31, "new": 7}]
    message = git(shared.root, "log", "-1", "--format=%an <%ae>%n%s", "exp/on-worker")
    assert message == "graft tests <tests@graft.invalid>\nexp on-worker: train.num_leaves=7"


# --- a grid on the cluster, a worker killed mid-task -------------------------------------------


@dataclass
class FirstGrid:
    code: int
    document: list
    stderr: str
    victim: int  # the killed worker's pid


@pytest.fixture(scope="module")
def first(module_env, shared, dask) -> FirstGrid:
    """`graft exp grid --cluster --format json` of GRID; a worker is SIGKILLed while it runs a
    stage, and a replacement joins. Meanwhile the same points run here (prefix "local")."""
    argv = [str(BIN / "graft"), "exp", "grid", *SETS, "--cluster", dask.address, "--format", "json"]
    env = {**os.environ, **S3_ENV}
    proc = subprocess.Popen(
        argv, cwd=shared.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        with ThreadPoolExecutor(1) as pool:  # the local run overlaps the cluster's waits
            local = pool.submit(api.exp_grid, GRID, jobs=2, prefix="local", cwd=shared.root)
            grid = kill_a_worker_mid_task(proc, dask)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    outcomes = local.result()
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return grid


def kill_a_worker_mid_task(proc: subprocess.Popen, dask) -> FirstGrid:
    victim = None
    deadline = time.monotonic() + 600
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        for worker in dask.alive():
            logs = [log for log in worker.running_logs() if not log.name.startswith("check-")]
            if any("Running stage '" in log.read_text(errors="replace") for log in logs):
                victim = worker
                break
        time.sleep(0.05)
    assert victim is not None, "no worker ran a stage"
    victim.kill()  # mid-task: it was running a stage
    dask.add_worker()  # a replacement joins; the retried task may land on either
    out, err = proc.communicate(timeout=900)
    dask.wait_for(2)
    return FirstGrid(proc.returncode, json.loads(out) if out else [], err, victim.pid)


def test_every_point_succeeds_despite_the_killed_worker(first):
    assert first.code == 0, first.stderr
    validate(first.document, "exp-grid")
    assert [g["name"] for g in first.document] == [f"grid-{p}" for p in POINTS]
    assert all(g["ok"] and g["error"] is None for g in first.document)
    workers = {g["result"]["worker"] for g in first.document}
    assert all(w and not w.endswith(f":{first.victim}") for w in workers), workers


def test_each_branch_is_pushed_once_and_fetched_back(first, shared):
    refs = {r: s for r, s in remote_refs(shared.origin).items() if r.startswith("refs/heads/exp/grid-")}
    assert sorted(refs) == sorted(f"refs/heads/exp/grid-{p}" for p in POINTS)
    for point in first.document:
        branch, commit = point["branch"], point["result"]["commit"]
        assert refs[f"refs/heads/{branch}"] == commit == git(shared.root, "rev-parse", branch)
        assert git(shared.root, "rev-parse", f"{branch}~1") == git(shared.root, "rev-parse", "main")
    assert git(shared.root, "status", "--porcelain") == ""


def test_stages_are_reported_and_the_outputs_and_run_cache_are_in_the_bucket(first, shared):
    stages = {g["name"].removeprefix("grid-"): g["result"]["stages"] for g in first.document}
    # main's own point changes nothing: every stage is main's, pulled (its outputs are on the remote)
    assert set(stages["num_leaves-31-min-0.926"].values()) == {"unchanged"}
    assert stages["num_leaves-31-min-0.9"] == {
        **dict.fromkeys(["ingest", "validate", "featurize", "train", "evaluate"], "unchanged"),
        "gate": "ran",
    }
    # the two num_leaves=15 points train the same model: the second may find it in the run cache
    assert {stages[f"num_leaves-15-min-{b}"]["train"] for b in (0.926, 0.9)} <= {"ran", "restored"}
    assert "ran" in {stages[f"num_leaves-15-min-{b}"]["train"] for b in (0.926, 0.9)}
    keys = shared.s3.keys(shared.bucket, "dvc/")
    model = lock(shared.root, "exp/grid-num_leaves-15-min-0.926")["stages"]["train"]["outs"][0]
    assert f"dvc/files/md5/{model['md5'][:2]}/{model['md5'][2:]}" in keys
    assert any(k.startswith("dvc/runs/") for k in keys)


def test_the_cluster_grid_equals_a_local_run(first, shared):
    for point in POINTS:
        assert lock(shared.root, f"exp/grid-{point}") == lock(shared.root, f"exp/local-{point}")


# --- the same grid from a fresh clone, on fresh workers: everything from the run cache --------


@pytest.fixture(scope="module")
def again(module_env, first, shared, dask, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    fresh = tmp_path_factory.mktemp("fresh") / "clone"
    git(fresh.parent, "clone", "-q", str(shared.origin), str(fresh))
    dask.forget()  # the workers' kept clones and DVC caches are deleted: only S3 has the run cache
    argv = [str(BIN / "graft"), "exp", "grid", *SETS, "--prefix", "again", "--cluster", dask.address]
    env = {**os.environ, **S3_ENV}
    proc = subprocess.run(
        [*argv, "--format", "json"], cwd=fresh, capture_output=True, text=True, check=False, env=env
    )
    return fresh, proc


def test_a_fresh_clone_restores_every_stage_from_the_run_cache(again, shared):
    fresh, proc = again
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    document = json.loads(proc.stdout)
    validate(document, "exp-grid")
    for point in document:
        name = point["name"].removeprefix("again-")
        assert lock(fresh, point["branch"]) == lock(shared.root, f"exp/grid-{name}")
        # no stage re-ran (DVC's own output, read by the worker): what differs from main came
        # from the S3 run cache, the rest is main's, pulled
        trains = "num_leaves-15" in name
        ran = [
            *(["train", "evaluate"] if trains else []),
            *(["gate"] if trains or name.endswith("-0.9") else []),
        ]
        assert point["result"]["stages"] == {
            stage: "restored" if stage in ran else "unchanged"
            for stage in ("ingest", "validate", "featurize", "train", "evaluate", "gate")
        }, name


# --- long-lived workers, a fresh DVC remote: what a branch names is on the remote before it is pushed


FRESH_BUCKET = "graft-fresh"


@dataclass
class FreshRemote:
    proc: subprocess.CompletedProcess[str]
    clone: Path  # a clone of origin, DVC cache empty until pulled from the fresh bucket


@pytest.fixture(scope="module")
def fresh_remote(module_env, again, shared, dask, tmp_path_factory) -> FreshRemote:
    """The grid again on the same workers (whose own caches hold its stages: `again` restored them),
    from a base whose DVC remote is a new, empty bucket."""
    shared.s3.create_bucket(FRESH_BUCKET)
    variant(
        shared.root, "fresh-remote", lambda text: text.replace("s3://graft-dvc/", f"s3://{FRESH_BUCKET}/")
    )
    argv = [str(BIN / "graft"), "exp", "grid", *SETS, "--prefix", "fresh", "--base", "fresh-remote"]
    env = {**os.environ, **S3_ENV}
    proc = subprocess.run(
        [*argv, "--cluster", dask.address, "--format", "json"],
        cwd=shared.root,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    clone = tmp_path_factory.mktemp("fresh-remote") / "clone"
    git(clone.parent, "clone", "-q", str(shared.origin), str(clone))
    return FreshRemote(proc, clone)


def run_cache_keys(root: Path) -> set[str]:
    """The run-cache entries (as remote keys under dvc/) of every stage of the checkout at ``root``,
    computed by DVC from its dvc.yaml and dvc.lock."""
    from dvc.repo import Repo
    from dvc.stage.cache import _can_hash, _get_cache_hash, _get_stage_hash
    from dvc.stage.serialize import to_single_stage_lockfile

    keys = set()
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            assert _can_hash(stage), stage.addressing
            key = _get_stage_hash(stage)
            keys.add(f"dvc/runs/{key[:2]}/{key}/{_get_cache_hash(to_single_stage_lockfile(stage))}")
    return keys


def test_a_fresh_remote_gets_everything_the_branches_name(fresh_remote, shared):
    proc = fresh_remote.proc
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    document = json.loads(proc.stdout)
    validate(document, "exp-grid")
    assert [g["name"] for g in document] == [f"fresh-{p}" for p in POINTS]
    # main's own point ran nothing (every stage from the worker's cache), yet its branch was pushed
    # only once the bucket held what it names
    main_point = document[POINTS.index("num_leaves-31-min-0.926")]["result"]
    assert set(main_point["stages"].values()) == {"unchanged"}
    uploaded = [g["result"]["uploaded"] for g in document]
    assert all(u is not None and u["run_cache"] == 6 for u in uploaded), uploaded
    assert (
        sum(u["objects_uploaded"] for u in uploaded) > 0
        and sum(u["run_cache_uploaded"] for u in uploaded) > 0
    )

    clone, keys = fresh_remote.clone, set(shared.s3.keys(FRESH_BUCKET, "dvc/"))
    env = {**os.environ, **S3_ENV}
    for point in document:
        git(clone, "checkout", "-q", point["branch"])
        assert lock(clone, "HEAD") == lock(shared.root, f"exp/grid-{point['name'].removeprefix('fresh-')}")
        # DVC's own command, from the fresh bucket only (the clone's cache starts empty)
        pulled = subprocess.run(
            [str(BIN / "dvc"), "pull"], cwd=clone, capture_output=True, text=True, check=False, env=env
        )
        assert pulled.returncode == 0, f"{point['branch']}: {pulled.stdout}{pulled.stderr}"
        missing = run_cache_keys(clone) - keys
        assert not missing, f"{point['branch']}: run-cache entries not in the bucket: {sorted(missing)}"


# --- progress on stderr, branches on stdout (params only: no pipeline) --------------------------


def test_grid_progress_goes_to_stderr_and_branches_to_stdout(shared, dask, monkeypatch, capsys):
    argv = ["exp", "grid", "--no-run", "--set", "train.num_leaves=5,9", "--prefix", "plain"]
    code, out, err = graft(monkeypatch, capsys, shared.root, *argv, "--cluster", dask.address)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == f"graft exp: running 2 experiment(s), cluster {dask.address}, 2 worker(s)"
    assert sorted(line.split()[1:3] for line in lines[1:]) == [
        ["ok", "exp/plain-num_leaves-5"],
        ["ok", "exp/plain-num_leaves-9"],
    ]
    assert out.splitlines() == [
        f"exp/plain-num_leaves-{n}\t{git(shared.root, 'rev-parse', '--short=8', f'exp/plain-num_leaves-{n}')}"
        for n in (5, 9)
    ]
