"""diff, report and gate on projects that are not the reference pipeline (no pipeline run).

Two throwaway Git + DVC layouts, committed file by file, with predictions from real scikit-learn
models on data sets bundled with scikit-learn:

* a regression project (diabetes): params in ``config/model.yaml`` (no params.yaml), metrics at
  ``eval/metrics.json`` declared only as a stage's metrics in dvc.yaml, CSV predictions;
* a multiclass project (iris): headline metrics at ``results/summary.json`` (top-level
  ``metrics:`` of dvc.yaml), per-class metrics in a second file (keys ``path:key``), Parquet
  predictions with one probability column per class and class names in the label column.

Expected values are computed here with scikit-learn from the committed predictions.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    recall_score,
)

from graft import api
from graft.cli import main
from graft.compare.report import MARKER
from graft.core.errors import DataError, ParamsError
from tests.conftest import git

# --- building the projects -----------------------------------------------------------------------


def write(root: Path, files: dict[str, bytes | str | None]) -> None:
    for rel, data in files.items():
        path = root / rel
        if data is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def commit(root: Path, branch: str, files: dict[str, bytes | str | None], parent: str = "main") -> None:
    """Commit ``files`` (None: delete) on ``branch``, forked from ``parent``; back on main after."""
    if branch == "main" and not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    elif branch != "main":
        git(root, "switch", "-q", "-c", branch, parent)
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"{branch}: results")
    git(root, "switch", "-q", "main")


def as_json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def as_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def lock(data_md5: str) -> str:
    return as_yaml(
        {
            "schema": "2.0",
            "stages": {
                "fit": {
                    "cmd": "python src/fit.py",
                    "deps": [
                        {"path": "data/diabetes.csv", "hash": "md5", "md5": data_md5, "size": 1},
                        {"path": "src/fit.py", "hash": "md5", "md5": "c" * 32, "size": 1},
                    ],
                    "params": {"config/model.yaml": {"features": "..."}},
                    "outs": [{"path": "models/model.pkl", "hash": "md5", "md5": "d" * 32, "size": 1}],
                }
            },
        }
    )


REGRESSION_DVC = {
    "stages": {
        "fit": {
            "cmd": "python src/fit.py",
            "deps": ["data/diabetes.csv", "src/fit.py"],
            "params": [{"config/model.yaml": ["features"]}],
            "outs": ["models/model.pkl"],
        },
        "score": {
            "cmd": "python src/score.py",
            "deps": ["models/model.pkl", "data/diabetes.csv", "src/score.py"],
            "outs": [{"eval/predictions.csv": {"cache": False}}],
            "metrics": [{"eval/metrics.json": {"cache": False}}],
        },
    },
    "artifacts": {"diabetes-progression": {"path": "models/model.pkl", "type": "model"}},
}
REGRESSION_SETTINGS = {
    "task": {"type": "regression"},
    "metrics": {
        "file": "eval/metrics.json",
        "headline": ["rmse", "r2"],
        "rules": {
            "rmse": {"direction": "lower", "tolerance": 0.5},
            "r2": {"direction": "higher", "tolerance": 0.01},
            "mae": {"direction": "lower", "tolerance": 0.5},
        },
    },
    "gate": {"thresholds": {"r2": {"min": 0.3}}},
    "predictions": {"path": "eval/predictions.csv", "id": "idx", "label": "target", "score": "predicted"},
}
DIABETES = load_diabetes(as_frame=True).frame
TRAIN, TEST = DIABETES.iloc[:300], DIABETES.iloc[300:]


def regression_outputs(features: list[str], noise: float = 0.0) -> tuple[dict[str, str], np.ndarray]:
    model = LinearRegression().fit(TRAIN[features], TRAIN["target"])
    predicted = model.predict(TEST[features]) + np.random.default_rng(0).normal(0, noise, len(TEST))
    y = TEST["target"].to_numpy()
    metrics = {
        "rmse": round(float(np.sqrt(mean_squared_error(y, predicted))), 6),
        "mae": round(float(mean_absolute_error(y, predicted)), 6),
        "r2": round(float(r2_score(y, predicted)), 6),
        "rows": len(y),
    }
    frame = pd.DataFrame({"idx": TEST.index.to_numpy(), "target": y, "predicted": predicted})
    files = {
        "config/model.yaml": as_yaml({"features": features, "noise": noise}),
        "eval/metrics.json": as_json(metrics),
        "eval/predictions.csv": frame.to_csv(index=False),
    }
    return files, predicted


@pytest.fixture(scope="module")
def regression(tmp_path_factory, module_env) -> dict:
    root = tmp_path_factory.mktemp("regression") / "project"
    root.mkdir()
    weak, p_weak = regression_outputs(["bmi", "bp"])
    full, p_full = regression_outputs([c for c in DIABETES.columns if c != "target"])
    noisy, p_noisy = regression_outputs(["bmi"], noise=40.0)
    commit(
        root,
        "main",
        {
            ".dvc/config": "",
            "dvc.yaml": as_yaml(REGRESSION_DVC),
            "graft.yaml": as_yaml(REGRESSION_SETTINGS),
            "dvc.lock": lock("a" * 32),
            **weak,
        },
    )
    commit(root, "exp/full", {**full, "dvc.lock": lock("b" * 32)})
    commit(root, "exp/noisy", noisy)
    commit(root, "exp/nosettings", {"graft.yaml": None})
    with_quantile = {**REGRESSION_SETTINGS, "report": {"quantiles": [0.9], "adjust": "none"}}
    commit(root, "exp/quantile", {**full, "graft.yaml": as_yaml(with_quantile)})
    return {"root": root, "y": TEST["target"].to_numpy(), "weak": p_weak, "full": p_full, "noisy": p_noisy}


def values(result, key):
    row = next(r for r in result.rows if r.key == key)
    return {c.name: cell for c, cell in zip(result.columns, row.cells, strict=True)}


def test_regression_diff_reads_declared_metrics_and_params_files(regression):
    root, y = regression["root"], regression["y"]
    result = api.diff(root, ["exp/full", "exp/noisy"])
    rmse = values(result, "rmse")
    full_rmse = round(float(np.sqrt(mean_squared_error(y, regression["full"]))), 6)
    assert rmse["exp/full"].value == full_rmse and rmse["exp/full"].best
    assert not rmse["main"].best and not rmse["exp/noisy"].best
    assert values(result, "r2")["exp/full"].best  # higher is better
    assert values(result, "config/model.yaml:noise")["exp/noisy"].value == 40.0
    directions = {r.key: r.direction for r in result.rows if r.section == "metrics"}
    assert directions == {"mae": "lower", "r2": "higher", "rmse": "lower", "rows": None}


def test_regression_diff_without_graft_yaml_uses_inferred_settings(regression, capsys):
    assert main(["diff", "-C", str(regression["root"]), "--base", "exp/nosettings", "exp/full"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("r2 "))
    # the only metrics file dvc.yaml declares is the headline; r2's direction guessed: higher
    y = regression["y"]
    weak, full = (round(float(r2_score(y, regression[k])), 6) for k in ("weak", "full"))
    assert line.split() == ["r2", f"{weak:.6g}", f"{full:.6g}", "*", f"({full - weak:+.6g})"]
    assert "no metrics" not in out


def test_regression_gate_verdicts(regression, capsys):
    root = regression["root"]
    assert api.gate("main", head="exp/full", cwd=root).passed
    report = api.gate("main", head="exp/noisy", cwd=root)
    failed = {(c.metric, c.kind) for c in report.failures}
    assert failed == {
        ("rmse", "regression"),
        ("mae", "regression"),
        ("r2", "regression"),
        ("r2", "threshold"),
    }
    noisy_r2 = r2_score(regression["y"], regression["noisy"])
    (threshold,) = [c for c in report.failures if c.kind == "threshold"]
    assert threshold.head == pytest.approx(noisy_r2, abs=1e-6) and noisy_r2 < 0.3


def test_regression_report_bootstraps_a_configured_error_quantile(regression):
    root, y = regression["root"], regression["y"]
    result = api.report(root, base="main", head="exp/quantile", resamples=200)
    boot = result.context["bootstrap"]
    assert list(boot["metrics"]) == ["rmse", "mae", "r2", "abs_error_q90"] and boot["adjust"] == "none"
    q90 = boot["metrics"]["abs_error_q90"]
    for side, predicted in (("base", regression["weak"]), ("head", regression["full"])):
        assert q90[side] == pytest.approx(np.quantile(np.abs(predicted - y), 0.9, method="inverted_cdf"))
    row = next(r for r in result.context["metrics"] if r["key"] == "abs_error_q90")
    assert row["direction"] == "lower" and row["from_predictions"] and row["verdict"]["basis"] == "bootstrap"
    assert row["verdict"]["adjusted"] is False  # report.adjust: none
    assert "Not adjusted for multiple comparisons (`report.adjust: none`)" in result.markdown


def test_regression_report_bootstraps_rmse_mae_r2(regression):
    root, y = regression["root"], regression["y"]
    result = api.report(root, base="main", head="exp/full", resamples=300)
    boot = result.context["bootstrap"]
    assert boot["available"] and boot["rows"] == len(y) and boot["id"] == "idx"
    assert list(boot["metrics"]) == ["rmse", "mae", "r2"]
    weak, full = regression["weak"], regression["full"]
    expected = {
        "rmse": (np.sqrt(mean_squared_error(y, weak)), np.sqrt(mean_squared_error(y, full))),
        "mae": (mean_absolute_error(y, weak), mean_absolute_error(y, full)),
        "r2": (r2_score(y, weak), r2_score(y, full)),
    }
    for metric, (base, head) in expected.items():
        ci = boot["metrics"][metric]
        assert (ci["base"], ci["head"]) == (pytest.approx(base, rel=1e-9), pytest.approx(head, rel=1e-9))
        assert ci["low"] <= ci["delta"] <= ci["high"]
    md = result.markdown
    assert md.startswith(MARKER)
    verdict = md.splitlines()[3]
    assert verdict.startswith("✅ **Gate passed**")
    rmse = boot["metrics"]["rmse"]
    assert f"RMSE {rmse['delta']:+.4f} (95% CI [{rmse['low']:+.4f}, {rmse['high']:+.4f}])" in verdict
    assert " · R² " in verdict
    row = next(ln for ln in md.splitlines() if ln.startswith("| `r2` |"))
    assert row.split("|")[2].strip() == f"{r2_score(y, weak):.4f}"
    # data inputs from dvc.lock, params from the declared params file, no binary-only sections
    assert re.search(r"\| `data/diabetes.csv` \| aaaaaaaa \| bbbbbbbb \| changed \|", md)
    assert "| `config/model.yaml:features` |" in md
    assert "### Fairness" not in md and "ROC" not in md
    errors = result.context["errors"]
    assert errors["head"]["mae"] == pytest.approx(mean_absolute_error(y, full))
    assert errors["base"]["bias"] == pytest.approx(float(np.mean(weak - y)))
    assert "### Errors on the test rows" in md


def test_regression_report_names_a_bad_predictions_file(regression, tmp_path):
    root = regression["root"]
    bad = "idx,target,predicted\n300,151.0,oops\n"
    commit(root, "exp/badpreds", {"eval/predictions.csv": bad})
    with pytest.raises(DataError, match=r"exp/badpreds:eval/predictions.csv: score column\(s\) predicted"):
        api.report(root, head="exp/badpreds", resamples=10)
    renamed = pd.DataFrame({"idx": [300], "y": [1.0], "predicted": [2.0]}).to_csv(index=False)
    commit(root, "exp/renamed", {"eval/predictions.csv": renamed})
    with pytest.raises(DataError, match=r"exp/renamed:eval/predictions.csv: cannot read columns idx, target"):
        api.report(root, head="exp/renamed", resamples=10)


# --- multiclass ----------------------------------------------------------------------------------

CLASSES = ["setosa", "versicolor", "virginica"]
MULTICLASS_DVC = {
    "stages": {
        "evaluate": {
            "cmd": "python -m pipeline.evaluate",
            "deps": ["pipeline/evaluate.py"],
            "params": ["model"],
            "outs": [{"results/predictions.parquet": {"cache": False}}],
            "metrics": [{"results/per_class.json": {"cache": False}}],
        }
    },
    "metrics": ["results/summary.json"],
}
MULTICLASS_SETTINGS = {
    "task": {"type": "multiclass", "labels": CLASSES},
    "metrics": {
        "file": "results/summary.json",
        "headline": ["macro_f1", "log_loss"],
        "rules": {
            "macro_f1": {"direction": "higher", "tolerance": 0.02},
            "log_loss": {"direction": "lower", "tolerance": 0.05},
            "results/per_class.json:recall.virginica": {"direction": "higher", "tolerance": 0.05},
        },
    },
    "gate": {"thresholds": {"accuracy": {"min": "${model.min_accuracy}"}}},
    "predictions": {
        "path": "results/predictions.parquet",
        "id": "sample",
        "label": "species",
        "score": [f"p_{c}" for c in CLASSES],
    },
}
IRIS = load_iris(as_frame=True)
IRIS_X = IRIS.frame.drop(columns="target")
IRIS_Y = np.array(CLASSES)[IRIS.frame["target"].to_numpy()]
IRIS_TRAIN = np.arange(150) % 2 == 0  # every other row trains, the rest is the test set


def multiclass_outputs(features: list[str], c: float) -> tuple[dict[str, bytes | str], np.ndarray]:
    model = LogisticRegression(C=c, max_iter=1000).fit(IRIS_X.loc[IRIS_TRAIN, features], IRIS_Y[IRIS_TRAIN])
    assert list(model.classes_) == CLASSES
    proba = model.predict_proba(IRIS_X.loc[~IRIS_TRAIN, features])
    y = IRIS_Y[~IRIS_TRAIN]
    predicted = np.array(CLASSES)[proba.argmax(axis=1)]
    recalls = recall_score(y, predicted, labels=CLASSES, average=None)
    summary = {
        "accuracy": round(float(accuracy_score(y, predicted)), 6),
        "log_loss": round(float(log_loss(y, proba, labels=CLASSES)), 6),
        "macro_f1": round(float(f1_score(y, predicted, average="macro")), 6),
    }
    frame = pd.DataFrame({"sample": np.flatnonzero(~IRIS_TRAIN), "species": y})
    for i, name in enumerate(CLASSES):
        frame[f"p_{name}"] = proba[:, i]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    files: dict[str, bytes | str] = {
        "params.yaml": as_yaml({"model": {"features": features, "C": c, "min_accuracy": 0.8}}),
        "results/summary.json": as_json(summary),
        "results/per_class.json": as_json({"recall": dict(zip(CLASSES, map(float, recalls), strict=True))}),
        "results/predictions.parquet": buffer.getvalue(),
    }
    return files, proba


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory, module_env) -> dict:
    root = tmp_path_factory.mktemp("multiclass") / "project"
    root.mkdir()
    weak, p_weak = multiclass_outputs(["sepal width (cm)"], 1.0)
    strong, p_strong = multiclass_outputs(list(IRIS_X.columns), 1.0)
    flat, p_flat = multiclass_outputs(["sepal width (cm)"], 0.001)
    settings = as_yaml(MULTICLASS_SETTINGS)
    commit(
        root, "main", {".dvc/config": "", "dvc.yaml": as_yaml(MULTICLASS_DVC), "graft.yaml": settings, **weak}
    )
    commit(root, "exp/all-features", strong)
    commit(root, "exp/flat", flat)
    y = IRIS_Y[~IRIS_TRAIN]
    return {"root": root, "y": y, "weak": p_weak, "strong": p_strong, "flat": p_flat}


def test_multiclass_diff_shows_headline_bare_and_other_files_as_path_key(multiclass):
    result = api.diff(multiclass["root"], all_experiments=True)
    assert [c.name for c in result.columns] == ["main", "exp/all-features", "exp/flat"]
    f1 = values(result, "macro_f1")
    assert f1["exp/all-features"].best and f1["main"].value < f1["exp/all-features"].value
    virginica = values(result, "results/per_class.json:recall.virginica")
    assert virginica["exp/all-features"].best and virginica["main"].status == "value"
    assert values(result, "model.features")["exp/all-features"].value == list(IRIS_X.columns)


def test_multiclass_gate_with_rules_on_two_files_and_a_params_reference(multiclass, capsys, monkeypatch):
    root = multiclass["root"]
    assert api.gate("main", head="exp/all-features", cwd=root).passed
    report = api.gate("main", head="exp/flat", cwd=root)
    failed = {(c.metric, c.kind) for c in report.failures}
    assert ("log_loss", "regression") in failed and ("accuracy", "threshold") in failed
    monkeypatch.chdir(root)
    assert main(["gate", "--base", "main", "--head", "exp/flat"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("gate FAILED: head exp/flat")
    assert "FAIL accuracy: head" in out and "below the minimum 0.8 (gate.thresholds: min 0.8)" in out


def test_multiclass_report_bootstraps_log_loss_accuracy_macro_f1(multiclass):
    root, y = multiclass["root"], multiclass["y"]
    result = api.report(root, base="main", head="exp/all-features", also=["exp/flat"], resamples=300)
    boot = result.context["bootstrap"]
    per_class_metrics = [f"{m}.{c}" for m in ("precision", "recall", "f1") for c in CLASSES]
    macro = ["log_loss", "accuracy", "macro_f1", "macro_precision", "macro_recall"]
    assert list(boot["metrics"]) == [*macro, *per_class_metrics]
    assert boot["rows"] == 75 and boot["intervals"] == 14
    weak, strong = multiclass["weak"], multiclass["strong"]
    names = np.array(CLASSES)
    expected = {
        "log_loss": (log_loss(y, weak, labels=CLASSES), log_loss(y, strong, labels=CLASSES)),
        "accuracy": (accuracy_score(y, names[weak.argmax(1)]), accuracy_score(y, names[strong.argmax(1)])),
        "macro_f1": (
            f1_score(y, names[weak.argmax(1)], average="macro"),
            f1_score(y, names[strong.argmax(1)], average="macro"),
        ),
    }
    for metric, (base, head) in expected.items():
        ci = boot["metrics"][metric]
        assert (ci["base"], ci["head"]) == (pytest.approx(base, rel=1e-9), pytest.approx(head, rel=1e-9))
        assert ci["low"] <= ci["delta"] <= ci["high"]
    strong_f1 = f1_score(y, names[strong.argmax(1)], labels=CLASSES, average=None)
    assert boot["metrics"]["f1.virginica"]["head"] == pytest.approx(strong_f1[2], rel=1e-9)
    rows = {r["key"]: r for r in result.context["metrics"]}
    assert rows["macro_f1"]["verdict"]["kind"] == "better" and rows["macro_f1"]["basis"] == "bootstrap"
    assert rows["log_loss"]["verdict"]["kind"] == "better"
    assert rows["f1.virginica"]["from_predictions"] and rows["f1.virginica"]["interval"] is not None
    md = result.markdown
    verdict = md.splitlines()[3]
    assert verdict.startswith("✅ **Gate passed**")
    assert re.search(r"macro F1 \+0\.\d{4} \(95% CI \[\+0\.\d{4}, \+0\.\d{4}\]\): \*\*better\*\*", verdict)
    assert "### Fairness" not in md and "ROC" not in md
    per_class = {c["class"]: c for c in result.context["classes"]}
    assert list(per_class) == CLASSES
    strong_recall = recall_score(y, names[strong.argmax(1)], labels=CLASSES, average=None)
    assert per_class["virginica"]["recall"]["head"] == pytest.approx(strong_recall[2])
    assert "| virginica | 25 |" in md
    board = result.context["leaderboard"]
    assert board["sort"] == "macro_f1"
    assert [e["name"] for e in board["entries"]] == ["exp/all-features", "main", "exp/flat"]
    gates = {e["name"]: e["gate"]["passed"] for e in board["entries"]}
    assert gates == {"exp/all-features": True, "main": False, "exp/flat": False}  # accuracy min 0.8


def test_multiclass_labels_outside_the_classes_are_named(multiclass):
    root = multiclass["root"]
    frame = pd.read_parquet(root / "results/predictions.parquet")
    frame.loc[0, "species"] = "rose"
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    commit(root, "exp/rose", {"results/predictions.parquet": buffer.getvalue()})
    with pytest.raises(
        DataError, match=r"exp/rose:results/predictions.parquet: label column 'species' holds 'rose'"
    ):
        api.report(root, head="exp/rose", resamples=10)


def test_report_without_configured_predictions_still_reports_metrics(multiclass):
    root = multiclass["root"]
    settings = {k: v for k, v in MULTICLASS_SETTINGS.items() if k != "predictions"}
    commit(root, "exp/nopredictions", {"graft.yaml": as_yaml(settings)})
    result = api.report(root, head="exp/nopredictions", resamples=10, all_metrics=True)
    assert result.context["bootstrap"] == {
        "available": False,
        "missing": [],
        "reason": "no predictions file is configured (predictions.path)",
    }
    md = result.markdown
    assert " · significance not assessed: no predictions file is configured (predictions.path)" in md
    # no interval: judged against its metrics.rules tolerance only
    assert "| `macro_f1` | 0.5951 | 0.5951 | +0.0000 |  | within tolerance |" in md
    assert "### Per class" not in md and "(95% CI [" not in md


def test_gate_with_nothing_to_check_is_an_error_naming_the_settings(multiclass):
    root = multiclass["root"]
    bare = {**MULTICLASS_SETTINGS, "metrics": {"file": "results/summary.json"}, "gate": {}}
    commit(root, "exp/nochecks", {"graft.yaml": as_yaml(bare)})
    with pytest.raises(ParamsError, match=r"graft.yaml at 'exp/nochecks' \(\w{8}\): neither metrics.rules"):
        api.gate("main", head="exp/nochecks", cwd=root)


# --- bad input: one class of error per file, each message names the revision, file and fault --

BAD_BRANCHES = itertools.count()


@pytest.mark.parametrize(
    ("files", "command", "message"),
    [
        (
            {"graft.yaml": "task: {type: regresion}\nmetric: {}\n"},
            ["diff", "exp/bad"],
            "exp/bad:graft.yaml: 'task.type': Input should be 'binary', 'multiclass' or 'regression' "
            "(got 'regresion'); unknown key 'metric'",
        ),
        ({"graft.yaml": "task: [unclosed\n"}, ["diff", "exp/bad"], "exp/bad:graft.yaml: cannot be parsed"),
        ({"eval/metrics.json": "{nope"}, ["diff", "exp/bad"], "exp/bad:eval/metrics.json: cannot be parsed"),
        (
            {"eval/metrics.json": None},
            ["gate", "--base", "main", "--head", "exp/bad"],
            "no metrics at 'exp/bad' (SHA): eval/metrics.json is not committed there",
        ),
        (
            {"eval/metrics.json": None},
            ["report", "--head", "exp/bad"],
            "no metrics at 'exp/bad' (SHA): eval/metrics.json is not committed there",
        ),
        (
            {"eval/predictions.csv": "idx,target,predicted\n1,2.0,3.0\n1,2.0,3.0\n"},
            ["report", "--head", "exp/bad", "--resamples", "10"],
            "exp/bad:eval/predictions.csv: id column 'idx' repeats values; each row needs its own id",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_fault(regression, monkeypatch, capsys, files, command, message):
    root = regression["root"]
    name = f"exp/bad-{next(BAD_BRANCHES)}"
    commit(root, name, files)
    sha = git(root, "rev-parse", "--short=8", name)
    state = git(root, "status", "--porcelain"), git(root, "rev-parse", "HEAD")
    monkeypatch.chdir(root)
    # exit 3: an error stopped the command; --quiet leaves only the error line on stderr
    assert main([*(c.replace("exp/bad", name) for c in command), "--quiet"]) == 3
    err = capsys.readouterr().err
    expected = message.replace("exp/bad", name).replace("SHA", sha)
    assert err.startswith(f"graft: error: {expected}"), err
    assert len(err.strip().splitlines()) == 1
    assert (git(root, "status", "--porcelain"), git(root, "rev-parse", "HEAD")) == state
