"""Experiments as Git branches: ``exp/NAME`` = base + params overrides + the pipeline's results.

An experiment never touches the user's checkout. It is built in a detached Git worktree whose
DVC cache is shared (``dvc cache dir --local <abs path>``), so unchanged stages are restored
from the run cache instead of recomputed. The branch is created only once the experiment
commit exists (and, with a push, once its data is on the DVC remote), so a failed run leaves
no branch behind; its output is kept in ``.graft/logs/NAME-<timestamp>.log``.

One path for every way of running: :func:`make_plan` checks everything before anything is
created, an executor (:mod:`graft.experiments.executors`: threads here, or a Dask cluster)
runs one :class:`Job` per experiment through :func:`build`, and :func:`collect` brings the
results home (branches fetched from the Git remote, failure logs saved under
``.graft/logs/``). What travels to a worker is Git: the base commit, the overrides and the
name (:class:`Job`).

The code lives in one module per job, layered bottom-up without a circle:
:mod:`~graft.experiments.model` (result types) <- :mod:`~graft.experiments.plan` (the checks)
and :mod:`~graft.experiments.build` (one experiment's build) <- executors and the worker <-
:mod:`~graft.experiments.batch` (orchestration) <- the verbs (:mod:`~graft.experiments.listing`,
:mod:`~graft.experiments.prune`, :mod:`~graft.experiments.search`). This module only gathers
their public names for callers that address them as ``branches.NAME``.
"""

from __future__ import annotations

from graft.experiments.build import (  # noqa: F401
    Built,
    build,
    commit_message,
    failure_reason,
    log_path,
    push_branch,
    result_of,
    results_to_commit,
    run_local,
    run_one,
    same_content,
    sweep_stale,
    worker_name,
)
from graft.experiments.listing import (  # noqa: F401
    Info,
    Stale,
    code_paths,
    headline_metrics,
    list_experiments,
    param_changes,
    pipeline_params,
    stale_flags,
)
from graft.experiments.model import (  # noqa: F401
    REMOTE,
    Cluster,
    ExperimentFailed,
    Job,
    Outcome,
    Plan,
    Progress,
    ProgressCallback,
    Result,
    Spec,
)
from graft.experiments.plan import (  # noqa: F401
    check_clean,
    check_cluster,
    check_name,
    check_remote,
    check_remote_names,
    identity,
    jobs_of,
    make_plan,
    project_root,
    remote_heads,
    remote_url,
)
from graft.project import DEFAULT_BASE  # noqa: F401
