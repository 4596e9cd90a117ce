"""The command line's contract on a committed throwaway project (no pipeline run):

* every command finds the project root from a subdirectory and with ``-C DIR`` (before or
  after the command) and prints the same result either way;
* ``--format json`` output matches the command's documented schema (graft/cli/schemas/);
* every documented exit code (0, 1, 2, 3, 130) for the situations the documentation lists
  (docs/reference/index.md, and the exit-code reference generated from ExitCode);
* JSON mode and ``--quiet`` add nothing to stderr; progress is one plain line per step
  when stderr is not a terminal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graft.cli import main
from graft.core.extras import extra_for
from tests.conftest import BIN, copy_project, git
from tests.integration.conftest import repo_state
from tests.integration.repos import branch
from tests.schemas import validate

TAG = "adult-income@v1.0.0"


@pytest.fixture(scope="module")
def proj(module_env, tmp_path_factory) -> Path:
    """The project committed on main (outputs tracked by Git only), two experiment branches
    (one better, one that regresses log loss) and a GTO-format release tag."""
    root = copy_project(tmp_path_factory.mktemp("contract") / "project", with_cache=False)
    branch(root, "exp/better", metrics={"roc_auc": 0.95}, params={"train.num_leaves": 63})
    branch(root, "exp/worse", metrics={"log_loss": 0.5})
    git(root, "tag", "-a", TAG, "-m", "Registering artifact adult-income version v1.0.0")
    return root


def graft(monkeypatch, capsys, cwd: Path, *argv: str) -> tuple[int, str, str]:
    """Run graft in-process from ``cwd``; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(cwd)
    code = main(list(argv))
    out = capsys.readouterr()
    return int(code), out.out, out.err


# command -> (argv, schema): read-only commands that print a result
READ_ONLY = {
    "metrics": (["metrics"], "metrics"),
    "check-repro": (["check-repro"], "check-repro"),
    "diff": (["diff", "exp/better"], "diff"),
    "gate": (["gate", "--base", "main", "--head", "exp/better"], "gate"),
    "report": (["report", "--head", "exp/better", "--resamples", "20"], "report"),
    "models": (["models"], "models"),
    "exp list": (["exp", "list"], "exp-list"),
    "init": (["init", "--dry-run"], "init"),
}


@pytest.mark.parametrize("command", READ_ONLY, ids=list(READ_ONLY))
def test_same_json_from_root_subdirectory_and_with_C(proj, tmp_path, monkeypatch, capsys, command):
    argv, schema = READ_ONLY[command]
    json_argv = [*argv, "--format", "json"]
    runs = {
        "root": graft(monkeypatch, capsys, proj, *json_argv),
        "subdirectory": graft(monkeypatch, capsys, proj / "stages", *json_argv),
        "-C before": graft(monkeypatch, capsys, tmp_path, "-C", str(proj / "metrics"), *json_argv),
        "-C after": graft(monkeypatch, capsys, tmp_path, *json_argv, "-C", str(proj / "stages")),
    }
    for where, (code, _out, err) in runs.items():
        assert (code, err) == (0, ""), f"{command} from {where}: {err}"
    results = {where: json.loads(out) for where, (_, out, _) in runs.items()}
    validate(results["root"], schema)
    assert all(result == results["root"] for result in results.values())


def test_table_output_is_the_same_from_a_subdirectory(proj, monkeypatch, capsys):
    for argv, _ in READ_ONLY.values():
        at_root = graft(monkeypatch, capsys, proj, *argv, "--quiet")
        below = graft(monkeypatch, capsys, proj / "data" / "raw", *argv, "--quiet")
        assert at_root == below and at_root[0] == 0
        assert at_root[1] or argv[0] == "init"  # init shows the file it writes on stderr


def test_metrics_and_check_repro_read_the_project_root(proj, monkeypatch, capsys):
    """Issue: from stages/, check-repro listed every file as missing and metrics found none."""
    code, out, _ = graft(monkeypatch, capsys, proj / "stages", "check-repro", "--format", "json")
    assert code == 0 and json.loads(out) == {"reproduced": True, "paths": None, "differences": []}
    code, out, _ = graft(monkeypatch, capsys, proj / "stages", "metrics", "--format", "json")
    committed = json.loads((proj / "metrics" / "metrics.json").read_text())
    assert code == 0 and json.loads(out)["metrics"]["roc_auc"] == committed["roc_auc"]


def test_check_repro_paths_are_relative_to_the_current_directory(proj, monkeypatch, capsys):
    metrics = proj / "metrics" / "metrics.json"
    original = metrics.read_text()
    metrics.write_text(original.replace('"roc_auc": ', '"roc_auc": 1.0, "was": ', 1))
    try:
        code, out, err = graft(
            monkeypatch, capsys, proj / "metrics", "check-repro", "metrics.json", "--format", "json"
        )
        result = json.loads(out)
        validate(result, "check-repro")
        assert code == 1 and result["reproduced"] is False and result["paths"] == ["metrics/metrics.json"]
        assert [d["path"] for d in result["differences"]] == ["metrics/metrics.json"]
        assert err == "graft: the reproduced results differ from the committed ones: metrics/metrics.json\n"
        assert graft(monkeypatch, capsys, proj / "stages", "check-repro", "../dvc.lock")[0] == 0
        code, _, err = graft(monkeypatch, capsys, proj, "check-repro", "/etc/passwd")
        assert code == 2 and "/etc/passwd: outside the project at " in err
    finally:
        metrics.write_text(original)


@pytest.mark.parametrize(
    ("argv", "schema"),
    [
        (["data", "show", "{table}"], "data-show"),
        (["data", "diff", "{table}", "main", "exp/better", "--key", "row_id"], "data-diff"),
    ],
    ids=["data show", "data diff"],
)
def test_data_json_matches_its_schema_with_paths_relative_to_the_current_directory(
    proj, tmp_path, monkeypatch, capsys, argv, schema
):
    """The committed predictions (a `cache: false` stage output kept in Git) as a table."""
    runs = {
        "root": (proj, "metrics/predictions.parquet"),
        "subdirectory": (proj / "metrics", "predictions.parquet"),
        "-C": (tmp_path, "predictions.parquet"),
    }
    results = {}
    for where, (cwd, table) in runs.items():
        args = [a.format(table=table) for a in argv]
        if where == "-C":
            args = ["-C", str(proj / "metrics"), *args]
        code, out, err = graft(monkeypatch, capsys, cwd, *args, "--format", "json")
        assert (code, err) == (0, ""), f"{where}: {err}"
        results[where] = json.loads(out)
    validate(results["root"], schema)
    assert all(result == results["root"] for result in results.values())
    document = results["root"]
    summary = document if schema == "data-show" else document["b"]
    assert (summary["path"], summary["stored"], summary["format"]) == (
        "metrics/predictions.parquet",
        "git",
        "parquet",
    )
    assert [c["name"] for c in summary["columns"]][:1] == ["row_id"]
    if schema == "data-diff":
        assert document["identical"] and document["moved_columns"] == []
        assert (document["keys"]["added"], document["keys"]["removed"], document["keys"]["changed"]) == (
            0,
            0,
            0,
        )


def test_exp_new_and_grid_from_a_subdirectory_and_with_C(proj, tmp_path, monkeypatch, capsys):
    code, out, err = graft(
        monkeypatch,
        capsys,
        proj / "stages",
        "exp",
        "new",
        "sub",
        "--no-run",
        "--set",
        "train.num_leaves=15",
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    validate(result, "exp-new")
    assert result["branch"] == "exp/sub" and result["files"] == ["params.yaml"]
    assert result["overrides"] == [{"key": "train.num_leaves", "old": 31, "new": 15}]
    assert result["commit"] == git(proj, "rev-parse", "exp/sub")

    code, out, _ = graft(
        monkeypatch,
        capsys,
        tmp_path,
        "exp",
        "-C",
        str(proj),
        "new",
        "other",
        "--no-run",
        "--set",
        "train.num_leaves=7",
    )
    assert code == 0 and out.startswith("created exp/other at ")

    code, out, err = graft(
        monkeypatch,
        capsys,
        tmp_path,
        "-C",
        str(proj / "stages"),
        "exp",
        "grid",
        "--no-run",
        "--set",
        "train.num_leaves=5,9",
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    grid = json.loads(out)
    validate(grid, "exp-grid")
    assert [g["branch"] for g in grid] == ["exp/grid-num_leaves-5", "exp/grid-num_leaves-9"]
    assert all(g["ok"] and g["result"]["commit"] == git(proj, "rev-parse", g["branch"]) for g in grid)
    assert all(g["seconds"] >= g["result"]["seconds"] > 0 for g in grid)
    for name in ("sub", "other", "grid-num_leaves-5", "grid-num_leaves-9"):
        git(proj, "branch", "-D", f"exp/{name}")


def test_modified_dvc_lock_is_named_whole_in_the_dirty_tree_refusal(proj, monkeypatch, capsys):
    """Issue: after `dvc exp run`, the refusal said "(vc.lock, ..." (first character cut)."""
    lock = proj / "dvc.lock"
    original = lock.read_bytes()
    lock.write_bytes(original + b"\n")
    try:
        code, out, err = graft(monkeypatch, capsys, proj / "stages", "exp", "new", "x", "--no-run")
        assert code == 3 and out == ""
        assert f"graft: error: {proj}: the working tree has uncommitted changes (dvc.lock); " in err
    finally:
        lock.write_bytes(original)
    assert git(proj, "status", "--porcelain") == ""


# --- exit codes -----------------------------------------------------------------------------


def test_exit_1_a_failed_gate_prints_its_result_then_one_line(proj, monkeypatch, capsys):
    code, out, err = graft(
        monkeypatch, capsys, proj, "gate", "--base", "main", "--head", "exp/worse", "--format", "json"
    )
    result = json.loads(out)
    validate(result, "gate")
    assert code == 1 and result["passed"] is False
    assert {c["metric"] for c in result["checks"] if not c["passed"]} == {"log_loss"}
    assert err == "graft: gate failed: 2 check(s) (log_loss)\n"
    code, out, _ = graft(monkeypatch, capsys, proj, "gate", "--base", "main", "--head", "exp/worse")
    assert code == 1 and out.startswith("gate FAILED: head exp/worse")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["gate"], "the following arguments are required: --base"),
        (["diff", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["metrics", "--format", "xml"], "invalid choice: 'xml'"),
        (["exp"], "the following arguments are required: SUBCOMMAND"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
        (["-C", "no/such/dir", "metrics"], "-C no/such/dir: no such directory"),
        (["exp", "new", "bad..name", "--no-run"], "'bad..name' is not a valid experiment name"),
        (["completion", "tcsh"], "invalid choice: 'tcsh'"),
        (
            ["serve", "x.tar.gz", "--log-durability", "sync"],
            "argument --log-durability: invalid choice: 'sync' (choose from 'async', 'commit')",
        ),
    ],
)
def test_exit_2_usage_errors(proj, monkeypatch, capsys, argv, needle):
    code, out, err = graft(monkeypatch, capsys, proj, *argv)
    assert code == 2 and out == ""
    assert needle in err


@pytest.mark.parametrize(
    ("where", "argv", "needle"),
    [
        ("outside", ["metrics"], "not inside a Git repository or DVC project"),
        ("outside", ["diff"], "not inside a Git repository or DVC project"),
        ("root", ["diff", "exp/nope"], "unknown revision 'exp/nope' (expected a branch, tag or commit)"),
        ("root", ["gate", "--base", "nope"], "unknown revision 'nope'"),
        ("root", ["report", "--head", "nope"], "unknown revision 'nope'"),
        ("root", ["exp", "new", "x", "--no-run", "--set", "train.num_leaves=3.5"], "expected int"),
        ("root", ["exp", "new", "x", "--no-run", "--set", "train.num_leafs=3"], "train.num_leafs"),
        ("root", ["reproduce", "adult-income@v9.9.9"], "no release tag 'adult-income@v9.9.9'"),
        (
            "root",
            ["replay", "no-such.parquet", "--url", "http://127.0.0.1:9"],
            "no-such.parquet: no such data file",
        ),
    ],
)
def test_exit_3_errors_that_stop_the_command(proj, tmp_path, monkeypatch, capsys, where, argv, needle):
    code, out, err = graft(monkeypatch, capsys, tmp_path if where == "outside" else proj, *argv)
    assert code == 3 and out == ""
    *progress, error = err.splitlines()  # progress lines may come first (stderr is not a terminal)
    assert error.startswith("graft: error: ") and needle in error and "unexpected" not in error
    assert all(line.startswith(f"graft {argv[0]}: ") for line in progress)


def test_exit_3_unreachable_server(proj, monkeypatch, capsys):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["replay", "data/raw/adult.test.gz", "--limit", "5", "--url", f"http://127.0.0.1:{port}", "-q"]
    code, out, err = graft(monkeypatch, capsys, proj, *argv)
    assert code == 3 and out == ""
    assert err.startswith("graft: error: ") and f"127.0.0.1:{port}" in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("blocked", "argv", "line"),
    [
        (
            "fastapi",
            ["serve", "pkg.tar.gz"],
            "graft serve needs fastapi, which is not installed: pip install 'graft-toolkit[serve]'",
        ),
        (
            "scipy",
            ["monitor", "--package", "p.tar.gz", "--log-db", "sqlite:///l.db"],
            "graft monitor needs scipy, which is not installed: pip install 'graft-toolkit[monitor]'",
        ),
        (
            "matplotlib",
            ["report", "--head", "exp/better", "--resamples", "5", "--png-dir", "png"],
            "graft report needs matplotlib, which is not installed: pip install 'graft-toolkit[plots]'",
        ),
        pytest.param(
            "vl_convert",
            ["report", "--head", "exp/better", "--resamples", "5", "-o", "r.md"],
            "graft report needs vl_convert, which is not installed: pip install 'graft-toolkit[plots]'",
            marks=pytest.mark.skipif(
                extra_for("vl_convert") != "plots",
                reason="graft's installed metadata predates vl-convert in the plots extra (pip install -e .)",
            ),
        ),
        (
            "distributed",
            ["exp", "grid", "--no-run", "--set", "train.num_leaves=7,9", "--cluster", "local:1"],
            "--cluster needs distributed, which is not installed: pip install 'graft-toolkit[cluster]'",
        ),
        (
            "optuna",
            ["exp", "search", "x", "--param", "train.num_leaves=int:2..8"],
            "graft exp search needs optuna, which is not installed: pip install 'graft-toolkit[search]'",
        ),
    ],
)
def test_exit_3_missing_extra_is_one_line_naming_it(proj, monkeypatch, capsys, blocked, argv, line):
    for name in list(sys.modules):
        if name.split(".")[0] == blocked or name.startswith(("graft.serving", "graft.monitoring")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, blocked, None)  # import fails as if not installed
    before = repo_state(proj)
    code, out, err = graft(monkeypatch, capsys, proj, *argv, "--quiet")  # errors still print
    assert (code, out, err) == (3, "", f"graft: error: {line}\n")
    assert repo_state(proj) == before  # refused before anything was created


def test_exit_130_on_interrupt(proj, monkeypatch, capsys):
    from graft.cli import metrics

    def interrupted(args, ui):
        raise KeyboardInterrupt

    monkeypatch.setattr(metrics, "run", interrupted)
    assert graft(monkeypatch, capsys, proj, "metrics") == (130, "", "graft: interrupted\n")


# --- stdout / stderr --------------------------------------------------------------------------


def test_progress_is_a_plain_line_per_step_off_a_terminal_and_nothing_in_json_or_quiet(
    proj, monkeypatch, capsys
):
    argv = ["report", "--head", "exp/better", "--resamples", "20"]
    code, out, err = graft(monkeypatch, capsys, proj, *argv)
    assert code == 0 and out.startswith("<!-- graft-report -->")
    assert err == "graft report: comparing exp/better with main (20 bootstrap resamples)\n"
    assert graft(monkeypatch, capsys, proj, *argv, "--quiet")[2] == ""
    assert graft(monkeypatch, capsys, proj, "-q", *argv)[2] == ""
    code, out, err = graft(monkeypatch, capsys, proj, *argv, "--format", "json", "-o", "report.md")
    assert (code, err) == (0, "")
    assert json.loads(out)["output"] == str(proj / "report.md")
    assert (proj / "report.md").read_text() == json.loads(out)["markdown"]
    (proj / "report.md").unlink()
    shutil.rmtree(proj / "report_plots")  # dvc.yaml's plots, drawn beside the report


def test_the_installed_command_keeps_json_alone_on_stdout(proj):
    """The console script, as CI runs it: stdout holds one JSON document, stderr nothing."""
    done = subprocess.run(
        [str(BIN / "graft"), "-C", str(proj / "stages"), "gate", "--base", "main", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    validate(json.loads(done.stdout), "gate")
