"""The bottom of monitoring: a window of the prediction log (:class:`Window`, a row per served
record) and what reading it needs to know about the model (:class:`LogLayout`). Both the log
reader (:mod:`graft.monitoring.logreader`) and the alert rules and assembly import it; it imports
neither."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from graft.core.errors import UsageError
from graft.monitoring.checks import output_columns
from graft.project.settings import TASK_TYPES


@dataclass(frozen=True)
class Window:
    """One window of the log, as :func:`read_window` returns it: a row per served record."""

    predictions: pd.DataFrame  # input columns, proba, outcome (0/1, NaN), feedback_delay_s
    since: str | None = None
    until: str | None = None
    feedback_events: int = 0  # feedback rows naming the window's requests
    unreadable: dict[str, dict[str, Any]] = field(default_factory=dict)  # reason -> rows, examples
    not_numbers: dict[str, int] = field(default_factory=dict)  # column -> values that are not numbers
    model_versions: dict[str, int] = field(default_factory=dict)  # version -> records


OWN_COLUMNS = ("outcome", "feedback_delay_s")


@dataclass(frozen=True)
class LogLayout:
    """What the reader needs to know about the model's inputs and outputs (from the package).

    ``classes``: a multiclass model's labels, in the order its probabilities are logged.
    ``text``: free-text inputs (strings without categories), read as their length in characters.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    positive_label: str = "1"
    task: str = "binary"
    classes: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    @property
    def measured(self) -> tuple[str, ...]:
        """The columns the window holds as numbers: numeric inputs, then text lengths."""
        return (*self.numeric, *self.text)

    def __post_init__(self) -> None:
        if self.task not in TASK_TYPES:
            raise UsageError(f"task type {self.task!r}: expected one of {', '.join(TASK_TYPES)}")
        if self.task == "multiclass" and len(self.classes) < 2:
            raise UsageError("a multiclass model needs its labels (task.labels) to read its log")
        taken = set(output_columns(self.task, len(self.classes))) | set(OWN_COLUMNS)
        clash = [c for c in (*self.numeric, *self.categorical, *self.text) if c in taken]
        if clash:
            raise UsageError(
                f"input column(s) {', '.join(clash)}: the monitoring window uses these names for "
                f"the model's outputs and feedback ({', '.join(sorted(taken))})"
            )

    @classmethod
    def from_package(cls, schema: dict[str, Any], spec: dict[str, Any]) -> LogLayout:
        """Columns from the package's input schema (``enum``: categorical); label from its spec."""
        props = schema["properties"]
        return cls(
            numeric=tuple(c for c, p in props.items() if "enum" not in p),
            categorical=tuple(c for c, p in props.items() if "enum" in p),
            positive_label=str(spec["positive_label"]),
        )


BINARY = LogLayout((), ())  # the outputs of a binary model, for reading a row on its own
