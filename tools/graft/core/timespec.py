"""Durations and points in time given on the command line: the one parser for every time option.

A duration is a whole number and a unit: ``90s``, ``30m``, ``12h``, ``7d``, ``2w``, at most
:data:`~graft.core.limits.DURATION_DAYS` days. A point in time is an ISO 8601 time (UTC when it
names no zone) or a duration back from now. Each function raises :class:`UsageError` naming the
option (``flag``) and the text, so ``--since 1000000d`` is a usage error, not an overflow; with
``flag=None`` the message starts at the quoted text (the command-line parser names the option).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from graft.core import limits
from graft.core.errors import UsageError

DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ISO_EXAMPLE = "2026-11-27T10:00:00Z"


def _what(text: str, flag: str | None) -> str:
    return f"{flag} {text!r}" if flag else repr(text)


def is_duration(text: str) -> bool:
    return DURATION_RE.match(text.strip()) is not None


def parse_duration(text: str, flag: str | None) -> timedelta:
    """``text`` as a duration within the limit (a usage error names ``flag`` and the text)."""
    found = DURATION_RE.match(text.strip())
    if found is None:
        raise UsageError(f"{_what(text, flag)} is not a duration like 12h, 30d or 2w (units: s m h d w)")
    digits, unit = found.groups()
    bound = limits.DURATION_DAYS.value()
    if len(digits) > 30:  # Python refuses to read very long numbers; none is a sane duration
        raise UsageError(limits.DURATION_DAYS.over(_what(text, flag), f"a {len(digits)}-digit number"))
    total = int(digits) * UNIT_SECONDS[unit]
    if total > bound * 86400:
        raise UsageError(limits.DURATION_DAYS.over(_what(text, flag), f"{total // 86400:,} days"))
    return timedelta(seconds=total)


def parse_time(text: str | None, flag: str | None, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 time (UTC when no zone is given) or a duration back from ``now``: 90m, 24h, 7d."""
    if text is None:
        return None
    if is_duration(text):
        return (now or datetime.now(UTC)) - parse_duration(text, flag)
    try:
        parsed = datetime.fromisoformat(text)
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        parsed.astimezone(UTC)  # a time at the edge of the calendar may not exist in UTC
    except (ValueError, OverflowError):
        raise UsageError(
            f"{_what(text, flag)}: expected an ISO 8601 time such as {ISO_EXAMPLE} "
            "or a duration back from now such as 24h"
        ) from None
    return parsed
