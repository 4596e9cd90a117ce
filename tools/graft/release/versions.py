"""Model releases as Git tags in GTO's format, and the rule that picks the next version.

Tag format (the one GTO's ``gto register`` writes, so ``gto show`` lists graft's releases):
an *annotated* tag ``<model>@v<MAJOR>.<MINOR>.<PATCH>`` on the released commit, where
``<model>`` is ``package.model_name`` in params.yaml. The annotation's first line is GTO's
default message (``Registering artifact <model> version v<X.Y.Z>``); the lines after it say why
the version was bumped and give the release archive's SHA-256, which `graft reproduce` checks.

Version rule (``--bump auto``), comparing HEAD with the highest released version:

* **major**: the input schema became stricter: a record the released model accepted could be
  refused (a column removed or newly required, a type or category dropped, a range narrowed).
  Both schemas are derived from Git objects (``params.yaml`` + ``stages/schema.py``), so this
  needs neither checkout nor archive.
* **minor**: the model changed: ``models/model.txt``'s md5 in ``dvc.lock`` differs.
* **patch**: anything else (docs, code, parameters that leave the model as it was).

The first release is ``1.0.0`` (``auto``/``major``), ``0.1.0`` (``minor``) or ``0.0.1`` (``patch``).
"""

from __future__ import annotations

import builtins
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pygit2
import yaml

from graft.core import gitrepo
from graft.core.errors import GitError, GraftError, ParamsError

Bump = Literal["auto", "major", "minor", "patch"]
BUMPS: tuple[str, ...] = ("auto", "major", "minor", "patch")
MODEL_OUT = "models/model.txt"
SCHEMA_MODULE = "stages/schema.py"
HEADLINE = ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1")
TAG_RE = re.compile(r"^(?P<model>[a-z0-9][a-z0-9-]*)@v(?P<version>(\d+)\.(\d+)\.(\d+))$")
TAGS_PREFIX = "refs/tags/"
SHA_LINE = re.compile(r"^package: (?P<file>\S+) sha256:(?P<sha>[0-9a-f]{64})$", re.MULTILINE)


class ReleaseError(GraftError):
    pass


@dataclass(frozen=True)
class Release:
    """One released version: the tag, what it points at, and who made it when."""

    tag: str
    model: str
    version: str
    commit: str
    tagger: str
    time: int
    message: str

    @property
    def key(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def archive_sha256(self) -> str | None:
        found = SHA_LINE.search(self.message)
        return found["sha"] if found else None


@dataclass(frozen=True)
class NextVersion:
    model: str
    version: str
    bump: str
    reason: str
    previous: Release | None
    commit: str

    @property
    def tag(self) -> str:
        return tag_name(self.model, self.version)


@dataclass(frozen=True)
class ModelVersion:
    """A release with its headline metrics, read from the tag's commit."""

    release: Release
    metrics: dict[str, Any] = field(default_factory=dict)


# --- names --------------------------------------------------------------------------------


def tag_name(model: str, version: str) -> str:
    return f"{model}@v{version}"


def parse_version(version: str) -> tuple[int, int, int]:
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ReleaseError(f"version '{version}' is not of the form X.Y.Z")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def parse_tag(name: str) -> tuple[str, str] | None:
    """``adult-income@v1.2.3`` -> ``("adult-income", "1.2.3")``; None for any other tag."""
    found = TAG_RE.match(name)
    return (found["model"], found["version"]) if found else None


def bump_version(previous: str | None, bump: str) -> str:
    if previous is None:
        return {"major": "1.0.0", "minor": "0.1.0", "patch": "0.0.1"}[bump]
    major, minor, patch = parse_version(previous)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def params_at(commit: pygit2.Commit) -> dict[str, Any]:
    data = gitrepo.read_file(commit, "params.yaml")
    if data is None:
        raise ParamsError(f"params.yaml is missing at commit {str(commit.id)[:8]}")
    return yaml.safe_load(data) or {}


def model_name_from(params: Mapping[str, Any]) -> str:
    name = (params.get("package") or {}).get("model_name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ParamsError(f"params.yaml: 'package.model_name' must be a lowercase slug (got {name!r})")
    return name


# --- reading releases ---------------------------------------------------------------------


def list_releases(repo: pygit2.Repository, model: str | None = None) -> list[Release]:
    """Every GTO-format release tag (optionally of one model), highest version first."""
    found: list[Release] = []
    for ref in repo.references:
        if not ref.startswith(TAGS_PREFIX):
            continue
        name = ref[len(TAGS_PREFIX) :]
        parsed = parse_tag(name)
        if parsed is None or (model is not None and parsed[0] != model):
            continue
        obj = repo.revparse_single(ref)
        if isinstance(obj, pygit2.Tag):
            tagger = obj.tagger
            who, when, message = f"{tagger.name} <{tagger.email}>", int(tagger.time), obj.message or ""
        else:  # a lightweight tag: GTO ignores these, graft lists them with the commit's data
            commit = obj.peel(pygit2.Commit)
            who, when, message = commit.committer.name, int(commit.commit_time), ""
        commit_id = str(obj.peel(pygit2.Commit).id)
        found.append(Release(name, parsed[0], parsed[1], commit_id, who, when, message))
    return sorted(found, key=lambda r: (r.model, r.key), reverse=True)


def find_release(repo: pygit2.Repository, tag: str) -> Release:
    parsed = parse_tag(tag)
    if parsed is None:
        raise ReleaseError(f"'{tag}' is not a release tag (expected <model>@vX.Y.Z)")
    for release in list_releases(repo, parsed[0]):
        if release.tag == tag:
            return release
    raise ReleaseError(f"no release tag '{tag}' in this repository (fetch tags with `git fetch --tags`)")


def model_versions(root: Path, model: str | None = None) -> list[ModelVersion]:
    """Released versions with their headline metrics (metrics/metrics.json at each tag's commit)."""
    import json

    repo = gitrepo.open_repo(root)
    out = []
    for release in list_releases(repo, model):
        commit = repo.get(release.commit)
        raw = gitrepo.read_file(commit, "metrics/metrics.json")
        metrics: dict[str, Any] = {}
        if raw is not None:
            values = json.loads(raw)
            metrics = {k: values[k] for k in HEADLINE if k in values}
        out.append(ModelVersion(release, metrics))
    return out


# --- the version rule ---------------------------------------------------------------------


def lock_md5(commit: pygit2.Commit, path: str) -> str | None:
    raw = gitrepo.read_file(commit, "dvc.lock")
    if raw is None:
        return None
    lock = yaml.safe_load(raw) or {}
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            if out.get("path") == path:
                return out.get("md5")
    return None


def schema_at(commit: pygit2.Commit) -> dict[str, Any]:
    """The input schema a commit's package would carry, from its params.yaml and stages/schema.py."""
    from graft.release.package import build_input_schema

    source = gitrepo.read_file(commit, SCHEMA_MODULE)
    if source is None:
        raise ReleaseError(f"{SCHEMA_MODULE} is missing at commit {str(commit.id)[:8]}")
    namespace: dict[str, Any] = {"__name__": "graft_schema_snapshot", "__builtins__": builtins}
    exec(compile(source, f"{str(commit.id)[:8]}:{SCHEMA_MODULE}", "exec"), namespace)
    return build_input_schema(
        params_at(commit), namespace["FEATURE_COLUMNS"], namespace["NUMERIC"], namespace["CATEGORIES"]
    )


def _types(prop: Mapping[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def schema_breaks(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a record valid under ``old`` could be refused by ``new`` (empty: compatible)."""
    reasons = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for column in sorted(set(old_props) - set(new_props)):
        reasons.append(f"column '{column}' removed")
    for column in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        reasons.append(f"column '{column}' now required")
    for column in sorted(set(old_props) & set(new_props)):
        before, after = old_props[column], new_props[column]
        if not _types(before) <= _types(after):
            reasons.append(f"column '{column}' type narrowed")
        if "enum" in after and "enum" not in before:
            reasons.append(f"column '{column}' restricted to categories")
        elif "enum" in after and not set(map(str, before["enum"])) <= set(map(str, after["enum"])):
            reasons.append(f"column '{column}' lost categories")
        if after.get("minimum", float("-inf")) > before.get("minimum", float("-inf")):
            reasons.append(f"column '{column}' minimum raised")
        if after.get("maximum", float("inf")) < before.get("maximum", float("inf")):
            reasons.append(f"column '{column}' maximum lowered")
    return reasons


def next_version(root: Path, bump: str = "auto", rev: str = "HEAD") -> NextVersion:
    """The version the next release of ``rev`` gets, and why (see the module docstring)."""
    if bump not in BUMPS:
        raise ReleaseError(f"--bump must be one of {', '.join(BUMPS)} (got '{bump}')")
    repo = gitrepo.open_repo(root)
    head = gitrepo.resolve(repo, rev)
    model = model_name_from(params_at(head.commit))
    releases = list_releases(repo, model)
    previous = releases[0] if releases else None
    for release in releases:
        if release.commit == head.sha:
            raise ReleaseError(f"commit {head.short} is already released as '{release.tag}'")
    if previous is None:
        chosen = "major" if bump == "auto" else bump
        return NextVersion(model, bump_version(None, chosen), chosen, "first release", None, head.sha)
    if bump != "auto":
        return NextVersion(
            model, bump_version(previous.version, bump), bump, f"--bump {bump}", previous, head.sha
        )
    old_commit = repo.get(previous.commit)
    breaks = schema_breaks(schema_at(old_commit), schema_at(head.commit))
    if breaks:
        chosen, reason = "major", "input schema changed incompatibly: " + "; ".join(breaks)
    else:
        old_md5, new_md5 = lock_md5(old_commit, MODEL_OUT), lock_md5(head.commit, MODEL_OUT)
        if old_md5 != new_md5:
            chosen, reason = "minor", f"model changed ({MODEL_OUT} md5 {old_md5} -> {new_md5})"
        else:
            chosen, reason = "patch", "model and input schema unchanged"
    return NextVersion(model, bump_version(previous.version, chosen), chosen, reason, previous, head.sha)


# --- writing releases ---------------------------------------------------------------------


def signature(repo: pygit2.Repository) -> pygit2.Signature:
    """The tagger: GIT_COMMITTER_NAME/EMAIL when set (CI), else user.name/user.email."""
    name, email = os.environ.get("GIT_COMMITTER_NAME"), os.environ.get("GIT_COMMITTER_EMAIL")
    if name and email:
        return pygit2.Signature(name, email)
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        raise GitError(
            "no Git identity to sign the tag: set user.name and user.email "
            "(or GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL)"
        ) from None


def tag_message(plan: NextVersion, archive_name: str, archive_sha256: str) -> str:
    from graft.core.templating import render

    return render(
        "release_tag.txt.j2",
        plan=plan,
        archive_name=archive_name,
        archive_sha256=archive_sha256,
    )


def create_tag(root: Path, plan: NextVersion, message: str) -> str:
    repo = gitrepo.open_repo(root)
    ref = f"{TAGS_PREFIX}{plan.tag}"
    if ref in repo.references:
        raise ReleaseError(f"tag '{plan.tag}' already exists")
    repo.create_tag(
        plan.tag, pygit2.Oid(hex=plan.commit), pygit2.enums.ObjectType.COMMIT, signature(repo), message
    )
    return plan.tag


def push_tag(root: Path, tag: str, remote: str = "origin") -> None:
    """``git push <remote> refs/tags/<tag>`` (the Git CLI, so credential helpers apply)."""
    done = subprocess.run(
        ["git", "push", "--quiet", remote, f"{TAGS_PREFIX}{tag}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise GitError(f"could not push tag '{tag}' to '{remote}': {detail}")


@dataclass(frozen=True)
class ReleaseResult:
    plan: NextVersion
    archive: Path | None
    archive_sha256: str | None
    tagged: bool
    pushed: bool


def release(
    root: Path,
    out_dir: Path,
    bump: str = "auto",
    dry_run: bool = False,
    push: bool = False,
    remote: str = "origin",
) -> ReleaseResult:
    """Pick the next version, build its package, tag HEAD in GTO's format, optionally push the tag."""
    from graft.release.package import package

    root = Path(root).resolve()
    plan = next_version(root, bump)
    if dry_run:
        return ReleaseResult(plan, None, None, tagged=False, pushed=False)
    built = package(root, Path(out_dir), version=plan.version, allow_dirty=False)
    create_tag(root, plan, tag_message(plan, built.path.name, built.sha256))
    if push:
        push_tag(root, plan.tag, remote)
    return ReleaseResult(plan, built.path, built.sha256, tagged=True, pushed=push)
