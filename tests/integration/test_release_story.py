"""The release story end to end with real Git and DVC: the commands the workflows run, in order.

origin (a bare repo playing GitHub) <- a CI clone of main: `dvc repro`, `graft check-repro`,
`graft release`, `git push` of the tag; then `graft models` from a fresh clone, and
`graft reproduce <tag>` after main has moved on. Helpers and fixtures are in tests/releasing.py
and tests/integration/conftest.py for later stories (experiment branches, reports).
"""

import hashlib
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
from tests.schemas import validate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
TAG = "adult-income@v1.0.0"


def ci_release(clone: Path, outputs: Path) -> dict[str, str]:
    """The release workflow's steps after install, on a clone of main."""
    dvc(clone, "repro")
    graft(clone, "check-repro")
    graft(clone, "release", "--bump", "auto", "--out", "dist", "--outputs", str(outputs))
    released = outputs_file(outputs)
    git(clone, "push", "-q", "origin", f"refs/tags/{released['tag']}")
    return released


@pytest.fixture
def story(pipeline_copy, tmp_path):
    """origin with main; a CI clone that released v1.0.0 and pushed the tag."""
    origin = make_origin(pipeline_copy, tmp_path / "origin.git")
    ci = clone_with_outputs(origin, tmp_path / "ci", cache_from=pipeline_copy)
    released = ci_release(ci, tmp_path / "outputs-1.txt")
    return {"origin": origin, "dev": pipeline_copy, "ci": ci, "released": released, "tmp": tmp_path}


def test_release_models_and_reproduce_after_main_moved_on(story):
    origin, dev, ci, tmp = story["origin"], story["dev"], story["ci"], story["tmp"]
    released = story["released"]
    assert released["tag"] == TAG and released["version"] == "1.0.0"
    archive = ci / released["package"]
    assert archive.is_file()
    assert git(origin, "cat-file", "-t", TAG) == "tag"
    assert git(origin, "rev-parse", f"{TAG}^{{commit}}") == git(ci, "rev-parse", "HEAD")

    # Anyone cloning origin sees the release and its metrics, read from Git objects.
    viewer = clone_with_outputs(origin, tmp / "viewer")
    listed = json.loads(graft(viewer, "models", "--format", "json").stdout)
    metrics = json.loads((dev / "metrics/metrics.json").read_text())
    assert [m["tag"] for m in listed] == [TAG]
    assert listed[0]["metrics"]["roc_auc"] == metrics["roc_auc"]
    assert TAG in graft(viewer, "models").stdout

    # main moves on: a training parameter changes, the pipeline re-runs, the change is pushed.
    git(dev, "pull", "-q", "--ff-only", "origin", "main")
    new_head = commit_pipeline_change(dev, "train.learning_rate", 0.05, "faster learning rate")
    git(dev, "push", "-q", "origin", "main")
    assert "up to date" in dvc(dev, "status").stdout
    before = (dev / "models/model.txt").read_bytes()

    # Reproducing the old release from the moved-on checkout (from a subdirectory, as anyone
    # might) gives the released bytes again: the rebuilt archive's SHA-256 is the one the tag
    # records. (The table form and --package are exercised by test_experiment_story.)
    git(dev, "fetch", "-q", "--tags", "origin")
    report = json.loads(graft(dev / "stages", "reproduce", TAG, "--format", "json").stdout)
    validate(report, "reproduce")
    assert report["reproduced"] is True
    assert all(c["match"] for c in report["checks"])
    assert {c["item"] for c in report["checks"]} >= {"models/model.txt", "metrics/metrics.json:roc_auc"}
    assert any(c["source"] == "tag annotation sha256" for c in report["checks"])
    assert report["rebuilt_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()

    # The user's checkout was never touched, and no worktree is left behind.
    assert git(dev, "rev-parse", "HEAD") == new_head
    assert git(dev, "status", "--porcelain") == ""
    assert (dev / "models/model.txt").read_bytes() == before
    assert len(git(dev, "worktree", "list").splitlines()) == 1

    # The next release of main is a minor bump: the model changed, the input schema did not.
    ci2 = clone_with_outputs(origin, tmp / "ci2", cache_from=dev)
    second = ci_release(ci2, tmp / "outputs-2.txt")
    assert second["tag"] == "adult-income@v1.1.0"
    git(viewer, "fetch", "-q", "--tags", "origin")
    listed = json.loads(graft(viewer, "models", "--format", "json").stdout)
    assert [m["tag"] for m in listed] == ["adult-income@v1.1.0", TAG]
    assert listed[0]["metrics"]["roc_auc"] != listed[1]["metrics"]["roc_auc"]


def test_reproduce_names_what_does_not_match(pipeline_copy):
    """A release whose committed dvc.lock does not match what its pipeline produces fails, naming it."""
    lock = (pipeline_copy / "dvc.lock").read_text()
    old_md5 = lock.split("path: models/model.txt", 1)[1].split("md5: ", 1)[1].split()[0]
    (pipeline_copy / "dvc.lock").write_text(lock.replace(old_md5, "f" * 32))
    git(pipeline_copy, "commit", "-q", "-am", "hand-edited lock")
    git(
        pipeline_copy,
        "tag",
        "-a",
        "adult-income@v9.0.0",
        "-m",
        "Registering artifact adult-income version v9.0.0",
    )

    done = graft(pipeline_copy, "reproduce", "adult-income@v9.0.0", check=False)
    assert done.returncode == 1
    assert "models/model.txt" in done.stderr and "did not reproduce" in done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("models/model.txt "))
    assert row.split()[-1] == "NO"
    assert len(git(pipeline_copy, "worktree", "list").splitlines()) == 1


def test_reproduce_refuses_unknown_tags_and_release_completes_a_released_commit(pipeline_copy, tmp_path):
    done = graft(pipeline_copy, "reproduce", "adult-income@v3.0.0", check=False)
    assert done.returncode == 3 and "no release tag 'adult-income@v3.0.0'" in done.stderr
    first = graft(pipeline_copy, "release", "--out", str(tmp_path))
    assert "note: no default DVC remote: package not uploaded to a package store" in first.stdout
    archive = tmp_path / "adult-income-1.0.0.tar.gz"
    released = archive.read_bytes()
    archive.unlink()
    # released already: a second run rebuilds the same package (its SHA-256 is the tag's) and tags nothing
    again = graft(pipeline_copy, "release", "--out", str(tmp_path))
    assert (
        "adult-income@v1.0.0  (commit" in again.stdout
        and "already released as adult-income@v1.0.0" in again.stdout
    )
    assert archive.read_bytes() == released
    assert git(pipeline_copy, "tag", "-l").split() == ["adult-income@v1.0.0"]
    dry = graft(pipeline_copy, "release", "--dry-run", "--out", str(tmp_path))
    assert "adult-income@v1.0.0" in dry.stdout
