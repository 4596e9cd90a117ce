"""Build the get-started-shaped project (tests/integration/getstarted_project) as a user's repository.

Text classification with scikit-learn; the data is written here (deterministic sentences of two
vocabularies with shared noise words) and tracked with `dvc add`; `evaluate` writes ``eval/``
with dvclive as a DVC-cached directory output (gitignored, never in Git). The repository has a
local-folder DVC remote every revision's outputs are pushed to, and ``exp/*`` branches with
other params, each reproduced and committed as a user would.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tests.conftest import git
from tests.integration.second import dvc

SOURCE = Path(__file__).parent / "getstarted_project"
DATA = "data/data.csv"
METRICS = "eval/metrics.json"
PREDICTIONS = "eval/predictions.csv"  # inside the DVC-cached eval/ directory
# branch -> params changed from main's (dotted keys of params.yaml)
BRANCHES: dict[str, dict[str, Any]] = {
    "exp/strong": {"train.C": 10.0},
    "exp/weak": {"train.C": 0.05, "featurize.max_features": 20},
}
_POSITIVE = ["great", "fine", "superb", "lovely", "happy", "bright", "calm"]
_NEGATIVE = ["awful", "poor", "grim", "sad", "broken", "dull", "angry"]
_NOISE = ["the", "a", "of", "and", "to", "movie", "plot", "actor", "scene", "day"]


def write_data(dest: Path, rows: int = 400) -> None:
    rng = random.Random(7)
    lines = ["id,text,label,split"]
    for i in range(rows):
        label = i % 2
        own, other = (_POSITIVE, _NEGATIVE) if label else (_NEGATIVE, _POSITIVE)
        words = rng.sample(_NOISE, 4) + rng.sample(own, 2) + rng.sample(other, rng.choice([0, 1, 2]))
        rng.shuffle(words)
        lines.append(f"{i},{' '.join(words)},{label},{'test' if i % 5 == 0 else 'train'}")
    (dest / "data").mkdir(parents=True, exist_ok=True)
    (dest / DATA).write_text("\n".join(lines) + "\n")


def set_params(root: Path, changes: dict[str, Any]) -> None:
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in changes.items():
        node = params
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def reproduce_and_commit(root: Path, message: str) -> None:
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    dvc(root, "push", "-q")


def configure(root: Path) -> None:
    """`graft init` (it reads the DVC-cached eval/metrics.json and finds dvclive's predictions
    inside eval/), committed as written."""
    from tests.releasing import graft

    graft(root, "init")
    git(root, "add", "graft.yaml")
    git(root, "commit", "-q", "-m", "graft settings")


def build(dest: Path, remote: Path) -> Path:
    """The repository at ``dest`` (main + :data:`BRANCHES`), every output pushed to ``remote``."""
    shutil.copytree(SOURCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    write_data(dest)
    git(dest, "init", "-q", "-b", "main")
    dvc(dest, "init", "-q")
    dvc(dest, "remote", "add", "-q", "-d", "storage", str(remote))
    dvc(dest, "add", "-q", DATA)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "text classification project")
    reproduce_and_commit(dest, "first results")
    configure(dest)
    for name, changes in BRANCHES.items():
        git(dest, "checkout", "-q", "-b", name, "main")
        set_params(dest, changes)
        reproduce_and_commit(dest, f"{name}: {changes}")
    git(dest, "checkout", "-q", "main")
    dvc(dest, "checkout", "-q")
    return dest


def fresh_clone(origin: Path, dest: Path) -> Path:
    """A clone of ``origin`` with every branch and an empty DVC cache (the remote as configured)."""
    git(dest.parent, "clone", "-q", str(origin), dest.name)
    for name in BRANCHES:
        git(dest, "branch", "-q", "--track", name, f"origin/{name}")
    return dest


# --- reading results back, for the tests ------------------------------------------------------


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as dotted keys, as `dvc metrics show` and graft name them."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def diff_metrics(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """revision -> metric -> value, from `graft diff --format json`."""
    out: dict[str, dict[str, Any]] = {r["name"]: {} for r in document["revisions"]}
    for row in document["rows"]:
        if row["section"] == "metrics":
            for name, value in row["values"].items():
                if row["status"][name] == "value":
                    out[name][row["key"]] = value
    return out


def dvc_metrics(root: Path, revisions: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """revision -> metric -> value, from `dvc metrics show -a --json` (every branch, or those of
    ``revisions``)."""
    shown = json.loads(dvc(root, "metrics", "show", "-a", "--json"))
    return {
        rev: flat(body["data"][METRICS]["data"])
        for rev, body in shown.items()
        if revisions is None or rev in revisions
    }


def cache_objects(root: Path) -> set[str]:
    """The object ids in a project's local DVC cache (DVC 3's files/md5 layout)."""
    cache = root / ".dvc" / "cache" / "files" / "md5"
    return {f"{p.parent.name}{p.name}" for p in cache.rglob("*") if p.is_file()} if cache.is_dir() else set()
