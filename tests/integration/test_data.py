"""`graft data show|diff` on a real DVC project: `dvc add`-ed CSV and Parquet tables changed on a
branch, a stage's DVC-cached output and a `cache: false` output in Git, both made by `dvc repro`
on each branch; every count is checked against how the branch was made, and each bad input is
one line with its exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from graft import api
from graft.cli import main
from graft.core.errors import DataError, GitError, ParamsError, UsageError
from graft.data.types import MOVED, STABLE
from tests.conftest import git, isolate_git_env, run
from tests.schemas import validate

SUMMARIZE = """\
import pandas as pd

frame = pd.read_csv("data/customers.csv")
by_plan = frame.groupby("plan").agg(customers=("id", "size"), mean_age=("age", "mean")).reset_index()
by_plan.to_parquet("data/summary.parquet", index=False)
by_plan.to_csv("reports/by_plan.csv", index=False)
"""
DVC_YAML = {
    "stages": {
        "summarize": {
            "cmd": "python summarize.py",
            "deps": ["data/customers.csv", "summarize.py"],
            "outs": ["data/summary.parquet", {"reports/by_plan.csv": {"cache": False}}],
        }
    }
}
GRAFT_YAML = {"data": {"keys": {"data/events.parquet": "event_id"}}}
DECLARED = ["data/customers.csv", "data/events.parquet", "data/summary.parquet", "reports/by_plan.csv"]


def customers() -> pd.DataFrame:
    """400 customers: income missing for every tenth (10%)."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "id": np.arange(400),
            "age": rng.integers(18, 80, 400),
            "plan": rng.choice(["basic", "plus", "pro"], 400, p=[0.5, 0.3, 0.2]),
            "income": rng.normal(50_000, 12_000, 400).round(2),
        }
    )
    frame.loc[frame["id"] % 10 == 0, "income"] = np.nan
    return frame


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """exp/shift: ids 0-19 removed, 15 added (1000-1014), ids 100-129 moved to a new plan "gold",
    and income emptied for ids 200-279 (72 of them had one)."""
    out = frame[frame["id"] >= 20].copy()
    out.loc[out["id"].between(100, 129), "plan"] = "gold"
    out.loc[out["id"].between(200, 279), "income"] = np.nan
    rng = np.random.default_rng(4)
    added = pd.DataFrame(
        {
            "id": np.arange(1000, 1015),
            "age": rng.integers(18, 80, 15),
            "plan": rng.choice(["basic", "plus", "pro"], 15),
            "income": rng.normal(50_000, 12_000, 15).round(2),
        }
    )
    return pd.concat([out, added], ignore_index=True)


def events(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"event_id": [f"e{i:04d}" for i in range(rows)], "value": np.arange(rows) % 7})


def commit_all(root: Path, message: str) -> None:
    run(root, "dvc", "add", "-q", "data/customers.csv", "data/events.parquet", "data/notes.txt", check=True)
    run(root, "dvc", "repro", "-q", check=True)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        isolate_git_env(mp, tmp_path_factory.mktemp("home"))
        root = tmp_path_factory.mktemp("data") / "project"
        (root / "data").mkdir(parents=True)
        (root / "reports").mkdir()
        git(root, "init", "-q", "-b", "main")
        run(root, "dvc", "init", "-q", check=True)
        (root / "summarize.py").write_text(SUMMARIZE)
        (root / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
        (root / "graft.yaml").write_text(yaml.safe_dump(GRAFT_YAML))
        (root / "data" / "notes.txt").write_text("how the tables were collected\n")
        base = customers()
        base.to_csv(root / "data" / "customers.csv", index=False)
        events(50).to_parquet(root / "data" / "events.parquet", index=False)
        commit_all(root, "data")
        git(root, "checkout", "-qb", "exp/shift")
        shifted(base).to_csv(root / "data" / "customers.csv", index=False)
        events(55).to_parquet(root / "data" / "events.parquet", index=False)
        commit_all(root, "shifted customers, 5 more events")
        git(root, "checkout", "-q", "main")
        git(root, "checkout", "-qb", "dups")
        pd.concat([events(50), events(3)]).to_parquet(root / "data" / "events.parquet", index=False)
        commit_all(root, "events e0000-e0002 twice")
        git(root, "checkout", "-q", "main")
    return root


def test_declared_tables_are_the_dvc_added_and_stage_output_tables(repo):
    assert api.data_tables(repo, "main") == DECLARED


def test_show_counts_rows_missing_shares_and_categories(repo):
    summary = api.data_show(repo, "data/customers.csv", "main")
    expected = customers()
    assert (summary.rows, summary.format, summary.stored) == (400, "csv", "dvc")
    assert summary.digest.startswith("md5:") and summary.commit == git(repo, "rev-parse", "main")
    assert summary.column_names == ["id", "age", "plan", "income"]
    income = summary.column("income")
    assert income is not None and (income.kind, income.dtype, income.missing, income.missing_share) == (
        "numeric",
        "float",
        40,
        0.1,
    )
    assert income.mean == pytest.approx(expected["income"].mean())
    plan = summary.column("plan")
    assert plan is not None and plan.kind == "categorical"
    counts = expected["plan"].value_counts()
    assert [(c.value, c.count) for c in plan.top] == [(k, int(counts[k])) for k in counts.index]
    age = summary.column("age")
    assert age is not None and (age.dtype, age.min, age.max) == (
        "integer",
        float(expected["age"].min()),
        float(expected["age"].max()),
    )


def test_diff_by_key_counts_added_removed_and_changed_rows(repo):
    diff = api.data_diff(repo, "data/customers.csv", "main", "exp/shift", key="id")
    assert diff.keys is not None
    k = diff.keys
    assert (k.added, k.removed, k.changed, k.unchanged) == (15, 20, 102, 278)
    assert k.changed_cells == {"age": 0, "plan": 30, "income": 72}
    assert k.examples["removed"] == ["0", "1", "10", "11", "12"]
    assert k.examples["added"] == ["1000", "1001", "1002", "1003", "1004"]
    assert (diff.a.rows, diff.b.rows, diff.columns_added, diff.columns_removed) == (400, 395, (), ())
    by = {m.name: m for m in diff.columns}
    assert list(by) == ["age", "plan", "income"]  # the key is an identity, not a distribution
    assert diff.moved_columns == ["plan"]
    assert (by["plan"].status, by["plan"].method, by["plan"].new_categories) == (MOVED, "chi2", {"gold": 30})
    assert (by["age"].status, by["age"].method) == (STABLE, "ks")
    assert by["income"].status == STABLE and by["income"].missing_moved
    assert (by["income"].missing_share_a, by["income"].missing_share_b) == (
        0.1,
        (38 + 72) / 395,
    )  # 2 of ids 0-19 had none
    assert not by["age"].missing_moved and diff.tests == 6


def test_the_key_comes_from_graft_yaml(repo):
    diff = api.data_diff(repo, "data/events.parquet", "main", "exp/shift")
    assert diff.keys is not None and diff.keys.key == "event_id"
    assert (diff.keys.added, diff.keys.removed, diff.keys.changed, diff.keys.unchanged) == (5, 0, 0, 50)
    assert diff.keys.examples["added"] == ["e0050", "e0051", "e0052", "e0053", "e0054"]


def test_a_stage_output_in_dvc_cache_and_one_in_git(repo):
    cached = api.data_diff(repo, "data/summary.parquet", "main", "exp/shift", key="plan")
    assert (cached.a.stored, cached.a.format, cached.a.rows, cached.b.rows) == ("dvc", "parquet", 3, 4)
    assert cached.keys is not None and (cached.keys.added, cached.keys.removed) == (1, 0)
    assert cached.keys.examples["added"] == ["gold"]
    in_git = api.data_show(repo, "reports/by_plan.csv", "exp/shift")
    assert (in_git.stored, in_git.rows) == ("git", 4)
    assert in_git.digest == f"git:{git(repo, 'rev-parse', 'exp/shift:reports/by_plan.csv')}"
    same = api.data_diff(repo, "data/events.parquet", "main", "main")
    assert same.identical and same.keys is not None and same.keys.unchanged == 50


def cli(monkeypatch, capsys, cwd: Path, *argv: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    code = main(["data", *argv])
    out = capsys.readouterr()
    return int(code), out.out, out.err


def test_json_matches_the_schemas_from_the_root_and_a_subdirectory(repo, monkeypatch, capsys):
    code, out, err = cli(
        monkeypatch,
        capsys,
        repo,
        "diff",
        "data/customers.csv",
        "main",
        "exp/shift",
        "--key",
        "id",
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    document = json.loads(out)
    validate(document, "data-diff")
    assert (document["keys"]["changed"], document["moved_columns"]) == (102, ["plan"])
    code, out, err = cli(
        monkeypatch, capsys, repo / "data", "show", "customers.csv", "--rev", "exp/shift", "--format", "json"
    )
    assert (code, err) == (0, "")
    validate(json.loads(out), "data-show")
    assert json.loads(out)["path"] == "data/customers.csv"


def test_table_output_names_what_changed(repo, monkeypatch, capsys):
    code, out, _ = cli(
        monkeypatch, capsys, repo, "diff", "data/customers.csv", "main", "exp/shift", "--key", "id"
    )
    assert code == 0
    assert "by key 'id': 15 added, 20 removed, 102 changed, 278 unchanged" in out
    assert "changed values by column: plan 30, income 72" in out
    assert out.rstrip().endswith("moved beyond noise: plan")


BAD = {
    "undeclared": (
        ["show", "data/raw.csv"],
        2,
        "graft: error: data/raw.csv at HEAD: not a table the pipeline declares (a `dvc add`-ed file or a "
        f"stage output); declared tables: {', '.join(DECLARED)}",
    ),
    "not a table": (
        ["show", "data/notes.txt"],
        2,
        "graft: error: data/notes.txt at HEAD: not a table (graft reads CSV, TSV and Parquet files); "
        f"declared tables: {', '.join(DECLARED)}",
    ),
    "unknown revision": (
        ["diff", "data/customers.csv", "main", "exp/nope"],
        3,
        "graft: error: unknown revision 'exp/nope' (expected a branch, tag or commit)",
    ),
    "no key column": (
        ["diff", "data/customers.csv", "main", "exp/shift", "--key", "customer"],
        2,
        "graft: error: data/customers.csv at main: no column 'customer' to match rows by; its columns: "
        "id, age, plan, income (--key)",
    ),
    "duplicate keys": (
        ["diff", "data/events.parquet", "main", "dups"],
        3,
        "graft: error: data/events.parquet at dups: key column 'event_id' is not unique: 3 key(s) appear "
        "more than once (e.g. 'e0000', 2 times)",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_with_its_exit_code(repo, monkeypatch, capsys, case):
    argv, exit_code, message = BAD[case]
    before = git(repo, "status", "--porcelain")
    assert cli(monkeypatch, capsys, repo, *argv) == (exit_code, "", message + "\n")
    assert git(repo, "status", "--porcelain") == before


def test_errors_are_typed(repo):
    with pytest.raises(UsageError):
        api.data_show(repo, "summarize.py", "main")
    with pytest.raises(GitError):
        api.data_show(repo, "data/customers.csv", "v9")
    with pytest.raises(DataError, match="not unique"):
        api.data_diff(repo, "data/events.parquet", "dups", "main")


def test_a_key_in_graft_yaml_that_is_not_a_column(repo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    (copy / "graft.yaml").write_text(yaml.safe_dump({"data": {"keys": {"data/customers.csv": "cid"}}}))
    git(copy, "commit", "-qam", "a wrong key")
    with pytest.raises(ParamsError) as caught:
        api.data_diff(copy, "data/customers.csv", "exp/shift", "main")
    assert str(caught.value) == (
        "data/customers.csv at exp/shift: no column 'cid' to match rows by; its columns: id, age, plan, "
        "income (the key data.keys['data/customers.csv'] in main:graft.yaml)"
    )


def test_a_table_not_in_the_local_cache_says_so(repo, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("cache"))
    code, out, err = cli(monkeypatch, capsys, copy, "show", "data/customers.csv", "--offline")
    assert (code, out) == (3, "")
    assert err == "graft: error: data/customers.csv at HEAD: not in the local cache (--offline)\n"


def test_a_corrupt_table_is_named(repo, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    (copy / "data" / "events.parquet").write_bytes(b"PAR1 not really parquet")
    run(copy, "dvc", "add", "-q", "data/events.parquet", check=True)
    git(copy, "commit", "-qam", "broken events")
    code, out, err = cli(monkeypatch, capsys, copy, "show", "data/events.parquet")
    assert (code, out) == (3, "")
    assert err.startswith("graft: error: data/events.parquet at HEAD: cannot be read as Parquet (")
    assert err.count("\n") == 1
