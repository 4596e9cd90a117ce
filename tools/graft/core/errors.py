"""The one exception base for user-facing errors and the one place that maps them to exit codes.

Library code raises; only :func:`run_main` prints and decides the exit status:

* ``GraftError`` (and subclasses): a one-line message on stderr, exit 1.
* ``UsageError``: the message on stderr, exit 2.
* anything else: a short notice saying how to get the traceback (``GRAFT_DEBUG=1``), exit 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class GraftError(Exception):
    """A failure the user can act on; its message names the file, key, column or branch at fault."""

    exit_code = 1


class UsageError(GraftError):
    """The command line itself is wrong."""

    exit_code = 2


class DataError(GraftError):
    """Input data does not match what the pipeline expects."""


class ParamsError(GraftError):
    """A parameter file is missing a key or holds a value of the wrong type."""


class GitError(GraftError):
    """A Git operation was refused or failed (dirty tree, unknown branch, ...)."""


def one_line(message: str) -> str:
    """Collapse a message to one line so stderr stays greppable."""
    return " ".join(str(message).split())


def run_main(func: Callable[[], int | None], prog: str) -> int:
    """Run ``func`` and turn its outcome into an exit code; the only place errors are printed."""
    try:
        code = func()
    except GraftError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one catch-all: report, point at the traceback
        if os.environ.get("GRAFT_DEBUG"):
            raise
        print(
            f"{prog}: unexpected error: {type(exc).__name__}: {one_line(str(exc))} "
            "(run again with GRAFT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return int(code or 0)
