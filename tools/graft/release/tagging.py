"""Writing a release tag: GTO's annotated registration tag (its message carries the package's
SHA-256 and contents digest), signed by the user's Git identity, and pushing it idempotently."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2

from graft.core import gitrepo
from graft.core.errors import GitError
from graft.release.tags import TAGS_PREFIX

if TYPE_CHECKING:
    pass
from graft.release.releases import NextVersion, ReleaseError

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


def tag_message(plan: NextVersion, archive_name: str, archive_sha256: str, contents_sha256: str) -> str:
    from graft.core.templating import render

    return render(
        "release_tag.txt.j2",
        plan=plan,
        archive_name=archive_name,
        archive_sha256=archive_sha256,
        contents_sha256=contents_sha256,
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
        detail = gitrepo.failure_reason(done.stderr) or f"exit {done.returncode}"
        raise GitError(f"could not push tag '{tag}' to '{remote}': {detail}")


def remote_tag(root: Path, tag: str, remote: str = "origin") -> str | None:
    """The object id ``remote`` has for ``refs/tags/<tag>``, or None when it has no such tag."""
    listed = gitrepo.git(root, "ls-remote", "--tags", remote, f"{TAGS_PREFIX}{tag}")
    for line in listed.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"{TAGS_PREFIX}{tag}":
            return sha
    return None


def ensure_pushed(root: Path, tag: str, remote: str) -> bool:
    """Push ``tag`` unless ``remote`` already has it; True when this call pushed it. A remote
    holding a *different* tag of that name is an error (someone else released this version)."""
    local = str(gitrepo.open_repo(root).references[f"{TAGS_PREFIX}{tag}"].target)
    there = remote_tag(root, tag, remote)
    if there == local:
        return False
    if there is not None:
        raise ReleaseError(
            f"'{remote}' has a different tag '{tag}' ({there[:8]}, here {local[:8]}): fetch it with "
            f"`git fetch --tags {remote}` and look at who released what"
        )
    push_tag(root, tag, remote)
    return True
