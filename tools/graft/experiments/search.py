"""``graft exp search``: a seeded Optuna TPE search over params, run by the experiment executors.

Search space: one dimension per params key, from ``--param KEY=SPEC`` or a YAML file
(``KEY: SPEC`` or ``KEY: {type, low, high, log, choices}``). ``SPEC`` is

* ``int:LOW..HIGH[:log]`` (integers, log scale optional),
* ``float:LOW..HIGH[:log]``,
* ``cat:A,B,C`` (YAML values, each checked like ``--set``).

Every key, bound and choice is checked against params.yaml at the base before anything runs.

Objective: ``search.objective`` of graft.yaml (a metric key as ``graft diff`` shows it, e.g.
``metrics/train.json:valid_loss``) and ``search.direction``. It must be a *validation* metric:
choosing on the test split overfits the test split, which then no longer measures anything.

Trials are asked in rounds of ``batch`` (the parallelism the study was created with, stored
in it): every trial of a round is asked from the same history, and trial ``n`` samples with
seed ``seed + n``. A search is therefore reproducible (same seed and batch, same trials) and
an interrupted one resumes exactly where it was: trials left running are re-run with their
own params, then new rounds follow. Each trial is an experiment without a branch (a
temporary worktree, its metrics read back) that reproduces the pipeline only up to the stage
writing the objective: nothing of the test split is computed while choosing, and no
test-split gate can fail a trial. On a cluster its outputs and run-cache entries go to the
DVC remote. At the end the best ``keep`` trials become ``exp/NAME-tNNN`` branches
through the normal experiment path, every stage restored from the run cache.

The study lives in an Optuna storage: ``.graft/search/NAME.db`` (SQLite) by default, or any
``--storage`` URL (a shared database). One process drives a study at a time (a lock file
guards the default storage). Pruning is not offered: the pipeline's stages report only their
final metrics, so there is nothing to prune on mid-trial.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeGuard

import yaml

from graft.core import gitrepo
from graft.core.errors import DataError, GraftError, ParamsError, UsageError
from graft.core.safeload import load_yaml
from graft.core.worktree import file_lock
from graft.experiments import branches, names
from graft.experiments.batch import run_many
from graft.experiments.overrides import Assignment
from graft.experiments.paramfiles import BaseParams
from graft.project import Project
from graft.project.paths import SEARCH_DIR

DEFAULT_KEEP = 3
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RANGE = re.compile(r"^(int|float):([^:]+?)\.\.([^:]+?)(?::(log))?$")
Kind = Literal["int", "float", "cat"]
ATTR = "graft"  # the study's user attribute holding its configuration


@dataclass(frozen=True)
class Dimension:
    """One searched key: an int or float range (log scale optional) or categorical choices."""

    key: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()

    def text(self) -> str:
        """The canonical spec (``int:15..255:log``), as stored in the study."""
        if self.kind == "cat":
            return "cat:" + ",".join(self.choices)
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{self.kind}:{low}..{high}" + (":log" if self.log else "")

    def distribution(self) -> Any:
        import optuna.distributions as d

        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return d.FloatDistribution(self.low, self.high, log=self.log)
        return d.CategoricalDistribution(list(self.choices))

    def raw(self, value: Any) -> str:
        """A sampled value as the YAML text of a ``--set``."""
        if self.kind == "int":
            return str(int(value))
        if self.kind == "float":
            return repr(float(value))
        return str(value)


def _number(text: str, kind: str, where: str) -> float:
    try:
        value = load_yaml(text, where)
    except (yaml.YAMLError, DataError):
        value = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)  # PyYAML reads 1e-3 as a string
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (kind == "int" and value != int(value)):
        raise UsageError(f"{where}: '{text}' is not a{'n int' if kind == 'int' else ' number'}")
    return float(value)


def parse_dimension(key: str, spec: Any, where: str) -> Dimension:
    """``spec`` as a string (``int:1..9:log``) or a mapping (``{type, low, high, log, choices}``)."""
    if not key or any(not part for part in key.split(".")):
        raise UsageError(f"{where}: '{key}' is not a dotted params key")
    if isinstance(spec, Mapping):
        kind = str(spec.get("type", ""))
        kind = {"categorical": "cat", "integer": "int"}.get(kind, kind)
        if kind == "cat":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise UsageError(f"{where}: a categorical dimension needs a non-empty 'choices' list")
            spec = "cat:" + ",".join(_choice_text(c) for c in choices)
        elif kind in ("int", "float"):
            if "low" not in spec or "high" not in spec:
                raise UsageError(f"{where}: an {kind} dimension needs 'low' and 'high'")
            spec = f"{kind}:{spec['low']}..{spec['high']}" + (":log" if spec.get("log") else "")
        else:
            raise UsageError(f"{where}: type must be int, float or cat (got '{kind}')")
    if not isinstance(spec, str):
        raise UsageError(f"{where}: expected int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,...")
    text = spec.strip()
    if text.startswith("cat:"):
        from graft.experiments.overrides import split_values

        choices = tuple(split_values(text[4:]))
        if not choices or any(c == "" for c in choices):
            raise UsageError(f"{where}: cat: needs comma-separated choices (got '{text}')")
        if len(set(choices)) != len(choices):
            raise UsageError(f"{where}: a choice is listed twice in '{text}'")
        return Dimension(key, "cat", choices=choices)
    match = _RANGE.match(text)
    if not match:
        raise UsageError(
            f"{where}: '{text}' is not int:LOW..HIGH[:log], float:LOW..HIGH[:log] or cat:A,B,..."
        )
    kind, low_text, high_text, log = match.groups()
    low, high = _number(low_text, kind, where), _number(high_text, kind, where)
    if not low < high:
        raise UsageError(f"{where}: LOW must be below HIGH (got {low_text}..{high_text})")
    if log and low <= 0:
        raise UsageError(f"{where}: a log scale needs LOW > 0 (got {low_text})")
    return Dimension(key, kind, low, high, bool(log))  # type: ignore[arg-type]


def _choice_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def parse_params(texts: Sequence[str]) -> list[Dimension]:
    """``--param KEY=SPEC`` options."""
    out = []
    for text in texts:
        key, sep, spec = text.partition("=")
        if not sep:
            raise UsageError(f"--param '{text}': expected section.key=int:LOW..HIGH, float:... or cat:...")
        out.append(parse_dimension(key.strip(), spec, f"--param {text}"))
    return out


def parse_space_file(path: Path) -> list[Dimension]:
    """A YAML mapping ``KEY: SPEC`` (string or mapping) read from ``path``."""
    try:
        document = load_yaml(path.read_bytes(), f"--space {path}")
    except OSError as exc:
        raise UsageError(f"--space {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--space {path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(document, Mapping) or not document:
        raise UsageError(f"--space {path}: expected a mapping of params keys to dimensions")
    return [parse_dimension(str(k), v, f"{path}: {k}") for k, v in document.items()]


def check_space(dimensions: Sequence[Dimension], params: BaseParams) -> None:
    """Every key exists in its params file (resolved as ``--set`` resolves it) with a type the
    dimension can hold; bounds and choices valid."""
    seen: set[str] = set()
    for dim in dimensions:
        if dim.key in seen:
            raise UsageError(f"search space: key '{dim.key}' given twice")
        seen.add(dim.key)
        samples = list(dim.choices) if dim.kind == "cat" else [dim.raw(dim.low), dim.raw(dim.high)]
        try:
            for raw in samples:
                params.plan([Assignment(dim.key, raw)])
        except ParamsError as exc:
            raise ParamsError(f"search space {dim.key}={dim.text()}: {exc}".replace("--set ", "")) from None


# ---------------------------------------------------------------------------------------------
# the study


@dataclass(frozen=True)
class Objective:
    key: str
    direction: Literal["lower", "higher"]
    stage: str | None = None  # the stage writing it: trials reproduce only up to there

    @property
    def optuna_direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.direction == "lower" else "maximize"


def objective_of(project: Project, base: gitrepo.Revision) -> Objective:
    """``search.objective`` of graft.yaml at the base; it must be a metric the base has."""
    view = project.at(base)
    settings = view.settings.search
    if not settings.objective:
        raise GraftError(
            "graft.yaml: search.objective is not set; name a validation metric as `graft diff` shows "
            "it (e.g. search: {objective: metrics/train.json:valid_loss, direction: lower})"
        )
    metrics = view.metrics() or {}
    if settings.objective not in metrics:
        known = ", ".join(sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))[:12])
        raise GraftError(
            f"graft.yaml: search.objective '{settings.objective}' is not a metric of '{base.name}' "
            f"({base.short}); metrics there: {known or 'none'}"
        )
    path = settings.objective.split(":", 1)[0] if ":" in settings.objective else view.metrics_file
    stage = next((n for n, s in view.pipeline.stages.items() if path in s.metrics or path in s.outs), None)
    return Objective(settings.objective, settings.direction, stage)


def study_file(root: Path, name: str, suffix: str = ".db") -> Path:
    """``.graft/search/<stem>.db`` (or ``.lock``): the stem is :func:`names.file_stem` of the name."""
    return root / SEARCH_DIR / f"{names.file_stem(name)}{suffix}"


def default_storage(root: Path, name: str) -> str:
    return f"sqlite:///{study_file(root, name).resolve()}"


def check_study_name(name: str, trials: int = 1) -> None:
    """The search's own rules, and its kept branches' (``exp/NAME-tNNN`` for ``trials`` trials)."""
    if not _NAME.match(name) or name == "show":
        raise UsageError(
            f"'{names.shown(name)}' is not a valid search name (letters, digits, '.', '_', '-'; not 'show')"
        )
    suffix = len(trial_name(name, max(trials - 1, 0))) - len(name)
    names.check_syntax(name, "search name", reserve=suffix)


def check_kept_names(repo: Any, name: str, trials: int, heads: Mapping[str, str] | None, where: str) -> None:
    """Every branch the search may keep (``exp/NAME-t000`` ... for ``trials`` trials) can be created:
    it exists already (kept by an earlier run, checked then) or clashes with no branch here or on
    the Git remote (``heads``) — checked before any trial runs."""
    local = names.Taken(repo.branches.local)
    remote = names.Taken(heads or ())
    for number in range(trials):
        branch = gitrepo.EXP_PREFIX + trial_name(name, number)
        if branch not in local.names:
            names.check_free(branch, local)
        if heads is not None and branch not in remote.names:
            names.check_free(branch, remote, where)


def trial_name(study: str, number: int) -> str:
    return f"{study}-t{number:03d}"


def _find_study(storage: str, name: str) -> Any:
    """The study ``name`` in ``storage``, or None (nothing is created)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.get_all_study_names(storage)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        raise GraftError(f"--storage {storage}: {type(exc).__name__}: {reason}") from None
    if name not in names:
        return None
    return _open_study(storage, name, None, create=False)


def _open_study(
    storage: str, name: str, direction: Literal["minimize", "maximize"] | None, create: bool
) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if create:
            return optuna.create_study(
                storage=storage, study_name=name, direction=direction, load_if_exists=True
            )
        return optuna.load_study(storage=storage, study_name=name)
    except KeyError:
        raise GraftError(f"no search '{name}' in {storage}") from None
    except Exception as exc:  # sqlalchemy / storage errors: name the storage
        if isinstance(exc, GraftError):
            raise
        reason = " ".join(str(exc).split())[:300]
        raise GraftError(f"--storage {storage}: {type(exc).__name__}: {reason}") from None


@dataclass(frozen=True)
class Config:
    """What a study was created with; a resumed search must match it."""

    space: tuple[str, ...]  # "key=spec"
    seed: int
    base: str
    objective: str
    direction: str
    batch: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "space": list(self.space),
            "seed": self.seed,
            "base": self.base,
            "objective": self.objective,
            "direction": self.direction,
            "batch": self.batch,
        }


def _stored_config(study: Any) -> Config | None:
    raw = study.user_attrs.get(ATTR)
    if not isinstance(raw, dict):
        return None
    return Config(
        tuple(raw["space"]),
        int(raw["seed"]),
        raw["base"],
        raw["objective"],
        raw["direction"],
        int(raw["batch"]),
    )


def _shown(value: Any) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _reconcile(stored: Config, given: Config, dimensions_given: bool, name: str) -> Config:
    """A resumed search keeps its configuration; a different one given now is an error."""
    for label, was, now in (
        ("search space", stored.space, given.space if dimensions_given else stored.space),
        ("--seed", stored.seed, given.seed),
        ("base", stored.base, given.base),
        ("search.objective", stored.objective, given.objective),
        ("search.direction", stored.direction, given.direction),
    ):
        if was != now:
            raise UsageError(
                f"search '{name}' was started with {label} {_shown(was)}, not {_shown(now)}; resume it "
                "with the same settings or start a new search under another name"
            )
    return stored


@dataclass(frozen=True)
class TrialEvent:
    """A finished trial, for progress display."""

    number: int
    ok: bool
    value: float | None
    error: str | None
    done: int
    total: int
    best_number: int | None
    best_value: float | None


@dataclass(frozen=True)
class Kept:
    number: int
    branch: str
    sha: str | None
    value: float
    rerun_value: float | None
    existed: bool = False
    error: str | None = None


@dataclass(frozen=True)
class SearchResult:
    name: str
    storage: str
    objective: Objective
    config: Config
    ran: int
    resumed: int
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)
    kept: tuple[Kept, ...] = ()


@contextlib.contextmanager
def _driver_lock(root: Path, name: str, storage_given: bool) -> Iterator[None]:
    if storage_given:
        yield
        return
    with file_lock(study_file(root, name, ".lock"), blocking=False) as held:
        if held is None:
            raise GraftError(f"search '{name}' is already running in another process")
        yield


def _dimensions_from_config(config: Config) -> list[Dimension]:
    out = []
    for item in config.space:
        key, _, spec = item.partition("=")
        out.append(parse_dimension(key, spec, "stored search space"))
    return out


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_search(
    cwd: str | Path,
    name: str,
    trials: int,
    dimensions: Sequence[Dimension] | None = None,
    seed: int = 0,
    jobs: int = 2,
    cluster: str | None = None,
    git_remote: str | None = None,
    storage: str | None = None,
    keep: int = DEFAULT_KEEP,
    base: str = branches.DEFAULT_BASE,
    progress: Callable[[TrialEvent], None] | None = None,
    planned: Callable[[str, int, int, str], None] | None = None,
) -> SearchResult:
    """Run (or resume) search ``name`` until it holds ``trials`` trials; keep the best ``keep``."""
    from graft.core.extras import require
    from graft.experiments.executors import check_address, check_jobs, open_executor

    check_study_name(name, trials)
    require("optuna", "graft exp search", "search")
    if cluster is not None:
        check_address(cluster)
    if trials < 1:
        raise UsageError(f"--trials must be at least 1 (got {trials})")
    if keep < 0:
        raise UsageError(f"--keep must be 0 or more (got {keep})")
    check_jobs(jobs)
    repo, root = branches.project_root(cwd)
    project = Project(root)
    revision = gitrepo.resolve(project.repo, base)
    if cluster is not None:
        remote = branches.remote_url(root, git_remote)
        heads = branches.remote_heads(root, remote)
        check_kept_names(repo, name, trials, heads, f" on the Git remote {remote}")
    else:
        check_kept_names(repo, name, trials, None, "")
    objective = objective_of(project, revision)
    params = BaseParams.at(root, revision, base)
    if dimensions:
        check_space(dimensions, params)
    url = storage or default_storage(root, name)
    if storage is None:
        (root / SEARCH_DIR).mkdir(parents=True, exist_ok=True)
    with _driver_lock(root, name, storage is not None):
        exists = storage is not None or study_file(root, name).is_file()
        study = _find_study(url, name) if exists else None
        stored = _stored_config(study) if study is not None else None
        given = Config(
            tuple(f"{d.key}={d.text()}" for d in dimensions or ()),
            seed,
            revision.sha,
            objective.key,
            objective.direction,
            jobs,
        )
        if stored is None and not dimensions:
            raise UsageError(f"search '{name}' is new: give its space with --param or --space")
        config = given if stored is None else _reconcile(stored, given, bool(dimensions), name)
        dims = _dimensions_from_config(config)
        check_space(dims, params)
        plan = branches.make_plan(
            root, [], base, run=True, cluster=cluster is not None, git_remote=git_remote, branches=False
        )
        # a trial runs the pipeline only up to the stage writing the objective: nothing of the
        # test split is computed (nor can a test-split gate fail a trial) while choosing
        plan = replace(plan, targets=(objective.stage,) if objective.stage else ())
        executor = open_executor(plan, jobs, cluster)
        try:
            if stored is None:  # created only now that every check passed
                config = replace(config, batch=_slots(executor, jobs))
                study = _open_study(url, name, objective.optuna_direction, create=True)
                study.set_user_attr(ATTR, config.as_dict())
            assert study is not None  # found above (stored came from it) or just created
            if planned is not None:
                planned(url, len(study.trials), trials, executor.description)
            ran, resumed = _drive(
                study, plan, executor, dims, config, objective, trials, params, name, progress
            )
            kept = _keep(root, study, name, objective, keep, base, cluster, git_remote, executor, jobs, dims)
        finally:
            executor.close()
    best = _best(study)
    return SearchResult(
        name,
        url,
        objective,
        config,
        ran,
        resumed,
        best.number if best else None,
        best.value if best else None,
        dict(best.params) if best else {},
        tuple(kept),
    )


def _slots(executor: Any, jobs: int) -> int:
    client = getattr(executor, "client", None)
    if client is None:
        return jobs
    return max(1, len(client.scheduler_info().get("workers", {})))


def _sampler(seed: int, number: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed + number)


def _drive(
    study: Any,
    plan: branches.Plan,
    executor: Any,
    dims: Sequence[Dimension],
    config: Config,
    objective: Objective,
    trials: int,
    files: BaseParams,
    name: str,
    progress: Callable[[TrialEvent], None] | None,
) -> tuple[int, int]:
    """Rounds of ``config.batch`` trials until the study holds ``trials``; returns (ran, resumed)."""
    from optuna.trial import Trial, TrialState

    distributions = {d.key: d.distribution() for d in dims}
    by_key = {d.key: d for d in dims}
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    pending: list[tuple[Any, dict[str, Any]]] = [(Trial(study, t._trial_id), dict(t.params)) for t in stale]
    resumed = len(pending)
    ran = 0
    running: dict[str, Any] = {}  # trial name -> trial, this round

    def told(event: branches.Progress) -> None:
        # each trial is told as soon as it finishes: an interruption loses only running ones
        nonlocal ran
        if event.event != "finished" or event.outcome is None:
            return
        trial = running[event.spec.name]
        _tell(study, trial, event.outcome, objective)
        ran += 1
        if progress is not None:
            progress(_event(study, trial.number, trials))

    while True:
        if pending:
            batch, pending = pending, []
        else:
            remaining = trials - len(study.get_trials(deepcopy=False))
            if remaining <= 0:
                break
            batch = []
            for _ in range(min(config.batch, remaining)):
                study.sampler = _sampler(config.seed, len(study.get_trials(deepcopy=False)))
                trial = study.ask(distributions)
                batch.append((trial, dict(trial.params)))
        specs = []
        for trial, params in batch:
            assignments = [Assignment(k, by_key[k].raw(v)) for k, v in params.items()]
            overrides = files.plan(assignments)
            trial.set_user_attr("overrides", {a.key: a.raw for a in assignments})
            specs.append(branches.Spec(trial_name(name, trial.number), tuple(overrides)))
        running.clear()
        running.update({spec.name: trial for spec, (trial, _) in zip(specs, batch, strict=True)})
        run_many(replace(plan, specs=tuple(specs)), executor=executor, progress=told)
    return ran, resumed


def _event(study: Any, number: int, total: int) -> TrialEvent:
    from optuna.trial import TrialState

    frozen = study.get_trials(deepcopy=False)
    trial = frozen[number]
    best = _best(study)
    ok = trial.state == TrialState.COMPLETE
    return TrialEvent(
        number,
        ok,
        trial.value if ok else None,
        None if ok else trial.user_attrs.get("error"),
        sum(1 for t in frozen if t.state != TrialState.RUNNING),
        total,
        best.number if best else None,
        best.value if best else None,
    )


def _tell(study: Any, trial: Any, outcome: branches.Outcome, objective: Objective) -> None:
    from optuna.trial import TrialState

    result = outcome.result
    trial.set_user_attr("seconds", round(outcome.seconds, 2))
    if result is not None:
        trial.set_user_attr("stages", dict(result.stages))
        if result.worker:
            trial.set_user_attr("worker", result.worker)
        value = result.metrics.get(objective.key)
        if _is_number(value):
            study.tell(trial, float(value))
            return
        trial.set_user_attr("error", f"the run has no numeric '{objective.key}' (got {value!r})")
    else:
        trial.set_user_attr("error", outcome.error or "failed")
        if outcome.log is not None:
            trial.set_user_attr("log", str(outcome.log))
    study.tell(trial, state=TrialState.FAIL)


def _best(study: Any) -> Any:
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not done:
        return None
    sign = 1.0 if study.direction.name == "MINIMIZE" else -1.0
    return min(done, key=lambda t: (sign * t.value, t.number))


def ranked(study: Any) -> list[Any]:
    """Complete trials, best first (ties: lower trial number first)."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    sign = 1.0 if study.direction.name == "MINIMIZE" else -1.0
    return sorted(done, key=lambda t: (sign * t.value, t.number))


def _keep(
    root: Path,
    study: Any,
    name: str,
    objective: Objective,
    keep: int,
    base: str,
    cluster: str | None,
    git_remote: str | None,
    executor: Any,
    jobs: int,
    dims: Sequence[Dimension],
) -> list[Kept]:
    """The best ``keep`` trials as ``exp/NAME-tNNN`` branches (existing ones with the same params kept)."""
    repo = gitrepo.open_repo(root)
    out: list[Kept] = []
    todo = []
    for trial in ranked(study)[:keep]:
        branch_name = trial_name(name, trial.number)
        overrides = trial.user_attrs.get("overrides") or {}
        branch = gitrepo.EXP_PREFIX + branch_name
        if gitrepo.branch_exists(repo, branch):
            tip = gitrepo.resolve(repo, f"refs/heads/{branch}")
            expected = _params_with(root, base, overrides)
            if any(gitrepo.read_file(tip.commit, f) != text for f, text in expected.items()):
                raise GraftError(
                    f"branch '{branch}' exists but its params differ from trial {trial.number}'s; "
                    "delete or rename it, then run the search again to keep the trial"
                )
            out.append(Kept(trial.number, branch, tip.sha, float(trial.value), None, existed=True))
        else:
            todo.append((trial, branch_name, overrides))
    if not todo:
        return out
    experiments = [(n, [Assignment(k, v) for k, v in o.items()]) for _, n, o in todo]
    plan = branches.make_plan(
        root, experiments, base, run=True, cluster=cluster is not None, git_remote=git_remote
    )
    outcomes = run_many(plan, jobs, executor=executor)
    for (trial, _, _), outcome in zip(todo, outcomes, strict=True):
        if outcome.result is None:
            out.append(
                Kept(trial.number, outcome.spec.branch, None, float(trial.value), None, error=outcome.error)
            )
            continue
        again = outcome.result.metrics.get(objective.key)
        out.append(
            Kept(
                trial.number,
                outcome.spec.branch,
                outcome.result.sha,
                float(trial.value),
                float(again) if _is_number(again) else None,
            )
        )
    return out


def _params_with(root: Path, base: str, overrides: Mapping[str, str]) -> dict[str, bytes]:
    """The content of each params file a trial's overrides edit, as its branch must hold it."""
    params = BaseParams.at(root, gitrepo.resolve(gitrepo.open_repo(root), base), base)
    checked = params.plan([Assignment(k, v) for k, v in overrides.items()])
    return {f: text.encode("utf-8") for f, text in params.contents(checked).items()}


# ---------------------------------------------------------------------------------------------
# show


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    branch: str | None
    error: str | None
    log: str | None
    stages: dict[str, str] = field(default_factory=dict)
    worker: str | None = None


@dataclass(frozen=True)
class Summary:
    name: str
    storage: str
    objective: str
    direction: str
    config: Config | None
    rows: tuple[TrialRow, ...]
    best_number: int | None


def show(cwd: str | Path, name: str, storage: str | None = None) -> Summary:
    """Every trial of search ``name``: state, objective, params, seconds, kept branch."""
    from graft.core.extras import require

    check_study_name(name)
    require("optuna", "graft exp search", "search")
    _, root = branches.project_root(cwd)
    url = storage or default_storage(root, name)
    if storage is None and not study_file(root, name).is_file():
        raise GraftError(f"no search '{name}' here ({study_file(root, name)} does not exist)")
    study = _open_study(url, name, None, create=False)
    config = _stored_config(study)
    repo = gitrepo.open_repo(root)
    rows = []
    for t in study.get_trials(deepcopy=False):
        branch = gitrepo.EXP_PREFIX + trial_name(name, t.number)
        rows.append(
            TrialRow(
                t.number,
                t.state.name.lower(),
                t.value,
                dict(t.params),
                t.user_attrs.get("seconds"),
                branch if gitrepo.branch_exists(repo, branch) else None,
                t.user_attrs.get("error"),
                t.user_attrs.get("log"),
                dict(t.user_attrs.get("stages") or {}),
                t.user_attrs.get("worker"),
            )
        )
    best = _best(study)
    return Summary(
        name,
        url,
        config.objective if config else "?",
        config.direction if config else ("lower" if study.direction.name == "MINIMIZE" else "higher"),
        config,
        tuple(rows),
        best.number if best else None,
    )
