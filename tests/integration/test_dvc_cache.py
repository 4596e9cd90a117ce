"""Results kept in DVC's cache, as most DVC projects keep them (DVC's get-started shape: dvclive
writes eval/ as a DVC-cached directory output, never in Git).

Values are checked against DVC's own `dvc metrics show --json` / `dvc metrics diff --json` for
the same revisions; a fresh clone with an empty cache fetches what it reads from the project's
local-folder DVC remote (one batch of manifests, one of files, for every revision), or with
``--offline`` says "not in the local cache"; check-repro judges the outputs by dvc.lock hashes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tests.integration.conftest import GetStarted
from tests.integration.getstarted import (
    BRANCHES,
    METRICS,
    cache_objects,
    diff_metrics,
    dvc_metrics,
    fresh_clone,
)
from tests.releasing import dvc, graft

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
REVISIONS = ["main", *BRANCHES]


def test_diff_all_reads_dvc_cached_metrics_as_dvc_does(getstarted: GetStarted) -> None:
    proc = graft(getstarted.origin, "diff", "--all", "--format", "json")
    document = json.loads(proc.stdout)
    assert [r["has_metrics"] for r in document["revisions"]] == [True, True, True]
    expected = dvc_metrics(getstarted.origin, REVISIONS)
    assert sorted(expected) == sorted(REVISIONS)
    assert diff_metrics(document) == expected
    # dvclive's nested keys, flattened as DVC does, with the direction init wrote for them
    rows = {r["key"]: r for r in document["rows"] if r["section"] == "metrics"}
    assert set(rows) == {"avg_prec.train", "avg_prec.test", "roc_auc.train", "roc_auc.test"}
    assert rows["roc_auc.test"]["direction"] == "higher"


def test_deltas_match_dvc_metrics_diff(getstarted: GetStarted) -> None:
    for head in BRANCHES:
        theirs = json.loads(dvc(getstarted.origin, "metrics", "diff", "main", head, "--json").stdout)[METRICS]
        ours = json.loads(graft(getstarted.origin, "diff", head, "--format", "json").stdout)
        rows = {r["key"]: r for r in ours["rows"] if r["section"] == "metrics"}
        assert set(rows) == set(theirs)
        for key, change in theirs.items():
            assert rows[key]["values"] == {"main": change["old"], head: change["new"]}
            assert rows[key]["deltas"][head] == pytest.approx(change["diff"], abs=1e-9)


def test_init_guesses_dvclive_directions_and_test_headline(getstarted: GetStarted) -> None:
    import yaml

    settings = yaml.safe_load(git(getstarted.origin, "show", "main:graft.yaml"))
    assert settings["metrics"]["file"] == METRICS
    assert settings["metrics"]["headline"] == ["roc_auc.test", "avg_prec.test"]
    assert {k: v["direction"] for k, v in settings["metrics"]["rules"].items()} == {
        "avg_prec.train": "higher",
        "avg_prec.test": "higher",
        "roc_auc.train": "higher",
        "roc_auc.test": "higher",
    }


def test_gate_report_and_exp_list_read_dvc_cached_results(getstarted: GetStarted) -> None:
    expected = dvc_metrics(getstarted.origin, REVISIONS)
    passed = graft(getstarted.origin, "gate", "--base", "main", "--head", "exp/strong", check=False)
    assert passed.returncode == 0, passed.stderr
    gate = ["gate", "--base", "main", "--head", "exp/weak", "--format", "json"]
    failed = graft(getstarted.origin, *gate, check=False)
    assert failed.returncode == 1, failed.stderr
    checks = {c["metric"]: c for c in json.loads(failed.stdout)["checks"] if c["kind"] == "regression"}
    assert checks["roc_auc.test"]["head"] == expected["exp/weak"]["roc_auc.test"]
    assert checks["roc_auc.test"]["passed"] is False

    report = graft(getstarted.origin, "report", "--base", "main", "--head", "exp/weak", check=False)
    assert report.returncode == 0, report.stderr
    assert "not committed" not in report.stdout + report.stderr
    # the bootstrap reads eval/predictions.csv inside the DVC-cached eval/ of both revisions: its
    # ROC AUC is dvclive's roc_auc.test
    base, head = expected["main"]["roc_auc.test"], expected["exp/weak"]["roc_auc.test"]
    assert f"| `roc_auc` (from predictions) | {base:.4f} | {head:.4f} |" in report.stdout
    assert "paired bootstrap over the 80 test rows" in report.stdout

    listed = json.loads(graft(getstarted.origin, "exp", "list", "--format", "json").stdout)
    metrics = {e["branch"]: e["metrics"] for e in listed}
    for name in BRANCHES:
        assert metrics[name]["roc_auc.test"] == expected[name]["roc_auc.test"]


def test_fresh_clone_fetches_what_it_reads_in_two_batches(getstarted: GetStarted, tmp_path: Path) -> None:
    from graft.project import Project

    clone = fresh_clone(getstarted.origin, tmp_path / "clone")
    assert cache_objects(clone) == set()
    project = Project(clone)
    views = [project.at(name) for name in REVISIONS]
    values = [view.metrics() for view in views]
    assert project.dvc is not None
    assert project.dvc.fetches == 2  # the three revisions' manifests, then their metrics files
    expected = dvc_metrics(getstarted.origin, REVISIONS)
    assert values == [expected[name] for name in REVISIONS]
    # only the manifests of eval/ and the metrics files: no model.pkl, no data, no plots
    lock_outs = {o.path: o.oid for v in views for o in v.source.dvc_outputs()}  # type: ignore[attr-defined]
    assert lock_outs["model.pkl"] not in cache_objects(clone)
    assert len(cache_objects(clone)) == 6

    # the command line the same way, in another fresh clone
    other = fresh_clone(getstarted.origin, tmp_path / "other")
    document = json.loads(graft(other, "diff", "--all", "--format", "json").stdout)
    assert diff_metrics(document) == expected


def test_offline_says_not_in_the_local_cache(getstarted: GetStarted, tmp_path: Path) -> None:
    clone = fresh_clone(getstarted.origin, tmp_path / "clone")
    document = json.loads(graft(clone, "diff", "--all", "--offline", "--format", "json").stdout)
    for revision in document["revisions"]:
        assert revision["has_metrics"] is False
        assert revision["unreadable"] == {METRICS: "not in the local cache (--offline)"}
    assert {s for r in document["rows"] if r["section"] == "metrics" for s in r["status"].values()} <= {
        "not_cached"
    }
    table = graft(clone, "diff", "exp/weak", "--offline").stdout
    assert "not in the local cache" in table
    gate = graft(clone, "gate", "--base", "main", "--head", "exp/weak", "--offline", check=False)
    assert gate.returncode == 3
    short = git(clone, "rev-parse", "--short=8", "main")
    assert gate.stderr.strip().splitlines()[-1] == (
        f"graft: error: no metrics at 'main' ({short}): {METRICS} is kept in DVC's cache and is "
        "not in the local cache (--offline) (fetch it with `dvc fetch`, or run without --offline)"
    )
    assert cache_objects(clone) == set()  # nothing was fetched


def test_unreachable_remote_says_why(getstarted: GetStarted, tmp_path: Path) -> None:
    clone = fresh_clone(getstarted.origin, tmp_path / "clone")
    dvc(clone, "remote", "modify", "--local", "storage", "url", str(tmp_path / "nowhere"))
    document = json.loads(graft(clone, "diff", "exp/weak", "--format", "json").stdout)
    reasons = {r["name"]: r.get("unreadable") for r in document["revisions"]}
    assert set(reasons) == {"main", "exp/weak"}
    for reason in reasons.values():
        assert reason is not None
        assert reason[METRICS].startswith("not in the local cache")


def test_cache_dir_from_dvc_config(getstarted: GetStarted, tmp_path: Path) -> None:
    clone = fresh_clone(getstarted.origin, tmp_path / "clone")
    dvc(clone, "cache", "dir", "--local", str(tmp_path / "shared-cache"))
    document = json.loads(graft(clone, "diff", "exp/strong", "--format", "json").stdout)
    assert diff_metrics(document)["exp/strong"] == dvc_metrics(getstarted.origin, REVISIONS)["exp/strong"]
    assert cache_objects(clone) == set()
    assert len(list((tmp_path / "shared-cache" / "files" / "md5").rglob("*"))) > 0
    offline = json.loads(graft(clone, "diff", "exp/strong", "--offline", "--format", "json").stdout)
    assert diff_metrics(offline) == diff_metrics(document)


def test_check_repro_judges_dvc_outputs_by_their_lock_hashes(getstarted: GetStarted, tmp_path: Path) -> None:
    root = getstarted.origin
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    status = dvc(root, "status").stdout
    assert "Data and pipelines are up to date" in status
    clean = graft(root, "check-repro", "--format", "json", check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["differences"] == []

    metrics = root / METRICS
    original = metrics.read_bytes()
    try:
        metrics.write_text(original.decode().replace('"test"', '"test" ', 1))
        changed = graft(root, "check-repro", "--format", "json", check=False)
        assert changed.returncode == 1
        assert json.loads(changed.stdout)["differences"] == [
            {
                "path": METRICS,
                "status": "changed",
                "details": [
                    "stage evaluate, output eval: the working tree's file is not what dvc.lock records"
                ],
            }
        ]
        metrics.unlink()
        missing = graft(root, "check-repro", "--format", "json", check=False)
        assert json.loads(missing.stdout)["differences"] == [
            {
                "path": METRICS,
                "status": "missing",
                "details": ["stage evaluate, output eval: not in the working tree (run `dvc checkout`)"],
            }
        ]
    finally:
        metrics.write_bytes(original)
    assert graft(root, "check-repro", check=False).returncode == 0


def test_check_repro_names_stage_output_and_file_of_a_changed_result(getstarted: GetStarted) -> None:
    """Reproduced with other params (restored from DVC's run cache): the lock's hash of eval/
    differs from HEAD's, and the changed file is named with its md5s and keys."""
    root = getstarted.origin
    expected = dvc_metrics(root, REVISIONS)
    git(root, "checkout", "exp/strong", "--", "params.yaml")
    try:
        dvc(root, "repro", "-q")
        proc = graft(root, "check-repro", "--format", "json", check=False)
        assert proc.returncode == 1
        found = {d["path"]: d for d in json.loads(proc.stdout)["differences"]}
        assert set(found) >= {"dvc.lock", METRICS}
        details = found[METRICS]["details"]
        assert details[0].startswith("stage evaluate, output eval: md5 ")
        assert details[0].endswith(" in the working dvc.lock")
        old, new = expected["main"]["roc_auc.test"], expected["exp/strong"]["roc_auc.test"]
        assert f"roc_auc.test: {old} -> {new}" in details
    finally:
        git(root, "checkout", "main", "--", "params.yaml", "dvc.lock")
        dvc(root, "checkout", "-q")
    assert graft(root, "check-repro", check=False).returncode == 0
