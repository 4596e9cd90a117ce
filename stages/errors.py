"""The pipeline's one error base and its one entry point (project code: no toolkit imports).

Stage code raises; only :func:`exit_status` prints and decides the exit status of
``python -m stages.<name>``:

* ``StageError`` (and subclasses): ``stage <name>: error: <one line>`` on stderr, exit 1.
* ``KeyboardInterrupt``: ``stage <name>: interrupted``, exit 130.
* anything else: ``stage <name>: unexpected error: <type>: <one line>`` and how to get the
  traceback (``STAGE_DEBUG=1`` re-raises instead), exit 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

DEBUG_VARIABLE = "STAGE_DEBUG"


class StageError(Exception):
    """A failure the user can act on; its message names the file, key, column or line at fault."""

    exit_code = 1


class DataError(StageError):
    """Input data does not match what the pipeline expects."""


class ParamsError(StageError):
    """The params file is missing a key or holds a value of the wrong type."""


def one_line(message: str) -> str:
    """Collapse a message to one line so stderr stays greppable."""
    return " ".join(str(message).split())


def exit_status(main: Callable[[], None], prog: str) -> int:
    """Run ``main`` and turn its outcome into an exit status; the only place errors are printed."""
    try:
        main()
    except StageError as exc:
        print(f"{prog}: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one catch-all: report, point at the traceback
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(
            f"{prog}: unexpected error: {type(exc).__name__}: {one_line(str(exc))} "
            f"(run again with {DEBUG_VARIABLE}=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


def run_stage(main: Callable[[], None], name: str) -> NoReturn:
    """Entry point of ``python -m stages.<name>``."""
    sys.exit(exit_status(main, f"stage {name}"))
