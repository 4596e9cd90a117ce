"""graft.core.errors.run_main exit codes and graft.core.fsio atomic writes (the pipeline has its
own: tests/code/test_stage_helpers.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graft.core import fsio
from graft.core.errors import CheckFailed, DataError, ExitCode, GitError, GraftError, UsageError, run_main


def test_graft_error_is_one_line_exit_3(capsys):
    def fail():
        raise DataError("x.csv line 3:\n  expected 15 fields,   found 14")

    assert run_main(fail, "stage ingest") == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "stage ingest: error: x.csv line 3: expected 15 fields, found 14\n"


@pytest.mark.parametrize("size", [10, 1_000_000])  # buffered until exit / failing mid-write
def test_a_reader_closing_the_pipe_early_ends_quietly_with_sigpipes_status(size):
    """`graft diff | head`: no "unexpected error", no "Exception ignored" at exit; 141."""
    code = (
        "import sys; from graft.core.errors import run_main; "
        f"sys.exit(run_main(lambda: print('x' * {size}), 'graft'))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before graft writes
    err = proc.stderr.read()
    assert proc.wait(60) == ExitCode.BROKEN_PIPE == 141
    assert err == b""


def test_usage_error_exit_2(capsys):
    def fail():
        raise UsageError("unknown option --frob")

    assert run_main(fail, "graft") == 2
    assert capsys.readouterr().err == "graft: error: unknown option --frob\n"


def test_unexpected_error_hints_at_graft_debug(capsys, monkeypatch):
    monkeypatch.delenv("GRAFT_DEBUG", raising=False)

    def fail():
        raise KeyError("spec")

    assert run_main(fail, "stage train") == 3
    assert capsys.readouterr().err == (
        "stage train: unexpected error: KeyError: 'spec' (run again with GRAFT_DEBUG=1 for the traceback)\n"
    )


def test_graft_debug_reraises(monkeypatch):
    monkeypatch.setenv("GRAFT_DEBUG", "1")

    def fail():
        raise KeyError("spec")

    with pytest.raises(KeyError):
        run_main(fail, "stage train")


def test_success_and_returned_code():
    assert run_main(lambda: None, "x") == 0
    assert run_main(lambda: 3, "x") == 3
    assert issubclass(DataError, GraftError) and DataError.exit_code == 3


def test_exit_code_table_is_distinct_and_documented():
    """0 success, 1 a failed check, 2 usage, 3 an error that stopped the command, 4 no data,
    128 + the signal's number for SIGHUP, SIGINT, SIGPIPE (a reader gone) and SIGTERM."""
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 129, 130, 141, 143]
    assert (GraftError.exit_code, GitError.exit_code, DataError.exit_code) == (3, 3, 3)
    assert (CheckFailed.exit_code, UsageError.exit_code) == (1, 2)
    from graft.monitoring import EXIT_NO_DATA

    assert EXIT_NO_DATA == ExitCode.NO_DATA == 4  # monitoring's "no data in the window"


def test_failed_check_is_exit_1_without_error_prefix(capsys):
    def fail():
        raise CheckFailed("gate failed: 1 check(s) (auc)")

    assert run_main(fail, "graft") == 1
    assert capsys.readouterr().err == "graft: gate failed: 1 check(s) (auc)\n"


def test_interrupt_is_exit_130(capsys):
    def stop():
        raise KeyboardInterrupt

    assert run_main(stop, "graft") == 130
    assert capsys.readouterr().err == "graft: interrupted\n"


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.json"
    fsio.write_json(target, {"b": float("nan"), "a": [1, 2.5]})
    assert target.read_text() == '{\n  "a": [\n    1,\n    2.5\n  ],\n  "b": null\n}\n'
    fsio.atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_failed_write_keeps_old_content_and_no_temp(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")

    class Unwritable:
        def to_parquet(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fsio.write_parquet(target, Unwritable())
    assert target.read_bytes() == b"old"

    # a failure while the temporary file exists (data that cannot be written) also cleans up
    with pytest.raises(TypeError):
        fsio.atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_a_write_onto_a_folder_or_below_a_file_is_refused_naming_it(tmp_path):
    """`graft init --force` with a folder named graft.yaml, `report -o DIR`: an IsADirectoryError
    (exit 3 "unexpected error") before; now one line naming the path, and nothing written."""
    (tmp_path / "graft.yaml").mkdir()
    (tmp_path / "notes.md").write_text("a file\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(GraftError) as refused:
        fsio.atomic_write_text(tmp_path / "graft.yaml", "task: {}\n")
    assert str(refused.value) == f"{tmp_path}/graft.yaml: is a folder, so the file cannot be written there"
    with pytest.raises(GraftError) as refused:
        fsio.atomic_write_text(tmp_path / "notes.md" / "plots" / "a.png", "x")
    below = "a part of its folder is a file, so the file cannot be written there"
    assert str(refused.value) == f"{tmp_path}/notes.md/plots/a.png: {below}"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
