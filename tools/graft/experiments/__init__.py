"""Experiments as Git branches: params overrides, planning, running and listing exp/* branches."""

DEFAULT_KEEP = 3
"""How many of a search's best trials become ``exp/`` branches when none is asked (``--keep``)."""
