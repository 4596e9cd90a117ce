"""The processes graft starts (``dvc repro`` and the stages under it) and how they end.

Contract:

* :func:`run_group` starts a command in its OWN process group (``process_group=0``), so a
  signal meant for graft never reaches it by accident and graft can end it as a whole: the
  group gets SIGTERM, then SIGKILL after :data:`GRACE_SECONDS` (:func:`end_group`).
* :func:`signals_handled` (installed once, around the command graft runs: :func:`handling_signals`) turns
  SIGINT, SIGTERM and SIGHUP delivered to graft's own process into :class:`Interrupted`
  raised in the main thread; every running group is then ended (the main thread's by its
  ``run_group``, each worker thread's by its own ``run_group``, which polls :func:`stopping`),
  the ``finally`` blocks remove worktrees and logs, and ``run_main`` exits 128 + the signal's
  number with one line. A second signal during that cleanup is ignored (it must not cut a
  ``finally`` short). Code that must not be cut in half (``git worktree add/remove``, creating
  a branch) runs under :func:`deferred`: a signal arriving there is acted on when it ends.
* graft killed outright (SIGKILL, where no handler runs): the first :func:`run_group` starts
  one watchdog process per graft process (``python -m graft.core.processes``, its own
  session, ignoring SIGINT/SIGHUP). graft tells it each group it starts and ends over a pipe
  only graft holds; when the pipe reads end-of-file (graft is gone, however it died), the
  watchdog ends every group still registered (SIGTERM, grace, SIGKILL) and exits. Chosen over
  ``PR_SET_PDEATHSIG``, which reaches only the direct child (not the stages ``dvc repro``
  starts), fires on the death of the forking *thread* (graft forks from worker threads) and
  is Linux-only; the watchdog covers the whole group on every POSIX system.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from graft.core.errors import Interrupted

T = TypeVar("T")

GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL of a process group
POLL_SECONDS = 0.2  # how often a waiting thread checks whether graft is stopping
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_STOP = threading.Event()
_state: dict[str, Any] = {"signal": None, "deferred": 0, "pending": None}
_lock = threading.Lock()
_watchdog: dict[str, Any] = {"proc": None, "pipe": None, "pid": None}


_local = threading.local()  # a thread's own stop condition (a cluster task cancelled by its client)


def stopping() -> bool:
    """Whether this thread must wind down: a signal asked graft to stop, or the thread's own
    condition (:func:`stop_when`) holds."""
    if _STOP.is_set():
        return True
    check = getattr(_local, "check", None)
    return bool(check is not None and check())


@contextlib.contextmanager
def stop_when(check: Callable[[], bool]) -> Iterator[None]:
    """In this thread, also stop (end the running group, raise Interrupted) once ``check()`` holds."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def check_stop() -> None:
    """Raise :class:`Interrupted` when this thread must stop (before a step that publishes)."""
    if stopping():
        raise Interrupted(_state["signal"] or signal.SIGTERM)


_check = check_stop


def _handler(signum: int, frame: Any) -> None:
    if _STOP.is_set():
        return  # already stopping: let the cleanup run to its end
    _state["signal"] = signum
    _STOP.set()
    if _state["deferred"]:
        _state["pending"] = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_handled() -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP raise :class:`Interrupted` in the main thread (restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    _STOP.clear()
    _state.update(signal=None, deferred=0, pending=None)
    for s in HANDLED:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def handling_signals(func: Callable[[], T]) -> Callable[[], T]:
    """``func`` to be run under :func:`signals_handled` (what the command line gives
    :func:`graft.core.errors.run_main`, which turns :class:`Interrupted` into 128 + the signal)."""

    def run() -> T:
        with signals_handled():
            return func()

    return run


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section a signal must not cut in half (main thread); the signal is acted on after it."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        _state["deferred"] += 1
    try:
        yield
    finally:
        if main:
            _state["deferred"] -= 1
    if main and _state["deferred"] == 0 and _state["pending"] is not None:
        signum, _state["pending"] = _state["pending"], None
        raise Interrupted(signum)


# --- process groups ----------------------------------------------------------------------------


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(
    *pgids: int, grace: float = GRACE_SECONDS, leader: subprocess.Popen[bytes] | None = None
) -> None:
    """SIGTERM to the groups ``pgids``, then SIGKILL to whatever is left after ``grace`` seconds.

    ``leader``: our own child leading the group, reaped as it ends (a zombie still counts as a
    member of its group, so an unreaped leader would always cost the whole grace period).
    """
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = list(pgids)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        if leader is not None:
            leader.poll()
        left = [p for p in left if _alive(p)]
    for pgid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _watchdog_pipe() -> IO[str]:
    """This process's line to its watchdog, starting the watchdog on first use. Called before a
    group starts, so a graft killed outright right after starting one has already a watchdog
    (starting one takes a Python start-up: long enough for a kill to fall in between)."""
    with _lock:
        pipe = _watchdog["pipe"]
        if pipe is None or _watchdog["pid"] != os.getpid():
            read, write = os.pipe()
            proc = subprocess.Popen(
                [sys.executable, "-m", "graft.core.processes", str(GRACE_SECONDS)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
            os.close(read)
            pipe = os.fdopen(write, "w", buffering=1)
            _watchdog.update(proc=proc, pipe=pipe, pid=os.getpid())
        return pipe


def _tell_watchdog(line: str) -> None:
    pipe = _watchdog_pipe()
    with _lock, contextlib.suppress(OSError):
        pipe.write(line + "\n")


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """The exit status of ``proc``. The main thread blocks (the signal handler raises in it);
    another thread, or one with its own stop condition, polls :func:`stopping`."""
    if threading.current_thread() is threading.main_thread() and getattr(_local, "check", None) is None:
        return proc.wait()
    while True:
        try:
            return proc.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if stopping():
                raise Interrupted(_state["signal"] or signal.SIGTERM) from None


def run_group(
    cmd: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdout: IO[Any] | int | None = None,
    stderr: IO[Any] | int | None = None,
) -> int:
    """Run ``cmd`` in its own process group and return its exit status.

    When graft is told to stop (a signal, in this or another thread) the whole group is ended
    and :class:`Interrupted` raised here, after the group is gone.
    """
    _check()
    proc: subprocess.Popen[bytes] | None = None
    try:
        _watchdog_pipe()  # before the group: a kill right after it starts still ends it
        with deferred():  # a signal never falls between starting the group and knowing it
            proc = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,  # a background group reading the terminal would be stopped
                stdout=stdout,
                stderr=stderr,
                process_group=0,
            )
            _tell_watchdog(f"+{proc.pid}")
        code = _wait(proc)
    except BaseException:
        if proc is not None:
            end_group(proc.pid, leader=proc)
            proc.wait()
        raise
    finally:
        if proc is not None:
            _tell_watchdog(f"-{proc.pid}")
    if _alive(proc.pid):  # the leader is done; what it left running in its group is not kept
        end_group(proc.pid)
    _check()
    return code


# --- the watchdog (python -m graft.core.processes GRACE) ------------------------------------


def watchdog(stream: IO[str], grace: float) -> None:
    """Read ``+PGID``/``-PGID`` lines until end-of-file, then end every group still listed."""
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    groups: set[int] = set()
    for line in stream:
        text = line.strip()
        if text[1:].isdigit():
            (groups.add if text[0] == "+" else groups.discard)(int(text[1:]))
    end_group(*(p for p in groups if _alive(p)), grace=grace)


if __name__ == "__main__":
    watchdog(sys.stdin, float(sys.argv[1]) if len(sys.argv) > 1 else GRACE_SECONDS)
