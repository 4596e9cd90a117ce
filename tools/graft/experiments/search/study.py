"""A search's Optuna study: its name, storage, stored configuration and the lock of its driver.

The study lives in an Optuna storage: ``.graft/search/NAME.db`` (SQLite, :func:`default_storage`)
by default, or any ``--storage`` URL (a shared database). One process drives a study at a time:
a lock file guards the default storage (:func:`driver_lock`). A storage that cannot be opened is
a :class:`GraftError` naming it.

A study records what it was created with (:class:`Config`, in its user attribute :data:`ATTR`):
a resumed search keeps its space, seed, objectives, constraints and base, and a change is
refused naming it (:func:`reconcile`). A search's name follows its own rules and leaves room for
the branches it may keep, ``exp/NAME-tNNN`` (:func:`trial_name`), each checked free before any
trial runs (:func:`check_kept_names`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from graft.core import gitrepo
from graft.core.errors import GraftError, UsageError
from graft.core.worktree import file_lock
from graft.experiments import names
from graft.project.paths import SEARCH_DIR

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ATTR = "graft"  # the study's user attribute holding its configuration


def study_file(root: Path, name: str, suffix: str = ".db") -> Path:
    """``.graft/search/<stem>.db`` (or ``.lock``): the stem is :func:`names.file_stem` of the name."""
    return root / SEARCH_DIR / f"{names.file_stem(name)}{suffix}"


def study_names(root: str | Path) -> list[str]:
    """The searches kept in the project at ``root`` (their study files' names), sorted."""
    folder = Path(root) / SEARCH_DIR
    return sorted(p.stem for p in folder.glob("*.db")) if folder.is_dir() else []


def default_storage(root: Path, name: str) -> str:
    return f"sqlite:///{study_file(root, name).resolve()}"


def trial_name(study: str, number: int) -> str:
    return f"{study}-t{number:03d}"


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


def find_study(storage: str, name: str) -> Any:
    """The study ``name`` in ``storage``, or None (nothing is created)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        found = optuna.get_all_study_names(storage)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        raise GraftError(f"--storage {storage}: {type(exc).__name__}: {reason}") from None
    if name not in found:
        return None
    return open_study(storage, name, None, create=False)


def open_study(
    storage: str, name: str, directions: Sequence[Literal["minimize", "maximize"]] | None, create: bool
) -> Any:
    """The study ``name`` in ``storage``: loaded, or created with ``directions`` (``create``)."""
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


@contextlib.contextmanager
def driver_lock(root: Path, name: str, storage_given: bool) -> Iterator[None]:
    """Held while this process drives the study (the default storage only): a second driver is refused."""
    if storage_given:
        yield
        return
    with file_lock(study_file(root, name, ".lock"), blocking=False) as held:
        if held is None:
            raise GraftError(f"search '{name}' is already running in another process")
        yield


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


def stored_config(study: Any) -> Config | None:
    """The :class:`Config` the study was created with (None: a study graft did not create)."""
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


def reconcile(stored: Config, given: Config, dimensions_given: bool, name: str) -> Config:
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
