"""The query that reads one window of the prediction log, and how many rows it fetches at a time.

Kept apart from :mod:`graft.monitoring.logreader` (and free of imports) so a benchmark can run
the very same query without loading the analysis.

One row per (prediction, feedback event naming it), or one row with NULL feedback columns:
``request_id, created_at, model_version, inputs, outputs, feedback_id, record_index,
feedback created_at, outcome``. ``{where}`` restricts ``p.created_at`` to the window. SQLite
walks the table in rowid order (no sort); PostgreSQL sorts by the primary key. Either way the
rows of one request arrive together.
"""

CHUNK_ROWS = 20_000  # requests parsed into columns at a time (and rows fetched per round trip)

_SELECT = """
SELECT p.request_id, p.created_at, p.model_version, {inputs}, {outputs},
       f.feedback_id, f.record_index, f.created_at, f.outcome
FROM predictions AS p
LEFT JOIN feedback AS f ON f.request_id = p.request_id AND f.outcome IS NOT NULL
{where}
ORDER BY {order}
"""
SQLITE_SQL = (
    _SELECT.replace("{inputs}", "p.inputs").replace("{outputs}", "p.outputs").replace("{order}", "p.rowid")
)
POSTGRES_SQL = (
    _SELECT.replace("{inputs}", "p.inputs::text")
    .replace("{outputs}", "p.outputs::text")
    .replace("{order}", "p.request_id")
)
