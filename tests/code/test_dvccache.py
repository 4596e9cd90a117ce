"""Results in DVC's cache read at a revision without DVC: dvc.lock/.dvc hashes, DVC 3's and DVC 2's
layouts, .dir manifests, the configured cache dir, offline reasons, and dvclive's key names.

A real Git repository (pygit2 commits) and a cache laid out by hand as DVC lays it out; the
fetch from a real DVC remote is tested in tests/integration/test_dvc_cache.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pygit2
import pytest
import yaml

from graft.core.errors import DataError
from graft.project import Project
from graft.project.dvccache import NOT_CACHED, DvcCache, config_cache_dir, offline
from graft.project.infer import guess_direction, guess_headline
from graft.project.settings import split_of
from tests.gitobjects import commit_files


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _put(cache: Path, oid: str, data: bytes, legacy: bool = False) -> None:
    folder = cache if legacy else cache / "files" / "md5"
    (folder / oid[:2]).mkdir(parents=True, exist_ok=True)
    (folder / oid[:2] / oid[2:]).write_bytes(data)


METRICS = b'{"roc_auc": {"train": 0.9, "test": 0.8}, "loss": {"valid": 0.3}}\n'
PLOT = b'{"roc": [{"fpr": 0, "tpr": 0}]}\n'
MODEL = b"model bytes"


def _project(root: Path, legacy: bool = False) -> tuple[Project, str]:
    """A Git + DVC layout: eval/ a directory output, model.pkl a file output, data.csv `dvc add`-ed."""
    (root / ".dvc").mkdir(parents=True)
    repo = pygit2.init_repository(str(root), initial_head="main")
    entries = [
        {"md5": _md5(METRICS), "relpath": "metrics.json"},
        {"md5": _md5(PLOT), "relpath": "plots/roc.json"},
    ]
    manifest = json.dumps(entries, sort_keys=True).encode()
    eval_oid = _md5(manifest) + ".dir"
    hashed = {} if legacy else {"hash": "md5"}
    lock = {
        "schema": "2.0",
        "stages": {
            "evaluate": {
                "cmd": "python evaluate.py",
                "outs": [
                    {"path": "eval", **hashed, "md5": eval_oid},
                    {"path": "model.pkl", **hashed, "md5": _md5(MODEL)},
                ],
            }
        },
    }
    dvc_file = {"outs": [{"path": "data.csv", **hashed, "md5": _md5(b"a,b\n1,2\n")}]}
    dvc_yaml = "stages:\n  evaluate:\n    cmd: python evaluate.py\n    outs: [eval, model.pkl]\n"
    dvc_yaml += "metrics: [eval/metrics.json]\n"
    sig = pygit2.Signature("t", "t@graft.invalid", 1_700_000_000, 0)
    tree = repo.TreeBuilder().write()
    repo.create_commit("refs/heads/main", sig, sig, "empty", tree, [])
    commit_files(
        repo,
        "main",
        {
            "dvc.yaml": dvc_yaml.encode(),
            "dvc.lock": yaml.safe_dump(lock).encode(),
            "sub/data.csv.dvc": yaml.safe_dump(dvc_file).encode(),
        },
        "results",
        signature=sig,
    )
    cache = root / ".dvc" / "cache"
    _put(cache, eval_oid, manifest, legacy)
    _put(cache, _md5(METRICS), METRICS, legacy)
    _put(cache, _md5(b"a,b\n1,2\n"), b"a,b\n1,2\n", legacy)
    return Project(root), eval_oid


@pytest.mark.parametrize("legacy", [False, True], ids=["dvc3", "dvc2"])
def test_reads_files_of_directory_and_dvc_add_outputs_by_hash(tmp_path: Path, legacy: bool) -> None:
    project, _ = _project(tmp_path / "p", legacy)
    with offline():
        view = project.at("main")
        assert view.read("eval/metrics.json") == METRICS
        assert view.read("sub/data.csv") == b"a,b\n1,2\n"
        assert view.source.blob_key("eval/metrics.json") == f"dvc:{_md5(METRICS)}"
        assert view.document("eval/metrics.json") == json.loads(METRICS)
        assert view.source.unreadable("eval/metrics.json") is None
        # recorded but not in the local cache: said so, nothing fetched
        assert view.read("eval/plots/roc.json") is None
        assert view.read("model.pkl") is None
        assert view.source.unreadable("eval/plots/roc.json") == f"{NOT_CACHED} (--offline)"
        assert view.source.unreadable("model.pkl") == f"{NOT_CACHED} (--offline)"
        assert view.source.exists("model.pkl")
        # not recorded anywhere: simply absent
        assert view.read("eval/other.json") is None
        assert view.source.unreadable("eval/other.json") is None
        assert not view.source.exists("eval/other.json")
        assert view.metrics() == {"roc_auc.train": 0.9, "roc_auc.test": 0.8, "loss.valid": 0.3}
        assert project.dvc is not None and project.dvc.fetches == 0


def test_manifest_not_local_reads_nothing_offline(tmp_path: Path) -> None:
    project, eval_oid = _project(tmp_path / "p")
    assert project.dvc is not None
    project.dvc.object_path(eval_oid).unlink()
    with offline():
        view = Project(project.root).at("main")
        assert view.read("eval/metrics.json") is None
        assert view.source.unreadable("eval/metrics.json") == f"{NOT_CACHED} (--offline)"


def test_no_remote_says_the_fetch_failed(tmp_path: Path) -> None:
    project, _ = _project(tmp_path / "p")
    view = project.at("main")
    assert view.read("model.pkl") is None
    reason = view.source.unreadable("model.pkl")
    assert reason is not None and reason.startswith(f"{NOT_CACHED} (fetching from the DVC remote failed: ")
    assert project.dvc is not None and project.dvc.fetches == 1
    assert view.read("eval/plots/roc.json") is None
    assert project.dvc.fetches == 1  # a failed remote is not tried again by the same command


def test_bad_manifest_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, eval_oid = _project(tmp_path / "p")
    assert project.dvc is not None
    path = project.dvc.object_path(eval_oid)
    monkeypatch.setenv("GRAFT_LIMIT_DVC_DIR_MANIFEST_BYTES", "10")
    with offline(), pytest.raises(DataError) as excinfo:
        Project(project.root).at("main").read("eval/metrics.json")
    assert str(excinfo.value) == (
        f"{path}: DVC directory manifest larger than 10 bytes "
        "(GRAFT_LIMIT_DVC_DIR_MANIFEST_BYTES raises the bound)"
    )
    monkeypatch.delenv("GRAFT_LIMIT_DVC_DIR_MANIFEST_BYTES")
    path.write_bytes(b'[{"relpath": "metrics.json"}]')
    with offline(), pytest.raises(DataError) as excinfo:
        Project(project.root).at("main").read("eval/metrics.json")
    assert str(excinfo.value) == f"{path}: not a DVC directory manifest (KeyError)"


def test_cache_dir_from_config_and_config_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    (root / ".dvc").mkdir(parents=True)
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    assert config_cache_dir(root) == root / ".dvc" / "cache"
    (tmp_path / "global").mkdir()
    (tmp_path / "global" / "config").write_text("[cache]\n    dir = user-cache\n")
    assert config_cache_dir(root) == tmp_path / "global" / "user-cache"
    (root / ".dvc" / "config").write_text("[core]\n    remote = s\n[cache]\n    dir = ../../shared\n")
    assert config_cache_dir(root) == (tmp_path / "shared").resolve()
    (root / ".dvc" / "config.local").write_text("[cache]\n    dir = /abs/cache\n")
    assert config_cache_dir(root) == Path("/abs/cache")
    oid = "ab" + "c" * 30
    assert DvcCache(root, offline=True).object_path(oid) == Path("/abs/cache/files/md5/ab") / ("c" * 30)


@pytest.mark.parametrize(
    ("key", "direction"),
    [
        ("roc_auc.test", "higher"),
        ("avg_prec.test", "higher"),
        ("loss.valid", "lower"),
        ("train.loss", "lower"),
        ("eval/metrics.json:acc.val", "higher"),
        ("rmse", "lower"),
        ("step", None),
        ("test", None),
    ],
)
def test_direction_from_any_segment(key: str, direction: str | None) -> None:
    assert guess_direction(key) == direction


def test_split_and_headline_prefer_held_out_metrics() -> None:
    assert split_of("roc_auc.test") == ("roc_auc", "test")
    assert split_of("metrics.json:valid.loss") == ("loss", "valid")
    assert split_of("roc_auc") == ("roc_auc", None)
    keys = ["avg_prec.train", "avg_prec.test", "roc_auc.train", "roc_auc.test"]
    assert guess_headline("binary", keys) == ["roc_auc.test", "avg_prec.test"]
    assert guess_headline("binary", ["loss.train", "loss.valid", "acc.valid"]) == ["loss.valid", "acc.valid"]
    assert guess_headline("binary", ["log_loss", "roc_auc", "f1"]) == ["roc_auc", "log_loss"]


# what dvclive 3.49 writes with Live("dvclive", dvcyaml="dvclive/dvc.yaml")
DVCLIVE_YAML = b"""metrics:
- metrics.json
plots:
- plots/sklearn/roc/valid.json:
    template: simple
    x: fpr
    y: tpr
    title: Receiver operating characteristic (ROC)
"""
DVCLIVE_METRICS = b'{"loss": {"train": 0.2, "valid": 0.3}, "acc": {"valid": 0.9}}\n'


def test_dvc_yaml_files_in_subfolders_are_read_as_dvc_reads_them(tmp_path: Path) -> None:
    """dvclive's own dvclive/dvc.yaml (metrics in Git), and a sub-project's dvc.yaml whose
    dvc.lock records a DVC-cached metrics file (paths relative to its folder)."""
    project, _ = _project(tmp_path / "p")
    repo = project.repo
    sub_metrics = b'{"rmse": 1.5}\n'
    sub_lock = {
        "schema": "2.0",
        "stages": {
            "fit": {
                "cmd": "python fit.py",
                "outs": [{"path": "out/m.json", "hash": "md5", "md5": _md5(sub_metrics)}],
            }
        },
    }
    sub_yaml = (
        b"stages:\n  fit:\n    cmd: python fit.py\n    params: [fit.depth]\n    metrics: [out/m.json]\n"
    )
    commit_files(
        repo,
        "main",
        {
            "dvclive/dvc.yaml": DVCLIVE_YAML,
            "dvclive/metrics.json": DVCLIVE_METRICS,
            "dvclive/plots/sklearn/roc/valid.json": b'{"roc": []}',
            "sub/dvc.yaml": sub_yaml,
            "sub/dvc.lock": yaml.safe_dump(sub_lock).encode(),
            "sub/params.yaml": b"fit:\n  depth: 3\n",
        },
        "dvclive and a sub-project",
        parent=repo.revparse_single("main").peel(pygit2.Commit),
    )
    assert project.dvc is not None
    _put(project.dvc.cache_dir, _md5(sub_metrics), sub_metrics)
    with offline():
        view = project.at("main")
        pipeline = view.pipeline
        assert pipeline.metrics == ("eval/metrics.json", "dvclive/metrics.json", "sub/out/m.json")
        assert pipeline.plots == ("dvclive/plots/sklearn/roc/valid.json",)
        assert list(pipeline.stages) == ["evaluate", "sub/dvc.yaml:fit"]
        assert pipeline.params["sub/params.yaml"] == ("fit.depth",)
        assert view.metrics_file == "dvclive/metrics.json"  # inferred: the last named metrics*
        assert view.metrics() == {
            "loss.train": 0.2,
            "loss.valid": 0.3,
            "acc.valid": 0.9,
            "eval/metrics.json:roc_auc.train": 0.9,
            "eval/metrics.json:roc_auc.test": 0.8,
            "eval/metrics.json:loss.valid": 0.3,
            "sub/out/m.json:rmse": 1.5,
        }
        assert view.all_params["sub/params.yaml:fit.depth"] == 3
        # dvclive's declared plot comes with its folder's path, as DVC names it
        assert [d.id for d in pipeline.plot_definitions] == ["dvclive/plots/sklearn/roc/valid.json"]

    # a .dvcignore'd folder's dvc.yaml is not DVC's (this repository's test fixtures): left out
    commit_files(
        repo,
        "main",
        {".dvcignore": b"# fixtures\nsub/\n"},
        "ignore the sub-project",
        parent=repo.revparse_single("main").peel(pygit2.Commit),
    )
    with offline():
        pipeline = project.at("main").pipeline
        assert list(pipeline.stages) == ["evaluate"]
        assert pipeline.metrics == ("eval/metrics.json", "dvclive/metrics.json")


TEMPLATED = """
vars:
  - models: [lr, svm]
    out: eval
stages:
  train:
    foreach: ${models}
    do:
      cmd: python train.py ${item}
      params: [train]
      outs:
        - ${out}/${item}/model.pkl
      metrics:
        - ${out}/${item}/metrics.json:
            cache: false
  score:
    foreach:
      small: {rows: 10}
      big: {rows: 100}
    do:
      cmd: python score.py ${item.rows}
      outs:
        - scores/${key}.csv
  sweep:
    matrix:
      lr: [0.1, 0.01]
      flag: [true, false]
      cfg: [{a: 1}]
    cmd: python sweep.py ${item.lr} ${item.flag}
    plots:
      - sweeps/${item.lr}-${item.flag}.json
"""


def test_foreach_and_matrix_expand_as_dvc_expands_them(tmp_path: Path) -> None:
    """Stage names and declared files match DVC's own parser (dvc.repo.Repo's index)."""
    from dvc.repo import Repo

    from graft.project.dvcfile import parse_pipeline

    root = tmp_path / "p"
    root.mkdir()
    (root / "dvc.yaml").write_text(TEMPLATED)
    (root / "params.yaml").write_text("train: {seed: 1}\n")
    Repo.init(str(root), no_scm=True)
    with Repo(str(root)) as repo:
        theirs = {
            stage.name: sorted(str(Path(o.fs_path).relative_to(root)) for o in stage.outs)
            for stage in repo.index.stages
        }
    ours = parse_pipeline(yaml.safe_load(TEMPLATED), {"train": {"seed": 1}})
    assert {name: sorted(s.outs + s.metrics + s.plots) for name, s in ours.stages.items()} == theirs
    assert list(ours.stages) == [
        "train@lr",
        "train@svm",
        "score@small",
        "score@big",
        "sweep@0.1-true-cfg0",
        "sweep@0.1-false-cfg0",
        "sweep@0.01-true-cfg0",
        "sweep@0.01-false-cfg0",
    ]
    assert ours.metrics == ("eval/lr/metrics.json", "eval/svm/metrics.json")
    assert ours.stages["score@big"].cmd == "python score.py 100"


ODD_LOCK = b"""schema: '2.0'
stages:
  train@lr:
    cmd:
    - python train.py lr
    - echo done
    params:
      params.yaml:
        outs: 3
        text: |-
          - path: not/an/output
    outs:
    - path: 'models/lr model.pkl'
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 10
    - path: "eval/lr"
      md5: 89abcdef0123456789abcdef01234567.dir
      nfiles: 2
    - path: no-hash-yet
  other:
    cmd: >-
      python other.py
    outs:
    - path: out.json
      hash: md5
      md5: fedcba9876543210fedcba9876543210
"""


@pytest.mark.parametrize(
    "data",
    [Path(__file__).resolve().parents[2].joinpath("dvc.lock").read_bytes(), ODD_LOCK],
    ids=["reference-project", "odd"],
)
def test_lock_scan_equals_a_yaml_parse(data: bytes) -> None:
    from graft.project.dvccache import outputs_of, scan_lock_outputs
    from graft.project.lock import Lock

    scanned = scan_lock_outputs(data, "sub")
    assert scanned is not None
    assert scanned == outputs_of(Lock.parse(data).stages, "sub")


def test_lock_scan_leaves_other_yaml_to_the_parser() -> None:
    from graft.project.dvccache import scan_lock_outputs

    assert scan_lock_outputs(b"stages:\n  a:\n    outs: [{path: x, md5: y}]\n") is None
    assert scan_lock_outputs(b"stages:\n  a:\n    outs:\n    - path: &anchor x\n") is None
    assert scan_lock_outputs(b"stages:\n\ta:\n") is None
    assert scan_lock_outputs(b"stages:\n  a:\n    outs:\n    - md5: abc\n") is None
    # a list root, an unknown schema or top-level key: Lock.parse refuses them naming the file
    assert scan_lock_outputs(b"- stages\n") is None
    assert scan_lock_outputs(b"schema: '9.0'\nstages:\n  a:\n    cmd: x\n") is None
    assert scan_lock_outputs(b"other: 1\nstages:\n  a:\n    cmd: x\n") is None
    assert scan_lock_outputs(b"schema: '2.0'\nstages:\n  a:\n    cmd: x\n") == []


def test_vars_files_resolve_as_dvc_resolves_them(tmp_path: Path) -> None:
    from dvc.repo import Repo

    root = tmp_path / "p"
    root.mkdir()
    (root / "dvc.yaml").write_text(
        "vars:\n  - config.yaml:paths\n  - extra.json\n  - {suffix: csv}\n"
        "stages:\n  make:\n    cmd: python make.py\n    outs:\n      - ${paths.out}/${name}.${suffix}\n"
        "    metrics:\n      - ${paths.out}/metrics.json\n"
    )
    (root / "config.yaml").write_text("paths: {out: results}\nunused: {out: elsewhere}\n")
    (root / "extra.json").write_text('{"name": "table"}')
    (root / "params.yaml").write_text("seed: 1\n")
    Repo.init(str(root), no_scm=True)
    with Repo(str(root)) as repo:
        (stage,) = repo.index.stages
        theirs = sorted(str(Path(o.fs_path).relative_to(root)) for o in stage.outs)
    pipeline = Project(root).work().pipeline
    assert sorted([*pipeline.stages["make"].outs, *pipeline.stages["make"].metrics]) == theirs
    assert theirs == ["results/metrics.json", "results/table.csv"]

    (root / "extra.json").unlink()
    with pytest.raises(DataError, match=r"^dvc.yaml: vars file 'extra.json' not found$"):
        _ = Project(root).work().pipeline


def _dvclive_workspace(root: Path, manifest_local: bool) -> None:
    """A working tree whose `evaluate` stage writes eval/ (a DVC-cached directory output) with
    dvclive's metrics and the test predictions inside it, as after `dvc repro`."""
    predictions = b"id,label,score\n1,0,0.2\n2,1,0.9\n"
    (root / ".dvc").mkdir(parents=True)
    pygit2.init_repository(str(root), initial_head="main")
    entries = [
        {"md5": _md5(METRICS), "relpath": "metrics.json"},
        {"md5": _md5(predictions), "relpath": "predictions.csv"},
    ]
    manifest = json.dumps(entries, sort_keys=True).encode()
    oid = _md5(manifest) + ".dir"
    if manifest_local:
        _put(root / ".dvc" / "cache", oid, manifest)
    (root / "dvc.yaml").write_text(
        "stages:\n  evaluate:\n    cmd: python evaluate.py\n    outs: [eval]\nmetrics: [eval/metrics.json]\n"
    )
    out = {"path": "eval", "hash": "md5", "md5": oid}
    lock = {"schema": "2.0", "stages": {"evaluate": {"cmd": "python evaluate.py", "outs": [out]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / "eval").mkdir()
    (root / "eval" / "metrics.json").write_bytes(METRICS)
    (root / "eval" / "predictions.csv").write_bytes(predictions)


def test_init_finds_predictions_inside_a_dvc_cached_directory_output(tmp_path: Path) -> None:
    from graft.project.init import plan_init

    _dvclive_workspace(tmp_path / "p", manifest_local=True)
    plan = plan_init(tmp_path / "p")
    written = yaml.safe_load(plan.files["graft.yaml"])
    assert written["predictions"] == {
        "path": "eval/predictions.csv",
        "id": "id",
        "label": "label",
        "score": "score",
    }
    assert (
        "predictions.path: eval/predictions.csv (a file named like predictions inside the stage output eval)"
        in plan.notes
    )


def test_init_without_the_manifest_locally_guesses_no_predictions(tmp_path: Path) -> None:
    from graft.project.init import plan_init

    _dvclive_workspace(tmp_path / "p", manifest_local=False)
    plan = plan_init(tmp_path / "p")
    assert yaml.safe_load(plan.files["graft.yaml"])["predictions"]["path"] is None
    assert (
        "predictions.path: None (no stage output is named like predictions; the report skips the bootstrap)"
        in plan.notes
    )
