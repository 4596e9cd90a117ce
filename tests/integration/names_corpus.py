"""A corpus of experiment names graft must refuse before it creates anything.

Each :class:`Case` is one command line of `graft exp new|grid|search|prune` in a copy of the
nap project (tests/integration/nap.py) whose repository already holds the branches in
:data:`LOCAL` and whose remote ``origin`` (a bare repository) holds :data:`REMOTE`; a case's
``setup`` adds what it needs (a branch named ``exp``, say) before the snapshot is taken. The
expected exit code and the whole one-line message (``{remote}`` stands for origin's path)
are given; the classes are Git's ref rules, the length limit, and clashes (the same name, or
one a folder of the other, both ways) here, on the remote and within one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graft.core.limits import EXP_NAME_BYTES
from graft.experiments.names import shown
from tests.conftest import git

LIMIT = EXP_NAME_BYTES.default
LOCAL = ("exp/keep", "exp/deep/one")
REMOTE = ("exp/far", "exp/rdeep/x")
CLASH = (
    "branch '{new}' cannot be created: branch '{old}' exists{where}, and Git cannot hold a branch and "
    "another under it as a folder (pick another name or delete it)"
)


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    message: str
    setup: Callable[[Path], None] | None = None


def error(text: str) -> str:
    return f"graft: error: {text}"


def invalid(name: str, what: str = "experiment name") -> str:
    return error(
        f"'{shown(name)}' is not a valid {what}: '{shown('exp/' + name)}' is not a valid Git branch name"
    )


def too_long(name: str, what: str = "experiment name", reserve: int = 0) -> str:
    size = len(name.encode()) + reserve
    room = f" (with {reserve} bytes for the trial suffix)" if reserve else ""
    return error(
        f"{what} '{shown(name)}' is {size} bytes long{room}; the limit is {LIMIT} bytes "
        "(GRAFT_LIMIT_EXP_NAME_BYTES)"
    )


def clash(new: str, old: str, where: str = "") -> str:
    return error(CLASH.replace("{new}", new).replace("{old}", old).replace("{where}", where))


def exists(branch: str, where: str = "") -> str:
    return error(f"branch '{branch}' already exists{where} (pick another name or delete it)")


def branch_named_exp(project: Path) -> None:
    """Only a branch called ``exp``: every experiment branch would be a folder under it."""
    git(project, "branch", "-D", *LOCAL)
    git(project, "branch", "exp", "main")


ON_ORIGIN = " on the Git remote 'origin' ({remote})"
ON_URL = " on the Git remote {remote}"
GRID = ("exp", "grid", "--set", "nap.seconds=1,2")
SEARCH = ("exp", "search")
SPACE = ("--param", "nap.seconds=int:1..3", "--trials", "3")
BAD_NAMES = [
    "a..b",
    "a.lock",
    "a b",
    "a~1",
    "a^1",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a/",
    "a//b",
    ".a",
    "a/.b",
    "a@{b",
    "a.",
    "a/b.lock/c",
    "a\\b",
    "a\x7f",
    "a\x01",
]

CASES: list[Case] = [
    # --- Git's ref rules ------------------------------------------------------------------------
    *[
        Case(f"new-invalid-{i}", ("exp", "new", n, "--no-run"), 2, invalid(n))
        for i, n in enumerate(BAD_NAMES)
    ],
    Case("new-empty", ("exp", "new", "", "--no-run"), 2, invalid("")),
    Case("grid-invalid-prefix", (*GRID, "--prefix", "a..b"), 2, invalid("a..b", "--prefix")),
    Case(
        "grid-dry-run-invalid-prefix",
        (*GRID, "--prefix", "x.lock/", "--dry-run"),
        2,
        invalid("x.lock/", "--prefix"),
    ),
    Case("prune-invalid", ("exp", "prune", "a..b", "--no-dry-run"), 2, invalid("a..b", "experiment branch")),
    # --- the length limit ---------------------------------------------------------------------
    Case("new-240", ("exp", "new", "n" * 240, "--no-run"), 2, too_long("n" * 240)),
    Case("new-300", ("exp", "new", "n" * 300), 2, too_long("n" * 300)),
    Case("new-limit-plus-one", ("exp", "new", "n" * (LIMIT + 1)), 2, too_long("n" * (LIMIT + 1))),
    Case("new-multibyte", ("exp", "new", "é" * (LIMIT // 2 + 1)), 2, too_long("é" * (LIMIT // 2 + 1))),
    Case(
        "new-long-components",
        ("exp", "new", "/".join(["d" * 60] * 4)),
        2,
        too_long("/".join(["d" * 60] * 4)),
    ),
    Case(
        "grid-long-prefix",
        (*GRID, "--prefix", "g" * (LIMIT - 5)),
        2,
        too_long("g" * (LIMIT - 5) + "-seconds-1"),
    ),
    Case("grid-too-long-prefix", (*GRID, "--prefix", "g" * 300), 2, too_long("g" * 300, "--prefix")),
    Case(
        "search-long-name",
        (*SEARCH, "s" * (LIMIT - 4), *SPACE),
        2,
        too_long("s" * (LIMIT - 4), "search name", reserve=5),
    ),
    Case(
        "search-long-name-many-trials",  # the most trials allowed: the last, 9999, needs -t9999
        (*SEARCH, "s" * (LIMIT - 5), "--param", "nap.seconds=int:1..3", "--trials", "10000"),
        2,
        too_long("s" * (LIMIT - 5), "search name", reserve=6),
    ),
    Case("prune-too-long", ("exp", "prune", "p" * 300), 2, too_long("p" * 300, "experiment branch")),
    # --- clashes with local branches, both ways --------------------------------------------------
    Case("new-exists", ("exp", "new", "keep"), 3, exists("exp/keep")),
    Case("new-under-a-branch", ("exp", "new", "keep/sub"), 3, clash("exp/keep/sub", "exp/keep")),
    Case(
        "new-deep-under-a-branch",
        ("exp", "new", "keep/a/b", "--no-run"),
        3,
        clash("exp/keep/a/b", "exp/keep"),
    ),
    Case("new-above-a-branch", ("exp", "new", "deep"), 3, clash("exp/deep", "exp/deep/one")),
    Case("new-with-branch-exp", ("exp", "new", "fresh"), 3, clash("exp/fresh", "exp"), branch_named_exp),
    Case(
        "grid-under-a-branch",
        (*GRID, "--prefix", "keep/g"),
        3,
        clash("exp/keep/g-seconds-1", "exp/keep"),
    ),
    Case(
        "grid-dry-run-above",
        (*GRID, "--prefix", "deep", "--dry-run"),
        3,
        clash("exp/deep-seconds-1", "exp/deep-seconds-1/x"),
        lambda p: git(p, "branch", "exp/deep-seconds-1/x", "main"),
    ),
    Case(
        "search-kept-under-a-branch",
        (*SEARCH, "keep", *SPACE),
        3,
        clash("exp/keep-t000", "exp/keep-t000/z"),
        lambda p: git(p, "branch", "exp/keep-t000/z", "main"),
    ),
    Case("search-with-branch-exp", (*SEARCH, "s", *SPACE), 3, clash("exp/s-t000", "exp"), branch_named_exp),
    # --- clashes on the Git remote (--push, --cluster's remote) ----------------------------------
    Case("push-exists-on-remote", ("exp", "new", "far", "--push"), 3, exists("exp/far", ON_ORIGIN)),
    Case(
        "push-under-a-remote-branch",
        ("exp", "new", "far/sub", "--push"),
        3,
        clash("exp/far/sub", "exp/far", ON_ORIGIN),
    ),
    Case(
        "push-above-a-remote-branch",
        ("exp", "new", "rdeep", "--push"),
        3,
        clash("exp/rdeep", "exp/rdeep/x", ON_ORIGIN),
    ),
    Case(
        "cluster-exists-on-remote",
        ("exp", "new", "far", "--cluster", "local:1"),
        3,
        exists("exp/far", ON_URL),
    ),
    Case(
        "cluster-grid-above-a-remote-branch",
        (*GRID, "--prefix", "rdeep/x/g", "--cluster", "local:1"),
        3,
        clash("exp/rdeep/x/g-seconds-1", "exp/rdeep/x", ON_URL),
    ),
    Case(
        "cluster-search-kept-on-remote",
        (*SEARCH, "rs", *SPACE, "--cluster", "local:1"),
        3,
        clash("exp/rs-t001", "exp/rs-t001/y", ON_URL),
        lambda p: git(p, "push", "-q", "origin", "main:refs/heads/exp/rs-t001/y"),
    ),
]


def expected(case: Case, remote: Path) -> str:
    return case.message.replace("{remote}", str(remote))
