"""Every size and cost bound graft enforces on what it parses, defined once, with its default.

Each :class:`Limit` names what it bounds, its unit and its default; ``Limit.value()`` reads the
override from the environment variable ``GRAFT_LIMIT_<NAME>`` (a positive integer, e.g.
``GRAFT_LIMIT_PACKAGE_BYTES=8589934592``), refusing any other value by the variable's name. The
documentation's limits page and the tests are written from :data:`LIMITS`; code that enforces a limit
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

    def over(self, where: str, found: str) -> str:
        """The message refusing ``where`` for ``found`` (e.g. "20,000,000 bytes") past this bound."""
        return f"{where}: {found}, over the limit of {self.value():,} {self.unit} ({self.variable})"


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

# --- YAML and JSON documents (graft.core.safeload) ---------------------------------------------
YAML_BYTES = define(
    "YAML_BYTES",
    4 * MIB,
    "bytes",
    "size of a YAML document graft parses: params files, graft.yaml, dvc.yaml, dvc.lock, package "
    "spec files, search spaces, `monitor --params`, at any revision",
)
YAML_VALUES = define(
    "YAML_VALUES",
    250_000,
    "values",
    "scalars, lists and mappings in a YAML document, an alias counting as every value it refers "
    "to (an alias bomb is refused before it expands)",
)
JSON_BYTES = define(
    "JSON_BYTES",
    16 * MIB,
    "bytes",
    "size of a JSON document graft parses (metrics files, from Git or a package)",
)
JSON_VALUES = define("JSON_VALUES", 2_000_000, "values", "scalars, lists and objects in a JSON document")
DOCUMENT_DEPTH = define(
    "DOCUMENT_DEPTH", 64, "levels", "nesting of lists and mappings in a YAML, JSON or TOML document"
)
TOML_BYTES = define(
    "TOML_BYTES",
    4 * MIB,
    "bytes",
    "size of a TOML params file graft parses (a stage's `params: - FILE.toml: [keys]`), at any revision",
)

# --- command-line options (graft.cli.common's argparse types) -----------------------------------
DURATION_DAYS = define(
    "DURATION_DAYS",
    36_500,
    "days",
    "a duration option (--since, --until, --older-than): 100 years back is the earliest time",
)
JOBS = define("JOBS", 64, "jobs", "experiments or trials run at once (-j) and local:N cluster workers")
TRIALS = define("TRIALS", 10_000, "trials", "trials of one `exp search` (--trials, --keep)")
RESAMPLES = define("RESAMPLES", 100_000, "resamples", "bootstrap resamples of `graft report` (--resamples)")
REPORT_GROUPS = define(
    "REPORT_GROUPS",
    100,
    "groups",
    "groups of one sensitive column whose fairness gaps `graft report` bootstraps (more: no interval)",
)
REPLAY_BATCH_ROWS = define("REPLAY_BATCH_ROWS", 100_000, "rows", "records per request of `graft replay`")
FEEDBACK_DELAY_SECONDS = define(
    "FEEDBACK_DELAY_SECONDS", 86_400, "seconds", "the wait of `graft replay --feedback-delay`"
)

# --- the HTTP server (graft.serving) -----------------------------------------------------------
REQUEST_BODY_BYTES = define(
    "REQUEST_BODY_BYTES",
    8 * MIB,
    "bytes",
    "a request body (larger ones get 413); `graft serve --max-body-bytes` sets it per server",
)
MAX_BODY_BYTES = define(
    "MAX_BODY_BYTES", 1 * GIB, "bytes", "the largest request body `graft serve --max-body-bytes` may allow"
)
REQUEST_VALUES = define(
    "REQUEST_VALUES",
    1_000_000,
    "values",
    "JSON values (scalars, arrays, objects) in a request body, counted on its bytes before parsing "
    "(413), so parsing it costs a small multiple of the body",
)
REQUEST_PARSERS = define(
    "REQUEST_PARSERS",
    2,
    "bodies",
    "large request bodies (over 64 KiB) parsed and validated at once, in threads off the event loop",
)
REQUEST_HEADER_BYTES = define(
    "REQUEST_HEADER_BYTES", 64 * KIB, "bytes", "a request's line and headers together (431)"
)
REQUEST_HEADERS = define("REQUEST_HEADERS", 100, "headers", "header fields in one request (431)")
REQUEST_SECONDS = define(
    "REQUEST_SECONDS",
    30,
    "seconds",
    "from a request's first byte to the end of its body (headers and body) for `graft serve` and "
    "`graft ui`; a client slower than that gets 408 and the connection is closed (the model's "
    "time answering is not counted)",
)
IDLE_SECONDS = define(
    "IDLE_SECONDS",
    5,
    "seconds",
    "a `graft serve` or `graft ui` connection open with no request in progress (before the first "
    "one, between keep-alive requests) before the server closes it",
)
GRPC_MESSAGE_BYTES = define(
    "GRPC_MESSAGE_BYTES",
    8 * MIB,
    "bytes",
    "a gRPC message `graft serve --grpc-port` receives or sends (larger ones get RESOURCE_EXHAUSTED); "
    "its tensors' elements count against REQUEST_VALUES",
)

# --- the report's declared plots (graft.compare.plots) -------------------------------------------
PLOT_BYTES = define(
    "PLOT_BYTES", 32 * MIB, "bytes", "size of one plot file dvc.yaml declares, at one revision"
)
PLOT_ROWS = define(
    "PLOT_ROWS", 100_000, "rows", "data points of one plot file (records of a JSON/YAML list, CSV/TSV rows)"
)
PLOT_FILES = define(
    "PLOT_FILES", 200, "files", "plot files read at one revision for a report (a plots folder's files count)"
)
PLOT_POINTS = define(
    "PLOT_POINTS",
    5_000,
    "points",
    "data points drawn in one plot, every revision together (the linear and smooth templates' loess "
    "costs about 1 s per 1,000 points with vl-convert); confusion plots are bounded by PLOT_CLASSES",
)
PLOT_CLASSES = define(
    "PLOT_CLASSES", 50, "classes", "distinct actual or predicted values of a confusion plot"
)

# --- graft package's prediction check (graft.release.modelcheck) ----------------------------------
PACKAGE_CHECK_ROWS = define(
    "PACKAGE_CHECK_ROWS",
    1_000_000,
    "rows",
    "committed test predictions `graft package` reproduces with the packaged model (the first ones)",
)

# --- DVC's cache (graft.project.dvccache) ---------------------------------------------------------
DVC_DIR_MANIFEST_BYTES = define(
    "DVC_DIR_MANIFEST_BYTES",
    256 * MIB,
    "bytes",
    "size of a DVC directory output's .dir manifest read from the cache (about 2 million files)",
)

# --- versioned data tables (graft.data) -----------------------------------------------------------
DATA_MEMORY_BYTES = define(
    "DATA_MEMORY_BYTES",
    256 * MIB,
    "bytes",
    "working memory of `graft data show/diff` for one table: rows are read in chunks of about a "
    "quarter of it, a key diff spreads the keys over temporary files so one file's keys fit in it, "
    "and a table kept in Git (read whole) may be this large",
)
DATA_SAMPLE_VALUES = define(
    "DATA_SAMPLE_VALUES",
    100_000,
    "values",
    "values of one numeric column kept (a uniform, seeded reservoir sample) for its histogram and "
    "distribution test; a column with more values is sampled (counts, missing shares, min, max "
    "and mean stay exact)",
)
DATA_CATEGORIES = define(
    "DATA_CATEGORIES",
    10_000,
    "values",
    "distinct values of one column counted one by one; values first seen past it are counted "
    "together and the column's distribution is not tested",
)

# --- the prediction log (graft.serving.predlog) ---------------------------------------------------
LOG_QUEUE_ROWS = define(
    "LOG_QUEUE_ROWS",
    100_000,
    "rows",
    "prediction log rows waiting to be committed by graft serve; past it, a request waits "
    "(--log-durability async) or gets 503 (commit)",
)

# --- experiment names (graft.experiments.names) -------------------------------------------------
EXP_NAME_BYTES = define(
    "EXP_NAME_BYTES",
    200,
    "bytes",
    "length of an experiment name (UTF-8, without exp/; a search's name leaves room for -tNNN): "
    "Git keeps each ref as a file, so one past the file system's 255-byte names could not be created",
)


# --- the web view (graft.ui) ------------------------------------------------------------------
UI_QUERY_BYTES = define(
    "UI_QUERY_BYTES",
    8 * KIB,
    "bytes",
    "length of a `graft ui` page's URL query (view settings, selected branches); longer gets 414",
)
UI_COMPARE_BRANCHES = define(
    "UI_COMPARE_BRANCHES",
    200,
    "branches",
    "branches one `graft ui` Compare page shows (each is read from Git); more gets 400",
)
UI_PLOT_REVISIONS = define(
    "UI_PLOT_REVISIONS",
    8,
    "revisions",
    "revisions whose declared plots the Compare page overlays (the base and the first selected)",
)
UI_LOG_COMMITS = define(
    "UI_LOG_COMMITS",
    200,
    "commits",
    "commits the Branch page lists since the fork point (newest first; the rest are counted as cut)",
)
UI_REPORT_BYTES = define(
    "UI_REPORT_BYTES",
    128 * KIB,
    "bytes",
    "length of the `graft report` Markdown the Branch page renders as HTML (parsing Markdown costs "
    "more than its length in the worst case); a longer one shows as its source text",
)

# --- the documentation's table -------------------------------------------------------------------------


def shown(limit: Limit) -> str:
    """A default as the documentation shows it: bytes in KiB/MiB/GiB when whole, else the number."""
    if limit.unit == "bytes":
        for size, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
            if limit.default % size == 0:
                return f"{limit.default // size} {name}"
    return f"{limit.default:,} {limit.unit}"


def markdown_table() -> str:
    """The "Limits" table of the documentation (docs/limits.md, generated at build), one row per limit."""
    rows = ["| variable | default | what it bounds |", "| --- | --- | --- |"]
    rows += [f"| `{lim.variable}` | {shown(lim)} | {lim.what} |" for lim in LIMITS.values()]
    return "\n".join(rows) + "\n"
