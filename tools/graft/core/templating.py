"""Jinja2 rendering of graft's templates (report wording lives in tools/graft/templates)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("graft", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
    )


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)
