"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graft.compare import DiffResult


def diff(
    root: Path,
    revisions: list[str] | None = None,
    base: str = "main",
    all_experiments: bool = False,
    only_changed: bool = False,
    sort: str | None = None,
) -> DiffResult:
    """Params and metrics of ``base`` and ``revisions`` side by side, read from Git objects.

    No revisions and no ``all_experiments``: compare ``HEAD``. ``all_experiments`` adds every
    ``exp/*`` branch. A revision named twice (or equal to the base name) is shown once.
    Directions for best marks come from the base revision's ``compare.metrics``.
    """
    from graft import gitrepo
    from graft.compare import SnapshotReader, build_diff, rules_from

    repo = gitrepo.open_repo(root)
    names = list(revisions or [])
    if all_experiments:
        names += gitrepo.branches(repo)
    elif not names:
        names = ["HEAD"]
    ordered = list(dict.fromkeys([base, *names]))
    resolved = [gitrepo.resolve(repo, name) for name in ordered]  # unknown names fail here
    reader = SnapshotReader()
    snapshots = [reader.read(rev) for rev in resolved]
    return build_diff(snapshots, rules_from(snapshots[0]), only_changed=only_changed, sort=sort)
