"""Every size and cost bound graft enforces on what it parses, defined once, with its default.

Each :class:`Limit` names what it bounds, its unit and its default; ``Limit.value()`` reads the
override from the environment variable ``GRAFT_LIMIT_<NAME>`` (a positive integer, e.g.
``GRAFT_LIMIT_PACKAGE_BYTES=8589934592``), refusing any other value by the variable's name. The
README's limits table and the tests are written from :data:`LIMITS`; code that enforces a limit
imports it from here, never a literal of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from graft.core.errors import UsageError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class Limit:
    """One bound: ``name`` (upper case, the environment variable's suffix), default, unit, what."""

    name: str
    default: int
    unit: str
    what: str

    @property
    def variable(self) -> str:
        return f"GRAFT_LIMIT_{self.name}"

    def value(self) -> int:
        """The bound in force: the environment's override, else the default."""
        raw = os.environ.get(self.variable)
        if raw is None or raw.strip() == "":
            return self.default
        text = raw.strip().replace("_", "")
        if not text.isdigit() or int(text) < 1 or len(text) > 19:
            raise UsageError(f"{self.variable}={raw!r}: expected a positive whole number of {self.unit}")
        return int(text)


LIMITS: dict[str, Limit] = {}


def define(name: str, default: int, unit: str, what: str) -> Limit:
    limit = Limit(name, default, unit, what)
    LIMITS[name] = limit
    return limit


# --- package archives (graft.release.archive) ---------------------------------------------------
PACKAGE_BYTES = define(
    "PACKAGE_BYTES",
    4 * GIB,
    "bytes",
    "total size of a package archive's files once decompressed (declared and actual)",
)
PACKAGE_MEMBERS = define("PACKAGE_MEMBERS", 10_000, "members", "entries in a package archive")
PACKAGE_RATIO = define(
    "PACKAGE_RATIO",
    200,
    "x",
    "decompressed / compressed size of a package archive, checked once 16 MiB are decompressed "
    "(gzip's own ceiling is about 1,030x; real packages stay under 20x)",
)
PACKAGE_NAME_BYTES = define(
    "PACKAGE_NAME_BYTES", 1024, "bytes", "length of a member name in a package archive (UTF-8)"
)
MANIFEST_BYTES = define("MANIFEST_BYTES", 16 * MIB, "bytes", "size of a package's manifest.json")

# --- experiment names (graft.experiments.names) -------------------------------------------------
EXP_NAME_BYTES = define(
    "EXP_NAME_BYTES",
    200,
    "bytes",
    "length of an experiment name (UTF-8, without exp/; a search's name leaves room for -tNNN): "
    "Git keeps each ref as a file, so one past the file system's 255-byte names could not be created",
)
