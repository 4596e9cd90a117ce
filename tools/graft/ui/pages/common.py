"""What every page of `graft ui` shares: the errors, the :class:`Site` and its caches, the URL
query, and how a value is shown.

* :class:`BadQuery` (400; :class:`QueryTooLong`, 414) and :class:`NotFound` (404) are the
  pages' errors, each naming the parameter, branch or version at fault;
* :class:`Site` is what every page reads (the project root, the base revision, the optional
  monitor result) and keeps what is costly to recompute: bootstrap intervals per (base sha,
  head sha), the base's headline metrics per base sha, the experiments' diff while no ref moves;
  it is shared by the server's threads (a lock guards the caches);
* :func:`parse_query` turns a page's URL query into its settings (:data:`PAGE_PARAMS` declares
  each page's parameters, their defaults and allowed values): every view setting is a query
  parameter, so a view survives a reload and can be sent to a colleague;
* :func:`show`, :func:`show_delta`, :func:`number_of` and :func:`cell_view` format params,
  metrics and diff cells as the command line does; :data:`VEGA_LITE` is the charts' schema.

The page modules import this one; it imports none of them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graft import api
from graft.compare import DEFAULT_RESAMPLES
from graft.core import limits
from graft.core.errors import GraftError
from graft.project import DEFAULT_BASE

VEGA_LITE = "https://vega.github.io/schema/vega-lite/v6.json"  # every chart's $schema


class BadQuery(GraftError):
    """A page's URL query names an unknown parameter or gives a value it cannot take (400)."""


class QueryTooLong(BadQuery):
    """A page's URL query is longer than ``UI_QUERY_BYTES`` (414)."""


class NotFound(GraftError):
    """The branch, version or search a page is asked for does not exist (404)."""


@dataclass
class Site:
    """What every page reads: the project root, the base revision and, with ``--monitor``, the
    monitor result file. Bootstrap results are cached per (base sha, head sha)."""

    root: Path
    base: str = DEFAULT_BASE
    monitor: Path | None = None
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    _cache: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[tuple[str, str], Any] = field(default_factory=dict)  # api.diff's memo
    _headlines: dict[str, list[str]] = field(default_factory=dict)  # base sha -> headline metrics
    _diffs: dict[tuple[str, tuple[str, ...]], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, name: str, what: str = "branch") -> str:
        """The commit sha of ``name``; NotFound names it when it does not resolve."""
        from graft.core import gitrepo

        try:
            return gitrepo.resolve(gitrepo.open_repo(self.root), name).sha
        except GraftError:
            raise NotFound(f"unknown {what} '{name}'") from None

    def significance(self, head: str) -> dict[str, Any]:
        """api.significance of ``head`` against the base, computed once per (base sha, head sha);
        when it cannot be computed, ``available`` is False and ``reason`` says why."""
        key = (self.resolve(self.base, "base"), self.resolve(head))
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            try:
                found = api.significance(self.root, self.base, head, self.resamples, self.seed)
            except GraftError as exc:
                found = {"available": False, "missing": [], "reason": str(exc)}
            with self._lock:
                self._cache[key] = found
        return found

    def headline(self) -> list[str]:
        """The base's headline metrics (read once per base commit)."""
        key = self.resolve(self.base, "base")
        if key not in self._headlines:
            self._headlines[key] = headline(self.root, self.base)
        return list(self._headlines[key])

    def experiments_diff(self, archived: Sequence[str]) -> Any:
        """api.diff of every experiment (and the ``archived`` ones) against the base, kept while
        no ref moves (keyed by :meth:`refs_tag`): sorting and filtering a view re-read nothing."""
        key = (self.refs_tag(), tuple(archived))
        with self._lock:
            found = self._diffs.get(key)
        if found is None:
            found = api.diff(
                self.root, list(archived), base=self.base, all_experiments=True, memo=self.snapshots
            )
            with self._lock:
                self._diffs.clear()  # only the current refs' result is worth keeping
                self._diffs[key] = found
        return found

    def refs_tag(self) -> str:
        """A digest of every ref (branches, tags, archive refs): the pages' ETag for updates."""
        import hashlib

        from graft.core import gitrepo

        repo = gitrepo.open_repo(self.root)
        digest = hashlib.sha256()
        for name in sorted(repo.references):
            ref = repo.references.get(name)
            target = ref.target if ref is not None else ""
            digest.update(f"{name} {target}\n".encode())
        return digest.hexdigest()[:32]


# --- the query -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One query parameter a page takes: repeatable or not, and its allowed values (None: any)."""

    name: str
    repeat: bool = False
    choices: tuple[str, ...] | None = None
    default: str = ""


FLAG = ("0", "1")
ROWS = ("diff", "all")  # a table's rows: those that differ only, or every one
PAGE_PARAMS: dict[str, tuple[Param, ...]] = {
    "experiments": (
        Param("q"),
        Param("where"),
        Param("all", choices=FLAG, default="0"),
        Param("archived", choices=FLAG, default="0"),
        Param("sort", default="name"),
        Param("desc", choices=FLAG, default="0"),
        Param("sel", repeat=True),
    ),
    "compare": (
        Param("b", repeat=True),
        Param("all", choices=FLAG, default="0"),
        Param("rows", choices=ROWS, default="diff"),
    ),
    "branch": (Param("name"),),
    "models": (),
    "version": (Param("model"), Param("version")),
    "search": (Param("name"),),
    "data": (Param("path"), Param("rev"), Param("a"), Param("b"), Param("key")),
    "refs": (),
}


def parse_query(page: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The page's settings from the URL query's (name, value) pairs: unknown names, repeats of a
    single parameter and values outside a parameter's choices are refused by name."""
    size = sum(len(k) + len(v) + 2 for k, v in pairs)
    if size > limits.UI_QUERY_BYTES.value():
        raise QueryTooLong(limits.UI_QUERY_BYTES.over("the URL query", f"{size:,} bytes"))
    spec = {p.name: p for p in PAGE_PARAMS[page]}
    out: dict[str, Any] = {p.name: [] if p.repeat else p.default for p in spec.values()}
    seen: set[str] = set()
    for name, value in pairs:
        param = spec.get(name)
        if param is None:
            known = ", ".join(spec) or "none"
            raise BadQuery(f"unknown query parameter '{name}' (this page takes: {known})")
        if param.choices is not None and value not in param.choices:
            raise BadQuery(f"query parameter '{name}': '{value}' is not one of {', '.join(param.choices)}")
        if param.repeat:
            if value and value not in out[name]:
                out[name].append(value)
        elif name in seen:
            raise BadQuery(f"query parameter '{name}' is given more than once")
        else:
            out[name] = value
            seen.add(name)
    return out


# --- values ----------------------------------------------------------------------------------


def show(value: Any) -> str:
    """A param or metric value as the pages show it (the CLI's formatting)."""
    from graft.compare.formats import fmt_value

    return "" if value is None else fmt_value(value)


def show_delta(value: float | None) -> str:
    """A metric's delta against the base as the pages show it (signed, the CLI's formatting)."""
    from graft.compare.formats import fmt_delta

    return "" if value is None else fmt_delta(value)


def number_of(value: Any) -> float | None:
    """A finite number as a float; None for anything else (bools, text, NaN, infinities)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def cell_view(cell: Any, base: Any = None) -> dict[str, Any]:
    """A diff cell as the templates show it; ``changed`` when ``base`` (the base's cell) is given
    and holds another value or status."""
    value = cell.value if cell.status == "value" else None
    return {
        "changed": base is not None and (base.status, base.value) != (cell.status, cell.value),
        "status": cell.status,
        "value": value,
        "text": show(value) if cell.status == "value" else cell.status.replace("_", " "),
        "delta": cell.delta,
        "delta_text": show_delta(cell.delta),
        "best": cell.best,
    }


def headline(root: Path, base: str) -> list[str]:
    """The headline metrics of the base's settings (graft.yaml ``metrics.headline``, else the
    task's first two metrics)."""
    from graft.project import Project

    settings = Project.find(root).at(base).settings
    return list(settings.metrics.headline) or list(settings.task_metrics[:2])
