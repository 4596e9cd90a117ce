import json
import subprocess
import sys

import pytest

from graft import api
from graft.cli import main
from graft.core.errors import GitError
from tests.conftest import copy_project
from tests.integration.repos import branch


@pytest.fixture
def repo(tmp_path):
    root = copy_project(tmp_path / "project", with_cache=False)
    branch(root, "exp/lr", metrics={"roc_auc": 0.935, "log_loss": 0.27}, params={"train.learning_rate": 0.05})
    branch(root, "exp/leaves", metrics={"roc_auc": 0.920, "log_loss": 0.29}, params={"train.num_leaves": 63})
    branch(root, "exp/broken", files={"metrics/metrics.json": None}, params={"train.seed": 7})
    return root


def values(result, key):
    row = next(r for r in result.rows if r.key == key)
    return {c.name: cell for c, cell in zip(result.columns, row.cells, strict=True)}


def test_diff_all_branches_exact_cells(repo):
    result = api.diff(repo, all_experiments=True, base="main")
    assert [c.name for c in result.columns] == ["main", "exp/broken", "exp/leaves", "exp/lr"]
    base_auc = json.loads((repo / "metrics/metrics.json").read_text())["roc_auc"]
    auc = values(result, "roc_auc")
    assert auc["main"].value == base_auc
    assert auc["exp/lr"].value == 0.935 and auc["exp/lr"].best
    assert auc["exp/lr"].delta == round(0.935 - base_auc, 12)
    assert auc["exp/broken"].status == "no_file"
    assert values(result, "log_loss")["exp/lr"].best
    assert values(result, "train.num_leaves")["exp/leaves"].delta == 32


def test_cli_json_sort_only_changed(repo, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    assert main(["diff", "--all", "--format", "json", "--only-changed", "--sort", "log_loss"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["revisions"]] == ["main", "exp/lr", "exp/leaves", "exp/broken"]
    keys = {r["key"] for r in data["rows"]}
    assert keys == {"train.learning_rate", "train.num_leaves", "train.seed", "roc_auc", "log_loss"}


def test_cli_table_no_metrics_cell(repo, capsys):
    assert main(["diff", "-C", str(repo), "exp/broken", "--only-changed"]) == 0
    out = capsys.readouterr().out
    assert "train.seed" in out and "(+-35)" not in out
    line = next(ln for ln in out.splitlines() if ln.startswith("train.seed"))
    assert line.split() == ["train.seed", "42", "7", "(-35)"]


def test_unknown_revision_is_one_line_error(repo, capsys):
    assert main(["diff", "-C", str(repo), "exp/lr", "exp/nope"]) == 3
    err = capsys.readouterr().err
    assert err.strip() == "graft: error: unknown revision 'exp/nope' (expected a branch, tag or commit)"
    with pytest.raises(GitError, match="'nobase'"):
        api.diff(repo, ["exp/lr"], base="nobase")


def test_diff_imports_stay_light(repo):
    code = (
        "import sys; from graft.cli import main; main(['diff', '--all', '--format', 'json']);"
        "heavy = [m for m in ('pandas', 'numpy', 'lightgbm', 'dvc', 'jinja2') if m in sys.modules];"
        "sys.stderr.write(repr(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert proc.stderr.strip().endswith("[]")
