"""`graft promote`: put a released version in a stage, with the tag ``gto assign`` writes.

The tag is GTO's stage assignment, byte for byte what ``gto assign MODEL --version vX.Y.Z
--stage STAGE`` writes: an annotated tag ``MODEL#STAGE#N`` on the version's commit (N = 1 +
the highest counter among the model's tags), message ``Assigning stage STAGE to artifact MODEL
version vX.Y.Z``, tagged by the committer identity (GIT_COMMITTER_NAME/EMAIL, else user.name
and user.email). ``gto show`` and ``graft models`` then show the version in that stage.

Refused, naming what is wrong and changing nothing: a stage graft.yaml ``stages`` does not list,
a version the registry does not have (the known ones are listed), a deregistered version, a
version of a deprecated model, a commit without a registered version. A version that already is
the one in that stage is left as it is (its tag is pushed if ``--push`` and the remote lacks it).
Unlike ``gto assign``, a version that was in the stage before another one replaced it (a
rollback) is promoted again without ``--force``: what counts is which version is in the stage.

With ``--push``, the remote's tags are fetched first (so the counter and the state are the
remote's), then the new tag is pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pygit2

from graft.core import gitrepo
from graft.core.errors import GraftError, UsageError
from graft.core.results import Result, pattern
from graft.release.registry import (
    ArtifactState,
    ModelRef,
    VersionState,
    artifact_state,
    next_counter,
    parse_ref,
)
from graft.release.tags import TAGS_PREFIX, stage_tag


class PromoteError(GraftError):
    pass


@dataclass(frozen=True)
class PromoteResult:
    model: str
    version: str  # "vX.Y.Z"
    stage: str
    tag: str
    created: bool  # False: the version already was the one in the stage
    pushed: bool
    replaced: str | None  # the version that was in the stage before, if another one


class PromoteSummary(Result):
    """What `graft promote` did."""

    model: str
    """the model"""
    version: Annotated[str, pattern(r"^v[0-9]+\.[0-9]+\.[0-9]+$")]
    """the version put in the stage, vX.Y.Z"""
    stage: str
    """the stage (one of graft.yaml stages)"""
    tag: str
    """The stage tag MODEL#STAGE#N."""
    created: bool
    """False: the version already was the one in the stage, no tag written."""
    pushed: bool
    """this run pushed the stage tag to the remote (false: no --push, or the remote had it)"""
    replaced: str | None
    """The version that was in the stage before."""

    @classmethod
    def of(cls, r: PromoteResult) -> PromoteSummary:
        return cls(
            model=r.model,
            version=r.version,
            stage=r.stage,
            tag=r.tag,
            created=r.created,
            pushed=r.pushed,
            replaced=r.replaced,
        )


def assignment_message(model: str, stage: str, version: str) -> str:
    """GTO's default annotation of a stage assignment (gto/registry.py ``assign``)."""
    return f"Assigning stage {stage} to artifact {model} version {version}"


def describe_versions(state: ArtifactState) -> str:
    known = [v.version for v in state.version_list(include_inactive=True) if v.registered]
    return ", ".join(known) or "none"


def chosen_version(state: ArtifactState, ref: ModelRef) -> VersionState:
    """The registered, active version ``ref`` names in ``state``; errors say what exists."""
    model = state.name
    if not state.versions:
        raise PromoteError(
            f"no versions of '{model}' in this repository's tags (release one with `graft release`, "
            "or fetch tags with `git fetch --tags`)"
        )
    if ref.stage is not None:
        found = state.in_stage.get(ref.stage)
        if found is None:
            used = ", ".join(sorted(state.in_stage)) or "none"
            raise PromoteError(f"no version of '{model}' is in stage '{ref.stage}' (stages in use: {used})")
    elif ref.version is not None:
        found = state.find(ref.version)
        if found is None or not found.registered:
            raise PromoteError(
                f"'{model}' has no version {ref.version} (versions: {describe_versions(state)})"
            )
    elif ref.latest:
        found = state.latest()
        if found is None:
            raise PromoteError(f"'{model}' has no active registered version")
    else:
        raise UsageError("name the version to promote: MODEL@vX.Y.Z, --version vX.Y.Z or MODEL#STAGE")
    if not found.registered:
        raise PromoteError(
            f"commit {found.commit[:8]} of '{model}' has no registered version: release it first"
        )
    if not found.active:
        dereg = found.deregistration
        raise PromoteError(
            f"{model} {found.version} is deregistered"
            + (f" (tag {dereg.tag})" if dereg else "")
            + ": a withdrawn version cannot be promoted"
        )
    if not state.active:
        deprecation = state.deprecation
        raise PromoteError(
            f"'{model}' is deprecated"
            + (f" (tag {deprecation.tag})" if deprecation else "")
            + ": register a new version before promoting"
        )
    return found


def promote(
    root: Path,
    ref_text: str | None,
    stage: str,
    version: str | None = None,
    push: bool = False,
    remote: str = "origin",
    message: str | None = None,
) -> PromoteResult:
    """Assign ``stage`` to the version ``ref_text``/``version`` names (see the module docstring)."""
    from graft.project import Project
    from graft.release.artifact import release_name
    from graft.release.tagging import ensure_pushed, signature

    project = Project.find(root)
    view = project.work()
    allowed = view.settings.stages
    if stage not in allowed:
        raise PromoteError(
            f"stage '{stage}' is not one of the stages {view.source.where('graft.yaml')} allows "
            f"({', '.join(allowed) or 'none'}; key 'stages')"
        )
    ref = parse_ref(ref_text, version=version)
    model = ref.model or release_name(view)
    if push:
        gitrepo.git(project.root, "fetch", "--quiet", "--tags", remote)
    repo = project.repo
    state = artifact_state(repo, model)
    target = chosen_version(state, ref)
    current = state.in_stage.get(stage)
    if current is target:
        tag = state_tag(target, stage)
        pushed = ensure_pushed(project.root, tag, remote) if push else False
        return PromoteResult(model, target.version, stage, tag, False, pushed, None)
    tag = stage_tag(model, stage, next_counter(repo, model))
    if f"{TAGS_PREFIX}{tag}" in repo.references:  # cannot happen with GTO's counter; never overwrite
        raise PromoteError(f"tag '{tag}' already exists")
    text = message or assignment_message(model, stage, target.version)
    repo.create_tag(
        tag,
        pygit2.Oid(hex=target.commit),
        pygit2.enums.ObjectType.COMMIT,
        signature(repo),
        text if text.endswith("\n") else f"{text}\n",
    )
    pushed = ensure_pushed(project.root, tag, remote) if push else False
    replaced = current.version if current is not None else None
    return PromoteResult(model, target.version, stage, tag, True, pushed, replaced)


def state_tag(version: VersionState, stage: str) -> str:
    """The tag of the assignment that put ``version`` in ``stage``."""
    return version.stage_events[stage].assigned.tag
