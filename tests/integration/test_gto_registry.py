"""graft reads the model registry as GTO does, for tags the real GTO writes, and `graft promote`
writes the tag `gto assign` writes.

Each step makes a tag with GTO (its Python API, and its CLI at the end) or with graft, then
compares what `gto show` lists (versions, highest first, each with the stages it is in; with
``--deprecated`` too) with `graft models --format json` (``--all``), and the version each stage
holds. GTO orders events by the tag's second, so API calls run on a clock that advances ten
seconds per call (pygit2, which GTO tags with, takes the time from its Signature); the commits
are dated before it and the CLI calls at the end run in real time, after it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator

import gto.api
import pygit2
import pytest

from graft.cli import main
from graft.release.registry import registry
from tests.conftest import BIN, git
from tests.releasing import small_project

MODEL = "adult-income"
METRICS = {"roc_auc": 0.91, "log_loss": 0.3}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    start = int(time.time()) - 100_000
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{start} +0000")
    root = small_project(tmp_path / "repo", METRICS)
    for i in (1, 2, 3):  # three more commits, each with its own metrics
        (root / "metrics" / "metrics.json").write_text(json.dumps({**METRICS, "roc_auc": 0.91 + i / 100}))
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{start + i * 100} +0000")
        git(root, "commit", "-q", "-am", f"model {i}")
    monkeypatch.delenv("GIT_COMMITTER_DATE")  # GTO refuses to tag when it is set
    return root


class Clock:
    """Tags made inside ``tick()`` get increasing tagger times, ten seconds apart, in the past."""

    def __init__(self) -> None:
        self.times = itertools.count(int(time.time()) - 50_000, 10)

    @contextlib.contextmanager
    def tick(self) -> Iterator[None]:
        real, now = pygit2.Signature, next(self.times)

        def signature(name: str, email: str, time: int | None = None, offset: int | None = None):
            return real(name, email, now, 0)

        pygit2.Signature = signature
        try:
            yield
        finally:
            pygit2.Signature = real


@pytest.fixture
def clock():
    return Clock()


def commit_of(repo, rev: str) -> str:
    return git(repo, "rev-parse", rev)


def gto_versions(repo, deprecated: bool = False) -> list[tuple[str, list[str]]]:
    shown = gto.api.show(str(repo), MODEL, deprecated=deprecated)
    return [(v["version"], sorted(s["stage"] for s in v["stages"])) for v in shown]


def graft_versions(repo, capsys, deprecated: bool = False) -> list[tuple[str, list[str]]]:
    args = ["models", "-C", str(repo), "--model", MODEL, "--format", "json"]
    assert main([*args, "--all"] if deprecated else args) == 0
    listed = json.loads(capsys.readouterr().out)
    return [
        (m["version"] if m["status"] == "unregistered" else f"v{m['version']}", m["stages"]) for m in listed
    ]


def gto_stages(repo) -> dict[str, str]:
    state = gto.api.show(str(repo)).get(MODEL)
    return {} if state is None else {s: v for s, v in state["stage"].items() if v}


def graft_stages(repo) -> dict[str, str]:
    state = registry(pygit2.Repository(str(repo))).get(MODEL)
    if state is None or not state.active:
        return {}
    return {stage: version.version for stage, version in state.in_stage.items()}


def same_as_gto(repo, capsys) -> list[tuple[str, list[str]]]:
    shown = graft_versions(repo, capsys)
    assert shown == gto_versions(repo)
    assert graft_versions(repo, capsys, deprecated=True) == gto_versions(repo, deprecated=True)
    assert graft_stages(repo) == gto_stages(repo)
    return shown


def tags(repo) -> set[str]:
    return set(git(repo, "tag", "-l").split())


def test_registry_equals_gto_show_through_every_kind_of_tag(repo, clock, capsys):
    c1, c2, c3, c4 = (commit_of(repo, f"HEAD~{n}") for n in (3, 2, 1, 0))
    for version, commit in (("v1.0.0", c1), ("v1.1.0", c2), ("v1.2.0", c3)):
        with clock.tick():
            gto.api.register(str(repo), MODEL, commit, version=version)
    assert same_as_gto(repo, capsys) == [("v1.2.0", []), ("v1.1.0", []), ("v1.0.0", [])]

    with clock.tick():
        gto.api.assign(str(repo), MODEL, "staging", version="v1.1.0")
    with clock.tick():
        gto.api.assign(str(repo), MODEL, "prod", version="v1.0.0")
    assert same_as_gto(repo, capsys) == [("v1.2.0", []), ("v1.1.0", ["staging"]), ("v1.0.0", ["prod"])]

    # graft promote writes the tag gto assign writes: name with GTO's counter, message, target
    with clock.tick():
        assert main(["promote", "-C", str(repo), f"{MODEL}@v1.1.0", "--stage", "prod"]) == 0
    assert "adult-income v1.1.0 -> prod (tag adult-income#prod#3; was v1.0.0)" in capsys.readouterr().out
    assert git(repo, "cat-file", "-t", f"{MODEL}#prod#3") == "tag"
    assert commit_of(repo, f"{MODEL}#prod#3^{{commit}}") == c2
    message = git(repo, "tag", "-l", "--format=%(contents)", f"{MODEL}#prod#3")
    assert message == "Assigning stage prod to artifact adult-income version v1.1.0"
    tagger = git(repo, "tag", "-l", "--format=%(taggername) %(taggeremail)", f"{MODEL}#prod#3")
    assert tagger == f"{os.environ['GIT_COMMITTER_NAME']} <{os.environ['GIT_COMMITTER_EMAIL']}>"
    assert gto.api.check_ref(str(repo), f"{MODEL}#prod#3")[0].event == "assignment"
    assert same_as_gto(repo, capsys) == [("v1.2.0", []), ("v1.1.0", ["prod", "staging"]), ("v1.0.0", [])]

    with clock.tick():  # gto deprecate MODEL v1.1.0 staging
        gto.api.unassign(str(repo), MODEL, stage="staging", version="v1.1.0")
    assert same_as_gto(repo, capsys) == [("v1.2.0", []), ("v1.1.0", ["prod"]), ("v1.0.0", [])]

    with clock.tick():  # gto deprecate MODEL v1.2.0: hidden, listed as deregistered with --all
        gto.api.deregister(str(repo), MODEL, version="v1.2.0")
    assert same_as_gto(repo, capsys) == [("v1.1.0", ["prod"]), ("v1.0.0", [])]
    assert main(["models", "-C", str(repo), "--all", "--format", "json"]) == 0
    status = {m["version"]: m["status"] for m in json.loads(capsys.readouterr().out)}
    assert status == {"1.2.0": "deregistered", "1.1.0": "active", "1.0.0": "active"}

    # refusals name the problem and write no tag
    before = tags(repo)
    for args, message in [
        (
            [f"{MODEL}@v1.2.0", "--stage", "prod"],
            "adult-income v1.2.0 is deregistered (tag adult-income@v1.2.0!)",
        ),
        (
            [f"{MODEL}@v9.0.0", "--stage", "prod"],
            "'adult-income' has no version v9.0.0 (versions: v1.2.0, v1.1.0, v1.0.0)",
        ),
        (
            [f"{MODEL}@v1.0.0", "--stage", "qa"],
            "stage 'qa' is not one of the stages graft.yaml allows (dev, staging, prod",
        ),
        (["--version", "1.0.0", "--stage", "prod", f"{MODEL}#staging"], "--version 1.0.0 given as well"),
    ]:
        assert main(["promote", "-C", str(repo), *args]) != 0
        assert message in capsys.readouterr().err
    assert tags(repo) == before

    # a rollback: v1.0.0 was in prod before v1.1.0 replaced it (gto assign would need --force)
    with clock.tick():
        assert main(["promote", "-C", str(repo), "--version", "v1.0.0", "--stage", "prod"]) == 0
    assert "adult-income v1.0.0 -> prod (tag adult-income#prod#5; was v1.1.0)" in capsys.readouterr().out
    assert same_as_gto(repo, capsys) == [("v1.1.0", []), ("v1.0.0", ["prod"])]
    # promoting the version already in the stage writes nothing
    assert main(["promote", "-C", str(repo), f"{MODEL}#prod", "--stage", "prod"]) == 0
    assert "is already in prod (tag adult-income#prod#" in capsys.readouterr().out
    # the version in staging, promoted by naming the stage
    with clock.tick():
        gto.api.assign(str(repo), MODEL, "staging", version="v1.1.0", force=True)
    with clock.tick():
        assert main(["promote", "-C", str(repo), f"{MODEL}#staging", "--stage", "dev"]) == 0
    assert "adult-income v1.1.0 -> dev" in capsys.readouterr().out
    assert same_as_gto(repo, capsys) == [("v1.1.0", ["dev", "staging"]), ("v1.0.0", ["prod"])]

    with clock.tick():  # gto deprecate MODEL: the whole model is hidden
        gto.api.deprecate(str(repo), MODEL)
    assert same_as_gto(repo, capsys) == []
    assert main(["models", "-C", str(repo), "--all", "--format", "json"]) == 0
    status = {m["version"]: m["status"] for m in json.loads(capsys.readouterr().out)}
    assert status == {"1.2.0": "deregistered", "1.1.0": "deprecated", "1.0.0": "deprecated"}
    assert main(["promote", "-C", str(repo), f"{MODEL}@v1.0.0", "--stage", "staging"]) != 0
    assert "'adult-income' is deprecated (tag adult-income@deprecated)" in capsys.readouterr().err

    with clock.tick():  # a new registration brings the model back, as in GTO
        gto.api.register(str(repo), MODEL, c4, version="v2.0.0")
    assert same_as_gto(repo, capsys) == [("v2.0.0", []), ("v1.1.0", ["dev", "staging"]), ("v1.0.0", ["prod"])]

    # GTO's command line, in real time (after every tag above): deregister the version in prod
    cli = [str(BIN / "gto"), "deprecate", MODEL, "v1.0.0"]
    subprocess.run(cli, cwd=repo, check=True, capture_output=True)
    shown = json.loads(
        subprocess.run(
            [str(BIN / "gto"), "show", MODEL, "--json"], cwd=repo, check=True, capture_output=True, text=True
        ).stdout
    )
    listed = graft_versions(repo, capsys)
    assert listed == [(v["version"], sorted(s["stage"] for s in v["stages"])) for v in shown]
    # GTO's rule: the version prod held before (v1.1.0, never unassigned) is in prod again
    assert listed == [("v2.0.0", []), ("v1.1.0", ["dev", "prod", "staging"])]
    with clock.tick():
        gto.api.unassign(str(repo), MODEL, stage="prod", version="v1.1.0")
    assert main(["models", "-C", str(repo), "--stage", "prod"]) == 0
    assert "no released models (tags <model>@vX.Y.Z) in stage prod" in capsys.readouterr().out


def test_models_table_shows_stages_and_marks_inactive_versions(repo, clock, capsys):
    with clock.tick():
        gto.api.register(str(repo), MODEL, "HEAD~1", version="v1.0.0")
    with clock.tick():
        gto.api.register(str(repo), MODEL, "HEAD", version="v1.1.0")
    with clock.tick():
        gto.api.assign(str(repo), MODEL, "prod", version="v1.0.0")
    with clock.tick():
        gto.api.deregister(str(repo), MODEL, version="v1.1.0")
    assert main(["models", "-C", str(repo)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["tag", "stages", "commit"]
    assert [line.split()[:2] for line in table[2:]] == [["adult-income@v1.0.0", "prod"]]
    assert main(["models", "-C", str(repo), "--all"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["tag", "stages", "status"]
    rows = [line.split()[:3] for line in table[2:]]
    assert rows == [["adult-income@v1.1.0", "-", "deregistered"], ["adult-income@v1.0.0", "prod", "active"]]


def test_assignments_at_an_unregistered_commit(repo, clock, capsys):
    """`gto assign --skip-registration` names a version by its commit; GTO lists such a version once
    per assignment (duplicates of one another), graft once."""
    with clock.tick():
        gto.api.register(str(repo), MODEL, "HEAD~1", version="v1.0.0")
    head = commit_of(repo, "HEAD")
    for stage in ("dev", "staging"):
        with clock.tick():
            gto.api.assign(str(repo), MODEL, stage, ref="HEAD", skip_registration=True)
    gto_rows = gto_versions(repo)
    assert gto_rows[0] == ("v1.0.0", [])
    assert len(gto_rows) > 2
    assert {(v, tuple(s)) for v, s in gto_rows[1:]} == {(head, ("dev", "staging"))}
    assert graft_versions(repo, capsys) == [("v1.0.0", []), (head, ["dev", "staging"])]
    assert graft_stages(repo) == gto_stages(repo) == {"dev": head, "staging": head}
    # such a version cannot be promoted: it is not a release
    assert main(["promote", "-C", str(repo), f"{MODEL}#dev", "--stage", "prod"]) != 0
    assert f"commit {head[:8]} of 'adult-income' has no registered version" in capsys.readouterr().err
