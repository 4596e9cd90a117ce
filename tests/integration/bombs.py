"""A corpus of hostile documents, each committed on its own experiment branch of a real project.

Every case replaces one file graft reads at a revision (params.yaml, graft.yaml, dvc.yaml, a
metrics file) with a document past one bound of graft.core.limits: a "billion laughs" alias
bomb, an alias cycle, nesting thousands deep, a document over the size limit, JSON with more
values than the limit. Each names the exact one-line refusal ``graft diff main exp/<id>`` must
print ("{branch}" stands for the branch); ``exp list``, ``diff --all`` and ``report --all`` must
go on listing the other branches.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


def billion_laughs(levels: int = 9, width: int = 9) -> bytes:
    """``a: &a [lol x width]``, then each level a list of ``width`` aliases to the one before:
    ``width ** levels`` strings once expanded, from under 1 KiB."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return ("\n".join(lines) + "\n").encode()


def nested_yaml(depth: int) -> bytes:
    return b"x: " + b"[" * depth + b"]" * depth + b"\n"


def nested_json(depth: int) -> bytes:
    return b'{"roc_auc": ' + b"[" * depth + b"]" * depth + b"}\n"


@dataclass(frozen=True)
class Bomb:
    id: str
    path: str
    data: bytes
    message: str  # the whole stderr line after "graft: error: "; {branch} = exp/<id>


CASES = [
    Bomb(
        "params-laughs",
        "params.yaml",
        billion_laughs(),
        "{branch}:params.yaml: line 6: more than 250,000 values once its aliases are expanded, "
        "over the limit of 250,000 values (GRAFT_LIMIT_YAML_VALUES)",
    ),
    Bomb(
        "params-cycle",
        "params.yaml",
        b"train: &t\n  seed: 1\n  again: *t\n",
        "{branch}:params.yaml: line 3: alias *t refers to a node that contains it (a cycle)",
    ),
    Bomb(
        "params-deep",
        "params.yaml",
        nested_yaml(100_000),
        "{branch}:params.yaml: line 1: more than 64 levels of nesting, over the limit of 64 levels "
        "(GRAFT_LIMIT_DOCUMENT_DEPTH)",
    ),
    Bomb(
        "params-huge",
        "params.yaml",
        b"train:\n  seed: 1\n" + b"# padding\n" * (MIB // 2),
        "{branch}:params.yaml: 5,242,897 bytes, over the limit of 4,194,304 bytes (GRAFT_LIMIT_YAML_BYTES)",
    ),
    Bomb(
        "settings-laughs",
        "graft.yaml",
        billion_laughs(),
        "{branch}:graft.yaml: line 6: more than 250,000 values once its aliases are expanded, "
        "over the limit of 250,000 values (GRAFT_LIMIT_YAML_VALUES)",
    ),
    Bomb(
        "pipeline-deep",
        "dvc.yaml",
        nested_yaml(5_000),
        "{branch}:dvc.yaml: line 1: more than 64 levels of nesting, over the limit of 64 levels "
        "(GRAFT_LIMIT_DOCUMENT_DEPTH)",
    ),
    Bomb(
        "metrics-deep",
        "metrics/metrics.json",
        nested_json(100_000),
        "{branch}:metrics/metrics.json: more than 64 levels of nesting, over the limit of 64 levels "
        "(GRAFT_LIMIT_DOCUMENT_DEPTH)",
    ),
    Bomb(
        "metrics-huge",
        "metrics/metrics.json",
        b'{"roc_auc": 0.5, "pad": "' + b"x" * (17 * MIB) + b'"}\n',
        "{branch}:metrics/metrics.json: 17,825,820 bytes, over the limit of 16,777,216 bytes "
        "(GRAFT_LIMIT_JSON_BYTES)",
    ),
    Bomb(
        "metrics-values",
        "metrics/metrics.json",
        b'{"roc_auc": 0.5, "pad": [' + b",".join([b"0"] * 2_100_000) + b"]}\n",
        "{branch}:metrics/metrics.json: about 2,100,003 values, over the limit of 2,000,000 values "
        "(GRAFT_LIMIT_JSON_VALUES)",
    ),
]
