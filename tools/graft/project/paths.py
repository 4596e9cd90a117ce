"""Where graft keeps its own files inside a project: the ``.graft/`` folder (Git-ignored).

The one owner of every ``.graft/`` path; each is relative to the project root. Nothing here
touches the disk (the modules that write there create what they need).
"""

from __future__ import annotations

GRAFT_DIR = ".graft"
WORKTREES_DIR = f"{GRAFT_DIR}/worktrees"
"""Experiments' temporary worktrees (each with a lock while in use; see core.worktree)."""
LOGS_DIR = f"{GRAFT_DIR}/logs"
"""The logs of failed experiment runs."""
SEARCH_DIR = f"{GRAFT_DIR}/search"
"""Searches' default Optuna storages (``NAME.db``) and their driver locks."""
CLUSTER_DIR = f"{GRAFT_DIR}/cluster"
"""``--cluster local:N``: the local workers' kept clones."""
PACKAGES_DIR = f"{GRAFT_DIR}/packages"
"""The checkout's own release packages (``serve``/``monitor``/``fetch --stage`` look here)."""
COMPILED_DIR = f"{GRAFT_DIR}/compiled"
"""``graft serve --compile``: compiled models, by SHA-256."""
