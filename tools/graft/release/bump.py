"""The version rule: which version a release gets (``--bump auto``: major when the input
schema became stricter, minor when the model changed, patch otherwise; the first release is
1.0.0, 0.1.0 or 0.0.1) and the version arithmetic on :class:`~graft.release.tags.SemVer`.
See :mod:`graft.release.versions` for the whole rule."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from graft.core.errors import GraftError
from graft.release.tags import SemVer, Step, parse_version_tag, version_tag

if TYPE_CHECKING:
    from graft.project.view import View
from graft.release.releases import BUMPS, NextVersion, Release, ReleaseError, registered_releases

# --- names --------------------------------------------------------------------------------


def tag_name(model: str, version: str) -> str:
    """The registration tag of ``version`` (see :func:`graft.release.tags.version_tag`)."""
    return version_tag(model, version)


parse_tag = parse_version_tag


def bump_version(previous: str | None, bump: str) -> str:
    """The version after ``previous`` (``1.2.3``; None: nothing released yet) by ``bump``."""
    kind = cast(Step, bump)
    return (SemVer.first(kind) if previous is None else SemVer.of(previous).bump(kind)).number


def next_free_version(previous: str | None, bump: str, taken: set[str]) -> str:
    """``bump_version``, bumped again past every version already tagged (a deregistered version's
    number is never given to another model)."""
    taken_keys = {SemVer.of(t) for t in taken}
    version = bump_version(previous, bump)
    while SemVer.of(version) in taken_keys:
        version = bump_version(version, bump)
    return version


# --- the version rule ---------------------------------------------------------------------


def schema_at(view: View) -> dict[str, Any]:
    """The input schema a view's package would carry: its own adapter's ``input_schema(params)``."""
    from graft.release.artifact import load_adapter

    adapter = load_adapter(view)
    try:
        return adapter.input_schema(view.params)
    finally:
        adapter.close()


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
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        reasons.append("extra fields no longer allowed")
    return reasons


def withdrawn_at(releases: list[Release], commit: str) -> Release | None:
    """The deregistered release at ``commit`` when no active one is there."""
    at_commit = [r for r in releases if r.commit == commit]
    if any(r.status != "deregistered" for r in at_commit):
        return None
    return at_commit[0] if at_commit else None


def next_version(root: Path, bump: str = "auto", rev: str = "HEAD") -> NextVersion:
    """The version the next release of ``rev`` gets, and why (see the module docstring)."""
    from graft.project import Project
    from graft.release.artifact import model_artifact, release_name

    if bump not in BUMPS:
        raise ReleaseError(f"--bump must be one of {', '.join(BUMPS)} (got '{bump}')")
    project = Project.find(root)
    head = project.resolve(rev)
    head_view = project.at(head)
    model = release_name(head_view)
    releases = registered_releases(project.repo, model)
    for release in releases:
        if release.commit == head.sha and release.status != "deregistered":
            raise ReleaseError(f"commit {head.short} is already released as '{release.tag}'")
    withdrawn = withdrawn_at(releases, head.sha)
    if withdrawn is not None:
        raise ReleaseError(
            f"commit {head.short} was released as '{withdrawn.tag}' and that version is deregistered: "
            "a withdrawn commit is not released again (commit the fix, then release)"
        )
    # the base: the highest version still registered (deregistered versions are skipped)
    active = [r for r in releases if r.status != "deregistered"]
    previous = max(active, key=lambda r: r.key) if active else None
    taken = {r.version for r in releases}
    skipped = sorted(
        (r for r in releases if r.status == "deregistered" and (previous is None or r.key > previous.key)),
        key=lambda r: r.key,
    )
    note = f"; deregistered: {', '.join(r.tag for r in skipped)}" if skipped else ""

    def plan(chosen: str, reason: str) -> NextVersion:
        version = next_free_version(previous.version if previous else None, chosen, taken)
        return NextVersion(model, version, chosen, reason + note, previous, head.sha)

    if previous is None:
        chosen = "major" if bump == "auto" else bump
        return plan(chosen, "first release" if not releases else "first active release")
    if bump != "auto":
        return plan(bump, f"--bump {bump}")
    old_view = project.at(previous.commit)
    try:
        old_schema = schema_at(old_view)
    except GraftError as exc:
        raise ReleaseError(
            f"cannot compare input schemas with {previous.tag}: {exc}; choose the bump with "
            "--bump major|minor|patch"
        ) from None
    breaks = schema_breaks(old_schema, schema_at(head_view))
    if breaks:
        chosen, reason = "major", "input schema changed incompatibly: " + "; ".join(breaks)
    else:
        path = model_artifact(head_view).path
        old_md5, new_md5 = old_view.lock.md5(model_artifact(old_view).path), head_view.lock.md5(path)
        if old_md5 != new_md5:
            chosen, reason = "minor", f"model changed ({path} md5 {old_md5} -> {new_md5})"
        else:
            chosen, reason = "patch", "model and input schema unchanged"
    return plan(chosen, reason)
