"""The parts of cluster runs that need no cluster: addresses, DVC's output, committed remotes,
idempotent pushes, kept clones and the sweeping of worktrees left by a killed process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graft.core.dvcremote import default_remote
from graft.core.errors import GitError, UsageError
from graft.core.worktree import clone_key, kept_clone, stage_report, sweep_worktrees, temporary_worktree
from graft.experiments.branches import push_branch, same_content
from graft.experiments.executors import parse_cluster
from tests.conftest import git


@pytest.mark.parametrize(
    ("text", "expected"),
    [("local:2", ("local", 2)), ("tcp://10.0.0.5:8786", ("tcp://10.0.0.5:8786", None))],
)
def test_cluster_addresses(text, expected):
    assert parse_cluster(text) == expected


@pytest.mark.parametrize("text", ["local:0", "local", "10.0.0.5:8786", "tcp://host", "http://h:1"])
def test_bad_cluster_addresses(text):
    with pytest.raises(UsageError, match=re.escape(f"--cluster {text}:")):
        parse_cluster(text)


DVC_OUTPUT = """\
Pulling data for stage: 'ingest'
Stage 'featurize' didn't change, skipping
Stage 'train' is cached - skipping run, checking out outputs
Updating lock file 'dvc.lock'
Running stage 'evaluate':
> python -m stages.evaluate
Updating lock file 'dvc.lock'
"""


def test_stage_report_reads_what_dvc_did():
    assert stage_report(DVC_OUTPUT) == {
        "ingest": "unchanged",
        "featurize": "unchanged",
        "train": "restored",
        "evaluate": "ran",
    }


def test_stage_report_keeps_the_last_word_on_a_stage():
    text = "Pulling data for stage: 'train'\nUnable to pull data for stage train\nRunning stage 'train':\n"
    assert stage_report(text) == {"train": "ran"}


CONFIG = """\
[core]
    analytics = false
    remote = store
['remote "store"']
    url = s3://bucket/dvc
    endpointurl = http://127.0.0.1:9000
['remote "other"']
    url = /mnt/dvc
"""


def test_default_remote_as_committed():
    remote = default_remote(CONFIG)
    assert remote is not None
    assert (remote.name, remote.url, remote.options) == (
        "store",
        "s3://bucket/dvc",
        {"endpointurl": "http://127.0.0.1:9000"},
    )
    assert default_remote(CONFIG.replace("    remote = store\n", "")) is None
    assert default_remote(CONFIG.replace("remote = store", "remote = gone")) is None
    assert default_remote(None) is None


def test_a_remote_whose_dvc_plugin_is_missing_is_named_in_one_line(monkeypatch):
    import importlib.util

    from graft.core.dvcremote import check_plugin
    from graft.core.errors import MissingDependency

    remote = default_remote(CONFIG)
    check_plugin(default_remote(CONFIG.replace("remote = store", "remote = other")))  # a folder
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "dvc_s3" else real(name))
    with pytest.raises(MissingDependency) as info:
        check_plugin(remote)
    assert str(info.value) == (
        "DVC remote 'store' (s3://bucket/dvc) needs dvc-s3, which is not installed: "
        "pip install 'graft-toolkit[s3]'"
    )


def test_a_worker_without_the_dvc_plugin_says_so(tmp_path):
    """What a worker's remote check prints when DVC cannot open an S3 remote (dvc-s3 missing)."""
    git(tmp_path, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".dvc" / "config").write_text(CONFIG)
    code = (
        "import sys\n"
        "sys.modules['dvc_s3'] = None\n"
        "from graft.core.dvcremote import main\n"
        "sys.exit(main(['check']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "error: DVC remote 'store' (s3://bucket/dvc) needs dvc-s3, which is not installed: "
        "pip install 'graft-toolkit[s3]'\n"
    )


def test_clone_keys_are_stable_and_distinct():
    a = clone_key("git@github.com:team/project.git")
    assert a == clone_key("git@github.com:team/project.git")
    assert a.startswith("project-")
    assert a != clone_key("https://github.com/team/project.git")
    assert clone_key("/srv/git/origin.git").startswith("origin-")


# --- Git: pushes, clones, worktrees ---------------------------------------------------------------


@pytest.fixture
def remote_and_repo(tmp_path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "push", "-q", str(origin), "main")
    return origin, repo


def commit_on(repo: Path, parent: str, files: dict[str, str], date: str) -> str:
    """A commit of ``parent``'s tree with ``files`` changed, dated ``date`` (no checkout moved)."""
    index = repo / ".git" / "tmp-index"
    env = {"GIT_INDEX_FILE": str(index), "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}

    def run(*args: str, text: str | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=repo, env={**os.environ, **env}, input=text, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    run("read-tree", parent)
    for path, text in files.items():
        blob = run("hash-object", "-w", "--stdin", text=text)
        run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    index.unlink()
    return run("commit-tree", tree, "-p", parent, "-m", "exp")


def test_push_is_idempotent_for_the_same_content(remote_and_repo):
    origin, repo = remote_and_repo
    base = git(repo, "rev-parse", "main")
    first = commit_on(repo, base, {"m.json": "1\n"}, "2024-01-01T00:00:00")
    retry = commit_on(repo, base, {"m.json": "1\n"}, "2024-01-02T00:00:00")  # same tree, other date
    assert first != retry and same_content(repo, first, retry)
    assert push_branch(repo, str(origin), "exp/x", first) == first
    assert push_branch(repo, str(origin), "exp/x", retry) == first  # success: the remote's commit
    assert git(origin, "rev-parse", "refs/heads/exp/x") == first
    assert git(repo, "for-each-ref", "refs/graft") == ""  # the probe ref is gone


def test_push_of_other_content_under_the_same_name_is_refused(remote_and_repo):
    origin, repo = remote_and_repo
    base = git(repo, "rev-parse", "main")
    first = commit_on(repo, base, {"m.json": "1\n"}, "2024-01-01T00:00:00")
    other = commit_on(repo, base, {"m.json": "2\n"}, "2024-01-01T00:00:00")
    push_branch(repo, str(origin), "exp/x", first)
    with pytest.raises(GitError) as info:
        push_branch(repo, str(origin), "exp/x", other)
    assert str(info.value) == (
        f"branch 'exp/x' already exists on {origin} with other content (its commit {first[:8]}, "
        f"this run's {other[:8]}); pick another name or delete it there"
    )
    assert git(origin, "rev-parse", "refs/heads/exp/x") == first


def test_kept_clone_clones_once_and_fetches_new_commits(remote_and_repo, tmp_path):
    origin, repo = remote_and_repo
    home = tmp_path / "worker"
    base = git(repo, "rev-parse", "main")
    clone = kept_clone(home, str(origin), base)
    assert clone.parent == home / "clones" and git(clone, "rev-parse", "--is-bare-repository") == "true"
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "next")
    git(repo, "push", "-q", str(origin), "main")
    newer = git(repo, "rev-parse", "main")
    assert kept_clone(home, str(origin), newer) == clone
    assert git(clone, "cat-file", "-t", newer) == "commit"
    with pytest.raises(GitError, match=f"commit {'0' * 8} is not on the Git remote {re.escape(str(origin))}"):
        kept_clone(home, str(origin), "0" * 40)
    with pytest.raises(GitError, match="cannot be fetched"):
        kept_clone(home, str(tmp_path / "nowhere.git"), base)


def test_sweep_removes_only_worktrees_whose_process_died(remote_and_repo, tmp_path):
    origin, repo = remote_and_repo
    clone = kept_clone(tmp_path / "worker", str(origin), git(repo, "rev-parse", "main"))
    parent = tmp_path / "worktrees"
    sha = git(repo, "rev-parse", "main")
    # a process that dies holding a worktree (SIGKILL: no cleanup)
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from graft.core.worktree import temporary_worktree\n"
        f"with temporary_worktree(Path({str(clone)!r}), {sha!r}, 'dead', parent=Path({str(parent)!r})):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    dead = [p for p in parent.iterdir() if p.is_dir()]
    assert len(dead) == 1 and (dead[0] / "a.txt").is_file()
    with temporary_worktree(clone, sha, "live", parent=parent) as live:
        assert sweep_worktrees(clone, parent) == dead
        assert live.is_dir() and not dead[0].exists()
        listed = git(clone, "worktree", "list", "--porcelain")
        assert str(live) in listed and str(dead[0]) not in listed
    assert list(parent.iterdir()) == []
