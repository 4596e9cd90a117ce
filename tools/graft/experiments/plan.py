"""Planning a batch of experiments: every check (clean tree, names, keys and values, remotes,
what cluster workers need) happens in :func:`make_plan` before anything is created; a
:class:`~graft.experiments.model.Plan` is the checked result and :func:`jobs_of` its jobs.
:func:`grid_points` expands ``exp grid``'s ``--set key=v1,v2`` options and :func:`check_grid`
plans them without creating anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pygit2

from graft.core import gitrepo
from graft.core.dvcremote import CONFIG_FILE as DVC_CONFIG
from graft.core.dvcremote import check_plugin, default_remote
from graft.core.errors import GitError, GraftError
from graft.core.worktree import (
    dvc_cache_dir,
)
from graft.experiments import names

# ---------------------------------------------------------------------------------------------
# checks (nothing is created before all of them pass)
from graft.experiments.model import REMOTE, Cluster, Job, Plan, Spec
from graft.experiments.overrides import Assignment, expand_grid, parse_grid
from graft.experiments.paramfiles import BaseParams
from graft.project import DEFAULT_BASE, find_root


def project_root(cwd: str | Path = ".") -> tuple[pygit2.Repository, Path]:
    root = find_root(cwd)
    repo = gitrepo.open_repo(root)
    if repo.workdir is None:
        raise GitError(f"{root}: a bare repository has no checkout to run experiments from")
    return repo, root


def check_clean(root: Path) -> None:
    changes = gitrepo.workdir_changes(root)
    if changes:
        shown = ", ".join(changes[:5]) + (" ..." if len(changes) > 5 else "")
        raise GitError(
            f"{root}: the working tree has uncommitted changes ({shown}); commit or stash them first"
        )


def check_name(repo: pygit2.Repository, name: str, local: names.Taken | None = None) -> None:
    """Every local check of an experiment name (graft.experiments.names): Git's rules, the
    length limit, and no clash with a local branch (``local``: the branch names, read once)."""
    names.check_syntax(name)
    names.check_free(gitrepo.EXP_PREFIX + name, repo.branches.local if local is None else local)


def check_remote(root: Path) -> str:
    """The URL of ``origin`` (``--push``), refused by name when there is none."""
    try:
        return gitrepo.git(root, "remote", "get-url", REMOTE)
    except GitError:
        raise GitError(f"--push: the repository has no Git remote '{REMOTE}'") from None


def check_remote_names(specs: Sequence[Spec], heads: Mapping[str, str], where: str) -> None:
    """No branch of ``specs`` clashes with a branch of the Git remote (``heads``, ls-remote)."""
    taken = names.Taken(heads)
    for spec in specs:
        names.check_free(spec.branch, taken, f" on the Git remote {where}")


def remote_url(root: Path, git_remote: str | None) -> str:
    """The URL workers clone from: ``--git-remote`` (a URL or a remote's name), else ``origin``.

    A local path is made absolute (a worker does not run in the user's folder).
    """
    given = git_remote or REMOTE
    try:
        url = gitrepo.git(root, "remote", "get-url", given)
    except GitError:
        if git_remote is None:
            raise GitError(
                f"--cluster: the repository has no Git remote '{REMOTE}' for the workers to clone "
                "from (add one, or pass --git-remote URL)"
            ) from None
        url = given
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):  # a path, not scp-like
        path = Path(url).expanduser()
        url = str(path if path.is_absolute() else (root / path).resolve())
    return url


def remote_heads(root: Path, url: str) -> dict[str, str]:
    """``git ls-remote --heads URL``: branch -> sha; a one-line error when it cannot be reached."""
    try:
        out = gitrepo.git(root, "ls-remote", "--heads", url)
    except GitError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise GitError(f"Git remote {url} cannot be reached ({reason})") from None
    heads: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        heads[ref.removeprefix("refs/heads/")] = sha
    return heads


def check_cluster(
    root: Path, base: gitrepo.Revision, specs: Sequence[Spec], git_remote: str | None
) -> Cluster:
    """What workers need, checked from here: the Git remote, the base on it, a committed DVC remote."""
    url = remote_url(root, git_remote)
    heads = remote_heads(root, url)
    check_remote_names(specs, heads, url)
    # the remote branch named like the base first, then main: usually one `git merge-base` call
    first = [heads[n] for n in (base.name.removeprefix(f"{REMOTE}/"), DEFAULT_BASE) if n in heads]
    candidates = dict.fromkeys([*first, *heads.values()])
    on_remote = any(sha == base.sha or _is_ancestor(root, base.sha, sha) for sha in candidates)
    if not on_remote:
        raise GitError(
            f"base '{base.name}' ({base.short}) is not on the Git remote {url}: workers clone from "
            f"there, so push it first (git push {git_remote or REMOTE} {base.name})"
        )
    config = gitrepo.read_file(base.commit, DVC_CONFIG)
    remote = default_remote(config.decode("utf-8") if config else None)
    if remote is None:
        local = (root / ".dvc" / "config.local").is_file()
        hint = " (.dvc/config.local is not seen by workers)" if local else ""
        raise GraftError(
            f"no default DVC remote in {DVC_CONFIG} at '{base.name}' ({base.short}){hint}: workers share "
            "data and the run cache through it; add one with `dvc remote add -d NAME URL` and commit "
            f"{DVC_CONFIG}"
        )
    return Cluster(url, remote)


def _dvc_config(root: Path) -> str | None:
    path = root / DVC_CONFIG
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _is_ancestor(root: Path, ancestor: str, sha: str) -> bool:
    try:
        gitrepo.git(root, "merge-base", "--is-ancestor", ancestor, sha)
    except GitError:
        return False
    return True


def make_plan(
    cwd: str | Path,
    experiments: Sequence[tuple[str, Sequence[Assignment]]],
    base: str = DEFAULT_BASE,
    run: bool = True,
    push: bool = False,
    cluster: bool = False,
    git_remote: str | None = None,
    branches: bool = True,
) -> Plan:
    """Check the repository, names, keys and values; raise on the first problem, change nothing.

    ``cluster``: also check what workers need (Git remote reachable and holding the base, no
    name taken there, a default DVC remote committed at the base).
    """
    repo, root = project_root(cwd)
    check_clean(root)
    revision = gitrepo.resolve(repo, base)
    params = BaseParams.at(root, revision, base)
    specs: list[Spec] = []
    local = names.Taken(repo.branches.local if branches else ())
    for name, assignments in experiments:
        if branches:
            check_name(repo, name, local)
        specs.append(Spec(name, tuple(params.plan(assignments))))
    names.check_batch(s.branch for s in specs)
    if push and not cluster:
        url = check_remote(root)
        check_remote_names(specs if branches else (), remote_heads(root, REMOTE), f"'{REMOTE}' ({url})")
        remote = default_remote(_dvc_config(root))
        if remote is not None:  # dvc push runs here: its filesystem plugin must be installed here
            check_plugin(remote)
    target = check_cluster(root, revision, specs if branches else (), git_remote) if cluster else None
    cache = dvc_cache_dir(root) if (run or push) and not cluster else None
    return Plan(root, revision, tuple(specs), run, push or cluster, cache, target, branches)


def grid_points(sets: Sequence[str], prefix: str = "grid") -> list[tuple[str, list[Assignment]]]:
    """The grid's experiment names and their assignments, one per point of the cartesian product
    of ``sets`` (``key=v1,v2,...``); no repository needed."""
    names.check_syntax(prefix, "--prefix")
    points = expand_grid(parse_grid(sets), prefix)
    return [(p.name, list(p.assignments)) for p in points]


def check_grid(
    cwd: str | Path, sets: Sequence[str], base: str = DEFAULT_BASE, prefix: str = "grid"
) -> list[tuple[str, list[str]]]:
    """Every grid point checked against the repository (:func:`make_plan`, nothing created), as
    (name, ["key=value", ...])."""
    points = grid_points(sets, prefix)
    make_plan(cwd, points, base, run=False)
    return [(name, [f"{a.key}={a.raw}" for a in assignments]) for name, assignments in points]


def identity(root: Path) -> tuple[str, str] | None:
    """The user's Git identity (``git var GIT_AUTHOR_IDENT``), for commits made on workers."""
    try:
        ident = gitrepo.git(root, "var", "GIT_AUTHOR_IDENT")
    except GitError:
        return None
    match = re.match(r"^(.*?) <([^>]*)>", ident)
    return (match.group(1), match.group(2)) if match else None


def jobs_of(plan: Plan) -> list[Job]:
    who = identity(plan.root) if plan.cluster else None
    url = plan.cluster.git_remote if plan.cluster else None
    return [
        Job(spec, plan.base.sha, plan.base.name, plan.run, plan.branches, url, who, plan.targets)
        for spec in plan.specs
    ]
