"""Hostile documents on experiment branches (tests/integration/bombs.py) through the real CLI.

One throwaway copy of the project holds a good branch and one branch per case. Named
explicitly, a bad branch is an error: ``graft diff main exp/<id>`` exits 3 with the case's exact
line, quickly and within bounded memory (the child's peak RSS, from ``wait4``). Found by a
listing, it is not: ``graft exp list``, ``graft diff --all`` and ``graft report --all`` exit 0,
list the good branch, and name each bad branch and its file in a warning. No command changes a
ref, the index or a file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import BIN, copy_project
from tests.integration.bombs import CASES, Bomb
from tests.integration.conftest import repo_state
from tests.integration.repos import branch

MAX_RSS_MIB = 300  # graft diff reads a few files: ~50 MiB; an expanded alias bomb, gigabytes
CHILD_SECONDS = 300  # a backstop only: each case is refused in a second or two


# A fresh launcher runs graft and reports its child's peak RSS: measured on graft's process via
# wait4 directly, the peak would include this (large) pytest process's image, inherited across
# fork and exec; the launcher's fork copies only the launcher.
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def graft(cwd: Path, *args: str) -> tuple[int, str, str, float]:
    """Run the graft CLI; (exit code, stdout, stderr, its peak RSS in MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(peak), str(BIN / "graft"), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CHILD_SECONDS,
        )
        return done.returncode, done.stdout, done.stderr, int(peak.read_text()) / 1024


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Path:
    root = copy_project(tmp_path_factory.mktemp("bombs") / "project", with_cache=False)
    branch(root, "exp/good", metrics={"roc_auc": 0.9})
    for case in CASES:
        branch(root, f"exp/{case.id}", files={case.path: case.data})
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_named_bad_branch_is_refused_with_file_and_revision(repo: Path, case: Bomb):
    before = repo_state(repo)
    code, out, err, rss = graft(repo, "diff", "main", f"exp/{case.id}")
    assert (code, out) == (3, ""), err
    assert err == "graft: error: " + case.message.format(branch=f"exp/{case.id}") + "\n"
    assert rss < MAX_RSS_MIB, f"{case.id}: peak RSS {rss:.0f} MiB"
    assert repo_state(repo) == before


def warned(err: str, prefix: str) -> dict[str, str]:
    """Branch -> warning, from ``graft: <prefix>...`` lines."""
    found: dict[str, str] = {}
    for line in err.splitlines():
        assert line.startswith("graft: "), err
        body = line.removeprefix("graft: ")
        if body.startswith(prefix):
            name, _, why = body.removeprefix(prefix).partition(": ")
            found[name] = why
    return found


def expected_warnings() -> dict[str, str]:
    return {f"exp/{c.id}": c.message.format(branch=f"exp/{c.id}") for c in CASES}


def test_exp_list_lists_every_branch_and_marks_the_bad_ones(repo: Path):
    before = repo_state(repo)
    code, out, err, rss = graft(repo, "exp", "list")
    assert code == 0, err
    assert warned(err, "") == {
        name: f"listed without its results: {why}" for name, why in expected_warnings().items()
    }
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert sorted(rows) == sorted(["exp/good", *expected_warnings()])
    assert "0.9000" in rows["exp/good"]
    for case in CASES:
        assert rows[f"exp/{case.id}"].endswith("(unreadable: see the warning above)")
    assert rss < MAX_RSS_MIB
    assert repo_state(repo) == before


def test_exp_list_json_names_the_error(repo: Path):
    import json

    code, out, err, _ = graft(repo, "exp", "list", "--format", "json")
    assert code == 0, err
    errors = {row["branch"]: row["error"] for row in json.loads(out)}
    assert errors == {"exp/good": None, **expected_warnings()}


LISTINGS = {
    "diff": (["diff", "--all"], lambda doc: [r["name"] for r in doc["revisions"]], ["main", "exp/good"]),
    "report": (
        ["report", "--all", "--resamples", "10"],
        lambda doc: [r["name"] for r in doc["leaderboard"]["entries"]],
        ["main", "HEAD", "exp/good"],
    ),
}


@pytest.mark.parametrize("command", sorted(LISTINGS))
def test_listings_leave_out_bad_branches_with_a_warning(repo: Path, command: str):
    import json

    before = repo_state(repo)
    argv, names_of, expected = LISTINGS[command]
    code, out, err, rss = graft(repo, *argv, "--format", "json")
    assert code == 0, err
    assert warned(err, "left out ") == expected_warnings()
    assert sorted(names_of(json.loads(out))) == sorted(expected)
    assert rss < MAX_RSS_MIB
    assert repo_state(repo) == before
