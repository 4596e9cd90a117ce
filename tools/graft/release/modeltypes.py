"""The bottom of model flavours: what a loaded model is (:class:`LoadedModel`), what a flavour
declares (:class:`Flavour`), its error and the wording shared by the loaders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graft.core.errors import GraftError, MissingDependency

HEAD_BYTES = 64  # the first bytes of a model file that recognise its flavour


class FlavourError(GraftError):
    """A model whose flavour is unknown, does not match its file, or cannot be served as its task."""


@dataclass
class LoadedModel:
    """A model in memory, with the call that scores a batch as its task defines (see :func:`task_scores`).

    ``features``: the width of the input the model expects, when the model says (else None).
    """

    flavour: str
    model: Any
    score: Callable[[Any, bool], np.ndarray]  # (inputs, large batch) -> raw predictions
    features: int | None = None

    def predict(self, inputs: Any, large: bool = False) -> np.ndarray:
        return self.score(inputs, large)


@dataclass(frozen=True)
class Flavour:
    name: str
    title: str  # the framework's name, as messages say it
    module: str  # the import the loader needs
    distribution: str  # the package whose version is recorded at packaging
    extra: str  # graft's extra that installs it ("" when nothing is needed)
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes], bool]  # the file's first HEAD_BYTES bytes are this flavour's
    loader: Callable[[Path, str, Sequence[str], str], LoadedModel] | None
    # the recorded version must equal the installed one (pickles)
    strict_version: bool = False

    def describe(self) -> str:
        return f"{self.name} ({self.title})"


def require_library(flavour: Flavour) -> None:
    """Import the flavour's framework, or a one-line error naming the extra that installs it."""
    import importlib

    try:
        importlib.import_module(flavour.module)
    except ModuleNotFoundError:
        from graft.core.extras import distribution

        dist = distribution() or "graft-toolkit"
        raise MissingDependency(
            f"{a(flavour.title)} model needs {flavour.module}, which is not installed: "
            f"pip install '{dist}[{flavour.extra}]'"
        ) from None


def installed_version(flavour: Flavour) -> str | None:
    """The installed version of the flavour's framework (None: not installed, or nothing to record)."""
    from importlib import metadata

    if not flavour.distribution:
        return None
    try:
        return metadata.version(flavour.distribution)
    except metadata.PackageNotFoundError:
        return None


def a(title: str) -> str:
    """``title`` with its indefinite article, as said aloud: a LightGBM, an XGBoost, an ONNX."""
    return f"{'an' if title[:1] in 'AEIOUX' else 'a'} {title}"


def mismatch(title: str, kind: str, outputs: int, task: str, name: str) -> FlavourError:
    return FlavourError(
        f"{name} is {a(title)} '{kind or 'unknown'}' model with {outputs} output(s), "
        f"but the package's task.type is {task}"
    )
