"""The experiments' types, at the bottom of the package: what is planned (:class:`Spec`,
:class:`Plan`, :class:`Cluster`), what travels to an executor (:class:`Job`), what comes back
(:class:`Result`, :class:`Outcome`) and the progress of a batch (:class:`Progress`).

Layering (no import circle): model <- plan, build <- executors, worker <- batch <- the verbs
(listing, prune, search, api).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graft.core import gitrepo
from graft.core.dvcremote import PushReport, Remote
from graft.core.errors import GraftError
from graft.experiments.overrides import Override

REMOTE = "origin"


class ExperimentFailed(GraftError):
    """The pipeline (or a push) failed; ``log`` is where its output was kept."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Spec:
    """One experiment to build: its name (without ``exp/``) and checked overrides."""

    name: str
    overrides: tuple[Override, ...]

    @property
    def branch(self) -> str:
        return gitrepo.EXP_PREFIX + self.name


@dataclass(frozen=True)
class Cluster:
    """Where workers get the code and the data: a Git remote URL and the committed DVC remote."""

    git_remote: str
    dvc_remote: Remote


@dataclass(frozen=True)
class Plan:
    """Everything checked before anything is created."""

    root: Path
    base: gitrepo.Revision
    specs: tuple[Spec, ...]
    run: bool
    push: bool
    cache_dir: Path | None
    cluster: Cluster | None = None
    branches: bool = True  # False: search trials (run, report metrics, keep no branch)
    targets: tuple[str, ...] = ()  # stages to reproduce (with their upstream); () = the pipeline


@dataclass(frozen=True)
class Job:
    """What travels to whoever runs one experiment: Git facts and the overrides, nothing else."""

    spec: Spec
    base_sha: str
    base_name: str
    run: bool = True
    branch: bool = True
    git_remote: str | None = None
    identity: tuple[str, str] | None = None  # (name, email) the commit is made with
    targets: tuple[str, ...] = ()  # stages to reproduce (with their upstream); () = the pipeline


@dataclass(frozen=True)
class Result:
    name: str
    branch: str
    sha: str | None  # None for a search trial (no commit kept)
    base_name: str
    base_sha: str
    overrides: tuple[Override, ...]
    ran: bool
    pushed: bool
    seconds: float
    files: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> ran | restored | unchanged
    worker: str | None = None
    uploaded: PushReport | None = None  # the DVC remote: what it lacked and was sent (None: no push)


@dataclass(frozen=True)
class Outcome:
    """How one experiment of a batch ended: a result or an error (with its log, if any)."""

    spec: Spec
    seconds: float
    result: Result | None = None
    error: str | None = None
    log: Path | None = None
    log_text: str | None = None  # a worker's log, until collect() saves it under .graft/logs

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class Progress:
    """A progress event of a batch: ``started`` or ``finished`` (then ``outcome`` is set)."""

    event: str
    index: int
    total: int
    spec: Spec
    outcome: Outcome | None = None


ProgressCallback = Callable[[Progress], None]
