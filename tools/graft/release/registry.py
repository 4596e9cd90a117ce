"""The model registry GTO keeps in Git tags: its tag grammar read fully, and the state it implies.

GTO (https://github.com/iterative/gto) records every registry action as an *annotated* tag;
lightweight tags are ignored, as GTO ignores them. The grammar (``gto/constants.py``
``tag_re``, ``gto/tag.py`` ``TagTemplates``), with ``#N`` an optional counter GTO appends to
tags that are not "simple" (N = 1 + the highest counter among the artifact's tags):

=================================  ==========================  ==================================
tag                                 action                      written by
=================================  ==========================  ==================================
``MODEL@vX.Y.Z[#N]``                register version            ``gto register``, ``graft release``
``MODEL@vX.Y.Z![#N]``               deregister version          ``gto deprecate MODEL vX.Y.Z``
``MODEL#STAGE[#N]``                 assign stage (to the        ``gto assign``, ``graft promote``
                                    version at the tag's commit)
``MODEL#STAGE![#N]``                unassign stage              ``gto deprecate MODEL vX.Y.Z STAGE``
``MODEL@deprecated[#N]``            deprecate the artifact      ``gto deprecate MODEL``
=================================  ==========================  ==================================

``MODEL`` is ``[DIR=]NAME`` (``DIR:NAME`` in GTO's artifact names), NAME and STAGE are letters,
digits, ``-``, ``_`` and ``/`` starting and ending with a letter or digit, and the version is
semantic versioning with a ``v``.

State, as GTO's ``gto show`` computes it (``gto/base.py``), from the tags' tagger times:

* a **version** is active while its latest register/deregister event is a registration (a
  deregistration at the same second wins); assignments at a commit no version is registered at
  make an unregistered version named by the commit's sha, listed as GTO lists it;
* a **stage** of a version is active while its latest assign/unassign event is an assignment;
  the version *in* a stage is, among active versions, the one whose active assignment of that
  stage is the latest (``gto show``'s default: timestamp order, one version per stage);
* an **artifact** is deprecated while its latest event of any kind (versions' commits included)
  is a deprecation; a deprecated artifact's versions are hidden, as are deregistered versions.

Where GTO orders by the tag's timestamp alone, two conflicting events within one second are
ordered by the tag counter GTO writes (the later counter is the later event); ``gto show``'s
order is then the order in which it happened to list the tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from graft.release.tags import (
    FULLNAME_RE,
    SHORTCUT_RE,
    TAGS_PREFIX,
    Action,
    ParsedTag,
    RegistryError,
    SemVer,
    artifact_in_tag,
    is_valid_name,
    parse_tag_name,
    version_key,
)

__all__ = [
    "Action",
    "ArtifactState",
    "ModelRef",
    "ParsedTag",
    "RegistryError",
    "SemVer",
    "VersionState",
    "artifact_in_tag",
    "is_valid_name",
    "parse_ref",
    "parse_tag_name",
    "version_key",
]


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One annotated GTO tag: what it records, where it points, who made it and when."""

    tag: str
    parsed: ParsedTag
    commit: str
    time: int  # tagger time, seconds since the epoch (GTO's order)
    tagger: str
    tagger_email: str
    message: str

    @property
    def action(self) -> Action:
        return self.parsed.action

    @property
    def order(self) -> tuple[int, int]:
        """When it happened: the tagger time, then GTO's counter for events in the same second."""
        return self.time, self.parsed.counter or 0


def read_events(repo: pygit2.Repository) -> list[Event]:
    """Every annotated tag in GTO's grammar, oldest first."""
    events: list[Event] = []
    for ref in repo.references:
        if not ref.startswith(TAGS_PREFIX):
            continue
        name = ref[len(TAGS_PREFIX) :]
        parsed = parse_tag_name(name)
        if parsed is None:
            continue
        obj = repo.revparse_single(ref)
        if not isinstance(obj, pygit2.Tag):  # lightweight tags are not registry events (GTO)
            continue
        try:
            commit = obj.peel(pygit2.Commit)
        except (pygit2.GitError, ValueError):
            continue  # a tag of a tree or blob records no model version
        tagger = obj.tagger
        events.append(
            Event(
                tag=name,
                parsed=parsed,
                commit=str(commit.id),
                time=int(tagger.time) if tagger else int(commit.commit_time),
                tagger=tagger.name if tagger else "",
                tagger_email=tagger.email if tagger else "",
                message=(obj.message or "").strip(),
            )
        )
    return sorted(events, key=lambda e: (e.order, e.tag))


# --- state ---------------------------------------------------------------------------------------


@dataclass
class StageState:
    """One stage of one version: its assignments and unassignments."""

    stage: str
    events: list[Event] = field(default_factory=list)

    @property
    def last(self) -> Event:
        # ties (same second, same counter): the unassignment wins, as in GTO
        return max(self.events, key=lambda e: (e.order, e.action is Action.UNASSIGN))

    @property
    def active(self) -> bool:
        return self.last.action is Action.ASSIGN

    @property
    def assigned(self) -> Event:
        """The latest assignment (the event that put the version in this stage)."""
        return max((e for e in self.events if e.action is Action.ASSIGN), key=lambda e: e.order)


@dataclass
class VersionState:
    """A version of an artifact: its registrations, deregistrations and stages."""

    artifact: str
    version: str  # "vX.Y.Z", or the commit sha for assignments at an unregistered commit
    commit: str
    commit_time: int = 0  # GTO counts the commit itself as an event of the version
    events: list[Event] = field(default_factory=list)  # register / deregister
    stage_events: dict[str, StageState] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)  # the stages this version is *the* version in

    @property
    def registered(self) -> bool:
        return any(e.action is Action.REGISTER for e in self.events)

    @property
    def registration(self) -> Event | None:
        """The latest registration (its tag carries graft's package checksum)."""
        found = [e for e in self.events if e.action is Action.REGISTER]
        return max(found, key=lambda e: e.order) if found else None

    @property
    def deregistration(self) -> Event | None:
        found = [e for e in self.events if e.action is Action.DEREGISTER]
        return max(found, key=lambda e: e.order) if found else None

    @property
    def active(self) -> bool:
        if not self.events:
            return True  # an unregistered version exists through its stage assignments
        # ties: the deregistration wins, as in GTO
        last = max(self.events, key=lambda e: (e.order, e.action is Action.DEREGISTER))
        return last.action is Action.REGISTER

    @property
    def all_events(self) -> list[Event]:
        return [*self.events, *(e for s in self.stage_events.values() for e in s.events)]

    def active_stages(self) -> list[StageState]:
        return [s for s in self.stage_events.values() if s.active]

    @property
    def status(self) -> str:
        if not self.registered:
            return "unregistered"
        return "active" if self.active else "deregistered"


@dataclass
class ArtifactState:
    """An artifact: every version GTO's tags mention, its deprecations and the version per stage."""

    name: str
    versions: dict[str, VersionState] = field(default_factory=dict)
    deprecations: list[Event] = field(default_factory=list)
    in_stage: dict[str, VersionState] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Not deprecated: no deprecation, or some later event (a tie keeps it active, as in GTO)."""
        if not self.deprecations:
            return True
        deprecated_at = max(e.time for e in self.deprecations)
        times = [e.time for v in self.versions.values() for e in v.all_events]
        times += [v.commit_time for v in self.versions.values()]
        return any(t >= deprecated_at for t in times)

    @property
    def deprecation(self) -> Event | None:
        return max(self.deprecations, key=lambda e: e.order) if self.deprecations else None

    def version_list(self, include_inactive: bool = False) -> list[VersionState]:
        """Versions highest first (semantic versions by precedence, then commit-named ones), the
        active ones of an active artifact unless ``include_inactive`` (``gto show --deprecated``)."""
        if not include_inactive and not self.active:
            return []
        chosen = [v for v in self.versions.values() if include_inactive or v.active]
        return sorted(chosen, key=lambda v: version_key(v.version), reverse=True)

    def latest(self) -> VersionState | None:
        """The highest active registered version (``gto show``'s "latest")."""
        found = [v for v in self.versions.values() if v.registered and v.active]
        return max(found, key=lambda v: version_key(v.version)) if found else None

    def find(self, version: str) -> VersionState | None:
        wanted = version if version.startswith("v") else f"v{version}"
        return self.versions.get(wanted)

    def at_commit(self, commit: str) -> VersionState | None:
        registered = [v for v in self.versions.values() if v.registered and v.commit == commit]
        return max(registered, key=lambda v: version_key(v.version)) if registered else None


def _commit_time(repo: pygit2.Repository, sha: str) -> int:
    obj = repo.get(sha)
    if obj is None:  # a tag of a commit this clone does not have
        return 0
    return int(obj.peel(pygit2.Commit).commit_time)


def build_state(events: list[Event], repo: pygit2.Repository | None = None) -> dict[str, ArtifactState]:
    """The registry GTO's tags describe, per artifact (see the module docstring)."""
    artifacts: dict[str, ArtifactState] = {}

    def artifact(name: str) -> ArtifactState:
        return artifacts.setdefault(name, ArtifactState(name))

    # GTO indexes artifact tags, then version tags, then stage tags (each oldest first), so an
    # assignment finds the version registered at its commit whenever the registration came.
    for event in events:
        if event.action is Action.DEPRECATE:
            artifact(event.parsed.artifact).deprecations.append(event)
    for event in events:
        if event.action in (Action.REGISTER, Action.DEREGISTER):
            state = artifact(event.parsed.artifact)
            version = str(event.parsed.version)
            found = state.versions.get(version)
            if found is None:
                commit_time = _commit_time(repo, event.commit) if repo is not None else 0
                found = state.versions[version] = VersionState(state.name, version, event.commit, commit_time)
            found.events.append(event)
    for event in events:
        if event.action in (Action.ASSIGN, Action.UNASSIGN):
            state = artifact(event.parsed.artifact)
            target = state.at_commit(event.commit)
            if target is None:  # an assignment at a commit no version is registered at
                target = state.versions.get(event.commit)
                if target is None:
                    commit_time = _commit_time(repo, event.commit) if repo is not None else 0
                    target = state.versions[event.commit] = VersionState(
                        state.name, event.commit, event.commit, commit_time
                    )
            stage = str(event.parsed.stage)
            target.stage_events.setdefault(stage, StageState(stage)).events.append(event)
    for state in artifacts.values():
        _assign_stages(state)
    return artifacts


def _assign_stages(state: ArtifactState) -> None:
    """For each stage, the active version whose assignment of it is the latest active one."""
    best: dict[str, tuple[tuple[int, int], tuple[int, SemVer | None, str], VersionState]] = {}
    for version in state.versions.values():
        if not version.active:
            continue
        for stage in version.active_stages():
            rank = (stage.assigned.order, version_key(version.version))
            current = best.get(stage.stage)
            if current is None or rank > current[:2]:
                best[stage.stage] = (*rank, version)
    state.in_stage = {stage: entry[2] for stage, entry in best.items()}
    for version in state.versions.values():
        version.stages = sorted(s for s, v in state.in_stage.items() if v is version)


def registry(repo: pygit2.Repository) -> dict[str, ArtifactState]:
    """The registry of a repository's tags, per artifact name."""
    return build_state(read_events(repo), repo)


def registry_at(root: str | Path) -> dict[str, ArtifactState]:
    """:func:`registry` of the repository at ``root``."""
    from graft.core import gitrepo

    return registry(gitrepo.open_repo(root))


def artifact_state(repo: pygit2.Repository, name: str) -> ArtifactState:
    """One artifact's state (empty when no tag mentions it)."""
    return registry(repo).get(name) or ArtifactState(name)


def next_counter(repo: pygit2.Repository, name: str) -> int:
    """The counter GTO gives the artifact's next non-simple tag: 1 + the highest one in use
    (lightweight tags included, as GTO counts every tag name)."""
    highest = 0
    for ref in repo.references:
        if ref.startswith(TAGS_PREFIX):
            parsed = parse_tag_name(ref[len(TAGS_PREFIX) :])
            if parsed is not None and parsed.artifact == name and parsed.counter is not None:
                highest = max(highest, parsed.counter)
    return highest + 1


# --- references to a model version -------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """What a user named: a model and at most one of a version or a stage."""

    model: str | None
    version: str | None = None  # "vX.Y.Z"
    stage: str | None = None
    latest: bool = False

    def describe(self) -> str:
        model = self.model or "the model"
        if self.version:
            return f"{model}@{self.version}"
        if self.stage:
            return f"{model}#{self.stage}"
        return f"{model}@latest" if self.latest else model


def normalise_version(version: str) -> str:
    text = version if version.startswith("v") else f"v{version}"
    SemVer(text)
    return text


def parse_ref(
    text: str | None, version: str | None = None, stage: str | None = None, latest: bool = False
) -> ModelRef:
    """``MODEL``, ``MODEL@vX.Y.Z``, ``MODEL#STAGE``, ``MODEL@latest`` or a GTO tag name
    (``MODEL@vX.Y.Z``, ``MODEL#STAGE#N``), combined with ``--version``/``--stage`` options.

    Giving a version and a stage at once, or twice, is a usage error naming both.
    """
    from graft.core.errors import UsageError

    model = text
    ref_version = ref_stage = None
    ref_latest = False
    if text:
        parsed = parse_tag_name(text)
        shortcut = SHORTCUT_RE.match(text)
        if parsed is not None and parsed.action in (Action.REGISTER, Action.ASSIGN):
            model, ref_version, ref_stage = parsed.artifact, parsed.version, parsed.stage
        elif parsed is not None:
            raise UsageError(
                f"'{text}' is a GTO {parsed.action.value} tag; name a version (MODEL@vX.Y.Z) or a stage "
                "(MODEL#STAGE)"
            )
        elif shortcut is not None:
            model = shortcut["artifact"]
            ref_stage = shortcut["stage"]
            if shortcut["version"] in ("latest", "greatest"):
                ref_latest = True
            else:
                ref_version = shortcut["version"]
        elif "@" in text or "#" in text:
            raise UsageError(
                f"'{text}' is not MODEL, MODEL@vX.Y.Z, MODEL#STAGE or MODEL@latest "
                "(versions are semantic versions with a 'v')"
            )
        elif not FULLNAME_RE.match(text):
            raise UsageError(f"'{text}' is not a model name (letters, digits, '-', '_', '/')")
    if version is not None:
        if ref_version is not None or ref_stage is not None or ref_latest:
            raise UsageError(f"--version {version} given as well as '{text}': name the version once")
        try:
            ref_version = normalise_version(version)
        except RegistryError as exc:
            raise UsageError(f"--version: {exc}") from None
    if stage is not None:
        if ref_stage is not None or ref_version is not None or ref_latest:
            raise UsageError(f"--stage {stage} given as well as '{text or version}': give one of them")
        ref_stage = stage
    if latest and (ref_stage or ref_version):
        raise UsageError("--latest cannot be combined with a version or a stage")
    return ModelRef(model, ref_version, ref_stage, ref_latest or latest)
