"""A project's files at one source (a revision or the working tree), parsed once each.

``View`` answers what commands ask of a project: its params (flattened or raw), the pipeline
``dvc.yaml`` declares, ``dvc.lock``, graft's typed settings, the metrics (the headline file's
keys bare, other declared metrics files' keys as ``path:key``), the committed predictions and
per-group fairness. Parsed documents are cached by content identity across views, so reading
the same ``params.yaml`` on a hundred branches parses it once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from graft.core.errors import DataError
from graft.project.dvcfile import DEFAULT_PARAMS, Pipeline, parse_pipeline
from graft.project.infer import guess_metrics_file, guess_predictions, infer
from graft.project.lock import LOCK_FILE, Lock, flatten
from graft.project.settings import SETTINGS_FILE, Settings, parse_settings
from graft.project.source import Source

if TYPE_CHECKING:
    from graft.core.gitrepo import Revision

DVC_FILE = "dvc.yaml"


_SAID: set[str] = set()


def _say_inferred_once(where: str) -> None:
    """Tell the user (once per process and project) that settings were inferred, not read."""
    key = where.rsplit(":", 1)[0]
    if key in _SAID:
        return
    _SAID.add(key)
    logging.getLogger("graft").warning(
        "no %s: using settings inferred from dvc.yaml and params.yaml (`graft init` writes them down)",
        where,
    )


@dataclass
class Parsed:
    """Parsed documents by content identity (shared by every view of one project), and settings
    by their resolved contents (revisions that differ only in params graft.yaml does not refer
    to share one validated :class:`Settings`)."""

    documents: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Settings] = field(default_factory=dict)


def _load(data: bytes, path: str, where: str) -> Any:
    from graft.core.safeload import load

    return load(data, where, path)


@dataclass(frozen=True)
class Predictions:
    """The committed predictions: ``ids``, ``labels`` and ``scores`` (1-D, or 2-D per class)."""

    ids: Any
    labels: Any
    scores: Any
    classes: tuple[str, ...] = ()


class View:
    def __init__(self, source: Source, parsed: Parsed, revision: Revision | None) -> None:
        self.source = source
        self.parsed = parsed
        self.revision = revision

    @property
    def name(self) -> str:
        return self.source.label

    # --- files -----------------------------------------------------------------------------

    def read(self, path: str) -> bytes | None:
        return self.source.read(path)

    def paths_under(self, path: str) -> list[str]:
        """The files at or below ``path`` (a folder's files, sorted; [] when absent), unread."""
        paths_under = getattr(self.source, "paths_under", None)
        return list(paths_under(path)) if paths_under is not None else []

    def document(self, path: str, mapping: bool = True) -> Any:
        """``path`` parsed as JSON or YAML (None when absent); errors name the revision and file."""
        key = self.source.blob_key(path)
        if key is None:
            return None
        cache_key = f"{key}:{path.rsplit('.', 1)[-1]}"
        if cache_key not in self.parsed.documents:
            data = self.source.read(path)
            if data is None:
                return None
            try:
                value = _load(data, path, self.source.where(path))
            except DataError:  # a document limit, named with its file and revision
                raise
            except Exception as exc:  # json/yaml errors, UnicodeDecodeError: the file is at fault
                from graft.core.safeload import describe

                where = self.source.where(path)
                raise DataError(f"{where}: cannot be parsed ({describe(exc)})") from None
            self.parsed.documents[cache_key] = value
        value = self.parsed.documents[cache_key]
        if mapping and value is not None and not isinstance(value, Mapping):
            raise DataError(f"{self.source.where(path)}: expected a mapping at the top level")
        return value

    # --- params, pipeline, lock, settings -----------------------------------------------------

    @cached_property
    def params(self) -> dict[str, Any]:
        """The default params file (params.yaml) as a mapping ({} when absent)."""
        return dict(self.document(DEFAULT_PARAMS) or {})

    @cached_property
    def has_params(self) -> bool:
        return self.source.exists(DEFAULT_PARAMS)

    def _template_context(self, document: Any, folder: str) -> dict[str, Any]:
        """What ``${...}`` in a dvc.yaml sees: its folder's params.yaml, then each ``vars`` file
        (``file`` or ``file:key1,key2``) in order; inline ``vars`` mappings parse_pipeline adds."""
        prefix = f"{folder}/" if folder else ""
        context: dict[str, Any] = dict(
            self.params if not folder else self.document(f"{prefix}{DEFAULT_PARAMS}") or {}
        )
        entries = document.get("vars") if isinstance(document, Mapping) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, str):
                continue
            file, _, keys = entry.partition(":")
            loaded = self.document(f"{prefix}{file}")
            if loaded is None:
                raise DataError(f"{self.source.where(prefix + DVC_FILE)}: vars file '{file}' not found")
            wanted = [k.strip() for k in keys.split(",") if k.strip()]
            context.update({k: loaded[k] for k in wanted if k in loaded} if wanted else loaded)
        return context

    @cached_property
    def pipeline(self) -> Pipeline:
        """The root dvc.yaml and every dvc.yaml in a subfolder (e.g. dvclive's), as DVC reads them."""
        document = self.document(DVC_FILE)
        pipeline = parse_pipeline(document, self._template_context(document, ""), self.source.where(DVC_FILE))
        for path in self.source.dvc_files():
            folder = path.rpartition("/")[0]
            if not folder:
                continue
            sub_document = self.document(path)
            context = self._template_context(sub_document, folder)
            pipeline = pipeline.including(
                parse_pipeline(sub_document, context, self.source.where(path)), folder
            )
        return pipeline

    @cached_property
    def all_params(self) -> dict[str, Any]:
        """Every params file the pipeline reads, flattened: params.yaml's keys bare, others ``file:key``."""
        out: dict[str, Any] = {}
        for file in self.pipeline.params_files:
            document = self.params if file == DEFAULT_PARAMS else self.document(file)
            if document is None:
                continue
            prefix = "" if file == DEFAULT_PARAMS else f"{file}:"
            out.update({f"{prefix}{k}": v for k, v in flatten(document).items()})
        return out

    @cached_property
    def lock(self) -> Lock:
        return Lock.parse(self.source.read(LOCK_FILE), self.source.where(LOCK_FILE))

    @cached_property
    def has_settings(self) -> bool:
        return self.source.exists(SETTINGS_FILE)

    @cached_property
    def inference_notes(self) -> list[str]:
        return self._settings[1]

    @cached_property
    def _settings(self) -> tuple[Settings, list[str]]:
        where = self.source.where(SETTINGS_FILE)
        if self.has_settings:
            return parse_settings(self.document(SETTINGS_FILE), self.params, where, self.parsed.settings), []
        metrics_file, _ = guess_metrics_file(self.pipeline)
        metrics = self.document(metrics_file) if metrics_file else None
        document, notes = infer(self.pipeline, self.params, metrics, self.prediction_columns())
        _say_inferred_once(self.source.where(SETTINGS_FILE))
        return parse_settings(document, self.params, f"{where} (inferred)"), notes

    @property
    def settings(self) -> Settings:
        return self._settings[0]

    # --- metrics ------------------------------------------------------------------------------

    @property
    def metrics_file(self) -> str | None:
        return self.settings.metrics.file

    def headline_metrics(self) -> dict[str, Any] | None:
        """The headline metrics file, flattened (None when it is not there)."""
        if self.metrics_file is None:
            return None
        document = self.document(self.metrics_file)
        return None if document is None else flatten(document)

    def shown_metrics_files(self) -> list[str]:
        """The metrics files shown: the headline file first, then ``metrics.files`` (default: every
        metrics file dvc.yaml declares)."""
        shown = self.settings.metrics.files
        files = [self.metrics_file, *(shown if shown is not None else self.pipeline.metrics)]
        return list(dict.fromkeys(f for f in files if f))

    def metrics(self) -> dict[str, Any] | None:
        """Every shown metrics file flattened: headline keys bare, others ``path:key``; None: none."""
        out: dict[str, Any] = {}
        found = False
        headline = self.headline_metrics()
        if headline is not None:
            found = True
            out.update(headline)
        for path in self.shown_metrics_files():
            if path == self.metrics_file:
                continue
            document = self.document(path, mapping=False)
            if isinstance(document, Mapping):
                found = True
                out.update({f"{path}:{k}": v for k, v in flatten(document).items()})
        return out if found else None

    def metric_files(self) -> dict[str, bytes]:
        """Every declared metrics and plots file present at this source -> its bytes."""
        out: dict[str, bytes] = {}
        for path in (*self.pipeline.metrics, *self.pipeline.plots):
            data = self.source.read(path)
            if data is not None:
                out[path] = data
        return out

    # --- predictions and fairness ---------------------------------------------------------------

    def predictions(self) -> Predictions | None:
        """The committed predictions (numpy arrays) as ``predictions`` settings describe them."""
        config = self.settings.predictions
        if config.path is None:
            return None
        data = self.source.read(config.path)
        if data is None:
            return None
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        score_columns = [config.score] if isinstance(config.score, str) else list(config.score)
        columns = [config.id, config.label, *score_columns]
        where = self.source.where(config.path)
        try:
            if config.path.endswith(".csv"):
                import pyarrow.csv as pacsv

                table = pacsv.read_csv(pa.BufferReader(data)).select(columns)
            else:
                table = pq.read_table(pa.BufferReader(data), columns=columns)
        except Exception as exc:  # pyarrow raises several types; the file is at fault
            raise DataError(f"{where}: cannot read columns {', '.join(columns)} ({exc})") from None
        scores = [table.column(c).to_numpy() for c in score_columns]
        matrix = scores[0] if isinstance(config.score, str) else np.column_stack(scores)
        labels = table.column(config.label).to_numpy(zero_copy_only=False)
        return Predictions(
            ids=table.column(config.id).to_numpy(zero_copy_only=False),
            labels=labels,
            scores=matrix,
            classes=tuple(self.settings.task.labels or ()),
        )

    def prediction_columns(self, inside: Sequence[str] = ()) -> list[str] | None:
        """The column names of a file named like predictions among the outputs, or ``inside`` a
        directory output (for inference)."""
        path, _ = guess_predictions(self.pipeline, inside)
        data = None if path is None else self.source.read(path)
        if data is None or path is None:
            return None
        import pyarrow as pa

        try:
            if path.endswith(".csv"):
                header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
                return [c.strip().strip('"') for c in header.split(",")]
            import pyarrow.parquet as pq

            return list(pq.read_schema(pa.BufferReader(data)).names)
        except Exception:  # an unreadable file only means nothing can be inferred from it
            return None

    def fairness(self) -> dict[str, Any] | None:
        config = self.settings.fairness
        if config.file is None or not config.columns:
            return None
        document = self.document(config.file)
        if document is None:
            return None
        return {c: document[c] for c in config.columns if c in document}
