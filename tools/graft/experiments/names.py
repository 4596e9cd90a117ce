"""Experiment names: every check that can refuse one, and the short file names made from them.

An experiment ``NAME`` is the branch ``exp/NAME``. It is refused before anything is created
(no worktree, no log, no pipeline run) when

* ``exp/NAME`` is not a valid Git branch name (``git check-ref-format`` rules, via libgit2);
* it is longer than :data:`graft.core.limits.EXP_NAME_BYTES` (UTF-8 bytes, ``exp/`` not
  counted): Git keeps each ref as a file, one component per folder level, so a name past the
  file system's 255-byte file names would fail half-way;
* its branch clashes with one that exists, here or on the Git remote it will be pushed to:
  the same name, or one that is a folder of the other (``exp/a`` and ``exp/a/b`` cannot both
  exist, in either order), including ``exp`` itself. Same rule within one batch.

File names derived from a name (logs, worktree folders, a search's storage) come from
:func:`file_stem`: the name itself when it is short and plain, else a readable prefix and a
digest of the whole name, at most :data:`STEM_CHARS` characters, so no valid name can fail
on the file system.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from graft.core import gitrepo, limits
from graft.core.errors import GitError, UsageError

STEM_CHARS = 64  # longest file-name stem made from an experiment name
_DIGEST_CHARS = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def shown(name: str, width: int = 60) -> str:
    """``name`` for a message: whole when short, else its start and its length."""
    return name if len(name) <= width else f"{name[:width]}... ({len(name)} characters)"


def check_syntax(name: str, what: str = "experiment name", reserve: int = 0) -> None:
    """Git's ref rules and the length limit (``reserve`` bytes kept for a suffix such as ``-t001``)."""
    branch = gitrepo.EXP_PREFIX + name
    if not name or not gitrepo.is_valid_branch_name(branch):
        raise UsageError(
            f"'{shown(name)}' is not a valid {what}: '{shown(branch)}' is not a valid Git branch name"
        )
    size = len(name.encode("utf-8")) + reserve
    limit = limits.EXP_NAME_BYTES.value()
    if size > limit:
        room = f" (with {reserve} bytes for the trial suffix)" if reserve else ""
        raise UsageError(
            f"{what} '{shown(name)}' is {size} bytes long{room}; the limit is {limit} bytes "
            f"({limits.EXP_NAME_BYTES.variable})"
        )


class Taken:
    """Existing branch names, indexed so that a clash costs a few set lookups whatever their number."""

    def __init__(self, existing: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.folders: dict[str, str] = {}  # a folder of an existing branch -> that branch
        for name in sorted(existing):
            self.add(name)

    def add(self, name: str) -> None:
        self.names.add(name)
        parts = name.split("/")
        for i in range(1, len(parts)):
            self.folders.setdefault("/".join(parts[:i]), name)

    def clash(self, branch: str) -> str | None:
        """The existing branch ``branch`` cannot live beside: itself, or a folder of the other."""
        if branch in self.names:
            return branch
        if branch in self.folders:
            return self.folders[branch]
        parts = branch.split("/")
        return next((f for f in ("/".join(parts[:i]) for i in range(1, len(parts))) if f in self.names), None)


def clash(branch: str, existing: Iterable[str] | Taken) -> str | None:
    """The existing branch ``branch`` cannot live beside: itself, or a folder of the other."""
    return (existing if isinstance(existing, Taken) else Taken(existing)).clash(branch)


def check_free(branch: str, existing: Iterable[str] | Taken, where: str = "") -> None:
    """Refuse ``branch`` when it clashes with ``existing`` (``where``: e.g. " on the Git remote X")."""
    other = clash(branch, existing)
    if other is None:
        return
    if other == branch:
        raise GitError(f"branch '{shown(branch)}' already exists{where} (pick another name or delete it)")
    raise GitError(
        f"branch '{shown(branch)}' cannot be created: branch '{shown(other)}' exists{where}, and Git cannot "
        "hold a branch and another under it as a folder (pick another name or delete it)"
    )


def check_batch(branches: Iterable[str]) -> None:
    """No two branches of one batch clash (the same name twice, or one a folder of another)."""
    seen = Taken(())
    for branch in branches:
        other = seen.clash(branch)
        if other is not None:
            if other == branch:
                name = branch.removeprefix(gitrepo.EXP_PREFIX)
                raise UsageError(f"experiment name '{shown(name)}' is used twice")
            raise UsageError(
                f"branches '{shown(other)}' and '{shown(branch)}' of one batch cannot both exist "
                "(one would be a folder of the other)"
            )
        seen.add(branch)


def file_stem(name: str) -> str:
    """A short, safe file-name stem for ``name`` (see the module docstring); distinct names that
    would read alike get distinct digests."""
    plain = _UNSAFE.sub("_", name.replace("/", "__"))
    if plain == name and len(plain) <= STEM_CHARS:
        return plain
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    return f"{plain[: STEM_CHARS - _DIGEST_CHARS - 1]}-{digest}"
