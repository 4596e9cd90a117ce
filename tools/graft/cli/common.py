"""What every command shares: the parent parsers (``-C``, ``--quiet``, ``--format``) and :class:`Ui`.

* ``-C DIR``: run as if graft was started in ``DIR`` (as ``git -C``); the project root is then
  found from there like Git and DVC find theirs (:func:`graft.project.find_root`), so every
  command works from any subdirectory. Accepted before the command (``graft -C DIR diff``) or
  after it.
* ``-q``/``--quiet``: no progress and no messages on stderr (errors still are printed).
* ``--offline`` on every command that reads results (:func:`add_offline`): DVC-cached results
  come from the local DVC cache only, never fetched from the DVC remote.
* ``--format table|json`` on every command that prints a result: the result goes to stdout
  (JSON: one document, shapes in ``graft/cli/schemas/``), messages and progress to stderr;
  JSON mode adds nothing to stderr but warnings and errors.

:class:`Ui` is what a command's handler gets: the result writers, the one place messages go
to stderr, the project root and a progress reporter (rich's live display on a terminal, one
plain line per step otherwise).

Every number, size, duration and time option is parsed by one of the argparse types below
(:func:`whole`, :func:`share`, :func:`seconds`, :func:`duration`, :func:`moment`), so a value out
of range is a usage error (exit 2) naming the option, never an overflow later; ranges that are
limits come from :mod:`graft.core.limits` (read when the command line is parsed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

from graft.core.limits import JOBS, Limit
from graft.core.progress import SILENT, Reporter

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

TABLE_JSON = ("table", "json")
T = TypeVar("T")


class Parser(argparse.ArgumentParser):
    """argparse's parser with a one-line usage error: ``graft CMD: error: argument --opt: why``
    (exit 2), like every other error graft prints; ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        from graft.core.errors import ExitCode, one_line

        self.exit(ExitCode.USAGE, f"{self.prog}: error: {one_line(message)}\n")


def common_parent() -> argparse.ArgumentParser:
    """``-C DIR`` and ``--quiet``; defaults are suppressed so an option given before the command
    is not overwritten by the subcommand's default."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-C",
        dest="directory",
        metavar="DIR",
        type=path_arg,
        default=argparse.SUPPRESS,
        help="run as if graft was started in DIR (the project root is found from there)",
    )
    parent.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress or messages on stderr (errors are still printed)",
    )
    return parent


def add_offline(parser: argparse.ArgumentParser) -> None:
    """``--offline``: read results kept in DVC's cache from the local cache only (no fetch from
    the DVC remote); each value not there is reported "not in the local cache"."""
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never fetch DVC-cached results from the DVC remote (read the local cache only)",
    )


def add_base(parser: argparse.ArgumentParser, purpose: str, required: bool = False) -> None:
    """``--base REV``: the revision ``purpose`` (e.g. "to branch from"); default the project's
    default base (:data:`graft.project.DEFAULT_BASE`) unless ``required``."""
    from graft.project import DEFAULT_BASE

    if required:
        parser.add_argument("--base", required=True, metavar="REV", help=f"revision {purpose}")
    else:
        parser.add_argument(
            "--base",
            default=DEFAULT_BASE,
            metavar="REV",
            help=f"revision {purpose} (default: {DEFAULT_BASE})",
        )


def add_main(parser: argparse.ArgumentParser, purpose: str) -> None:
    """``--main REV``: the branch ``purpose`` (default: the project's default base)."""
    from graft.project import DEFAULT_BASE

    parser.add_argument(
        "--main", default=DEFAULT_BASE, metavar="REV", help=f"the branch {purpose} (default: {DEFAULT_BASE})"
    )


def add_jobs(parser: argparse.ArgumentParser, what: str) -> None:
    """``-j/--jobs N``: how many ``what`` run at once here (1 to :data:`graft.core.limits.JOBS`)."""
    parser.add_argument(
        "-j", "--jobs", type=whole(1, JOBS), default=2, help=f"{what} run at once (default: 2)"
    )


def add_cluster(parser: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS`` and ``--git-remote URL``: run on a Dask cluster instead of here."""
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://HOST:PORT of a scheduler, or local:N worker processes",
    )
    parser.add_argument(
        "--git-remote",
        metavar="URL",
        help="Git remote the workers clone from and push to (a URL or remote name; default: origin)",
    )


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str] = TABLE_JSON) -> None:
    """``--format``: how the result is printed on stdout (the first choice is the default)."""
    parser.add_argument(
        "--format",
        choices=list(choices),
        default=choices[0],
        help=f"output format on stdout (default: {choices[0]})",
    )


# --- argparse types: every number, size, duration and time option ----------------------------

SEED_MAX = 2**32 - 1  # what numpy's and Optuna's seeded generators accept


def add_bootstrap(parser: argparse.ArgumentParser) -> None:
    """``--resamples N`` and ``--seed S`` of the paired bootstrap (`report`, `ui`)."""
    from graft.compare import DEFAULT_RESAMPLES
    from graft.core.limits import RESAMPLES

    parser.add_argument(
        "--resamples",
        type=whole(1, RESAMPLES),
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples ({DEFAULT_RESAMPLES})",
    )
    parser.add_argument("--seed", type=whole(0, SEED_MAX), default=0, help="bootstrap seed (0)")


PORT_MAX = 65_535
_WHOLE = re.compile(r"^[+-]?\d{1,30}$")


def _bound(value: int | Limit | None) -> int | None:
    return value.value() if isinstance(value, Limit) else value


def _range(low: float, high: int | float | Limit | None) -> str:
    top = _bound(high) if not isinstance(high, float) else high
    text = f"from {low:,} to {top:,}" if top is not None else f"of at least {low:,}"
    return text + (f" ({high.variable})" if isinstance(high, Limit) else "")


def whole(low: int, high: int | Limit | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (a number, a limit or None)."""

    def parse(text: str) -> int:
        cleaned = text.strip().replace("_", "")
        top = _bound(high)
        if _WHOLE.match(cleaned):
            value = int(cleaned)
            if value >= low and (top is None or value <= top):
                return value
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number {_range(low, high)}")

    return _usage_as_type_error(parse)


def share(text: str) -> float:
    """An argparse type: a share from 0 to 1 (a rate or a ratio)."""
    return _real(text, 0.0, 1.0, "a share from 0 to 1")


def seconds(high: Limit) -> Callable[[str], float]:
    """An argparse type: seconds from 0 to ``high``."""

    def parse(text: str) -> float:
        bound = high.value()
        return _real(text, 0.0, float(bound), f"a number of seconds {_range(0, high)}")

    return _usage_as_type_error(parse)


def _real(text: str, low: float, high: float, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
    return value


def _usage_as_type_error(parse: Callable[[str], T]) -> Callable[[str], T]:
    """A library's usage error (e.g. a bad ``GRAFT_LIMIT_*`` value) as argparse's one-line error."""

    def checked(text: str) -> T:
        from graft.core.errors import UsageError

        try:
            return parse(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


def _checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type that runs a library check on the text and keeps the text."""

    def parse(text: str) -> str:
        check(text)
        return text

    return _usage_as_type_error(parse)


def duration(text: str) -> str:
    """An argparse type: a duration (``12h``, ``30d``, ``2w``) within the limit; the text is kept."""
    from graft.core.timespec import parse_duration

    return _checked(lambda t: parse_duration(t, None))(text)


def moment(text: str) -> str:
    """An argparse type: an ISO 8601 time or a duration back from now; the text is kept (so "now"
    is when the command runs it)."""
    from graft.core.timespec import parse_time

    return _checked(lambda t: parse_time(t, None))(text)


def path_arg(text: str) -> Path:
    """An argparse type: a file or folder path the operating system can take (each name at most
    255 bytes, the whole at most 4,095: :func:`graft.core.fsio.os_path_problem`)."""
    from graft.core.fsio import os_path_problem

    problem = os_path_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def dump_json(payload: Any) -> str:
    """Indented JSON; NaN and infinities become null (JSON has neither), numpy values plain ones."""
    return json.dumps(_plain(payload), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Ui:
    """Output of one command run: result on stdout, messages and progress on stderr."""

    def __init__(
        self,
        command: str,
        fmt: str | None = None,
        quiet: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.command = command
        self.format = fmt
        self.quiet = quiet
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.terminal = self.stderr.isatty() if terminal is None else terminal
        self._live: _RichReporter | None = None

    # --- the project ---------------------------------------------------------------------------

    @cached_property
    def root(self) -> Path:
        """The project root, found from the current directory (after ``-C``)."""
        from graft.project import find_root

        return find_root(Path.cwd())

    def repo_path(self, path: str) -> str:
        """``path`` as typed (relative to the current directory) made relative to the root."""
        resolved = (Path.cwd() / path).resolve()
        try:
            return resolved.relative_to(self.root).as_posix() or "."
        except ValueError:
            from graft.core.errors import UsageError

            raise UsageError(f"{path}: outside the project at {self.root}") from None

    # --- output --------------------------------------------------------------------------------

    @property
    def json_mode(self) -> bool:
        return self.format == "json"

    def json(self, payload: Any) -> None:
        """The result as one JSON document on stdout: a result model (graft.core.results) is
        printed as its dump (its schema is in graft/cli/schemas/); plain data as it is."""
        from pydantic import BaseModel

        if isinstance(payload, BaseModel):
            payload = payload.model_dump(mode="json")
        self.stdout.write(dump_json(payload))
        self.stdout.flush()

    def out(self, text: str = "") -> None:
        """One line of the (non-JSON) result on stdout."""
        self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    def message(self, text: str) -> None:
        """A message for the person at the terminal (stderr); none with --quiet or in JSON mode."""
        if not (self.quiet or self.json_mode):
            self._stderr_line(text)

    def _stderr_line(self, text: str) -> None:
        if self._live is not None:
            self._live.print(text)
        else:
            print(text, file=self.stderr, flush=True)

    @contextlib.contextmanager
    def notices(self) -> Iterator[None]:
        """Library notices (``logging.getLogger("graft")``) as ``graft: message`` lines on stderr:
        info and up normally, warnings and up in JSON mode, errors only with --quiet."""
        import logging

        logger = logging.getLogger("graft")
        handler = _NoticeHandler(self)
        handler.setLevel(logging.ERROR if self.quiet else logging.WARNING if self.json_mode else logging.INFO)
        saved = (logger.level, logger.propagate)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]

    @contextlib.contextmanager
    def progress(self) -> Iterator[Reporter]:
        """A reporter for a long operation: live on a terminal, plain lines otherwise, or silent."""
        if self.quiet or self.json_mode:
            yield SILENT
            return
        if not self.terminal:
            yield _PlainReporter(self.stderr, f"graft {self.command}")
            return
        live = _RichReporter(self.stderr)
        self._live = live
        try:
            with live:
                yield live
        finally:
            self._live = None


class _NoticeHandler(logging.Handler):
    def __init__(self, ui: Ui) -> None:
        super().__init__()
        self.ui = ui

    def emit(self, record: logging.LogRecord) -> None:
        self.ui._stderr_line(f"graft: {record.getMessage()}")


class _PlainReporter:
    """One line per step on a stream that is not a terminal (CI logs, pipes)."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream = stream
        self.prefix = prefix

    def step(self, description: str, total: int | None = None) -> None:
        print(f"{self.prefix}: {description}", file=self.stream, flush=True)

    def update(self, completed: int) -> None:
        return None


class _RichReporter:
    """rich's live progress display on stderr: a spinner per step, a bar when the step counts."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=stream, force_terminal=True)
        self.bar: Progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/green]"),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _RichReporter:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self.bar.stop()

    def _finish(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[-1]
            done = task.total if task.total is not None else 1
            self.bar.update(self.task, total=done, completed=done)
            self.bar.stop_task(self.task)
            self.task = None

    def step(self, description: str, total: int | None = None) -> None:
        self._finish()
        self.task = self.bar.add_task(description, total=total, count="")

    def update(self, completed: int) -> None:
        if self.task is not None:
            total = self.bar.tasks[-1].total
            count = f"{completed}/{int(total)}" if total is not None else str(completed)
            self.bar.update(self.task, completed=completed, count=count)

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)
