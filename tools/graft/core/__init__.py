"""Shared plumbing: errors and exit codes, atomic files, Git access, templates, text tables."""
