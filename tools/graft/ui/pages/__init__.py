"""One context per page of `graft ui`, built from :mod:`graft.api` (the web layer only renders).

Each page module's ``page`` function (and :func:`graft.ui.pages.models.version`) takes the
:class:`~graft.ui.pages.common.Site` and the page's parsed URL query and returns a plain
dictionary the page's template renders; it reads, never writes. Bad input raises
:class:`~graft.ui.pages.common.BadQuery` (400) or :class:`~graft.ui.pages.common.NotFound`
(404), each naming the parameter, branch or version at fault.

* :mod:`~graft.ui.pages.common` -- what every page shares: the errors, the Site and its caches,
  the URL query (:func:`~graft.ui.pages.common.parse_query`) and value formatting;
* :mod:`~graft.ui.pages.experiments`, :mod:`~graft.ui.pages.compare`,
  :mod:`~graft.ui.pages.branch`, :mod:`~graft.ui.pages.models` (with the Version page),
  :mod:`~graft.ui.pages.search`, :mod:`~graft.ui.pages.data` -- one module per page; each
  imports :mod:`~graft.ui.pages.common` and no other page.

Verdicts (better / worse / within noise) are what :mod:`graft.compare` returns; the pages pass
them on and one template macro words them. This package imports nothing itself: callers import
the module they use.
"""
