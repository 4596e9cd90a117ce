"""`graft ui`: a read-only local web view of a project's experiments, registry and searches.

* :mod:`graft.ui.pages` turns what :mod:`graft.api` and the capability packages return into one
  context per page (rows, columns, charts as Vega-Lite specs), one module per page over a shared
  :mod:`graft.ui.pages.common`; it reads, never writes;
* :mod:`graft.ui.app` is the FastAPI app: GET/HEAD routes that render those contexts with the
  Jinja2 templates in ``templates/`` (autoescaped), the vendored JavaScript and CSS in
  ``static/``, and the guards (loopback host, Host header, read-only methods);
* :mod:`graft.ui.export` writes the same pages as static HTML files.

Nothing here is imported by ``graft`` at start-up; FastAPI and uvicorn come with the ``serve``
extra.
"""
