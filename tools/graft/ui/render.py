"""Rendering the pages of `graft ui`: the Jinja2 environment (autoescaped templates kept in
this package, with the ``markdown`` filter of :mod:`graft.ui.markdown`) and where a page links,
for the live app (routes with a query) or for the static export (relative file names).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from graft.ui.pages.common import Site

STATIC_DIR = Path(__file__).parent / "static"
POLL_SECONDS = 3  # how often a live page asks whether a branch or tag moved
# page name -> (route, template)
ROUTES: dict[str, tuple[str, str]] = {
    "experiments": ("/", "experiments.html.j2"),
    "compare": ("/compare", "compare.html.j2"),
    "branch": ("/branch", "branch.html.j2"),
    "models": ("/models", "models.html.j2"),
    "version": ("/models/version", "version.html.j2"),
    "search": ("/search", "search.html.j2"),
    "data": ("/data", "data.html.j2"),
}
NAV = (("experiments", "Experiments"), ("models", "Models"), ("search", "Search"), ("data", "Data"))


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("graft.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["markdown"] = markdown
    return env


def markdown(text: str) -> Any:
    """Markdown as a page shows it (:mod:`graft.ui.markdown`: no raw HTML, only web or relative
    links, no image loaded), its headings under the page's ``h2``."""
    from graft.ui.markdown import to_html

    return to_html(text, heading_offset=1)


def when(seconds: int | float | None) -> str:
    """A time as the pages show it: UTC, to the minute."""
    import datetime

    if seconds is None:
        return ""
    moment = datetime.datetime.fromtimestamp(float(seconds), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def slug(text: str) -> str:
    """A file-name-safe, collision-free name for an exported page of ``text``."""
    import hashlib
    import re

    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "page"
    return f"{plain}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


class Links:
    """Where a page links: routes with a query (live) or exported file names (``static``)."""

    def __init__(self, static: bool = False) -> None:
        self.static = static

    def page(self, page: str, /, **params: Any) -> str:
        if self.static:
            return self.file(page, **params)
        pairs = [
            (k, str(x))
            for k, v in params.items()
            for x in (v if isinstance(v, (list, tuple)) else [v])
            if x not in (None, "")
        ]
        route = ROUTES[page][0]
        return route + ("?" + urllib.parse.urlencode(pairs) if pairs else "")

    def file(self, page: str, /, **params: Any) -> str:
        name = page
        if name == "experiments":
            return "index.html"
        if name == "branch":
            return f"branch-{slug(str(params['name']))}.html"
        if name == "compare" and params.get("rows") == "all":
            return "compare-all-rows.html"
        if name == "version":
            return f"version-{slug(str(params['model']) + '@' + str(params['version']))}.html"
        if name == "search" and params.get("name"):
            return f"search-{slug(str(params['name']))}.html"
        if name == "data" and params.get("path"):
            return f"data-{slug(str(params['path']))}.html"
        return f"{name}.html"

    def asset(self, path: str) -> str:
        return f"static/{path}" if self.static else f"/static/{path}"


class Renderer:
    def __init__(self, site: Site, links: Links) -> None:
        self.site = site
        self.links = links

    def render(self, template: str, page: str, context: Mapping[str, Any], title: str) -> str:
        return (
            environment()
            .get_template(template)
            .render(
                **context,
                page=page,
                title=title,
                links=self.links,
                static=self.links.static,
                nav=NAV,
                site_base=self.site.base,
                root_name=self.site.root.name,
                poll_seconds=POLL_SECONDS,
            )
        )

    def error(self, status: int, message: str) -> str:
        return self.render("error.html.j2", "error", {"status": status, "message": message}, "Error")
