"""GTO's tag names, built and parsed in one place, and the semantic versions they carry.

The grammar (the table in :mod:`graft.release.registry`'s docstring, after GTO's
``gto/constants.py`` ``tag_re``): :func:`parse_tag_name` reads every form; :func:`version_tag`
and :func:`stage_tag` write the two graft creates (a registration ``MODEL@vX.Y.Z`` and a stage
assignment ``MODEL#STAGE#N``), both spelling a ``DIR:NAME`` artifact as ``DIR=NAME`` through
:func:`artifact_in_tag`. :class:`SemVer` parses, orders and bumps versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import total_ordering
from typing import Literal

from graft.core.errors import GraftError, UsageError

Step = Literal["major", "minor", "patch"]

TAGS_PREFIX = "refs/tags/"
SEPARATOR_IN_NAME = ":"
SEPARATOR_IN_TAG = "="
_DIRNAME = r"[a-zA-Z0-9-_./]+"
_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_FULLNAME_IN_TAG = f"(?P<dirname>{_DIRNAME}{SEPARATOR_IN_TAG})?(?P<name>{_NAME})"
TAG_RE = re.compile(
    f"^(?P<artifact>{_FULLNAME_IN_TAG})"
    f"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?))"
    r"|@((?P<deprecated>deprecated)|(?P<created>created)))"
    r"(#(?P<counter>[0-9]+))?$"
)
NAME_RE = re.compile(f"^{_NAME}$")
FULLNAME_RE = re.compile(f"^({_DIRNAME}{SEPARATOR_IN_NAME})?{_NAME}$")
SEMVER_RE = re.compile(f"^v{_SEMVER}$")
# GTO's shortcuts: MODEL#STAGE, MODEL@vX.Y.Z, MODEL@latest / MODEL@greatest
SHORTCUT_RE = re.compile(
    f"^(?P<artifact>({_DIRNAME}{SEPARATOR_IN_NAME})?{_NAME})"
    f"(#(?P<stage>{_NAME})|@(?P<version>latest|greatest|v{_SEMVER}))$"
)


class RegistryError(GraftError):
    pass


class Action(Enum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


@dataclass(frozen=True)
class ParsedTag:
    """What a tag name says: the action, the artifact (GTO's name) and version or stage."""

    action: Action
    artifact: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def artifact_in_tag(artifact: str) -> str:
    return artifact.replace(SEPARATOR_IN_NAME, SEPARATOR_IN_TAG)


def parse_tag_name(name: str) -> ParsedTag | None:
    """A GTO tag name -> what it records; None for any other tag (and for ``@created``, which no
    GTO command writes and GTO itself cannot index)."""
    found = TAG_RE.match(name)
    if found is None or found["created"]:
        return None
    artifact = found["artifact"].replace(SEPARATOR_IN_TAG, SEPARATOR_IN_NAME)
    counter = int(found["counter"]) if found["counter"] else None
    cancel = found["cancel"] == "!"
    if found["deprecated"]:
        return ParsedTag(Action.DEPRECATE, artifact, counter=counter)
    if found["version"]:
        action = Action.DEREGISTER if cancel else Action.REGISTER
        return ParsedTag(action, artifact, version=found["version"], counter=counter)
    action = Action.UNASSIGN if cancel else Action.ASSIGN
    return ParsedTag(action, artifact, stage=found["stage"], counter=counter)


def is_valid_name(value: str) -> bool:
    """A stage or artifact name GTO accepts (letters, digits, ``-``, ``_``, ``/``)."""
    return bool(NAME_RE.match(value))


def check_name(value: str, what: str, artifact: bool = False) -> str:
    """``value`` when GTO can write it in a tag as a stage name (``artifact``: as an artifact
    name, ``DIR:NAME`` allowed); else a :class:`~graft.core.errors.UsageError` naming ``what``
    (``--model``), so a filter that could never match is refused rather than matching nothing."""
    if not (FULLNAME_RE if artifact else NAME_RE).match(value):
        kind = "a model name" if artifact else "a stage name"
        raise UsageError(
            f"{what} '{value}' is not {kind} GTO can write in a tag: letters, digits, '-', '_' and "
            "'/', starting and ending with a letter or digit"
        )
    return value


# --- semantic versions -------------------------------------------------------------------------


@total_ordering
class SemVer:
    """A ``vX.Y.Z[-pre][+build]`` version, ordered by semantic versioning's precedence rules."""

    def __init__(self, text: str) -> None:
        found = SEMVER_RE.match(text)
        if found is None:
            raise RegistryError(f"'{text}' is not a semantic version (expected vX.Y.Z)")
        self.text = text
        pre = found["prerelease"]
        parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
        # a release ranks above its pre-releases; build metadata does not count
        self.key = (int(found["major"]), int(found["minor"]), int(found["patch"]), 0 if pre else 1, parts)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self.key < other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"SemVer({self.text!r})"

    @classmethod
    def of(cls, number: str) -> SemVer:
        """A version written without its ``v`` (``1.2.3``, as release results and files spell it)."""
        return cls(f"v{number}")

    @property
    def number(self) -> str:
        """The version without its ``v``: ``1.2.3-rc.1``."""
        return self.text[1:]

    @property
    def core(self) -> tuple[int, int, int]:
        """``(major, minor, patch)``."""
        return self.key[0], self.key[1], self.key[2]

    @classmethod
    def first(cls, bump: Step) -> SemVer:
        """The first version a ``bump`` makes when nothing was released: 1.0.0, 0.1.0 or 0.0.1."""
        return cls({"major": "v1.0.0", "minor": "v0.1.0", "patch": "v0.0.1"}[bump])

    def bump(self, bump: Step) -> SemVer:
        """The next ``major``, ``minor`` or ``patch`` version (pre-release and build dropped)."""
        major, minor, patch = self.core
        if bump == "major":
            return SemVer(f"v{major + 1}.0.0")
        if bump == "minor":
            return SemVer(f"v{major}.{minor + 1}.0")
        return SemVer(f"v{major}.{minor}.{patch + 1}")


def is_semver(number: str) -> bool:
    """Whether ``number`` (no ``v``: ``1.2.3``, ``1.2.3-rc.1+build.5``) is a semantic version."""
    return SEMVER_RE.match(f"v{number}") is not None


def version_key(version: str) -> tuple[int, SemVer | None, str]:
    """Sort key: semantic versions by precedence, then (GTO's order) commit-named versions by name."""
    return (1, SemVer(version), "") if SEMVER_RE.match(version) else (0, None, version)


# --- building and reading graft's tags ----------------------------------------------------------


def version_tag(model: str, version: str) -> str:
    """The registration tag of ``version`` (``1.2.3``, no ``v``): ``MODEL@v1.2.3``."""
    return f"{artifact_in_tag(model)}@v{version}"


def stage_tag(model: str, stage: str, counter: int) -> str:
    """The stage assignment tag ``gto assign`` writes: ``MODEL#STAGE#N``."""
    return f"{artifact_in_tag(model)}#{stage}#{counter}"


def parse_version_tag(name: str) -> tuple[str, str] | None:
    """A registration tag: ``adult-income@v1.2.3`` -> ``("adult-income", "1.2.3")``; None for any
    other tag (stage, deregistration and deprecation tags included)."""
    parsed = parse_tag_name(name)
    if parsed is None or parsed.action is not Action.REGISTER or parsed.version is None:
        return None
    return parsed.artifact, parsed.version[1:]
