"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from graft.compare import DEFAULT_RESAMPLES
from graft.core.progress import SILENT, Reporter
from graft.experiments import DEFAULT_KEEP
from graft.project import DEFAULT_BASE
from graft.serving import DEFAULT_HOST, DEFAULT_LOG_DB, DEFAULT_LOG_DURABILITY, DEFAULT_PORT

if TYPE_CHECKING:
    from graft.compare.diff import DiffResult
    from graft.compare.gate import Report
    from graft.compare.report import ReportResult
    from graft.data.types import TableDiff, TableSummary
    from graft.experiments.history import History
    from graft.experiments.listing import Info
    from graft.experiments.model import Outcome, ProgressCallback, Result, Spec
    from graft.experiments.prune import PruneResult
    from graft.experiments.search.run import SearchResult
    from graft.experiments.search.show import Summary
    from graft.experiments.search.trials import TrialEvent
    from graft.monitoring.replay import ReplayOptions, ReplayResult
    from graft.monitoring.results import MonitorResult
    from graft.project.init import InitPlan
    from graft.release.check import Difference
    from graft.release.fetch import Fetched
    from graft.release.package import LoadedPackage, PackageResult
    from graft.release.promote import PromoteResult
    from graft.release.registry import ArtifactState
    from graft.release.releases import ModelVersion, NextVersion
    from graft.release.reproduce import ReproduceResult
    from graft.release.versions import ReleaseResult
    from graft.serving.server import Server


def package(
    root: Path, out_dir: Path, version: str | None = None, allow_dirty: bool = False
) -> PackageResult:
    """Build the release archive of the current (up-to-date, committed) pipeline outputs."""
    from graft.release.package import package as build

    return build(Path(root), Path(out_dir), version=version, allow_dirty=allow_dirty)


def init_plan(root: Path) -> InitPlan:
    """What `graft init` would write in the DVC project at ``root`` (nothing is written)."""
    from graft.project.init import plan_init

    return plan_init(root)


def init_write(plan: InitPlan, force: bool = False) -> list[Path]:
    """Write an init plan's files; an existing file is refused unless ``force``."""
    from graft.project.init import write_init

    return write_init(plan, force)


def open_package(path: Path, workdir: Path | None = None) -> LoadedPackage:
    """Verify a package (archive or folder) against its manifest and open it."""
    from graft.release.package import load_package

    return load_package(Path(path), workdir)


def headline_metrics(root: Path) -> dict[str, Any]:
    """The working tree's metrics (headline file's keys bare, others ``path:key``) and whether
    they hold graft.yaml's gate thresholds (None: no thresholds configured)."""
    from graft.release.check import working_metrics

    return working_metrics(Path(root))


def monitor(
    package_path: Path,
    log_db: str,
    since: str | None = None,
    until: str | None = None,
    report: Path | None = None,
    json_out: Path | None = None,
    params_path: Path | None = None,
    progress: Reporter = SILENT,
) -> MonitorResult:
    """Monitor the logged traffic of a released model; returns the result (``exit_code``: 0 no
    alert, 1 alert, :data:`graft.monitoring.EXIT_NO_DATA` nothing to judge in the window).

    What is checked follows the package's task (settings ``task.type``). Thresholds come from
    the package's own settings (graft.yaml ``monitor``, as packaged; defaults where absent) unless
    ``params_path`` names a file with a ``monitor`` section (see :mod:`graft.monitoring.run`).
    """
    from graft.monitoring.verb import monitor_package

    return monitor_package(package_path, log_db, since, until, report, json_out, params_path, progress)


def replay(data: Path, url: str, **options: Unpack[ReplayOptions]) -> ReplayResult:
    """Send rows of ``data`` (``where`` COLUMN=VALUE filters) to the server at ``url`` with the
    induced drift (``shifts``, ``mixes``, ``ratios``, ``flip_labels``), then post their outcomes
    (column ``label``) as feedback; ``options``: :class:`graft.monitoring.replay.ReplayOptions`.

    The server's ``/metadata`` says which columns are inputs and what outcomes are
    (see :mod:`graft.monitoring.replay`).
    """
    from graft.monitoring import replay as rp

    return rp.run(data, url, **options)


# --- experiments ------------------------------------------------------------------------------


def exp_new(
    name: str,
    sets: Sequence[str] = (),
    base: str = DEFAULT_BASE,
    run: bool = True,
    push: bool = False,
    cwd: str | Path = ".",
    cluster: str | None = None,
    git_remote: str | None = None,
    progress: Reporter = SILENT,
) -> Result:
    """Create ``exp/NAME`` from ``base`` with ``sets`` applied, run the pipeline and commit.

    Every check (clean tree, name, keys, value types, remotes, cluster) happens before anything
    is created; a failed run leaves no branch and raises ExperimentFailed naming its log.
    ``cluster`` (``tcp://HOST:PORT`` or ``local:N``) runs it on a Dask worker, which pushes
    the branch to the Git remote (``git_remote``, default origin); it is then fetched here.
    """
    from graft.experiments import batch

    return batch.new_experiment(cwd, name, sets, base, run, push, cluster, git_remote, progress)


def exp_grid_points(sets: Sequence[str], prefix: str = "grid") -> list[tuple[str, list[Any]]]:
    """The grid's experiment names and their assignments (no repository needed)."""
    from graft.experiments.plan import grid_points

    return grid_points(sets, prefix)


def exp_grid_check(
    sets: Sequence[str], base: str = DEFAULT_BASE, prefix: str = "grid", cwd: str | Path = "."
) -> list[tuple[str, list[str]]]:
    """Check every grid point against the repository (as ``exp_grid`` would) and return them as
    (name, ["key=value", ...]); nothing is created (a workflow's matrix, for instance)."""
    from graft.experiments.plan import check_grid

    return check_grid(cwd, sets, base, prefix)


def exp_grid(
    sets: Sequence[str],
    jobs: int = 2,
    base: str = DEFAULT_BASE,
    prefix: str = "grid",
    run: bool = True,
    cwd: str | Path = ".",
    progress: ProgressCallback | None = None,
    planned: Callable[[Sequence[Spec], str], None] | None = None,
    cluster: str | None = None,
    git_remote: str | None = None,
) -> list[Outcome]:
    """One experiment per point of the cartesian product of ``sets`` (``key=v1,v2,...``).

    All points are checked before any is created; they then run ``jobs`` at a time here, or
    as tasks of the Dask ``cluster``; a failing point does not stop the others. Returns one
    outcome per point, in grid order. ``planned(specs, how)`` is called before the first runs.
    """
    from graft.experiments import batch

    return batch.run_grid(cwd, sets, jobs, base, prefix, run, progress, planned, cluster, git_remote)


def exp_search(
    name: str,
    trials: int = 20,
    params: Sequence[str] = (),
    space: Path | None = None,
    seed: int = 0,
    jobs: int = 2,
    cluster: str | None = None,
    git_remote: str | None = None,
    storage: str | None = None,
    keep: int = DEFAULT_KEEP,
    base: str = DEFAULT_BASE,
    cwd: str | Path = ".",
    progress: Callable[[TrialEvent], None] | None = None,
    planned: Callable[[str, int, int, str], None] | None = None,
) -> SearchResult:
    """Run or resume the Optuna search ``name`` (see graft.experiments.search) and keep the best trials."""
    from graft.experiments.search.run import run_search

    return run_search(
        cwd,
        name,
        trials,
        params,
        space,
        seed=seed,
        jobs=jobs,
        cluster=cluster,
        git_remote=git_remote,
        storage=storage,
        keep=keep,
        base=base,
        progress=progress,
        planned=planned,
    )


def exp_search_show(name: str, storage: str | None = None, cwd: str | Path = ".") -> Summary:
    """Every trial of the search ``name`` with its state, objective, params and kept branch."""
    from graft.experiments.search.show import show

    return show(cwd, name, storage)


def exp_list(cwd: str | Path = ".", main: str = DEFAULT_BASE) -> list[Info]:
    """Experiment branches (``exp/*``) with base, ahead/behind, stale flags and headline metrics."""
    from graft.experiments.listing import list_experiments

    return list_experiments(cwd, main)


def exp_prune(
    cwd: str | Path = ".",
    names: Sequence[str] = (),
    merged: bool = False,
    older_than: str | None = None,
    remote: str | None = None,
    force: bool = False,
    dry_run: bool = True,
    main: str = DEFAULT_BASE,
) -> PruneResult:
    """Delete merged or losing ``exp/*`` branches (locally, and on ``remote`` when given), each
    archived first as ``refs/graft/archive/exp/NAME``; a dry run (the default) changes nothing."""
    from graft.experiments.prune import prune

    return prune(Path(cwd), names, merged, older_than, remote, force, dry_run, main)


# --- gate -------------------------------------------------------------------------------------


def gate(base: str, head: str = "HEAD", working_tree: bool = False, cwd: str | Path = ".") -> Report:
    """Gate ``head``'s metrics against ``base`` with the head's rules and bounds (graft.compare.gate).

    Both sides are read from Git objects, so uncommitted files never leak into a verdict;
    ``working_tree=True`` reads the head's metrics and settings from the checkout instead.
    """
    from graft.compare.gate import run

    return run(cwd, base, head, working_tree)


def serve(
    package: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_db: str = DEFAULT_LOG_DB,
    max_body_bytes: int | None = None,
    compile_cache: Path | None = None,
    log_durability: str = DEFAULT_LOG_DURABILITY,
    allow_origins: Sequence[str] = (),
    grpc_port: int | None = None,
) -> Server:
    """Verify and load a package, open the prediction log and return a server ready to ``run()``.

    ``max_body_bytes``: the largest request body (None: ``GRAFT_LIMIT_REQUEST_BODY_BYTES``'s value).

    ``compile_cache``: score large batches with the lleaves-compiled model cached there.
    ``log_durability``: ``async`` (answer at once, commit in the background) or ``commit``
    (answer once the request's row is committed); see :mod:`graft.serving.predlog`.
    ``allow_origins``: web origins whose browsers may call the API (see
    :mod:`graft.serving.crosssite`; every other cross-site browser request gets 403).
    ``grpc_port``: also serve the Open Inference Protocol's gRPC service there
    (:mod:`graft.serving.grpc_service`).
    """
    from graft.serving.server import build_server

    return build_server(
        package, host, port, log_db, max_body_bytes, compile_cache, log_durability, allow_origins, grpc_port
    )


def serve_openapi(package: Path) -> str:
    """The serving app's OpenAPI document for a package, as canonical JSON."""
    from graft.serving.server import openapi_document

    return openapi_document(Path(package))


def diff(
    root: Path,
    revisions: Sequence[str] = (),
    base: str = DEFAULT_BASE,
    all_experiments: bool = False,
    only_changed: bool = False,
    sort: str | None = None,
    memo: MutableMapping[tuple[str, str], Any] | None = None,
) -> DiffResult:
    """Params and metrics of ``base`` and ``revisions`` side by side, read from Git objects.

    No revisions and no ``all_experiments``: compare ``HEAD``. ``all_experiments`` adds every
    ``exp/*`` branch. A revision named twice (or equal to the base name) is shown once.
    Directions for best marks come from the base revision's settings. ``memo`` (a long-lived
    caller's dictionary) keeps each revision's reading by (name, commit): only moved revisions
    are read again.
    """
    from graft.compare.diff import compare_revisions

    return compare_revisions(root, revisions, base, all_experiments, only_changed, sort, memo)


def report(
    root: Path,
    base: str = DEFAULT_BASE,
    head: str = "HEAD",
    also: Sequence[str] = (),
    all_experiments: bool = False,
    png_dir: Path | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    output: Path | None = None,
    plot_format: str = "png",
    all_metrics: bool = False,
) -> ReportResult:
    """The Markdown comparison report of ``head`` against ``base`` (wording: templates/report.md.j2).

    With ``png_dir``, PNG charts are written there too (needs matplotlib). The plots dvc.yaml
    declares are drawn as ``plot_format`` (png or svg, with vl-convert) into ``png_dir``, else
    into ``<stem>_plots/`` beside ``output`` (where the caller writes the Markdown), and linked
    relative to the report's folder; with neither they are listed, not drawn. The metrics
    table shows only changed metrics unless ``all_metrics``.
    """
    from graft.compare.report import make_report

    return make_report(
        root, base, head, also, all_experiments, png_dir, resamples, seed, output, plot_format, all_metrics
    )


def next_version(root: Path, bump: str = "auto") -> NextVersion:
    """The version the next release of HEAD gets (GTO tag ``<model>@vX.Y.Z``) and why."""
    from graft.release.bump import next_version as plan

    return plan(Path(root), bump)


def release(
    root: Path,
    out_dir: Path,
    bump: str = "auto",
    dry_run: bool = False,
    push: bool = False,
    remote: str = "origin",
    upload: bool | None = None,
) -> ReleaseResult:
    """Version, package, upload (to the DVC remote's package store) and tag HEAD, then push the
    tag when asked; on an already released HEAD, complete what is missing."""
    from graft.release.versions import release as run

    return run(Path(root), Path(out_dir), bump=bump, dry_run=dry_run, push=push, remote=remote, upload=upload)


def models(root: Path, model: str | None = None, include_inactive: bool = False) -> list[ModelVersion]:
    """Released versions (GTO tags), highest first, with their stages and headline metrics; with
    ``include_inactive`` also deregistered versions and deprecated models (``status`` says which)."""
    from graft.release.releases import model_versions

    return model_versions(Path(root), model, include_inactive)


def promote(
    root: Path,
    ref: str | None,
    stage: str,
    version: str | None = None,
    push: bool = False,
    remote: str = "origin",
    message: str | None = None,
) -> PromoteResult:
    """Put a released version in ``stage`` with GTO's assignment tag (``MODEL#STAGE#N``)."""
    from graft.release.promote import promote as run

    return run(Path(root), ref, stage, version=version, push=push, remote=remote, message=message)


def fetch_package(
    root: Path,
    ref: str | None = None,
    version: str | None = None,
    stage: str | None = None,
    out_dir: Path | None = None,
) -> Fetched:
    """Resolve ``MODEL@vX.Y.Z`` / ``MODEL#STAGE`` (or ``version``/``stage``), fetch its package
    from the package store (or the local cache) and verify it against the release tag."""
    from graft.release.fetch import fetch_ref

    return fetch_ref(Path(root), ref, version, stage, out_dir)


def reproduce(
    root: Path, tag: str, archive: Path | None = None, keep: bool = False, progress: Reporter = SILENT
) -> ReproduceResult:
    """Re-run a release's pipeline in a temporary worktree and compare every output."""
    from graft.release.reproduce import reproduce as run

    return run(Path(root), tag, archive=archive, keep=keep, progress=progress)


def check_repro(root: Path, paths: list[str] | None = None) -> list[Difference]:
    """Results whose working-tree bytes differ from HEAD: dvc.lock and every metrics, plots and
    predictions file the project declares (or only ``paths``)."""
    from graft.release.check import check_repro as run

    return run(Path(root), paths)


# --- data ---------------------------------------------------------------------------------------


def data_tables(root: Path, rev: str = "HEAD") -> list[str]:
    """The tables (CSV, TSV, Parquet) the pipeline declares at ``rev``: ``dvc add``-ed files and
    stage outputs (files inside declared folders included), sorted paths from the project root."""
    from graft.data.tables import tables_at

    return tables_at(root, rev)


def data_show(root: Path, path: str, rev: str = "HEAD") -> TableSummary:
    """Table ``path`` (from the project root) as committed at ``rev``: rows and, per column, its
    type, missing share and distribution; streamed, so a table larger than memory works."""
    from graft.data.profile import summarize

    return summarize(root, path, rev)


def data_diff(root: Path, path: str, rev_a: str, rev_b: str, key: str | None = None) -> TableDiff:
    """Table ``path`` at ``rev_a`` against ``rev_b``: rows added, removed and changed by the key
    column (``key``, else graft.yaml ``data.keys`` at ``rev_b``; none: no row diff) and the
    columns whose distribution moved beyond noise, judged with `graft monitor`'s tests."""
    from graft.data.compare import compare

    return compare(root, path, rev_a, rev_b, key)


# --- the web view's reads ---------------------------------------------------------------------


def significance(
    root: Path,
    base: str = DEFAULT_BASE,
    head: str = "HEAD",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The paired bootstrap of the task's metrics, ``head`` against ``base``, on the test rows
    both scored (what `graft report` shows): ``available``, and per metric ``delta``, ``low``,
    ``high`` and the ``verdict`` compare gives it; or ``reason`` / ``missing`` when it cannot run."""
    from graft.compare.significance import significance as run

    return run(root, base, head, resamples, seed)


def branch_history(root: Path, base: str = DEFAULT_BASE, head: str = "HEAD", limit: int = 200) -> History:
    """The commits of ``head`` since it forked from ``base`` (newest first, at most ``limit``) and
    the ``dvc.lock`` stages it changed."""
    from graft.experiments.history import history

    return history(root, base, head, limit)


def registry_state(root: Path) -> dict[str, ArtifactState]:
    """The model registry as GTO's tags record it: every artifact, its versions, their stages
    and every registration, assignment and deprecation event."""
    from graft.release.registry import registry_at

    return registry_at(root)


def search_names(root: Path) -> list[str]:
    """The `graft exp search` studies kept in this project (their study files' names), sorted."""
    from graft.experiments.search.study import study_names

    return study_names(root)
