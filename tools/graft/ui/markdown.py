"""Markdown as the pages of `graft ui` show it -- the Branch page's `graft report` rendered as the
pull-request comment shows it (CommonMark with tables and strikethrough) -- safely.

That Markdown carries what a stranger can push (branch names, param values, metric keys, plot
names), so :func:`to_html` lets none of its HTML through and nothing it links run or load:

* raw HTML is text: the parser takes none (markdown-it's ``html`` option off) and every text,
  code span, attribute and URL is escaped. Two exceptions mirror what GitHub shows of a comment,
  neither able to carry an attribute: a line holding only an HTML comment (the report's marker)
  is dropped, and ``<sub>``...``</sub>`` -- exactly those tags, paired within one paragraph or
  table cell -- is a subscript (the report's footer);
* a link is a link only to ``http``/``https`` or to a relative target (no scheme); any other
  scheme (``javascript:``, ``data:``, ``vbscript:``, ``file:``, however spelt) leaves the text as
  written. A link to another site carries ``rel="nofollow noopener noreferrer"``;
* an image is never loaded: it shows as ``[image: ALT]`` and the file it names. The report's
  images are files written beside a Markdown report (``graft report -o``/``--png-dir``), which no
  page serves (the Compare page draws the plots dvc.yaml declares), and a remote image would leak
  the reader's visit (the Content-Security-Policy refuses it anyway);
* headings move down ``heading_offset`` levels (at most ``h6``), so the report's ``##`` nests
  under the page's own headings.

The result is :class:`markupsafe.Markup` for the autoescaped templates. The parser's nesting is
bounded (markdown-it's ``maxNesting``), not its time: some texts (thousands of ``[``) cost it
more than their length, so the caller bounds the text (the Branch page renders a report up to
``GRAFT_LIMIT_UI_REPORT_BYTES`` and shows a longer one as its source).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from markupsafe import Markup

SUB_OPEN, SUB_CLOSE = "<sub>", "</sub>"
COMMENT_LINE = re.compile(r"<!--(?:(?!-->).)*-->\s*")  # one whole line (the report's marker)
_BLANKS = re.compile(r"[\x00-\x20\x7f]+")  # what browsers drop from a URL (ends) or ignore (tab, newline)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
WEB_SCHEMES = ("http", "https")
NO_FOLLOW = "nofollow noopener noreferrer"


def safe_link(url: str) -> bool:
    """Whether ``url`` may be a link: ``http``/``https``, or relative (no scheme at all)."""
    bare = _BLANKS.sub("", url)
    scheme = _SCHEME.match(bare)
    if scheme is None:
        return True
    return scheme.group(0)[:-1].lower() in WEB_SCHEMES


def _external(url: str) -> bool:
    bare = _BLANKS.sub("", url).lower()
    return bare.startswith(("http:", "https:", "//"))


def to_html(text: str, heading_offset: int = 0) -> Markup:
    """``text`` (Markdown) as HTML: no raw HTML of it, only web or relative links, no image loaded."""
    return Markup(_parser().render(text, {"heading_offset": heading_offset}))  # escaped by the parser


@cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    class Safe(MarkdownIt):
        def validateLink(self, url: str) -> bool:  # markdown-it's hook
            return safe_link(url)

    md = Safe("commonmark", {"html": False, "linkify": False, "typographer": False, "xhtmlOut": False})
    md.enable(["table", "strikethrough"])
    md.block.ruler.before("html_block", "comment_line", _comment_line, {"alt": ["paragraph", "reference"]})
    md.inline.ruler.before("html_inline", "sub_tag", _sub_tag)
    md.core.ruler.push("safe_attrs", _adjust)
    md.add_render_rule("image", _image)
    return md


def _comment_line(state: Any, start: int, end: int, silent: bool) -> bool:
    """A line holding only an HTML comment is dropped (GitHub hides it too)."""
    if state.sCount[start] - state.blkIndent >= 4:  # an indented code block's line
        return False
    line = state.src[state.bMarks[start] + state.tShift[start] : state.eMarks[start]]
    if COMMENT_LINE.fullmatch(line) is None:
        return False
    if not silent:
        state.line = start + 1
    return True


def _sub_tag(state: Any, silent: bool) -> bool:
    """``<sub>``...``</sub>`` paired within the inline run: a subscript; a lone tag stays text."""
    start = state.pos
    if not state.src.startswith(SUB_OPEN, start):
        return False
    inner = start + len(SUB_OPEN)
    end = _next_close(state, inner)
    if end is None:
        return False
    if not silent:
        limit = state.posMax
        state.pos, state.posMax = inner, end
        state.push("sub_open", "sub", 1)
        state.md.inline.tokenize(state)
        state.push("sub_close", "sub", -1)
        state.posMax = limit
    state.pos = end + len(SUB_CLOSE)
    return True


def _next_close(state: Any, after: int) -> int | None:
    """Where the first ``</sub>`` at or past ``after`` (and before the run's end) starts: the
    closing tags' places are found once per source, so many lone ``<sub>`` cost no rescans."""
    memo = state.env.setdefault("_sub_closes", {})
    found = memo.get(state.src)
    if found is None:
        found = [m.start() for m in re.finditer(re.escape(SUB_CLOSE), state.src)]
        memo.clear()
        memo[state.src] = found
    i = bisect.bisect_left(found, after)
    return found[i] if i < len(found) and found[i] < state.posMax else None


def _adjust(state: Any) -> None:
    """Headings down ``heading_offset`` levels; links to other sites marked ``nofollow``."""
    offset = int(state.env.get("heading_offset", 0))
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close") and offset:
            token.tag = f"h{min(6, int(token.tag[1:]) + offset)}"
        for child in token.children or ():
            if child.type == "link_open" and _external(str(child.attrGet("href") or "")):
                child.attrSet("rel", NO_FOLLOW)


def _image(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    """An image as text: ``[image: ALT]`` and the file it names; nothing is fetched."""
    from markdown_it.common.utils import escapeHtml

    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    named = f" <code>{escapeHtml(src)}</code>" if src else ""
    return f'<span class="md-image">[image: {escapeHtml(alt)}]{named}</span>'
