"""The project layer: the one place that knows where a project keeps its files and settings.

A :class:`Project` is found from any folder inside it (the nearest ancestor holding ``.dvc/``,
else the Git work tree's root, as DVC and Git do). :meth:`Project.at` gives a
:class:`~graft.project.view.View` of the project at a revision (read from Git objects) and
:meth:`Project.work` one of the working tree; a view reads ``dvc.yaml`` (metrics, plots,
params, artifacts), ``dvc.lock``, the params files and ``graft.yaml`` (typed settings,
:mod:`graft.project.settings`; without one, what :mod:`graft.project.infer` infers) and parses
each distinct file once. Nothing else in graft spells a project path.

A revision's results may be DVC-cached outputs rather than Git files: views of revisions read
them from the project's DVC cache (:attr:`Project.dvc`, shared so one fetch from the DVC remote
serves every revision a command opened; see :mod:`graft.project.dvccache`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from graft.core.errors import GitError

DEFAULT_BASE = "main"
"""The branch experiments start from and comparisons are made against unless ``--base`` says."""

if TYPE_CHECKING:
    import pygit2

    from graft.core.gitrepo import Revision
    from graft.project.dvccache import DvcCache
    from graft.project.view import Parsed, View


def find_root(start: str | Path = ".") -> Path:
    """The project root above ``start``: the nearest folder with ``.dvc/``, else Git's work tree."""
    here = Path(start).resolve()
    if not here.exists():
        raise GitError(f"{here}: no such folder")
    git_root: Path | None = None
    for folder in [here, *here.parents]:
        if (folder / ".dvc").is_dir():
            return folder
        if git_root is None and (folder / ".git").exists():
            git_root = folder
            break
    if git_root is not None:
        return git_root
    raise GitError(f"{here}: not inside a Git repository or DVC project (run `git init` and `dvc init`)")


class Project:
    """A project checkout: its root, its Git repository and views of its files."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._parsed: Parsed | None = None

    @classmethod
    def find(cls, start: str | Path = ".") -> Project:
        return cls(find_root(start))

    @cached_property
    def repo(self) -> pygit2.Repository:
        from graft.core import gitrepo

        return gitrepo.open_repo(self.root)

    @cached_property
    def dvc(self) -> DvcCache | None:
        """The project's DVC cache (None without ``.dvc/``); offline as :func:`dvccache.offline` says."""
        from graft.project.dvccache import DVC_DIR, DvcCache

        return DvcCache(self.root) if (self.root / DVC_DIR).is_dir() else None

    def resolve(self, rev: str) -> Revision:
        from graft.core import gitrepo

        return gitrepo.resolve(self.repo, rev)

    def _cache(self) -> Parsed:
        from graft.project.view import Parsed

        if self._parsed is None:
            self._parsed = Parsed()
        return self._parsed

    def at(self, rev: str | Revision) -> View:
        """The project as committed at ``rev`` (a name or a resolved revision)."""
        from graft.core.gitrepo import Revision
        from graft.project.source import GitSource
        from graft.project.view import View

        revision = rev if isinstance(rev, Revision) else self.resolve(rev)
        return View(GitSource(revision.commit, revision.name, self.dvc), self._cache(), revision)

    def work(self) -> View:
        """The project's working tree as it is on disk."""
        from graft.project.source import WorkSource
        from graft.project.view import View

        return View(WorkSource(self.root), self._cache(), None)
