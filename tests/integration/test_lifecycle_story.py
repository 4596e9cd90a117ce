"""The model's life after the merge, end to end, with real Git, DVC, GTO and a real server.

origin is a bare repository playing GitHub and the DVC remote a local folder (the package store
lives in it, under graft/packages/). Each "CI" step is a fresh clone running the commands
.github/workflows/release.yml runs; a developer checkout promotes, deprecates and experiments:

release v1.0.0 -> a packaged-settings change releases v1.0.1 -> a docs-only push releases
nothing -> promote v1.0.1 to staging, then staging's version to prod -> `graft serve --stage
prod` on a clone without any DVC output fetches, verifies and serves v1.0.1 -> `gto deprecate`
withdraws v1.0.1 -> the next release skips it (v1.0.2, based on v1.0.0) -> two experiments
lose, one wins and is merged: `graft exp prune` deletes them here and on origin while
`graft diff` and `graft report` still read the losers by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import BIN, git
from tests.integration.conftest import HOST, free_port
from tests.releasing import dvc, graft, make_origin, outputs_file, run, set_param
from tests.schemas import validate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
MODEL = "adult-income"


@pytest.fixture
def world(pipeline_copy, tmp_path):
    """A developer checkout with a default DVC remote (everything pushed) and origin with main."""
    dev = pipeline_copy
    store = tmp_path / "dvc-remote"
    store.mkdir()
    dvc(dev, "remote", "add", "-d", "storage", str(store))
    git(dev, "commit", "-q", "-am", "DVC remote")
    dvc(dev, "push", "-q")
    origin = make_origin(dev, tmp_path / "origin.git")
    return {"dev": dev, "origin": origin, "store": store, "tmp": tmp_path}


def ci_release(
    world, name: str, check: bool = True, verify: bool = False
) -> tuple[dict[str, str], str, subprocess.CompletedProcess]:
    """release.yml's steps on a fresh clone of origin's main: pull, (``verify``: reproduce and
    check), push data, release (package, upload, tag, push the tag). The step outputs, job
    summary and the run.

    The reproduce-and-check steps are verified once, on the story's first release: every later
    push leaves the pipeline as it was (a monitoring setting, docs), so `dvc repro` would only
    re-hash the same outputs and `check-repro` compare them again; the release steps that follow
    are what each later run is about."""
    ci = world["tmp"] / name
    git(world["tmp"], "clone", "-q", str(world["origin"]), str(ci))
    dvc(ci, "pull", "-q")
    if verify:
        dvc(ci, "repro")
        graft(ci, "check-repro")
    dvc(ci, "push", "-q")
    outputs, summary = world["tmp"] / f"{name}.outputs", world["tmp"] / f"{name}.summary.md"
    done = graft(
        ci,
        "release",
        "--bump",
        "auto",
        "--out",
        "dist",
        "--push",
        "--outputs",
        str(outputs),
        "--summary",
        str(summary),
        check=check,
    )
    produced = outputs_file(outputs) if outputs.exists() else {}
    return produced, summary.read_text() if summary.exists() else "", done


def push_change(world, message: str, edit) -> None:
    dev = world["dev"]
    git(dev, "pull", "-q", "--ff-only", "origin", "main")
    edit(dev)
    git(dev, "commit", "-q", "-am", message)
    git(dev, "push", "-q", "origin", "main")


def package_rows(archive: Path, n: int) -> list[dict]:
    """``n`` input records from a package's own reference rows (raw columns, missing as null)."""
    import io
    import tarfile

    import pandas as pd

    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/reference.parquet"))
        frame = pd.read_parquet(io.BytesIO(tar.extractfile(member).read())).head(n)
    records = json.loads(frame.to_json(orient="records"))
    schema_columns = set(json.loads(_package_file(archive, "schema.json"))["properties"])
    return [{k: v for k, v in r.items() if k in schema_columns and v is not None} for r in records]


def _package_file(archive: Path, name: str) -> bytes:
    import tarfile

    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"/{name}"))
        return tar.extractfile(member).read()


def release_tags(repo: Path) -> list[str]:
    return sorted(t for t in git(repo, "tag", "-l").split() if "@v" in t)


def packages(store: Path) -> list[str]:
    return sorted(p.name for p in (store / "graft" / "packages" / MODEL).glob("*.tar.gz"))


@contextlib.contextmanager
def serving(cwd: Path, *args: str) -> Iterator[str]:
    """`graft serve ARGS` on a free loopback port until ready; yields its URL, stops it (SIGTERM)."""
    port = free_port()
    log = cwd / f"serve-{port}.err"
    cmd = [str(BIN / "graft"), "serve", *args, "--host", HOST, "--port", str(port)]
    cmd += ["--log-db", f"sqlite:///{cwd / 'predictions.db'}"]
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"graft serve exited {proc.returncode}: {log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"graft serve not ready: {log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
    assert "matches adult-income@v" in log.read_text()


def test_release_promote_deploy_deprecate_prune(world):
    dev, origin, store, tmp = world["dev"], world["origin"], world["store"], world["tmp"]

    # 1. the first release: package uploaded to the store, then the tag, pushed
    first, summary, _ = ci_release(world, "ci-1", verify=True)
    assert (first["status"], first["tag"]) == ("released", f"{MODEL}@v1.0.0")
    assert "### Released adult-income@v1.0.0" in summary
    assert packages(store) == ["adult-income-1.0.0.tar.gz"]
    assert release_tags(origin) == [f"{MODEL}@v1.0.0"]
    annotation = git(origin, "tag", "-l", "--format=%(contents)", f"{MODEL}@v1.0.0")
    assert "contents: sha256:" in annotation

    # 2. a change to what the package carries (a monitoring threshold), model unchanged: a patch
    push_change(
        world, "stricter feedback alert", lambda d: set_param(d, "monitor.feedback.min_roc_auc", 0.86)
    )
    second, _, _ = ci_release(world, "ci-2")
    assert (second["status"], second["tag"]) == ("released", f"{MODEL}@v1.0.1")

    # 3. a docs-only push releases nothing, and the job summary says why
    push_change(world, "docs", lambda d: (d / "README.md").write_text("More words.\n"))
    third, summary, done = ci_release(world, "ci-3")
    assert third["status"] == "unchanged" and third["tag"] == ""
    assert "no release: package contents and input schema unchanged since adult-income@v1.0.1" in done.stdout
    assert "### No release" in summary and "unchanged since adult-income@v1.0.1" in summary
    assert release_tags(origin) == [f"{MODEL}@v1.0.0", f"{MODEL}@v1.0.1"]
    assert packages(store) == ["adult-income-1.0.0.tar.gz", "adult-income-1.0.1.tar.gz"]

    # 4. promote v1.0.1 to staging, then staging's version to prod, pushing GTO's tags
    git(dev, "pull", "-q", "--ff-only", "origin", "main")
    git(dev, "fetch", "-q", "--tags", "origin")
    out = graft(dev, "promote", f"{MODEL}@v1.0.1", "--stage", "staging", "--push").stdout
    assert f"{MODEL} v1.0.1 -> staging (tag {MODEL}#staging#1)" in out
    out = graft(dev, "promote", f"{MODEL}#staging", "--stage", "prod", "--push").stdout
    assert f"{MODEL} v1.0.1 -> prod (tag {MODEL}#prod#2)" in out
    assert git(origin, "cat-file", "-t", f"{MODEL}#prod#2") == "tag"
    shown = json.loads(run(dev, str(BIN / "gto"), "show", "--json").stdout)
    assert shown[MODEL]["stage"]["prod"] == "v1.0.1" and shown[MODEL]["stage"]["staging"] == "v1.0.1"

    # 5. deploy by stage on a machine that has the code and tags, but no DVC output at all
    server = tmp / "server"
    git(tmp, "clone", "-q", str(origin), str(server))
    assert not (server / "models" / "model.txt").exists()
    with serving(server, "--model", MODEL, "--stage", "prod") as url:
        metadata = httpx.get(f"{url}/metadata").json()
        records = package_rows(server / ".graft" / "packages" / "adult-income-1.0.1.tar.gz", 60)
        predicted = httpx.post(f"{url}/predict", json=records, timeout=60)
        assert predicted.status_code == 200, predicted.text
    assert (metadata["model"], metadata["version"]) == (MODEL, "1.0.1")
    assert (server / ".graft" / "packages" / "adult-income-1.0.1.tar.gz").is_file()
    # monitoring by stage reads the same package (from the cache now) and the server's log
    log_db = f"sqlite:///{server / 'predictions.db'}"
    # PYTHONPATH: graft.monitoring still imports the project's stages/ on this branch (being removed)
    monitor = ["monitor", "--model", MODEL, "--stage", "prod", "--log-db", log_db, "--json", "m.json"]
    monitored = subprocess.run(
        [str(BIN / "graft"), *monitor],
        cwd=server,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(server)},
        check=False,
    )
    assert monitored.returncode in (0, 1), monitored.stderr  # 1: an alert on 60 rows is allowed
    assert "adult-income v1.0.1 (prod)" in monitored.stderr and "from local cache" in monitored.stderr
    result = json.loads((server / "m.json").read_text())
    assert result["model_version"] == "adult-income 1.0.1" and result["window"]["predictions"] == 60
    fetched = json.loads(
        graft(server, "fetch", f"{MODEL}#prod", "--out", "deploy", "--format", "json").stdout
    )
    assert (fetched["version"], fetched["stage"], fetched["source"]) == ("1.0.1", "prod", "cache")

    # a package altered in the store is refused, and nothing is kept
    stored = store / "graft" / "packages" / MODEL / "adult-income-1.0.1.tar.gz"
    good = stored.read_bytes()
    stored.write_bytes(good[:-10] + b"0123456789")
    (server / ".graft" / "packages" / "adult-income-1.0.1.tar.gz").unlink()
    refused = graft(server, "fetch", "--stage", "prod", check=False)
    assert refused.returncode != 0
    assert (
        "adult-income-1.0.1.tar.gz has SHA-256" in refused.stderr and "refusing the package" in refused.stderr
    )
    assert not list((server / ".graft" / "packages").glob("*"))
    stored.write_bytes(good)

    # 6. v1.0.1 is withdrawn with GTO itself; prod is left empty, listings hide it
    run(dev, str(BIN / "gto"), "deprecate", MODEL, "v1.0.1")
    git(dev, "push", "-q", "origin", f"refs/tags/{MODEL}@v1.0.1!")
    git(server, "fetch", "-q", "--tags", "origin")
    listed = json.loads(graft(server, "models", "--format", "json").stdout)
    assert [m["version"] for m in listed] == ["1.0.0"]
    every = json.loads(graft(server, "models", "--all", "--format", "json").stdout)
    assert {m["version"]: m["status"] for m in every} == {"1.0.1": "deregistered", "1.0.0": "active"}
    outputs = tmp / "fetch.outputs"
    done = graft(server, "fetch", "--stage", "prod", "--missing-ok", "--outputs", str(outputs))
    assert "no version of 'adult-income' is in stage 'prod'" in done.stderr
    assert outputs_file(outputs) == {"found": "false"}
    refused = graft(server, "serve", "--stage", "prod", check=False)
    assert refused.returncode != 0 and "no version of 'adult-income' is in stage 'prod'" in refused.stderr

    # 7. the next release is based on v1.0.0 and skips v1.0.1's number
    push_change(world, "feedback alert again", lambda d: set_param(d, "monitor.feedback.min_roc_auc", 0.87))
    fourth, summary, _ = ci_release(world, "ci-4")
    assert (fourth["status"], fourth["tag"]) == ("released", f"{MODEL}@v1.0.2")
    assert "previous: adult-income@v1.0.0" in summary and "deregistered: adult-income@v1.0.1" in summary

    # 8. experiments: the winner is merged, the losers pruned here and on origin, results kept
    git(dev, "pull", "-q", "--ff-only", "origin", "main")
    for name, threshold in (("t40", 0.4), ("t60", 0.6)):
        graft(dev, "exp", "new", name, "--set", f"evaluate.threshold={threshold}")
    graft(dev, "exp", "new", "quick", "--set", "train.num_leaves=15", "--no-run")
    git(dev, "push", "-q", "origin", "exp/t40", "exp/t60", "exp/quick")
    loser_metrics = json.loads(git(dev, "show", "exp/t60:metrics/metrics.json"))
    git(dev, "merge", "-q", "--no-ff", "-m", "merge exp/t40", "exp/t40")
    git(dev, "push", "-q", "origin", "main")

    listing = graft(dev, "exp", "prune", "--merged", "--remote").stdout
    assert "exp/t40" in listing and "would delete" in listing and "exp/t60" not in listing
    graft(dev, "exp", "prune", "--merged", "--remote", "--no-dry-run")
    refused = graft(dev, "exp", "prune", "t60", "quick", "--remote", "--no-dry-run", check=False)
    assert refused.stdout.count("keep") == 2 and refused.returncode == 1  # unmerged: not without --force
    assert "--force" in refused.stderr
    graft(dev, "exp", "prune", "t60", "quick", "--remote", "--force", "--no-dry-run")
    assert git(dev, "branch", "--list", "exp/*") == ""
    heads = git(origin, "for-each-ref", "--format=%(refname)", "refs/heads/")
    assert heads.split() == ["refs/heads/main"]
    archived = git(origin, "for-each-ref", "--format=%(refname)", "refs/graft/archive/")
    assert archived.split() == [f"refs/graft/archive/exp/{n}" for n in ("quick", "t40", "t60")]

    diff = json.loads(graft(dev, "diff", "exp/t60", "exp/quick", "--format", "json").stdout)
    text = json.dumps(diff)
    assert "exp/t60" in text and "exp/quick" in text
    assert str(loser_metrics["accuracy"]) in text or f"{loser_metrics['accuracy']:.6g}" in text
    report = graft(dev, "report", "--base", "main", "--head", "exp/t60").stdout
    assert report.startswith("<!-- graft-report -->") and "exp/t60" in report


def test_release_steps_rerun_after_failures_end_with_one_release(world):
    """The release steps fail at the package upload, then at the tag push, then after it (the
    GitHub release step); each re-run completes what is missing. In the end: one tag, one
    package, everything pushed."""
    origin, store, tmp = world["origin"], world["store"], world["tmp"]
    tag, package = f"{MODEL}@v1.0.0", "adult-income-1.0.0.tar.gz"

    # 1. the package store cannot be written (a file where its folder should be): no tag anywhere
    blocker = store / "graft"
    blocker.write_text("not a folder\n")
    outputs, _, done = ci_release(world, "ci-1", check=False)
    assert done.returncode != 0
    assert f"could not upload {store}/graft/packages/adult-income/{package}" in done.stderr
    assert outputs == {}
    assert release_tags(tmp / "ci-1") == [] and release_tags(origin) == []
    # the model and data reached the remote first
    lock = yaml.safe_load((tmp / "ci-1" / "dvc.lock").read_text())
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.txt")
    assert (store / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    blocker.unlink()

    # 2. a re-run on a fresh runner whose tag push fails: package uploaded, tag made, not pushed
    ci = tmp / "ci-2"
    git(tmp, "clone", "-q", str(origin), str(ci))
    dvc(ci, "pull", "-q")
    git(ci, "remote", "set-url", "origin", str(tmp / "unreachable.git"))
    done = graft(ci, "release", "--out", "dist", "--push", check=False)
    assert done.returncode != 0 and "unreachable.git" in done.stderr
    assert packages(store) == [package]
    assert release_tags(ci) == [tag] and release_tags(origin) == []

    # 3. re-run the step once origin answers: the release is completed, the tag pushed
    git(ci, "remote", "set-url", "origin", str(origin))
    done = graft(ci, "release", "--out", "dist", "--push", "--outputs", str(tmp / "ci-2.outputs"))
    assert f"{tag}  (commit" in done.stdout and "completing it" in done.stdout
    assert f"already in the package store: {store}/graft/packages/adult-income/{package}" in done.stdout
    assert f"pushed {tag} to origin" in done.stdout
    assert outputs_file(tmp / "ci-2.outputs")["status"] == "completed"
    assert release_tags(origin) == [tag]

    # 4. the GitHub release step failed after that: a re-run completes with nothing left to do
    fourth, summary, done = ci_release(world, "ci-3")
    assert (fourth["status"], fourth["tag"], fourth["version"]) == ("completed", tag, "1.0.0")
    assert "pushed" not in done.stdout and "uploaded to" not in done.stdout
    assert f"### {tag}: completed" in summary

    # one tag, one package, and the package is the one the tag records
    assert release_tags(origin) == [tag] and packages(store) == [package]
    annotation = git(origin, "tag", "-l", "--format=%(contents)", tag)
    stored = store / "graft" / "packages" / MODEL / package
    digest = subprocess.run(
        ["sha256sum", str(stored)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert f"package: {package} sha256:{digest}" in annotation
    assert (tmp / "ci-3" / fourth["package"]).read_bytes() == stored.read_bytes()


def test_without_a_dvc_remote_the_release_is_served_monitored_and_fetched_by_stage(pipeline_copy):
    """No DVC remote, so no package store: the release keeps its package in .graft/packages/, where
    serve, monitor and fetch by stage find it; a checkout without it is told how to get it back."""
    root = pipeline_copy
    assert dvc(root, "remote", "list").stdout.strip() == ""
    done = json.loads(graft(root, "release", "--format", "json").stdout)
    validate(done, "release")
    kept = root / ".graft" / "packages" / f"{MODEL}-1.0.0.tar.gz"
    assert (done["uploaded"], done["stored"], done["kept"]) == (None, None, str(kept))
    assert done["notes"] == ["no default DVC remote: package not uploaded to a package store"]
    assert kept.read_bytes() == Path(done["archive"]).read_bytes()
    assert git(root, "status", "--porcelain") == ""
    graft(root, "promote", f"{MODEL}@v1.0.0", "--stage", "prod")

    fetched = json.loads(graft(root, "fetch", f"{MODEL}#prod", "--format", "json").stdout)
    assert (fetched["version"], fetched["source"], fetched["package"]) == ("1.0.0", "cache", str(kept))
    with serving(root, "--model", MODEL, "--stage", "prod") as url:
        metadata = httpx.get(f"{url}/metadata").json()
    assert (metadata["model"], metadata["version"]) == (MODEL, "1.0.0")
    log_db = f"sqlite:///{root / 'predictions.db'}"
    monitored = subprocess.run(
        [str(BIN / "graft"), "monitor", "--model", MODEL, "--stage", "prod", "--log-db", log_db],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    # the package was found and read: the (empty) window is what stops it
    assert monitored.returncode == 4, monitored.stderr
    assert f"{MODEL} v1.0.0 (prod)" in monitored.stderr and "from local cache" in monitored.stderr

    # a checkout without the package: one line saying where it is kept and how to rebuild it
    kept.unlink()
    refused = graft(root, "fetch", "--stage", "prod", check=False)
    commit = git(root, "rev-parse", "--short=8", f"{MODEL}@v1.0.0^{{commit}}")
    assert refused.returncode == 3 and refused.stderr.count("\n") == 1
    assert (
        f"{MODEL}-1.0.0.tar.gz is not in .graft/packages/ and the project has no default DVC remote"
        in refused.stderr
    )
    assert f"check out {commit} and run `graft release` to rebuild {MODEL}@v1.0.0 here" in refused.stderr
    again = graft(root, "release")
    assert f"kept in {kept} (serve/monitor/fetch --stage find it in this checkout)" in again.stdout
    assert (
        json.loads(graft(root, "fetch", "--stage", "prod", "--format", "json").stdout)["sha256"]
        == (done["archive_sha256"])
    )
