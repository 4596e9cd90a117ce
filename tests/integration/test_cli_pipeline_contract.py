"""The command line's contract for the commands that need the pipeline's outputs (slow):
package, release, reproduce, serve, replay and monitor, each run from a subdirectory and
with ``-C``, their JSON checked against the documented schemas."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graft.cli import main
from tests.conftest import git
from tests.schemas import validate

pytestmark = pytest.mark.slow


def graft(monkeypatch, capsys, cwd: Path, *argv: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    code = main(list(argv))
    out = capsys.readouterr()
    return int(code), out.out, out.err


def test_package_from_a_subdirectory_and_with_C(pipeline_copy, tmp_path, monkeypatch, capsys):
    runs = [
        graft(
            monkeypatch,
            capsys,
            pipeline_copy / "stages",
            "package",
            "--out",
            str(tmp_path),
            "--format",
            "json",
        ),
        graft(
            monkeypatch,
            capsys,
            tmp_path,
            "-C",
            str(pipeline_copy / "models"),
            "package",
            "--out",
            "b",
            "--format",
            "json",
        ),
    ]
    assert [(code, err) for code, _, err in runs] == [(0, ""), (0, "")]
    first, second = (json.loads(out) for _, out, _ in runs)
    validate(first, "package")
    assert Path(first["path"]).parent == tmp_path
    # -C: relative paths are taken from DIR, as `git -C` does
    assert Path(second["path"]).parent == pipeline_copy / "models" / "b"
    assert first["sha256"] == second["sha256"] and first["files"] == second["files"]
    # the default --out is dist/ at the project root, wherever graft runs
    code, out, _ = graft(monkeypatch, capsys, pipeline_copy / "stages", "package", "-q")
    assert code == 0 and out.startswith(str(pipeline_copy / "dist" / Path(first["path"]).name))


def test_release_and_reproduce_from_subdirectories(pipeline_copy, tmp_path, monkeypatch, capsys):
    dry = [
        graft(monkeypatch, capsys, pipeline_copy / "stages", "release", "--dry-run", "--format", "json"),
        graft(
            monkeypatch,
            capsys,
            tmp_path,
            "-C",
            str(pipeline_copy / "data"),
            "release",
            "--dry-run",
            "--format",
            "json",
        ),
    ]
    assert [(code, err) for code, _, err in dry] == [(0, ""), (0, "")]
    plan = json.loads(dry[0][1])
    validate(plan, "release")
    assert plan == json.loads(dry[1][1])
    assert (plan["tag"], plan["bump"], plan["dry_run"], plan["tagged"]) == (
        "adult-income@v1.0.0",
        "major",
        True,
        False,
    )

    code, out, err = graft(
        monkeypatch, capsys, pipeline_copy / "stages", "release", "--out", str(tmp_path), "--format", "json"
    )
    assert (code, err) == (0, "")
    released = json.loads(out)
    validate(released, "release")
    assert released["tagged"] and Path(released["archive"]).is_file()
    assert git(pipeline_copy, "rev-parse", f"{released['tag']}^{{commit}}") == released["commit"]

    code, out, err = graft(
        monkeypatch,
        capsys,
        pipeline_copy / "stages",
        "reproduce",
        released["tag"],
        "--package",
        released["archive"],
        "--format",
        "json",
    )
    assert (code, err) == (0, "")
    result = json.loads(out)
    validate(result, "reproduce")
    assert result["reproduced"] and result["rebuilt_sha256"] == released["archive_sha256"]
    assert all(check["match"] for check in result["checks"])

    code, out, err = graft(
        monkeypatch,
        capsys,
        tmp_path,
        "-C",
        str(pipeline_copy / "metrics"),
        "reproduce",
        "adult-income@v9.0.0",
    )
    assert code == 3 and out == ""
    assert err.splitlines()[-1].startswith("graft: error: no release tag 'adult-income@v9.0.0'")


def test_serve_takes_paths_relative_to_C(model_package, tmp_path, monkeypatch, capsys):
    archive = model_package.archive
    code, direct, _ = graft(
        monkeypatch, capsys, model_package.project / "stages", "serve", str(archive), "--print-openapi"
    )
    assert code == 0
    code, relative, _ = graft(
        monkeypatch, capsys, tmp_path, "-C", str(archive.parent), "serve", archive.name, "--print-openapi"
    )
    assert code == 0 and relative == direct and json.loads(direct)["openapi"].startswith("3.")


def stamp() -> str:
    time.sleep(0.02)
    return datetime.now(UTC).isoformat()


def test_replay_and_monitor_from_a_subdirectory_and_with_C(
    server, model_package, tmp_path, monkeypatch, capsys
):
    project = model_package.project
    since = stamp()
    runs = [
        graft(
            monkeypatch,
            capsys,
            project / "stages",
            "replay",
            "../data/validated/adult.parquet",
            "--where",
            "split=test",
            "--label",
            "income",
            "--limit",
            "40",
            "--url",
            server.url,
            "--format",
            "json",
        ),
        graft(
            monkeypatch,
            capsys,
            tmp_path,
            "-C",
            str(project),
            "replay",
            "data/validated/adult.parquet",
            "--where",
            "split=test",
            "--label",
            "income",
            "--limit",
            "40",
            "--url",
            server.url,
            "--format",
            "json",
        ),
    ]
    until = stamp()
    for code, out, err in runs:
        assert (code, err) == (0, "")
        result = json.loads(out)
        validate(result, "replay")
        assert (result["rows"], result["feedback"], result["rejected"]) == (40, 40, 0)

    argv = ["monitor", "--log-db", server.log_db, "--since", since, "--until", until, "--format", "json"]
    below = graft(
        monkeypatch, capsys, model_package.archive.parent, *argv, "--package", model_package.archive.name
    )
    with_c = graft(
        monkeypatch,
        capsys,
        tmp_path,
        "-C",
        str(model_package.archive.parent),
        *argv,
        "--package",
        model_package.archive.name,
    )
    assert below == with_c
    code, out, err = below
    result = json.loads(out)
    validate(result, "monitor")
    assert result["window"]["predictions"] == 80 and result["window"]["feedback"] == 80
    assert code == (1 if result["alert"] else 0)
    assert err == (
        ""
        if code == 0
        else f"graft: {len(result['alerts'])} alert(s): "
        + ", ".join(dict.fromkeys(a["kind"] for a in result["alerts"]))
        + "\n"
    )
