"""What a project releases, read through its view (working tree or any commit).

* :func:`model_artifact`: the model file: graft.yaml ``package.model`` names an entry of
  dvc.yaml's ``artifacts:``; without it, the one artifact of ``type: model``.
* :func:`release_name`: ``package.name``, else the artifact's name (a GTO-style slug).
* :func:`code_files` / :func:`load_adapter`: the serving code (``package.code`` plus
  ``package.adapter``) as the view holds it, and the adapter loaded from those bytes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from graft.core.errors import ParamsError
from graft.project.settings import SETTINGS_FILE

if TYPE_CHECKING:
    from graft.project.dvcfile import Artifact
    from graft.project.view import View
    from graft.release.adapter import Adapter

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def model_artifact(view: View) -> Artifact:
    """The dvc.yaml artifact holding the released model; errors say what to declare."""
    artifacts = view.pipeline.artifacts
    where = view.source.where(SETTINGS_FILE)
    wanted = view.settings.package.model
    if wanted is not None:
        if wanted not in artifacts:
            known = ", ".join(sorted(artifacts)) or "none"
            raise ParamsError(
                f"{where}: package.model '{wanted}' is not an artifact in dvc.yaml (artifacts: {known})"
            )
        return artifacts[wanted]
    models = view.pipeline.models()
    if len(models) != 1:
        found = "no" if not models else f"{len(models)} ({', '.join(m.name for m in models)})"
        raise ParamsError(
            f"dvc.yaml declares {found} model artifacts: declare the model under 'artifacts:' "
            f"(type: model) and name it in {SETTINGS_FILE} package.model"
        )
    return models[0]


def release_name(view: View) -> str:
    """The package and tag name: ``package.name``, else the model artifact's name."""
    name = view.settings.package.name or model_artifact(view).name
    if not NAME_RE.match(name):
        key = "package.name" if view.settings.package.name else "the model artifact's name"
        raise ParamsError(
            f"{view.source.where(SETTINGS_FILE)}: {key} '{name}' must be a lowercase slug "
            "(letters, digits, dashes), as GTO tags need"
        )
    return name


def code_paths(view: View) -> tuple[str, list[str]]:
    """The adapter's path and every code file serving needs (the adapter included)."""
    config = view.settings.package
    if config.adapter is None:
        raise ParamsError(
            f"{view.source.where(SETTINGS_FILE)}: package.adapter is not set: name the module that "
            "defines input_schema() and encode() (see graft.release.adapter), and list the files "
            "it imports under package.code"
        )
    return config.adapter, list(dict.fromkeys([config.adapter, *config.code]))


def code_files(view: View) -> dict[str, bytes]:
    """``package.code`` (and the adapter) -> their bytes at this view; a missing file is named."""
    _, paths = code_paths(view)
    out: dict[str, bytes] = {}
    for path in paths:
        data = view.read(path)
        if data is None:
            raise ParamsError(
                f"{view.source.where(path)}: listed in {SETTINGS_FILE} package.code but not found"
            )
        out[path] = data
    return out


def load_adapter(view: View) -> Adapter:
    """The serving adapter as this view holds it (close() it when done)."""
    from graft.release.adapter import load

    entry, _ = code_paths(view)
    return load(code_files(view), entry, view.name)
