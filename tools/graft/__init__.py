"""graft: a Git-centric toolkit for machine-learning experiments."""

__version__ = "0.1.0"
