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
``search.objectives`` (a list of ``{metric, direction}``) makes a multi-objective study: the
trials kept are those of its Pareto front (feasible and dominated by no other), best first by
the first objective.

Constraints: ``search.constraints`` (validation metric -> ``{min, max}``; by default the gate's
bounds, each read at the validation counterpart of its metric, see :func:`validation_prefix`)
are each trial's Optuna constraints (``Trial.set_constraint``, what Optuna 5 made of the
sampler's ``constraints_func``): its violations (``value - max``, ``min - value``; met when
<= 0) are stored with it, the TPE sampler ranks infeasible trials below feasible ones,
``show`` marks infeasible trials, and an infeasible trial is never kept nor best.
A resumed study keeps its objectives and constraints: a change is refused naming it.

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


@dataclass(frozen=True)
class Constraint:
    """A bound on a validation metric: a trial outside it is infeasible (never kept)."""

    key: str
    min: float | None = None
    max: float | None = None

    def text(self) -> str:
        """``key <= 0.25``, ``key >= 0.9`` or ``0.1 <= key <= 0.2``, as stored in the study."""
        low = "" if self.min is None else f"{self.min!r} <= "
        high = "" if self.max is None else f" <= {self.max!r}"
        if self.min is not None and self.max is None:
            return f"{self.key} >= {self.min!r}"
        return f"{low}{self.key}{high}"

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bound (<= 0: inside), as Optuna's constraints take it."""
        over = [] if self.max is None else [value - self.max]
        under = [] if self.min is None else [self.min - value]
        return max(over + under)


@dataclass(frozen=True)
class Goals:
    """What a search optimises (one objective, or several: a multi-objective study) and the
    constraints a trial must meet; ``stages``: the stages writing them (trials stop there)."""

    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    stages: tuple[str, ...] = ()

    @property
    def first(self) -> Objective:
        return self.objectives[0]

    def texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The objectives (``key (direction)``) and constraints as a study stores them."""
        return (
            tuple(f"{o.key} ({o.direction})" for o in self.objectives),
            tuple(c.text() for c in self.constraints),
        )


def _metric_names(settings: Any) -> list[str]:
    """Names a validation metric may end with: the gate's, the rules' and the headline's, longest first."""
    names = {*settings.gate.thresholds, *settings.metrics.rules, *settings.metrics.headline}
    return sorted(names, key=lambda n: (-len(n), n))


def validation_prefix(settings: Any) -> str | None:
    """``search.validation``, else the first objective's key less the metric name it ends with."""
    search = settings.search
    if search.validation is not None:
        return str(search.validation)
    first = search.objectives[0].metric if search.objectives else search.objective
    if not first:
        return None
    for name in _metric_names(settings):
        if first.endswith(name) and len(first) > len(name):
            return str(first[: -len(name)])
    return None


def goals_of(project: Project, base: gitrepo.Revision) -> Goals:
    """``search.objective`` (or ``objectives``) and ``constraints`` of graft.yaml at the base;
    each must be a metric the base has. Without ``constraints``: the gate's bounds on the
    validation metrics the base has (see :func:`validation_prefix`)."""
    view = project.at(base)
    settings = view.settings
    search = settings.search
    wanted = [(o.metric, o.direction) for o in search.objectives]
    if not wanted and search.objective:
        wanted = [(search.objective, search.direction)]
    if not wanted:
        raise GraftError(
            "graft.yaml: search.objective is not set; name a validation metric as `graft diff` shows "
            "it (e.g. search: {objective: metrics/train.json:valid_loss, direction: lower})"
        )
    metrics = view.metrics() or {}

    def check(key: str, setting: str) -> None:
        if key not in metrics:
            known = ", ".join(sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))[:12])
            raise GraftError(
                f"graft.yaml: {setting} '{key}' is not a metric of '{base.name}' "
                f"({base.short}); metrics there: {known or 'none'}"
            )

    setting = "search.objectives" if search.objectives else "search.objective"
    for key, _ in wanted:
        check(key, setting)
    if search.constraints is not None:
        bounds = dict(search.constraints)
        for key in bounds:
            check(key, "search.constraints")
    else:
        prefix = validation_prefix(settings)
        bounds = {}
        if prefix is not None:
            gate = settings.gate.thresholds
            bounds = {f"{prefix}{k}": b for k, b in gate.items() if f"{prefix}{k}" in metrics}
    constraints = tuple(Constraint(k, b.min, b.max) for k, b in sorted(bounds.items()))

    def stage_of(key: str) -> str | None:
        path = key.split(":", 1)[0] if ":" in key else view.metrics_file
        return next((n for n, s in view.pipeline.stages.items() if path in s.metrics or path in s.outs), None)

    objectives = tuple(Objective(k, d, stage_of(k)) for k, d in wanted)
    keys = [k for k, _ in wanted] + [c.key for c in constraints]
    found = [stage_of(k) for k in keys]  # a metric no stage declares: the whole pipeline runs
    stages = () if None in found else tuple(dict.fromkeys(s for s in found if s is not None))
    return Goals(objectives, constraints, stages)


def study_file(root: Path, name: str, suffix: str = ".db") -> Path:
    """``.graft/search/<stem>.db`` (or ``.lock``): the stem is :func:`names.file_stem` of the name."""
    return root / SEARCH_DIR / f"{names.file_stem(name)}{suffix}"


def study_names(root: str | Path) -> list[str]:
    """The searches kept in the project at ``root`` (their study files' names), sorted."""
    folder = Path(root) / SEARCH_DIR
    return sorted(p.stem for p in folder.glob("*.db")) if folder.is_dir() else []


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
    storage: str, name: str, directions: Sequence[Literal["minimize", "maximize"]] | None, create: bool
) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if create:
            return optuna.create_study(
                storage=storage,
                study_name=name,
                directions=list(directions or ["minimize"]),
                load_if_exists=True,
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
    objective: str  # the first objective
    direction: str
    batch: int
    objectives: tuple[str, ...] = ()  # "key (direction)", the first one included
    constraints: tuple[str, ...] = ()  # Constraint.text()

    def as_dict(self) -> dict[str, Any]:
        return {
            "space": list(self.space),
            "seed": self.seed,
            "base": self.base,
            "objective": self.objective,
            "direction": self.direction,
            "batch": self.batch,
            "objectives": list(self.objectives),
            "constraints": list(self.constraints),
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
        tuple(raw.get("objectives") or [f"{raw['objective']} ({raw['direction']})"]),
        tuple(raw.get("constraints") or ()),
    )


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) if value else "none"
    return str(value)


def _reconcile(stored: Config, given: Config, dimensions_given: bool, name: str) -> Config:
    """A resumed search keeps its configuration; a different one given now is an error."""
    for label, was, now in (
        ("search space", stored.space, given.space if dimensions_given else stored.space),
        ("--seed", stored.seed, given.seed),
        ("search.objectives", stored.objectives, given.objectives),
        ("search.constraints", stored.constraints, given.constraints),
        ("base", stored.base, given.base),
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
    feasible: bool | None = None  # None: the search has no constraints


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
    goals: Goals | None = None
    front: tuple[int, ...] = ()  # the Pareto front's trials (feasible, non-dominated), best first


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
    param_options: Sequence[str] = (),
    space: Path | None = None,
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
    """Run (or resume) search ``name`` until it holds ``trials`` trials; keep the best ``keep``.
    Its space: the ``space`` file's dimensions, then the ``--param`` ``param_options``."""
    from graft.core.extras import require
    from graft.experiments import batch
    from graft.experiments.executors import check_address, check_jobs

    dimensions = parse_params(param_options)
    if space is not None:
        dimensions = parse_space_file(Path(space)) + dimensions
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
    goals = goals_of(project, revision)
    objective = goals.first
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
        objectives, constraints = goals.texts()
        given = Config(
            tuple(f"{d.key}={d.text()}" for d in dimensions or ()),
            seed,
            revision.sha,
            objective.key,
            objective.direction,
            jobs,
            objectives,
            constraints,
        )
        if stored is None and not dimensions:
            raise UsageError(f"search '{name}' is new: give its space with --param or --space")
        config = given if stored is None else _reconcile(stored, given, bool(dimensions), name)
        dims = _dimensions_from_config(config)
        check_space(dims, params)
        plan = branches.make_plan(
            root, [], base, run=True, cluster=cluster is not None, git_remote=git_remote, branches=False
        )
        # a trial runs the pipeline only up to the stages writing the objectives and constraints:
        # nothing of the test split is computed (nor can a test-split gate fail a trial) while choosing
        plan = replace(plan, targets=goals.stages)
        with batch.executing(plan, jobs, cluster) as executor:
            if stored is None:  # created only now that every check passed
                config = replace(config, batch=_slots(executor, jobs))
                directions = [o.optuna_direction for o in goals.objectives]
                study = _open_study(url, name, directions, create=True)
                study.set_user_attr(ATTR, config.as_dict())
            assert study is not None  # found above (stored came from it) or just created
            if planned is not None:
                planned(url, len(study.trials), trials, executor.description)
            ran, resumed = _drive(study, plan, executor, dims, config, goals, trials, params, name, progress)
            kept = _keep(root, study, name, goals, keep, base, cluster, git_remote, executor, jobs, dims)
    front = ranked(study)
    best = front[0] if front else None
    return SearchResult(
        name,
        url,
        objective,
        config,
        ran,
        resumed,
        best.number if best else None,
        best.values[0] if best else None,
        dict(best.params) if best else {},
        tuple(kept),
        goals,
        tuple(t.number for t in front) if len(goals.objectives) > 1 else (),
    )


def _slots(executor: Any, jobs: int) -> int:
    client = getattr(executor, "client", None)
    if client is None:
        return jobs
    return max(1, len(client.scheduler_info().get("workers", {})))


def _violations(trial: Any) -> tuple[float, ...] | None:
    """The trial's constraint violations (Optuna's ``Trial.set_constraint``, which superseded the
    sampler's ``constraints_func`` in Optuna 5), in the order of the constraints' keys (None:
    not measured)."""
    found = trial.constraints
    return tuple(float(found[k]) for k in sorted(found)) if found else None


def feasible(trial: Any) -> bool:
    """Every constraint met (a trial of a search without constraints is feasible)."""
    return all(v <= 0 for v in _violations(trial) or ())


def _sampler(seed: int, number: int) -> Any:
    import optuna

    # TPE reads each finished trial's constraints: infeasible trials rank below feasible ones
    return optuna.samplers.TPESampler(seed=seed + number)


def _drive(
    study: Any,
    plan: branches.Plan,
    executor: Any,
    dims: Sequence[Dimension],
    config: Config,
    goals: Goals,
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
        _tell(study, trial, event.outcome, goals)
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
    front = ranked(study)
    best = front[0] if front else None
    ok = trial.state == TrialState.COMPLETE
    return TrialEvent(
        number,
        ok,
        trial.values[0] if ok else None,
        None if ok else trial.user_attrs.get("error"),
        sum(1 for t in frozen if t.state != TrialState.RUNNING),
        total,
        best.number if best else None,
        best.values[0] if best else None,
        feasible(trial) if ok and trial.constraints else None,
    )


def _tell(study: Any, trial: Any, outcome: branches.Outcome, goals: Goals) -> None:
    from optuna.trial import TrialState

    result = outcome.result
    trial.set_user_attr("seconds", round(outcome.seconds, 2))
    if result is not None:
        trial.set_user_attr("stages", dict(result.stages))
        if result.worker:
            trial.set_user_attr("worker", result.worker)
        wanted = [o.key for o in goals.objectives] + [c.key for c in goals.constraints]
        values = {k: result.metrics.get(k) for k in wanted}
        missing = next((k for k, v in values.items() if not _is_number(v)), None)
        if missing is None:
            for c in goals.constraints:  # the sampler steers away from infeasible trials
                trial.set_constraint(c.key, c.violation(float(values[c.key] or 0.0)))
            study.tell(trial, [float(values[o.key] or 0.0) for o in goals.objectives])
            return
        trial.set_user_attr("error", f"the run has no numeric '{missing}' (got {values[missing]!r})")
    else:
        trial.set_user_attr("error", outcome.error or "failed")
        if outcome.log is not None:
            trial.set_user_attr("log", str(outcome.log))
    study.tell(trial, state=TrialState.FAIL)


def _signs(study: Any) -> list[float]:
    return [1.0 if d.name == "MINIMIZE" else -1.0 for d in study.directions]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every (minimised) value and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def ranked(study: Any) -> list[Any]:
    """The trials a search keeps, best first: complete and feasible ones; with several
    objectives only the non-dominated (the Pareto front). Order: the first objective, then the
    next ones, then the trial number."""
    from optuna.trial import TrialState

    signs = _signs(study)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and feasible(t)]
    scored = [(tuple(s * v for s, v in zip(signs, t.values, strict=True)), t) for t in done]
    if len(signs) > 1:
        scored = [(v, t) for v, t in scored if not any(dominates(w, v) for w, _ in scored)]
    return [t for _, t in sorted(scored, key=lambda item: (item[0], item[1].number))]


def _keep(
    root: Path,
    study: Any,
    name: str,
    goals: Goals,
    keep: int,
    base: str,
    cluster: str | None,
    git_remote: str | None,
    executor: Any,
    jobs: int,
    dims: Sequence[Dimension],
) -> list[Kept]:
    """The best ``keep`` trials of :func:`ranked` (feasible ones only; with several objectives
    the front's best by the first objective) as ``exp/NAME-tNNN`` branches (existing ones with
    the same params kept)."""
    objective = goals.first
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
            out.append(Kept(trial.number, branch, tip.sha, float(trial.values[0]), None, existed=True))
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
                Kept(
                    trial.number, outcome.spec.branch, None, float(trial.values[0]), None, error=outcome.error
                )
            )
            continue
        again = outcome.result.metrics.get(objective.key)
        out.append(
            Kept(
                trial.number,
                outcome.spec.branch,
                outcome.result.sha,
                float(trial.values[0]),
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
    value: float | None  # the first objective
    params: dict[str, Any]
    seconds: float | None
    branch: str | None
    error: str | None
    log: str | None
    stages: dict[str, str] = field(default_factory=dict)
    worker: str | None = None
    values: tuple[float, ...] | None = None  # every objective, in order
    violations: tuple[float, ...] | None = None  # per constraint (<= 0: met); None: not measured
    feasible: bool | None = None  # None: no constraints, or not complete


@dataclass(frozen=True)
class Summary:
    name: str
    storage: str
    objective: str
    direction: str
    config: Config | None
    rows: tuple[TrialRow, ...]
    best_number: int | None
    objectives: tuple[str, ...] = ()  # "key (direction)"
    constraints: tuple[str, ...] = ()
    front: tuple[int, ...] = ()  # several objectives: the Pareto front's trials, best first


def show(cwd: str | Path, name: str, storage: str | None = None) -> Summary:
    """Every trial of search ``name``: state, objectives, feasibility, params, seconds, kept branch;
    the best trial, and with several objectives the Pareto front."""
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
    constrained = bool(config.constraints) if config else False
    rows = []
    for t in study.get_trials(deepcopy=False):
        branch = gitrepo.EXP_PREFIX + trial_name(name, t.number)
        violations = _violations(t)
        complete = t.values is not None
        rows.append(
            TrialRow(
                t.number,
                t.state.name.lower(),
                t.values[0] if complete else None,
                dict(t.params),
                t.user_attrs.get("seconds"),
                branch if gitrepo.branch_exists(repo, branch) else None,
                t.user_attrs.get("error"),
                t.user_attrs.get("log"),
                dict(t.user_attrs.get("stages") or {}),
                t.user_attrs.get("worker"),
                tuple(t.values) if complete else None,
                tuple(violations) if violations is not None else None,
                feasible(t) if constrained and complete else None,
            )
        )
    front = ranked(study)
    directions = ["lower" if s > 0 else "higher" for s in _signs(study)]
    return Summary(
        name,
        url,
        config.objective if config else "?",
        config.direction if config else directions[0],
        config,
        tuple(rows),
        front[0].number if front else None,
        config.objectives if config else (),
        config.constraints if config else (),
        tuple(t.number for t in front) if len(directions) > 1 else (),
    )
