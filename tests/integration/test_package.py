"""`graft package` on a real pipeline run: determinism, contents, lineage, refusals, verification."""

import hashlib
import json
import re
import shutil
import tarfile

import pytest
import yaml

from graft import api
from graft.cli import main
from graft.release.package import PackageError, verify_folder
from tests.conftest import git
from tests.releasing import set_setting

pytestmark = pytest.mark.slow

CODE = {"code/stages/serving.py", "code/stages/schema.py", "code/stages/features.py", "code/stages/models.py"}
FILES = {
    "MODEL_CARD.md",
    "fairness.json",
    "features.json",
    "manifest.json",
    "metrics.json",
    "model.txt",
    "params.yaml",
    "reference.json",
    "reference.parquet",
    "schema.json",
    "settings.json",
    "test_predictions.parquet",
    *CODE,
}


def md5(path):
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def members(archive):
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def lock_outs(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for s in lock["stages"].values() for o in s.get("outs", [])}


@pytest.fixture
def built(pipeline_copy, tmp_path):
    return api.package(pipeline_copy, tmp_path / "dist", version="1.2.3")


def test_two_builds_are_byte_identical(pipeline_copy, tmp_path):
    first = api.package(pipeline_copy, tmp_path / "a", version="1.0.0")
    second = api.package(pipeline_copy, tmp_path / "b", version="1.0.0")
    assert first.path.name == second.path.name == "adult-income-1.0.0.tar.gz"
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()


def test_contents_and_manifest_hashes(built):
    files = members(built.path)
    assert set(files) == {f"adult-income-1.2.3/{name}" for name in FILES}
    manifest = json.loads(files["adult-income-1.2.3/manifest.json"])
    assert set(manifest["files"]) == FILES - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[f"adult-income-1.2.3/{name}"]).hexdigest() == digest, name
    assert (manifest["model"], manifest["version"]) == ("adult-income", "1.2.3")
    with tarfile.open(built.path, "r:gz") as tar:
        assert {(m.uid, m.gid, m.mode) for m in tar.getmembers()} == {(0, 0, 0o644)}


def test_lineage_matches_head_and_dvc_lock(pipeline_copy, built):
    manifest = json.loads(members(built.path)["adult-income-1.2.3/manifest.json"])
    lineage = manifest["lineage"]
    assert lineage["git_commit"] == git(pipeline_copy, "rev-parse", "HEAD")
    assert lineage["git_dirty"] is False
    lock = yaml.safe_load((pipeline_copy / "dvc.lock").read_text())
    ingest_deps = {d["path"]: d["md5"] for d in lock["stages"]["ingest"]["deps"]}
    assert lineage["data"] == {
        p: ingest_deps[p] for p in ("data/raw/adult.data.gz", "data/raw/adult.test.gz")
    }
    assert lineage["data"]["data/raw/adult.data.gz"] == md5(pipeline_copy / "data/raw/adult.data.gz")
    assert lineage["outputs"]["models/model.txt"] == lock_outs(pipeline_copy)["models/model.txt"]
    assert lineage["params"] == yaml.safe_load((pipeline_copy / "params.yaml").read_text())
    assert (manifest["task"], manifest["model_file"], manifest["adapter"]) == (
        "binary",
        "model.txt",
        "code/stages/serving.py",
    )


def test_serving_code_is_the_committed_code(pipeline_copy, built):
    """The package ships the project's own serving code, byte for byte as HEAD holds it, and the
    schema its adapter derives from params.yaml."""
    files = members(built.path)
    for name in CODE:
        path = name.removeprefix("code/")
        assert (
            files[f"adult-income-1.2.3/{name}"].decode() == git(pipeline_copy, "show", f"HEAD:{path}") + "\n"
        )
    schema = json.loads(files["adult-income-1.2.3/schema.json"])
    params = yaml.safe_load((pipeline_copy / "params.yaml").read_text())
    assert schema["properties"]["age"] == {"type": "integer", "minimum": 17, "maximum": 90}
    assert schema["properties"]["age"]["maximum"] == params["validate"]["ranges"]["age"][1]
    settings = json.loads(files["adult-income-1.2.3/settings.json"])
    assert settings["task"] == {"type": "binary", "labels": ["<=50K", ">50K"], "threshold": 0.5}
    reference = json.loads(files["adult-income-1.2.3/reference.json"])
    assert reference["predictions"]["positive_rate"] > 0 and reference["rows"] > 20000


def test_model_card_contains_the_metrics(pipeline_copy, built):
    card = members(built.path)["adult-income-1.2.3/MODEL_CARD.md"].decode()
    metrics = json.loads((pipeline_copy / "metrics/metrics.json").read_text())
    assert "# Model card: adult-income 1.2.3" in card
    for key in ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1"):
        assert f"| {key} | {metrics[key]:.4f} |" in card
    assert git(pipeline_copy, "rev-parse", "HEAD") in card


def test_refuses_a_stale_output_naming_it(pipeline_copy, tmp_path):
    model = pipeline_copy / "models/model.txt"
    model.chmod(0o644)
    model.write_text(model.read_text() + "\n")
    with pytest.raises(PackageError, match=r"models/model\.txt does not match dvc\.lock"):
        api.package(pipeline_copy, tmp_path / "dist")


def test_refuses_a_dirty_tree_unless_allowed(pipeline_copy, tmp_path):
    (pipeline_copy / "README.md").write_text("edited\n")
    with pytest.raises(PackageError, match=r"README\.md.*--allow-dirty"):
        api.package(pipeline_copy, tmp_path / "dist")
    result = api.package(pipeline_copy, tmp_path / "dist", allow_dirty=True)
    manifest = json.loads(members(result.path)[f"{result.name}-{result.version}/manifest.json"])
    assert manifest["lineage"]["git_dirty"] is True


def test_refuses_a_bad_version(pipeline_copy, tmp_path, capsys):
    with pytest.raises(PackageError, match=re.escape("version '1.0' is not of the form X.Y.Z")):
        api.package(pipeline_copy, tmp_path / "dist", version="1.0")
    assert main(["package", "-C", str(pipeline_copy), "--version", "v1", "--out", str(tmp_path)]) == 3
    assert "version 'v1'" in capsys.readouterr().err


def test_default_version_names_the_commit(pipeline_copy, tmp_path, capsys):
    head = git(pipeline_copy, "rev-parse", "HEAD")
    assert main(["package", "-C", str(pipeline_copy), "--out", str(tmp_path)]) == 0
    assert f"adult-income-0.0.0+g{head[:8]}.tar.gz" in capsys.readouterr().out


def test_refuses_an_unknown_model_artifact(pipeline_copy, tmp_path):
    from graft.core.errors import ParamsError

    set_setting(pipeline_copy, "package.model", "income")
    with pytest.raises(ParamsError, match=r"package\.model 'income' is not an artifact in dvc\.yaml"):
        api.package(pipeline_copy, tmp_path / "dist", allow_dirty=True)
    assert not (tmp_path / "dist").exists()


@pytest.fixture
def unpacked(built, tmp_path):
    loaded = api.open_package(built.path, tmp_path / "unpacked")
    assert loaded.manifest["version"] == "1.2.3"
    return loaded.root


def test_load_package_refuses_a_tampered_file(unpacked):
    (unpacked / "model.txt").write_text((unpacked / "model.txt").read_text().replace("tree", "Tree", 1))
    with pytest.raises(PackageError, match=re.escape("file 'model.txt' does not match its SHA-256")):
        verify_folder(unpacked)


def test_load_package_refuses_a_missing_file(unpacked):
    (unpacked / "metrics.json").unlink()
    with pytest.raises(
        PackageError, match=re.escape("file 'metrics.json' listed in the manifest is missing")
    ):
        api.open_package(unpacked)


def test_load_package_refuses_an_extra_file(unpacked):
    (unpacked / "notes.txt").write_text("extra")
    with pytest.raises(PackageError, match=re.escape("file 'notes.txt' is not listed in the manifest")):
        api.open_package(unpacked)


def test_load_package_refuses_a_tampered_archive(built, tmp_path):
    folder = tmp_path / "repack"
    with tarfile.open(built.path, "r:gz") as tar:
        tar.extractall(folder, filter="data")
    inner = folder / "adult-income-1.2.3"
    (inner / "schema.json").write_text("{}")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        tar.add(inner, arcname="adult-income-1.2.3")
    with pytest.raises(PackageError, match=re.escape("file 'schema.json' does not match")):
        api.open_package(tampered, tmp_path / "out")
    shutil.rmtree(folder)


def test_the_lightgbm_model_reproduces_every_committed_test_prediction(pipeline_copy, built):
    """The reference table (every validated row) holds the test rows' raw inputs: `graft package`
    encodes them with the shipped adapter and predicts them with the packaged model."""
    import lightgbm
    import pandas as pd

    manifest = json.loads(members(built.path)["adult-income-1.2.3/manifest.json"])
    committed = pd.read_parquet(pipeline_copy / "metrics" / "predictions.parquet")
    assert manifest["flavour"] == {
        "name": "lightgbm",
        "framework": "lightgbm",
        "version": lightgbm.__version__,
    }
    assert manifest["prediction_check"]["rows"] == len(committed) > 16_000
    assert manifest["prediction_check"]["max_abs_difference"] <= 1e-12
    assert built.prediction_check == manifest["prediction_check"]
