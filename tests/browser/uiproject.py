"""The project every `graft ui` test reads: a copy of this project with experiment branches,
an archived one, a commit message, branch names and a param value carrying HTML, two released versions with
stages, and a finished search study. Built from Git objects (no pipeline run, no training).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2

from graft.experiments.search.study import ATTR, Config, default_storage, study_file, trial_name
from tests.conftest import copy_project, git
from tests.gitobjects import commit_files
from tests.integration.repos import SIG, branch

MODEL = "adult-income"
SCRIPT_BRANCH = "exp/<script>alert(1)</script>"
HTML_MESSAGE = '<img src=x onerror="alert(2)"> <b>bold</b> tuning'
# a branch name Git takes that is an <img onerror> in HTML (no space: a ref name has none), and a
# param value holding a script and a javascript: link in Markdown (the report quotes it)
IMG_BRANCH = "exp/<img/src/onerror=alert(3)>"
HOSTILE_PARAM = "<script>alert(4)</script> [click](javascript:alert(5))"
STUDY = "tune"
# name -> (metrics, params)
EXPERIMENTS: dict[str, tuple[dict, dict]] = {
    "exp/lr": ({"roc_auc": 0.935, "log_loss": 0.27}, {"train.learning_rate": 0.05}),
    "exp/leaves": ({"roc_auc": 0.920, "log_loss": 0.29}, {"train.num_leaves": 63}),
    "exp/depth": ({"roc_auc": 0.925, "log_loss": 0.28}, {"train.num_leaves": 15, "train.learning_rate": 0.1}),
    SCRIPT_BRANCH: ({"roc_auc": 0.910, "log_loss": 0.30}, {"train.num_leaves": 7}),
    IMG_BRANCH: ({"roc_auc": 0.915, "log_loss": 0.295}, {"train.num_leaves": 9, "train.note": HOSTILE_PARAM}),
}
ARCHIVED = "exp/old"
TABLE = "metrics/plots/importance.csv"  # a table dvc.yaml declares, kept in Git
TABLE_KEY = "feature"


def changed_importance(root: Path) -> bytes:
    """The importance table with its first feature dropped, the next one's gain doubled and
    one feature added (the Data page's diff of main and exp/depth)."""
    header, _dropped, second, *rest = (root / TABLE).read_text(encoding="utf-8").splitlines()
    name, gain = second.split(",")
    return "\n".join([header, f"{name},{float(gain) * 2}", *rest, "depth_x_leaves,1.5", ""]).encode()


def _tag(root: Path, name: str, rev: str, message: str, when: int) -> None:
    env = {**os.environ, "GIT_COMMITTER_DATE": f"@{when} +0000"}  # the tagger's time
    subprocess.run(["git", "tag", "-a", name, "-m", message, rev], cwd=root, check=True, env=env)


def build(dest: Path) -> Path:
    root = copy_project(dest, with_cache=False)
    changed = {"exp/depth": {TABLE: changed_importance(root)}}
    for name, (metrics, params) in EXPERIMENTS.items():
        branch(root, name, metrics=metrics, params=params, files=changed.get(name))
    repo = pygit2.Repository(str(root))
    tip = repo.revparse_single("exp/lr").peel(pygit2.Commit)
    commit_files(repo, "exp/lr", {"notes.txt": b"tuning\n"}, HTML_MESSAGE + "\n", parent=tip, signature=SIG)
    branch(root, ARCHIVED, metrics={"roc_auc": 0.90}, params={"train.num_leaves": 3})
    old = repo.references.get(f"refs/heads/{ARCHIVED}")
    repo.references.create(f"refs/graft/archive/{ARCHIVED}", old.target)
    old.delete()
    _tag(root, f"{MODEL}@v1.0.0", "main", f"Registering artifact {MODEL} version v1.0.0", 1_700_000_100)
    _tag(
        root,
        f"{MODEL}#prod#1",
        "main",
        f"Assigning stage prod to artifact {MODEL} version v1.0.0",
        1_700_000_200,
    )
    _tag(root, f"{MODEL}@v1.1.0", "exp/lr", f"Registering artifact {MODEL} version v1.1.0", 1_700_000_300)
    _tag(
        root,
        f"{MODEL}#staging#2",
        "exp/lr",
        f"Assigning stage staging to artifact {MODEL} version v1.1.0",
        1_700_000_400,
    )
    make_study(root)
    assert git(root, "status", "--porcelain") == ""
    return root


def make_study(root: Path) -> None:
    """A finished `graft exp search` study of four trials (the best kept as its branch)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = default_storage(root, STUDY)
    study_file(root, STUDY).parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=storage, study_name=STUDY, direction="maximize")
    config = Config(("train.num_leaves=int:7:63",), 0, "main", "roc_auc", "higher", 2)
    study.set_user_attr(ATTR, config.as_dict())
    distribution = optuna.distributions.IntDistribution(7, 63)
    for leaves, auc in ((15, 0.921), (31, 0.928), (63, 0.924), (47, 0.931)):
        study.add_trial(
            optuna.trial.create_trial(
                params={"train.num_leaves": leaves},
                distributions={"train.num_leaves": distribution},
                value=auc,
            )
        )
    best = f"exp/{trial_name(STUDY, 3)}"
    branch(root, best, metrics={"roc_auc": 0.931}, params={"train.num_leaves": 47})
