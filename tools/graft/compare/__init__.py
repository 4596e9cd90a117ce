"""Comparing revisions: side-by-side diff and its formats, the paired-bootstrap report, the gate."""
