"""graft on a second, different DVC project: regression, `dvc add` data, metrics at eval/.

The project (tests/integration/second_project) shares nothing with the reference pipeline:
its own scripts under src/, params sections of its own, metrics declared only in dvc.yaml.
One module-scoped repository walks the whole story in order, as a new user would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, git, run
from tests.integration.conftest import second_copy

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, module_env: None, second_template: Path) -> Iterator[Path]:
    yield second_copy(second_template, tmp_path_factory.mktemp("second"))


def graft(root: Path, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    proc = run(cwd or root, str(BIN / "graft"), *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_01_init_infers_and_states_what_it_could_not(repo: Path) -> None:
    code, _, err = graft(repo, "init", "-C", "src")
    assert code == 0, err
    settings = yaml.safe_load((repo / "graft.yaml").read_text())
    assert settings["task"]["type"] == "regression"
    assert settings["metrics"]["file"] == "eval/metrics.json"
    assert settings["metrics"]["rules"]["rmse"] == {"direction": "lower", "tolerance": 0.0}
    assert settings["metrics"]["rules"]["r2"]["direction"] == "higher"
    assert settings["metrics"]["headline"] == ["rmse", "mae"]
    assert settings["predictions"]["path"] == "eval/predictions.parquet"
    assert settings["predictions"]["score"] == "predicted"
    assert settings["package"]["model"] == "diabetes-progression"
    assert "could not tell id, label" in err
    assert "no direction guessed for rows" in err
    # a second init refuses to overwrite
    code, _, err = graft(repo, "init")
    assert code != 0 and "graft.yaml already exists" in err
    # the user fills in what init could not tell, and commits
    settings["predictions"].update(id="patient", label="progression")
    settings["gate"]["thresholds"] = {"r2": {"min": 0.2}}
    settings["search"]["objective"] = "eval/validation.json:valid_rmse"
    (repo / "graft.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    git(repo, "add", "graft.yaml")
    git(repo, "commit", "-q", "-m", "graft settings")


def test_02_exp_new_restores_dvc_add_data_in_its_worktree(repo: Path) -> None:
    code, _, err = graft(repo, "exp", "new", "wide", "--set", "model.num_leaves=15")
    assert code == 0, err
    metrics = json.loads(git(repo, "show", "exp/wide:eval/metrics.json"))
    main_metrics = json.loads(git(repo, "show", "main:eval/metrics.json"))
    assert set(metrics) == {"rmse", "mae", "r2", "rows"} and metrics != main_metrics
    changed = git(repo, "diff", "--name-only", "main", "exp/wide").split()
    assert {"params.yaml", "dvc.lock", "eval/metrics.json", "eval/predictions.parquet"} <= set(changed)
    assert git(repo, "status", "--porcelain") == ""


def test_03_exp_grid_and_list(repo: Path) -> None:
    code, _, err = graft(repo, "exp", "grid", "--set", "model.learning_rate=0.02,0.1", "-j", "2")
    assert code == 0, err
    code, out, err = graft(repo, "exp", "list", "--format", "json", cwd=repo / "src")
    assert code == 0, err
    rows = {row["branch"]: row for row in json.loads(out)}
    assert set(rows) == {"exp/wide", "exp/grid-learning_rate-0.02", "exp/grid-learning_rate-0.1"}
    wide = rows["exp/wide"]
    assert wide["changes"] == {"model.num_leaves": 15}
    assert set(wide["metrics"]) == {"rmse", "mae"}
    assert wide["metrics"]["rmse"] == json.loads(git(repo, "show", "exp/wide:eval/metrics.json"))["rmse"]
    assert wide["stale"] == {"data": False, "code": False, "params": False}


def test_04_diff_all_shows_every_branch_with_its_metrics(repo: Path) -> None:
    code, out, err = graft(repo, "diff", "--all", "--format", "json")
    assert code == 0, err
    diff = json.loads(out)
    names = [c["name"] for c in diff["revisions"]]
    assert names[0] == "main" and set(names[1:]) == {
        "exp/wide",
        "exp/grid-learning_rate-0.02",
        "exp/grid-learning_rate-0.1",
    }
    rows = {(r["section"], r["key"]): r for r in diff["rows"]}
    rmse = rows[("metrics", "rmse")]
    assert rmse["values"] == {
        n: json.loads(git(repo, "show", f"{n}:eval/metrics.json"))["rmse"] for n in names
    }
    assert rmse["direction"] == "lower"
    best = min(rmse["values"].values())
    assert rmse["best"] == [n for n in names if rmse["values"][n] == best]
    assert ("metrics", "eval/validation.json:valid_rmse") in rows
    assert rows[("params", "model.num_leaves")]["values"]["exp/wide"] == 15
    assert rows[("params", "model.num_leaves")]["values"]["main"] == 7


def test_05_report_bootstraps_the_regression_metrics(repo: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "report.md"
    code, _, err = graft(repo, "report", "--base", "main", "--head", "exp/wide", "-o", str(out_file))
    assert code == 0, err
    text = out_file.read_text()
    assert text.startswith("<!-- graft-report -->")
    for metric in ("rmse", "mae", "r2"):
        assert metric in text
    assert "roc" not in text.lower() and "fairness" not in text.lower()


def test_06_gate_reads_rules_and_bounds_from_graft_yaml(repo: Path) -> None:
    base = json.loads(git(repo, "show", "main:eval/metrics.json"))
    head = json.loads(git(repo, "show", "exp/wide:eval/metrics.json"))
    code, out, err = graft(repo, "gate", "--base", "main", "--head", "exp/wide")
    worse = head["rmse"] > base["rmse"] or head["mae"] > base["mae"] or head["r2"] < base["r2"]
    assert (code != 0) == (worse or head["r2"] < 0.2), out + err
    if code != 0:
        assert "tolerance 0" in out + err or "gate.thresholds" in out + err


def test_07_check_repro_watches_declared_metrics_outside_a_metrics_folder(repo: Path) -> None:
    code, _, err = graft(repo, "check-repro")
    assert code == 0, err
    path = repo / "eval" / "metrics.json"
    original = path.read_text()
    path.write_text(original.replace('"rmse": ', '"rmse": 1'))
    try:
        code, out, err = graft(repo, "check-repro")
        assert code == 1
        assert "eval/metrics.json" in out + err
    finally:
        path.write_text(original)
