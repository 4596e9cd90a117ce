"""`graft exp new --set` on a real DVC project whose one stage reads a JSON and a TOML params file
(``params: - config.json: [model]`` and ``- conf.toml: [fit]``, no params.yaml at all).

The stage only copies the two values into its metrics file, so the run costs a DVC start. The
branch must hold each file edited in its own format (JSON's indentation, TOML's comments),
``dvc.lock`` must record the new values as DVC read them, ``graft diff`` must show the changed
keys as ``file:key``, and a bad key must be refused naming file and key with nothing created.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, git
from tests.integration.conftest import repo_state

CONFIG = '{\n  "model": {\n    "depth": 3,\n    "name": "tree"\n  }\n}\n'
CONF = "# fit settings\n[fit]\nalpha = 0.1  # regularisation\n"
DVC_YAML = """stages:
  echo:
    cmd: python echo_params.py
    deps: [echo_params.py]
    params:
      - config.json: [model]
      - conf.toml: [fit]
    metrics:
      - out/metrics.json:
          cache: false
"""
STAGE = """import json, pathlib, tomllib

depth = json.loads(pathlib.Path("config.json").read_text())["model"]["depth"]
alpha = tomllib.loads(pathlib.Path("conf.toml").read_text())["fit"]["alpha"]
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/metrics.json").write_text(json.dumps({"depth": depth, "alpha": alpha}) + "\\n")
"""


def graft(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "graft"), *args], cwd=project, capture_output=True, text=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, module_env: None) -> Path:
    dest = tmp_path_factory.mktemp("paramfiles") / "project"
    dest.mkdir()
    git(dest, "init", "-q", "-b", "main")
    subprocess.run(["dvc", "init", "-q"], cwd=dest, check=True, capture_output=True)
    (dest / "config.json").write_text(CONFIG)
    (dest / "conf.toml").write_text(CONF)
    (dest / "dvc.yaml").write_text(DVC_YAML)
    (dest / "echo_params.py").write_text(STAGE)
    (dest / ".gitignore").write_text(".graft/\n")
    subprocess.run(["dvc", "repro", "-q"], cwd=dest, check=True, capture_output=True)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "a stage reading JSON and TOML params")
    return dest


def show(project: Path, rev: str, path: str) -> str:
    return git(project, "show", f"{rev}:{path}")


@pytest.mark.slow
def test_exp_new_edits_json_and_toml_params_and_dvc_records_them(project: Path):
    # a named JSON key, and a bare key params.yaml lacks that only conf.toml's stage declares
    sets = ["--set", "config.json:model.depth=5", "--set", "fit.alpha=0.5"]
    proc = graft(project, "exp", "new", "deep", *sets)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].endswith(": config.json:model.depth=5, conf.toml:fit.alpha=0.5")

    assert show(project, "exp/deep", "config.json") == CONFIG.replace('"depth": 3', '"depth": 5').rstrip("\n")
    assert show(project, "exp/deep", "conf.toml") == CONF.replace("alpha = 0.1", "alpha = 0.5").rstrip("\n")
    lock = yaml.safe_load(show(project, "exp/deep", "dvc.lock"))
    assert lock["stages"]["echo"]["params"] == {
        "config.json": {"model": {"depth": 5, "name": "tree"}},
        "conf.toml": {"fit": {"alpha": 0.5}},
    }
    assert json.loads(show(project, "exp/deep", "out/metrics.json")) == {"depth": 5, "alpha": 0.5}
    message = git(project, "log", "-1", "--format=%B", "exp/deep")
    assert "Overrides of conf.toml, config.json (base main " in message
    assert "  config.json:model.depth: 3 -> 5\n  conf.toml:fit.alpha: 0.1 -> 0.5" in message

    diff = graft(project, "diff", "exp/deep", "--format", "json", "--only-changed")
    assert diff.returncode == 0, diff.stderr
    rows = {(r["section"], r["key"]): r["values"] for r in json.loads(diff.stdout)["rows"]}
    assert rows == {
        ("params", "config.json:model.depth"): {"main": 3, "exp/deep": 5},
        ("params", "conf.toml:fit.alpha"): {"main": 0.1, "exp/deep": 0.5},
        ("metrics", "depth"): {"main": 3, "exp/deep": 5},
        ("metrics", "alpha"): {"main": 0.1, "exp/deep": 0.5},
    }


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["config.json:model.width=4"],
            "graft: error: --set config.json:model.width: no key 'model.width' in config.json at main; "
            "keys at 'model': depth, name",
        ),
        (
            ["conf.toml:fit.alpha=fast"],
            "graft: error: --set conf.toml:fit.alpha=fast: expected float (like 0.1, the value in "
            "conf.toml at main), got str 'fast'",
        ),
        (
            ["other.toml:fit.alpha=1"],
            "graft: error: --set other.toml:fit.alpha: no stage declares the params file 'other.toml' "
            "at main (declared: params.yaml, config.json, conf.toml)",
        ),
    ],
)
def test_bad_keys_are_refused_naming_file_and_key_before_anything_is_created(project, sets, message):
    before = repo_state(project)
    proc = graft(project, "exp", "new", "bad", *(a for s in sets for a in ("--set", s)))
    assert (proc.returncode, proc.stderr.strip().splitlines()[-1], proc.stdout) == (3, message, "")
    assert repo_state(project) == before
