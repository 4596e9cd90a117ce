"""The one exception base for user-facing errors and the one place that maps them to exit codes.

Library code raises; only :func:`run_main` prints and decides the exit status. Every graft
command (and every pipeline stage) exits with one of :class:`ExitCode`:

==  ============  ==========================================================================
0   OK            success (a check that ran and passed included)
1   CHECK_FAILED  a check ran and failed: the gate, a drift alert, a reproduction mismatch
2   USAGE         the command line is wrong (unknown option, missing argument, bad value)
3   ERROR         an error stopped the command: not a repository, unknown revision,
                  unreachable server, bad params, a missing optional dependency, a bug
4   NO_DATA       nothing to judge: `graft monitor`'s window holds too few predictions
129 HANGUP        SIGHUP (the terminal closed)
130 INTERRUPTED   Ctrl-C, SIGINT
141 BROKEN_PIPE   the reader of graft's output closed it early (``graft diff | head``), as a
                  tool killed by SIGPIPE exits; nothing is printed
143 TERMINATED    SIGTERM (``kill``, ``timeout``, a CI job cancelled)
==  ============  ==========================================================================

A signal (SIGINT, SIGTERM, SIGHUP) delivered to graft's own process becomes
:class:`Interrupted` (see :mod:`graft.core.processes`): the processes graft started are ended,
temporary worktrees and logs removed, and graft exits 128 + the signal's number with the one
line ``graft: interrupted by SIGNAME``.

``GraftError`` subclasses carry
their code as ``exit_code``; an unexpected exception prints a one-line notice saying how to
get the traceback (``GRAFT_DEBUG=1``) and exits ``ERROR``.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
from collections.abc import Callable


class ExitCode(enum.IntEnum):
    """graft's exit statuses: the table in this module's docstring, from which the documentation's
    exit-code page is generated (each member needs a row there)."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    ERROR = 3
    NO_DATA = 4
    HANGUP = 128 + signal.SIGHUP
    INTERRUPTED = 128 + signal.SIGINT
    BROKEN_PIPE = 128 + signal.SIGPIPE
    TERMINATED = 128 + signal.SIGTERM


class GraftError(Exception):
    """A failure the user can act on; its message names the file, key, column or branch at fault."""

    exit_code: int = ExitCode.ERROR


class CheckFailed(GraftError):
    """A check ran to the end and its verdict is "failed" (gate, drift alert, reproduction)."""

    exit_code = ExitCode.CHECK_FAILED


class UsageError(GraftError):
    """The command line itself is wrong."""

    exit_code = ExitCode.USAGE


class DataError(GraftError):
    """Input data does not match what the pipeline expects."""


class ParamsError(GraftError):
    """A parameter file is missing a key or holds a value of the wrong type."""


class GitError(GraftError):
    """A Git operation was refused or failed (dirty tree, unknown branch, ...)."""


class MissingDependency(GraftError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP reached graft: unwind everything (a BaseException, so no
    ``except Exception`` that reports one failed experiment and goes on can swallow it)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"interrupted by {self.name}")

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def one_line(message: str) -> str:
    """Collapse a message to one line so stderr stays greppable."""
    return " ".join(str(message).split())


def run_main(func: Callable[[], int | None], prog: str) -> int:
    """Run ``func`` and turn its outcome into an exit code; the only place errors are printed.

    A signal reaches it as :class:`Interrupted` when ``func`` runs under
    :func:`graft.core.processes.signals_handled` (the command line wraps it so).
    """
    try:
        code = func()
        sys.stdout.flush()  # a pipe closed early shows here, not at exit ("Exception ignored")
    except CheckFailed as exc:
        print(f"{prog}: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except GraftError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Interrupted as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return ExitCode.BROKEN_PIPE
    except Exception as exc:  # the one catch-all: report, point at the traceback
        if os.environ.get("GRAFT_DEBUG"):
            raise
        print(
            f"{prog}: unexpected error: {type(exc).__name__}: {one_line(str(exc))} "
            "(run again with GRAFT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    return int(code or 0)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still buffered
    does not fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
