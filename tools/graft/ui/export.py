"""`graft ui --export DIR`: the pages as static HTML files that work opened from disk.

Writes ``index.html`` (the experiments, each with its bootstrap intervals inline),
``compare.html`` (every experiment, the rows that differ) and ``compare-all-rows.html`` (every
row), one ``branch-*.html`` per experiment, ``models.html`` and one ``version-*.html`` per model
version, ``search.html`` and one ``search-*.html`` per study, ``data.html`` and one
``data-*.html`` per declared table (its summary at the base), and the vendored ``static/``
files. Links are relative file names and the charts' data are in the pages, so nothing is
fetched. The folder is built beside ``DIR`` and renamed into place:
``DIR`` is complete or untouched (an existing non-empty ``DIR`` is refused).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from graft.core.errors import GraftError, UsageError
from graft.ui.pages import branch, compare, data, experiments, models, search
from graft.ui.pages.common import Site, parse_query
from graft.ui.render import ROUTES, STATIC_DIR, Links, Renderer


def export(site: Site, out_dir: Path, progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write every page into ``out_dir``; returns the pages written (relative paths)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"--export {out_dir}: exists and is not an empty folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    links = Links(static=True)
    renderer = Renderer(site, links)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    written: list[Path] = []

    def write(page: str, context: dict, title: str, /, **params: str) -> None:
        file = links.file(page, **params)
        if progress is not None:
            progress(file)
        html = renderer.render(ROUTES[page][1], page, context, title)
        (tmp / file).write_text(html, encoding="utf-8")
        written.append(Path(file))

    def query(page: str, **values: str | list[str]) -> dict:
        pairs = [(k, x) for k, v in values.items() for x in (v if isinstance(v, list) else [v])]
        return parse_query(page, pairs)

    try:
        shutil.copytree(STATIC_DIR, tmp / "static")
        table = experiments.page(site, query("experiments"), with_significance=True)
        write("experiments", table, "Experiments")
        names = [row["name"] for row in table["rows"]]
        if names:
            write("compare", compare.page(site, query("compare", b=names)), "Compare")
            every = compare.page(site, query("compare", b=names, rows="all"))
            write("compare", every, "Compare", rows="all")
        for name in names:
            write("branch", branch.page(site, query("branch", name=name)), f"Branch {name}", name=name)
        registry = models.page(site, query("models"))
        write("models", registry, "Models")
        for model in registry["models"]:
            for v in model["versions"]:
                context = models.version(site, query("version", model=model["name"], version=v["version"]))
                write(
                    "version",
                    context,
                    f"{model['name']} {v['version']}",
                    model=model["name"],
                    version=v["version"],
                )
        studies = search.page(site, query("search", name=""))
        write("search", {**studies, "study": None} if len(studies["names"]) != 1 else studies, "Search")
        for study in studies["names"]:
            write("search", search.page(site, query("search", name=study)), "Search", name=study)
        tables = data.page(site, query("data"))
        write("data", tables, "Data")
        for table in tables["tables"]:
            try:
                context = data.page(site, query("data", path=table))
            except GraftError as exc:  # a DVC-cached table whose file is not in the local cache
                context = {**tables, "path": table, "error": str(exc)}
            write("data", context, f"Data {table}", path=table)
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written
