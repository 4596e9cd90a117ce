"""Comparing revisions: side-by-side diff and its formats, the paired-bootstrap report, the gate."""

DEFAULT_RESAMPLES = 1000
"""Paired-bootstrap resamples when none are asked for (`graft report`, `graft ui`: --resamples)."""
