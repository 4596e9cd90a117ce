"""`graft init`: write graft's settings for an existing DVC project from what it declares.

:func:`plan_init` reads ``dvc.yaml``, the params file and the headline metrics file of the
working tree, infers what it can (task, metrics file and directions, predictions, model
artifact) and renders ``graft.yaml`` with one comment per inferred or missing value. Nothing is
written until :func:`write_init`, which refuses to replace an existing file unless ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graft.core.errors import GraftError, UsageError
from graft.core.fsio import atomic_write_text
from graft.core.results import Result
from graft.core.templating import render
from graft.project import Project
from graft.project.infer import guess_metrics_file, infer
from graft.project.lock import Lock
from graft.project.settings import SETTINGS_FILE, parse_settings

if TYPE_CHECKING:
    from graft.project.dvccache import DvcCache


@dataclass(frozen=True)
class InitPlan:
    root: Path
    files: dict[str, str]  # project path -> text
    notes: list[str]
    existing: list[str]


class InitResult(Result):
    """What `graft init` wrote (or, with --dry-run, would write)."""

    root: str
    """The project root."""
    files: dict[str, str]
    """Project path -> the text written (or that would be)."""
    notes: list[str]
    """What was inferred, and from what."""
    dry_run: bool
    """True: nothing was written."""
    written: list[str]
    """The files written."""

    @classmethod
    def of(cls, plan: InitPlan, written: list[Path], dry_run: bool) -> InitResult:
        return cls(
            root=str(plan.root),
            files=dict(plan.files),
            notes=list(plan.notes),
            dry_run=dry_run,
            written=[str(p) for p in written],
        )


def plan_init(start: str | Path = ".") -> InitPlan:
    """What ``graft init`` would write, and why; nothing is written."""
    project = Project.find(start)
    view = project.work()
    if view.read("dvc.yaml") is None:
        raise GraftError(f"{project.root}: no dvc.yaml (graft works on a DVC pipeline: run `dvc stage add`)")
    metrics_file, _ = guess_metrics_file(view.pipeline)
    metrics = view.document(metrics_file) if metrics_file else None
    if metrics is None and metrics_file and project.repo.head_is_unborn is False:
        metrics = project.at("HEAD").document(metrics_file)  # a DVC output not checked out here
    inside = files_in_directory_outputs(project.dvc, view.lock)
    document, notes = infer(view.pipeline, view.params, metrics, view.prediction_columns(inside), inside)
    text = render("graft.yaml.j2", doc=_Attr(document), notes=notes)
    import yaml

    parse_settings(yaml.safe_load(text), view.params, f"{SETTINGS_FILE} (rendered)")  # always valid
    files = {SETTINGS_FILE: text}
    existing = [path for path in files if (project.root / path).exists()]
    return InitPlan(project.root, files, notes, existing)


def write_init(plan: InitPlan, force: bool = False) -> list[Path]:
    if plan.existing and not force:
        raise UsageError(
            f"{', '.join(plan.existing)} already exists in {plan.root}: pass --force to replace it"
        )
    return [atomic_write_text(plan.root / path, text) for path, text in plan.files.items()]


def files_in_directory_outputs(cache: DvcCache | None, lock: Lock) -> list[str]:
    """The files inside the directory outputs the working tree's ``dvc.lock`` records, as their
    ``.dir`` manifests in the local DVC cache name them (none fetched; a manifest is bounded by
    ``GRAFT_LIMIT_DVC_DIR_MANIFEST_BYTES``): where dvclive's predictions often are."""
    if cache is None:
        return []
    from graft.project.dvccache import outputs_of

    files: list[str] = []
    for output in outputs_of(lock.stages):
        manifest = cache.manifest(output.oid, output.legacy) if output.is_dir else None
        files.extend(f"{output.path}/{relpath}" for relpath in sorted(manifest or {}))
    return files


class _Attr(dict[str, Any]):
    """A mapping whose keys read as attributes in templates (``doc.task.type``)."""

    def __getattr__(self, name: str) -> object:
        value = self.get(name)
        return _Attr(value) if isinstance(value, dict) else value
