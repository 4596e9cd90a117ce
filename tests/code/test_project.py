"""The project layer: dvc.yaml, dvc.lock and graft.yaml read the way DVC reads them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from graft.core.errors import DataError, GitError, ParamsError, UsageError
from graft.project import Project, find_root
from graft.project.dvcfile import parse_pipeline
from graft.project.infer import guess_direction, guess_task
from graft.project.init import plan_init, write_init
from graft.project.lock import Lock
from graft.project.settings import parse_settings

DVC_YAML = """
vars:
  - out_dir: eval
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [data/source.csv, src/prepare.py]
    params: [split]
    outs: [work/train.parquet]
  fit:
    cmd: python src/fit.py
    deps: [work/train.parquet, src/fit.py]
    params:
      - model.lr
      - config/extra.yaml: [depth]
    outs: [models/reg.txt]
    metrics:
      - ${out_dir}/train.json:
          cache: false
  score:
    cmd: python src/score.py
    deps: [models/reg.txt]
    outs:
      - ${out_dir}/predictions.csv:
          cache: false
    plots:
      - ${out_dir}/residuals.csv:
          cache: false
metrics:
  - ${out_dir}/metrics.json
plots:
  - Residuals:
      x: actual
      y:
        ${out_dir}/residuals.csv: residual
artifacts:
  reg-model:
    path: models/reg.txt
    type: model
    desc: a regressor
"""

LOCK = """
schema: '2.0'
stages:
  prepare:
    cmd: python src/prepare.py
    deps:
    - path: data/source.csv
      hash: md5
      md5: aaa
    - path: src/prepare.py
      hash: md5
      md5: bbb
    outs:
    - path: work/train.parquet
      hash: md5
      md5: ccc
  fit:
    cmd: python src/fit.py
    deps:
    - path: work/train.parquet
      hash: md5
      md5: ccc
    params:
      params.yaml:
        model.lr: 0.1
    outs:
    - path: models/reg.txt
      hash: md5
      md5: ddd
"""


def test_pipeline_declares_metrics_plots_params_and_artifacts():
    pipeline = parse_pipeline(yaml.safe_load(DVC_YAML), {"split": {"seed": 1}})
    assert pipeline.metrics == ("eval/metrics.json", "eval/train.json")
    assert pipeline.plots == ("eval/residuals.csv",)
    assert pipeline.params == {"params.yaml": ("split", "model.lr"), "config/extra.yaml": ("depth",)}
    assert pipeline.params_files == ("params.yaml", "config/extra.yaml")
    assert [a.name for a in pipeline.models()] == ["reg-model"]
    assert pipeline.models()[0].path == "models/reg.txt"
    assert "eval/predictions.csv" in pipeline.outputs


def test_pipeline_errors_name_the_place():
    with pytest.raises(ParamsError, match=r"dvc.yaml: stages.fit.deps: expected a list"):
        parse_pipeline({"stages": {"fit": {"cmd": "x", "deps": "src/fit.py"}}})
    with pytest.raises(ParamsError, match=r"artifacts.m needs a 'path'"):
        parse_pipeline({"artifacts": {"m": {"type": "model"}}})


def test_lock_separates_data_inputs_code_and_outputs():
    lock = Lock.parse(LOCK.encode())
    assert lock.outputs == {"work/train.parquet": "ccc", "models/reg.txt": "ddd"}
    assert lock.data_inputs == {"data/source.csv": "aaa"}  # not code, not produced by a stage
    assert lock.code_deps == {"src/prepare.py": "bbb"}
    assert lock.entries()["fit: param params.yaml:model.lr"] == 0.1
    assert Lock.parse(None).outputs == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- stages\n- x\n", r"^exp/a:dvc.lock: expected a mapping \(schema, stages\) at the top .* a list"),
        ("'2.0'\n", r"^exp/a:dvc.lock: expected a mapping .* got a str$"),
        ("schema: '9.0'\nstages: {}\n", r"^exp/a:dvc.lock: schema '9.0' is not one graft reads \('2.0'"),
        ("schema: 1\nstages: {}\n", r"^exp/a:dvc.lock: schema 1 is not one graft reads"),
        ("schema: '2.0'\nstages: [a]\n", r"^exp/a:dvc.lock: 'stages' must be a mapping$"),
    ],
)
def test_bad_lock_is_refused_naming_revision_and_file(text, message):
    with pytest.raises(DataError, match=message):
        Lock.parse(text.encode(), "exp/a:dvc.lock")
    assert Lock.parse(b"", "exp/a:dvc.lock").stages == {}


def test_settings_references_resolve_to_params_values():
    params = {"evaluate": {"threshold": 0.4}, "gate": {"thresholds": {"rmse": {"max": 50}}}}
    settings = parse_settings(
        {
            "task": {"type": "regression", "threshold": "${evaluate.threshold}"},
            "gate": {"thresholds": "${gate.thresholds}"},
        },
        params,
    )
    assert settings.task.threshold == 0.4
    assert settings.gate.thresholds["rmse"].max == 50
    assert settings.task_metrics == ("rmse", "mae", "r2")


def test_settings_are_validated_once_per_resolved_contents():
    document = {"task": {"type": "binary", "threshold": "${evaluate.threshold}"}}
    validated: dict = {}
    first = parse_settings(document, {"evaluate": {"threshold": 0.4}, "train": {"lr": 0.1}}, "a", validated)
    # another revision that changed only params graft.yaml does not refer to: the same settings
    same = parse_settings(document, {"evaluate": {"threshold": 0.4}, "train": {"lr": 0.2}}, "b", validated)
    other = parse_settings(document, {"evaluate": {"threshold": 0.6}}, "c", validated)
    assert same is first and other is not first
    assert (first.task.threshold, other.task.threshold) == (0.4, 0.6)
    with pytest.raises(ParamsError, match=r"^d: 'task.threshold'"):  # errors are never cached
        parse_settings(document, {"evaluate": {"threshold": 7}}, "d", validated)
    assert len(validated) == 2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"task": {"type": "ranking"}},
            r"graft.yaml: 'task.type': Input should be 'binary', 'multiclass' or 'regression'",
        ),
        ({"metrics": {"rulez": {}}}, r"graft.yaml: unknown key 'metrics.rulez'"),
        ({"metrics": {"rules": {"auc": {"direction": "up"}}}}, r"'metrics.rules.auc.direction'"),
        ({"metrics": {"rules": {"auc": {"direction": "higher", "tolerance": -1}}}}, r"tolerance"),
        ({"gate": {"thresholds": {"auc": {}}}}, r"needs 'min' and/or 'max'"),
        (
            {"gate": {"thresholds": "${gate.nothing}"}},
            r"'gate.thresholds' refers to 'gate.nothing', which params.yaml does not have",
        ),
        ({"task": {"type": "binary", "labels": ["a", "b", "c"]}}, r"exactly two labels"),
        ({"report": {"adjust": "bonferroni"}}, r"'report.adjust': Input should be 'holm' or 'none'"),
        (
            {"report": {"quantiles": [0.9, 1.5]}},
            r"'report.quantiles'.*quantile 1.5 must lie strictly between 0 and 1",
        ),
        ({"report": {"quantiles": [0.9, 0.9]}}, r"'report.quantiles'.*quantiles must be distinct"),
        ({"predictions": {"groups": ["sex"]}}, r"'predictions.groups': Input should be a valid string"),
        ([1, 2], r"graft.yaml: expected a mapping of settings"),
    ],
)
def test_bad_settings_name_the_key(document, message):
    with pytest.raises(ParamsError, match=message):
        parse_settings(document, {"gate": {}})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"task": {"type": "binary"}, 1: 2}, r"^graft.yaml: key 1 is a number, not text"),
        ({True: 1}, r"^graft.yaml: key True is a boolean, not text"),
        ({None: 1}, r"^graft.yaml: key None is null, not text"),
        ({"task": {"type": "binary", 3: "x"}}, r"^graft.yaml: key 'task.3' is a number, not text"),
        ({"monitor": {"drift": [{2.5: 1}]}}, r"^graft.yaml: key 'monitor.drift.0.2.5' is a number"),
        (
            {"monitor": {"drift": "${drift}"}},
            r"^graft.yaml: 'monitor.drift' refers to params.yaml 'drift', where: key 7 is a number",
        ),
    ],
)
def test_non_text_keys_are_refused_naming_their_path(document, message):
    # validated={} as the views pass it: the resolved document is keyed by its JSON text, which
    # raised TypeError ('<' between int and str) before any key was checked
    with pytest.raises(ParamsError, match=message):
        parse_settings(document, {"drift": {7: "x"}}, "graft.yaml", {})


PATH_FIELDS = [
    ("metrics", "file"),
    ("fairness", "file"),
    ("predictions", "path"),
    ("predictions", "inputs"),
    ("predictions", "groups"),
    ("package", "adapter"),
]


@pytest.mark.parametrize("value", ["/etc/passwd", "../../../etc/hostname", "a/../../x.json", "~/x", "C:/x"])
@pytest.mark.parametrize(("section", "field"), PATH_FIELDS)
def test_path_settings_outside_the_project_are_refused(section, field, value):
    kind = "a path leaving the project root" if ".." in value else "an absolute path"
    with pytest.raises(ParamsError, match=rf"^graft.yaml: '{section}.{field}': .*{kind}.*\(got '{value}'\)"):
        parse_settings({section: {field: value}}, {})


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"metrics": {"files": ["m.json", "/m.json"]}}, "metrics.files.1"),
        ({"package": {"code": ["../src"]}}, "package.code.0"),
        ({"package": {"files": {"vocab": "/tmp/v.json"}}}, "package.files.vocab"),
        ({"package": {"reference": {"path": "/data/x.csv"}}}, "package.reference.path"),
        ({"package": {"reference": {"path": "x.csv", "rows_from": "../y"}}}, "package.reference.rows_from"),
        ({"data": {"keys": {"/data/x.csv": "id"}}}, "data.keys./data/x.csv"),
    ],
)
def test_every_path_setting_is_project_relative(document, where):
    with pytest.raises(ParamsError, match=rf"'{where}"):
        parse_settings(document, {})


def test_path_settings_are_kept_normalised():
    settings = parse_settings({"metrics": {"file": "./eval/../eval/metrics.json"}}, {})
    assert settings.metrics.file == "eval/metrics.json"


def test_working_tree_refuses_links_out_of_the_project_and_non_regular_files(tmp_path):
    root = _repo(tmp_path)
    outside = tmp_path / "outside.json"
    outside.write_text('{"rmse": 1.0}')
    metrics = root / "eval" / "metrics.json"
    metrics.unlink()
    metrics.symlink_to(outside)
    with pytest.raises(DataError, match=rf"^eval/metrics.json: resolves to {outside}, outside the project"):
        Project(root).work().metrics()
    # DVC's own links into the project's cache are read
    cached = root / ".dvc" / "cache" / "files" / "md5" / "ab" / "cdef"
    cached.parent.mkdir(parents=True)
    cached.write_text('{"rmse": 2.0}')
    metrics.unlink()
    metrics.symlink_to(cached)
    assert Project(root).work().metrics() == {"rmse": 2.0}
    # ... and so are those into an external cache that .dvc/config names
    (root / ".dvc" / "config").write_text(f"[cache]\n    dir = {tmp_path / 'shared'}\n")
    shared = tmp_path / "shared" / "files" / "md5" / "ab" / "cdef"
    shared.parent.mkdir(parents=True)
    shared.write_text('{"rmse": 3.0}')
    metrics.unlink()
    metrics.symlink_to(shared)
    assert Project(root).work().metrics() == {"rmse": 3.0}
    metrics.unlink()
    os.mkfifo(metrics)
    with pytest.raises(DataError, match=r"^eval/metrics.json: not a regular file"):
        Project(root).work().metrics()


def test_guesses():
    assert guess_task({"train": {"objective": "regression"}})[0] == "regression"
    assert guess_task({"model": {"params": {"objective": "multiclass"}}})[0] == "multiclass"
    assert guess_task({"x": 1})[0] == "binary"
    assert guess_direction("rmse") == "lower"
    assert guess_direction("eval/train.json:valid_roc_auc") == "higher"
    assert guess_direction("test_rows") is None


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src" / "deep").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".dvc").mkdir()
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("split: {seed: 1}\nmodel: {lr: 0.1, objective: regression}\n")
    (root / "eval").mkdir()
    (root / "eval" / "metrics.json").write_text('{"rmse": 52.1, "mae": 41.0, "r2": 0.45, "n": 89}')
    (root / "eval" / "predictions.csv").write_text("row_id,target,prediction\n1,151.0,140.2\n")
    return root


def test_root_is_found_from_a_subdirectory(tmp_path):
    root = _repo(tmp_path)
    assert find_root(root / "src" / "deep") == root.resolve()
    with pytest.raises(GitError, match="not inside a Git repository or DVC project"):
        find_root(tmp_path)


def test_work_view_without_graft_yaml_uses_inferred_settings(tmp_path):
    root = _repo(tmp_path)
    view = Project.find(root / "src").work()
    assert not view.has_settings
    settings = view.settings
    assert settings.task.type == "regression"
    assert settings.metrics.file == "eval/metrics.json"
    assert settings.metrics.headline == ["rmse", "mae"]
    assert settings.direction("r2") == "higher"
    assert settings.predictions.path == "eval/predictions.csv"
    assert (settings.predictions.id, settings.predictions.label, settings.predictions.score) == (
        "row_id",
        "target",
        "prediction",
    )
    assert settings.package.model == "reg-model"
    assert view.metrics() == {"rmse": 52.1, "mae": 41.0, "r2": 0.45, "n": 89}
    assert any(
        "task.type: regression (params.yaml 'model.objective: regression')" in n for n in view.inference_notes
    )


def test_init_writes_once_and_refuses_to_overwrite(tmp_path):
    root = _repo(tmp_path)
    plan = plan_init(root / "src")
    assert list(plan.files) == ["graft.yaml"] and not plan.existing
    write_init(plan)
    written = (root / "graft.yaml").read_text()
    assert "type: regression" in written and '"rmse": {direction: lower' in written
    view = Project(root).work()
    assert view.has_settings and view.settings.task.type == "regression"
    again = plan_init(root)
    assert again.existing == ["graft.yaml"]
    with pytest.raises(UsageError, match=r"graft.yaml already exists in .*: pass --force to replace it"):
        write_init(again)
    (root / "graft.yaml").write_text("# mine\n")
    write_init(again, force=True)
    assert (root / "graft.yaml").read_text() == written


def test_init_without_dvc_yaml_is_refused(tmp_path):
    root = _repo(tmp_path)
    (root / "dvc.yaml").unlink()
    with pytest.raises(Exception, match=r"no dvc.yaml"):
        plan_init(root)


def test_init_over_an_existing_file_prints_only_its_refusal(tmp_path, capsys):
    from graft.cli import main

    root = _repo(tmp_path)
    (root / "graft.yaml").write_text("# mine\n")
    assert main(["init", "-C", str(root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"graft: error: graft.yaml already exists in {root}: pass --force to replace it"
    ]
    assert (root / "graft.yaml").read_text() == "# mine\n"
    assert main(["init", "-C", str(root), "--dry-run"]) == 0  # the proposal, on request
    shown = capsys.readouterr().err
    assert shown.startswith("--- graft.yaml\n") and "type: regression" in shown
    assert (root / "graft.yaml").read_text() == "# mine\n"
