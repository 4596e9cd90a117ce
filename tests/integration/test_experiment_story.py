"""The whole story with real Git and DVC, step by step with the commands the workflows run.

A developer clones origin and starts two experiment branches; each is pushed and reviewed
as a pull request would be (reproduce, check-repro, report, gate); the winner, picked from
`graft diff`, is merged into main; the release workflow's steps tag and package it; then, after
main has moved on, `graft reproduce` rebuilds the release and proves it identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tests.releasing import (
    clone_with_outputs,
    commit_pipeline_change,
    dvc,
    graft,
    make_origin,
    outputs_file,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
EXPERIMENTS = {"leaves15": "train.num_leaves=15", "slow-lr": "train.learning_rate=0.02"}


def pull_request_checks(origin: Path, branch: str, dest: Path, cache_from: Path) -> tuple[str, int]:
    """pr.yml on a checkout of ``branch``: repro, check-repro, report, gate. Returns report, gate code."""
    clone = clone_with_outputs(origin, dest, cache_from=cache_from)
    git(clone, "checkout", "-q", branch)
    dvc(clone, "checkout", "-q")
    dvc(clone, "repro")
    graft(clone, "check-repro")
    graft(clone, "report", "--base", "origin/main", "--head", "HEAD", "-o", "report.md")
    gate = graft(clone, "gate", "--base", "origin/main", check=False)
    return (clone / "report.md").read_text(), gate.returncode


def test_experiments_review_merge_release_and_reproduce(pipeline_copy, tmp_path):
    origin = make_origin(pipeline_copy, tmp_path / "origin.git")
    dev = clone_with_outputs(origin, tmp_path / "dev", cache_from=pipeline_copy)

    # Two experiments from the command line, each its own branch with its own results.
    for name, setting in EXPERIMENTS.items():
        graft(dev, "exp", "new", name, "--set", setting)
        git(dev, "push", "-q", "origin", f"exp/{name}")
    assert git(dev, "status", "--porcelain") == ""
    listed = json.loads(graft(dev, "exp", "list", "--format", "json").stdout)
    assert sorted(e["branch"] for e in listed) == [f"exp/{n}" for n in sorted(EXPERIMENTS)]

    # Compare every experiment against main in one table, read from Git objects.
    diff = json.loads(graft(dev, "diff", "--all", "--format", "json").stdout)
    auc_row = next(r for r in diff["rows"] if r["key"] == "roc_auc")
    scores = {rev: auc_row["values"][rev] for rev in (f"exp/{n}" for n in EXPERIMENTS)}
    assert len(set(scores.values())) == 2, "the experiments should not score the same"
    winner = max(scores, key=scores.get)
    assert winner in auc_row["best"] or auc_row["values"]["main"] >= scores[winner]

    # The winner's pull request: the same steps as .github/workflows/pr.yml.
    report, gate_code = pull_request_checks(origin, winner, tmp_path / "pr", cache_from=dev)
    assert report.startswith("<!-- graft-report -->") or "<!-- graft-report -->" in report
    assert "roc_auc" in report and "95%" in report
    assert f"{EXPERIMENTS[winner.removeprefix('exp/')].split('=')[0]}" in report
    assert gate_code in (0, 1)  # a regression beyond tolerance is allowed to fail the gate

    # Merge the winner into main (what the merge button does) and push.
    git(dev, "checkout", "-q", "main")
    git(dev, "merge", "-q", "--no-ff", "-m", f"Merge {winner}", winner)
    git(dev, "push", "-q", "origin", "main")
    winner_lock = git(dev, "show", f"{winner}:dvc.lock")

    # release.yml on a fresh clone of main.
    ci = clone_with_outputs(origin, tmp_path / "ci", cache_from=dev)
    dvc(ci, "repro")
    graft(ci, "check-repro")
    graft(ci, "release", "--bump", "auto", "--out", "dist", "--outputs", str(tmp_path / "out.txt"))
    released = outputs_file(tmp_path / "out.txt")
    git(ci, "push", "-q", "origin", f"refs/tags/{released['tag']}")
    assert released["tag"] == "adult-income@v1.0.0"
    assert (ci / "dvc.lock").read_text().rstrip("\n") == winner_lock  # the released model is the winner's

    # main moves on; the release still reproduces byte for byte from its tag.
    git(dev, "pull", "-q", "--ff-only", "origin", "main")
    commit_pipeline_change(dev, "train.min_child_samples", 40, "more samples per leaf")
    git(dev, "fetch", "-q", "--tags", "origin")
    done = graft(dev, "reproduce", released["tag"], "--package", str(ci / released["package"]))
    assert f"verdict: {released['tag']} reproduced" in done.stdout
    assert git(dev, "status", "--porcelain") == ""
