"""How long operations report progress without printing: a :class:`Reporter` they are handed.

Library code never prints. An operation that can take more than a couple of seconds takes a
``progress: Reporter = SILENT`` argument and calls

* ``progress.step(description, total=None)`` when it starts a new step (the previous one is
  then done); ``total`` when the step counts something (rows, experiments);
* ``progress.update(completed)`` to say how much of the current step's ``total`` is done.

The command line renders these (a live line on a terminal, a plain line per step otherwise,
nothing in JSON mode or with ``--quiet``); tests and library callers pass nothing.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def step(self, description: str, total: int | None = None) -> None: ...

    def update(self, completed: int) -> None: ...


class Silent:
    """A reporter that reports nothing (the default)."""

    def step(self, description: str, total: int | None = None) -> None:
        return None

    def update(self, completed: int) -> None:
        return None


SILENT: Reporter = Silent()
