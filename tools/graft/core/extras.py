"""Optional dependencies: which extra brings a missing module, read from graft's own metadata.

The extras are declared once, in ``pyproject.toml`` (``[project.optional-dependencies]``);
this module reads them back from the installed distribution's metadata, so a missing
``fastapi`` becomes one line naming the command to run: ``pip install 'DIST[serve]'``.
The command line does this for any module a command fails to import; :func:`require` does it
up front, in library code, where an option needs an extra (``--cluster``, ``exp search``)
and nothing may be created before the refusal.
"""

from __future__ import annotations

import re
from functools import lru_cache

from graft.core.errors import MissingDependency

# import names that differ from their distribution's name
IMPORT_TO_DIST = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "git": "gitpython",
    "vl_convert": "vl-convert-python",
}
# extras that bundle others: named only when nothing narrower brings the module
BUNDLES = ("all", "dev")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def distribution() -> str | None:
    """The name graft is installed under (None when run from a source tree)."""
    from importlib import metadata

    names = metadata.packages_distributions().get(__name__.split(".")[0], [])
    return names[0] if names else None


@lru_cache(maxsize=1)
def extras_by_dependency() -> dict[str, list[str]]:
    """Canonical distribution name -> the extras of graft that require it, in declaration order."""
    from importlib import metadata

    dist = distribution()
    if dist is None:
        return {}
    out: dict[str, list[str]] = {}
    for requirement in metadata.requires(dist) or []:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
        if name is None or extra is None or canonical(name.group(1)) == canonical(dist):
            continue
        out.setdefault(canonical(name.group(1)), []).append(extra.group(1))
    return out


def extra_for(module: str, preferred: str | None = None) -> str | None:
    """The extra to install for ``module`` (``preferred`` when it brings it), or None."""
    top = module.split(".")[0]
    extras = extras_by_dependency().get(canonical(IMPORT_TO_DIST.get(top, top)), [])
    if preferred in extras:
        return preferred
    narrow = [e for e in extras if e not in BUNDLES]
    chosen = narrow or extras
    return chosen[0] if chosen else None


def missing(exc: ModuleNotFoundError, what: str, preferred: str | None = None) -> MissingDependency | None:
    """The one-line error for ``exc`` raised while running ``what``, or None when no extra brings it."""
    module = exc.name or ""
    extra = extra_for(module, preferred) if module else None
    if extra is None:
        return None
    dist = distribution()
    top = module.split(".")[0]
    return MissingDependency(f"{what} needs {top}, which is not installed: pip install '{dist}[{extra}]'")


def require(module: str, what: str, extra: str) -> None:
    """Import ``module`` now or raise the one-line :class:`MissingDependency` naming ``extra``."""
    import importlib

    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise (missing(exc, what, extra) or exc) from None


def dvc_plugin(protocol: str, url: str) -> MissingDependency:
    """A DVC remote whose filesystem plugin (``dvc-s3``, ``dvc-gs``, ...) is not installed."""
    plugin = f"dvc-{protocol}"
    extra = extra_for(plugin.replace("-", "_"))
    dist = distribution()
    how = f"pip install '{dist}[{extra}]'" if extra and dist else f"pip install {plugin}"
    return MissingDependency(f"DVC remote {url} needs {plugin}, which is not installed: {how}")
