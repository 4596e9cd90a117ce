"""`graft exp prune` on small Git repositories with a bare `origin`: what it chooses, what it keeps
and why, the archive refs it leaves, and `graft diff` reading a pruned branch by its old name."""

import json
import time

import pytest

from graft.cli import main
from tests.conftest import git
from tests.releasing import small_project

METRICS = {"roc_auc": 0.90, "log_loss": 0.30}
DAY = 86400


def branch_with_metrics(repo, name, roc_auc, committed=None, monkeypatch=None):
    git(repo, "switch", "-q", "-c", f"exp/{name}", "main")
    (repo / "metrics" / "metrics.json").write_text(json.dumps({**METRICS, "roc_auc": roc_auc}))
    if committed is not None:
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{committed} +0000")
    git(repo, "commit", "-q", "-am", f"experiment {name}")
    monkeypatch.delenv("GIT_COMMITTER_DATE", raising=False)
    git(repo, "switch", "-q", "main")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """main with exp/winner merged; exp/old-loser (40 days old) and exp/new-loser unmerged; all on origin."""
    root = small_project(tmp_path / "repo", METRICS)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", "origin.git")
    git(root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    branch_with_metrics(root, "winner", 0.95, monkeypatch=monkeypatch)
    branch_with_metrics(root, "old-loser", 0.85, time.time() - 40 * DAY, monkeypatch)
    branch_with_metrics(root, "new-loser", 0.86, monkeypatch=monkeypatch)
    git(root, "merge", "-q", "--no-ff", "-m", "merge the winner", "exp/winner")
    git(root, "push", "-q", "origin", "main", "exp/winner", "exp/old-loser", "exp/new-loser")
    monkeypatch.chdir(root)
    return root


def refs(repo, pattern="refs/"):
    return dict(
        line.split(" ", 1)[::-1]
        for line in git(repo, "for-each-ref", "--format=%(objectname) %(refname)", pattern).splitlines()
    )


def rows(out):
    """The table's rows as {branch: (merged, action)}."""
    lines = out.splitlines()
    return {
        line.split()[0]: (line.split()[3], line.split()[5]) for line in lines[1:] if line.startswith("exp/")
    }


def test_the_default_is_a_dry_run_listing_what_would_go(repo, capsys):
    before = refs(repo)
    assert main(["exp", "prune", "--merged"]) == 0
    out = capsys.readouterr().out
    assert rows(out) == {"exp/winner": ("yes", "would")}
    assert "dry run: nothing deleted; run again with --no-dry-run" in out
    assert refs(repo) == before


def test_merged_branches_are_archived_then_deleted(repo, capsys):
    tip = git(repo, "rev-parse", "exp/winner")
    assert main(["exp", "prune", "--merged", "--no-dry-run"]) == 0
    assert "archived as refs/graft/archive/exp/* and deleted: exp/winner" in capsys.readouterr().out
    assert git(repo, "branch", "--list", "exp/*").split() == ["exp/new-loser", "exp/old-loser"]
    assert git(repo, "rev-parse", "refs/graft/archive/exp/winner") == tip
    # origin was not asked: its branch stays
    assert "refs/heads/exp/winner" in refs(repo.parent / "origin.git")
    # the results stay readable by the old name
    assert main(["diff", "exp/winner", "--format", "json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert "exp/winner" in json.dumps(diff) and "0.95" in json.dumps(diff)


def test_unmerged_branches_need_force(repo, capsys):
    before = refs(repo)
    assert main(["exp", "prune", "--older-than", "30d", "--no-dry-run"]) == 0
    out = capsys.readouterr().out
    assert rows(out) == {"exp/old-loser": ("no", "keep")}  # the only one older than 30 days
    assert "not merged into main: --force deletes it (its results are archived)" in out
    assert refs(repo) == before

    assert main(["exp", "prune", "old-loser", "--force", "--no-dry-run"]) == 0
    assert rows(capsys.readouterr().out) == {"exp/old-loser": ("no", "deleted")}
    assert "exp/old-loser" not in git(repo, "branch", "--list")
    assert main(["diff", "exp/old-loser", "--base", "main", "--format", "json"]) == 0
    assert "0.85" in capsys.readouterr().out


def test_remote_branches_are_archived_there_and_deleted(repo, tmp_path, capsys):
    origin = repo.parent / "origin.git"
    tip = git(repo, "rev-parse", "exp/new-loser")
    assert main(["exp", "prune", "exp/new-loser", "exp/winner", "--remote", "--force", "--no-dry-run"]) == 0
    out = capsys.readouterr().out
    assert rows(out) == {"exp/new-loser": ("no", "deleted"), "exp/winner": ("yes", "deleted")}
    remote = refs(origin)
    assert "refs/heads/exp/new-loser" not in remote and "refs/heads/exp/winner" not in remote
    assert remote["refs/graft/archive/exp/new-loser"] == tip
    assert "refs/heads/exp/old-loser" in remote
    assert "refs/remotes/origin/exp/new-loser" not in refs(repo)

    # someone else's clone reaches the results once it fetches the archive refs
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    git(other, "fetch", "-q", "origin", "refs/graft/archive/*:refs/graft/archive/*")
    assert main(["diff", "-C", str(other), "exp/new-loser", "--format", "json"]) == 0
    assert "0.86" in capsys.readouterr().out


def test_a_branch_only_on_the_remote_is_pruned_there(repo, capsys):
    git(repo, "branch", "-q", "-D", "exp/old-loser")
    assert main(["exp", "prune", "old-loser", "--force", "--no-dry-run"]) != 0
    assert (
        "no experiment branch exp/old-loser here (with --remote, the remote's too)" in capsys.readouterr().err
    )
    assert main(["exp", "prune", "old-loser", "--remote", "--force", "--no-dry-run"]) == 0
    out = capsys.readouterr().out
    assert "exp/old-loser" in out and "remote" in out
    assert "refs/heads/exp/old-loser" not in refs(repo.parent / "origin.git")
    assert "refs/graft/archive/exp/old-loser" in refs(repo.parent / "origin.git")


def test_what_is_kept_and_why(repo, capsys, tmp_path):
    # a branch named to be deleted and kept is a refusal (exit 1) naming it and why, on one line
    def kept(*argv):
        assert main(["exp", "prune", *argv, "--no-dry-run"]) == 1
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and err.startswith("graft: 1 branch(es) named to prune were kept: ")
        return out, err

    # checked out: kept
    git(repo, "switch", "-q", "exp/new-loser")
    out, err = kept("new-loser", "--force")
    assert "checked out in a worktree: switch branches first" in out
    assert "exp/new-loser: checked out in a worktree: switch branches first" in err
    git(repo, "switch", "-q", "main")
    # ahead of the remote's copy: kept (pull or push first)
    git(repo, "switch", "-q", "exp/new-loser")
    git(repo, "commit", "-q", "--allow-empty", "-m", "more")
    git(repo, "switch", "-q", "main")
    out, err = kept("new-loser", "--remote", "--force")
    assert "differs from origin/exp/new-loser" in out and "differs from origin/exp/new-loser" in err
    # an archive ref that already holds another commit is never overwritten
    git(repo, "update-ref", "refs/graft/archive/exp/old-loser", git(repo, "rev-parse", "main"))
    out, err = kept("old-loser", "--force")
    assert "refs/graft/archive/exp/old-loser already archives" in out
    assert "exp/old-loser: refs/graft/archive/exp/old-loser already archives" in err
    assert "exp/old-loser" in git(repo, "branch", "--list")
    # an archive ref under which this branch's would be a folder (or the other way): kept, not half-pruned
    git(repo, "update-ref", "refs/graft/archive/exp/new-loser/old", git(repo, "rev-parse", "main"))
    out, err = kept("new-loser", "--force")
    assert "refs/graft/archive/exp/new-loser/old is in the way of archiving it as" in out, out
    assert "exp/new-loser: refs/graft/archive/exp/new-loser/old is in the way" in err
    assert "exp/new-loser" in git(repo, "branch", "--list")


def test_an_unmerged_branch_named_without_force_is_refused_and_kept(repo, capsys):
    """As `git branch -d` refuses an unmerged branch (exit 1, naming -D): exit 1 naming --force."""
    before = refs(repo)
    origin = refs(repo.parent / "origin.git")
    assert main(["exp", "prune", "new-loser", "--no-dry-run"]) == 1
    out, err = capsys.readouterr()
    assert rows(out) == {"exp/new-loser": ("no", "keep")}
    assert err == (
        "graft: 1 branch(es) named to prune were kept: exp/new-loser: not merged into main: "
        "--force deletes it (its results are archived)\n"
    )
    assert refs(repo) == before and refs(repo.parent / "origin.git") == origin
    # the same with --remote and in JSON: the document first, then the refusal
    assert main(["exp", "prune", "exp/new-loser", "--remote", "--no-dry-run", "--format", "json"]) == 1
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert [(b["branch"], b["delete"], b["deleted"]) for b in document["branches"]] == [
        ("exp/new-loser", False, False)
    ]
    assert "exp/new-loser: not merged into main: --force deletes it" in err
    assert refs(repo.parent / "origin.git") == origin
    assert "refs/heads/exp/new-loser" in refs(repo)
    # with others named beside it: those go, it stays, and the exit status still says so
    tip = git(repo, "rev-parse", "exp/winner")
    assert main(["exp", "prune", "winner", "new-loser", "old-loser", "--no-dry-run"]) == 1
    out, err = capsys.readouterr()
    assert rows(out) == {
        "exp/winner": ("yes", "deleted"),
        "exp/new-loser": ("no", "keep"),
        "exp/old-loser": ("no", "keep"),
    }
    assert "2 branch(es) named to prune were kept: exp/new-loser: not merged" in err
    assert "; exp/old-loser: not merged into main: --force deletes it" in err
    assert git(repo, "branch", "--list", "exp/*").split() == ["exp/new-loser", "exp/old-loser"]
    assert git(repo, "rev-parse", "refs/graft/archive/exp/winner") == tip
    # a dry run only lists; a filter (--merged, --older-than) chooses, and what it leaves is not refused
    assert main(["exp", "prune", "new-loser"]) == 0
    assert rows(capsys.readouterr().out) == {"exp/new-loser": ("no", "keep")}
    assert main(["exp", "prune", "--older-than", "30d", "--no-dry-run"]) == 0
    assert rows(capsys.readouterr().out) == {"exp/old-loser": ("no", "keep")}
    # --force deletes it
    assert main(["exp", "prune", "new-loser", "--force", "--no-dry-run"]) == 0
    assert "exp/new-loser" not in git(repo, "branch", "--list")


def test_bad_requests_change_nothing(repo, capsys):
    before = refs(repo)
    assert main(["exp", "prune", "--no-dry-run"]) == 2
    assert (
        "say which branches to prune: NAME..., --merged or --older-than DURATION" in capsys.readouterr().err
    )
    assert main(["exp", "prune", "winner", "nope", "--no-dry-run"]) != 0
    err = capsys.readouterr().err
    assert (
        "no experiment branch exp/nope here" in err
        and "branches: exp/new-loser, exp/old-loser, exp/winner" in err
    )
    assert main(["exp", "prune", "--older-than", "a month"]) == 2
    assert "argument --older-than: 'a month' is not a duration like 12h, 30d or 2w" in capsys.readouterr().err
    assert main(["exp", "prune", "--merged", "--remote", "--no-dry-run", "--main", "nope"]) != 0
    assert "unknown revision 'nope'" in capsys.readouterr().err
    assert {k: v for k, v in refs(repo).items() if not k.startswith("refs/remotes/")} == {
        k: v for k, v in before.items() if not k.startswith("refs/remotes/")
    }
