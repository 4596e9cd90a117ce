"""The pipeline's own helpers: stages.errors (exit codes, one-line messages, STAGE_DEBUG) and
stages.fsio (atomic, canonical output files)."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from stages import fsio
from stages.errors import DataError, ParamsError, StageError, exit_status
from tests.conftest import ROOT


def test_stage_error_is_one_line_exit_1(capsys):
    def fail():
        raise DataError("x.csv line 3:\n  expected 15 fields,   found 14")

    assert exit_status(fail, "stage ingest") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "stage ingest: error: x.csv line 3: expected 15 fields, found 14\n"


def test_unexpected_error_hints_at_stage_debug(capsys, monkeypatch):
    monkeypatch.delenv("STAGE_DEBUG", raising=False)

    def fail():
        raise KeyError("spec")

    assert exit_status(fail, "stage train") == 1
    assert capsys.readouterr().err == (
        "stage train: unexpected error: KeyError: 'spec' (run again with STAGE_DEBUG=1 for the traceback)\n"
    )


def test_stage_debug_reraises(monkeypatch):
    monkeypatch.setenv("STAGE_DEBUG", "1")

    def fail():
        raise KeyError("spec")

    with pytest.raises(KeyError):
        exit_status(fail, "stage train")


def test_interrupt_and_success(capsys):
    def interrupted():
        raise KeyboardInterrupt

    assert exit_status(interrupted, "stage train") == 130
    assert capsys.readouterr().err == "stage train: interrupted\n"
    assert exit_status(lambda: None, "stage train") == 0
    assert issubclass(DataError, StageError) and issubclass(ParamsError, StageError)


def test_stage_module_exit_code_and_message(tmp_path):
    """`python -m stages.X` in a directory without params.yaml: exit 1, one line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # stages/ is project code, not installed
    proc = subprocess.run(
        [sys.executable, "-m", "stages.gate"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr == "stage gate: error: params.yaml: file not found (run from the project root)\n"


def test_write_json_is_canonical_atomic_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.json"
    fsio.write_json(target, {"b": float("nan"), "a": [1, 2.5], "é": True})
    assert target.read_text(encoding="utf-8") == (
        '{\n  "a": [\n    1,\n    2.5\n  ],\n  "b": null,\n  "é": true\n}\n'
    )
    fsio.write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_write_parquet_is_deterministic(tmp_path):
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": ["x", "y"]}, index=[5, 6])
    fsio.write_parquet(tmp_path / "one.parquet", frame)
    fsio.write_parquet(tmp_path / "two.parquet", frame)
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()
    back = pd.read_parquet(tmp_path / "one.parquet")
    assert back.index.tolist() == [0, 1] and back["a"].tolist() == [1, pd.NA]


def test_failed_write_keeps_old_content_and_no_temp(tmp_path):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")

    class Unwritable(pd.DataFrame):
        def to_parquet(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fsio.write_parquet(target, Unwritable({"a": [1]}))
    assert target.read_bytes() == b"old"

    # a failure while the temporary file exists (data that cannot be written) also cleans up
    with pytest.raises(TypeError):
        fsio.atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
