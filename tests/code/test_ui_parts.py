"""graft ui's parts that need no repository: the query parser, the Host allow-list, exported
file names and links, the dvc.lock stage comparison of the Branch page and its report's Markdown
rendered as HTML (none of the text's HTML let through)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from graft.experiments.history import StageChange, changed_stages
from graft.project.lock import Lock
from graft.ui.pages.common import BadQuery, QueryTooLong, parse_query
from graft.ui.render import Links, slug


def test_a_query_is_parsed_with_defaults_and_repeats():
    got = parse_query(
        "experiments", [("sort", "m:roc_auc"), ("sel", "exp/a"), ("sel", "exp/b"), ("sel", "exp/a")]
    )
    assert got == {
        "q": "",
        "where": "",
        "all": "0",
        "archived": "0",
        "sort": "m:roc_auc",
        "desc": "0",
        "sel": ["exp/a", "exp/b"],
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            [("colour", "red")],
            "unknown query parameter 'colour' (this page takes: q, where, all, archived, sort, desc, sel)",
        ),
        ([("all", "yes")], "query parameter 'all': 'yes' is not one of 0, 1"),
        ([("q", "a"), ("q", "b")], "query parameter 'q' is given more than once"),
        (
            [("q", "x" * 9000)],
            "the URL query: 9,003 bytes, over the limit of 8,192 bytes (GRAFT_LIMIT_UI_QUERY_BYTES)",
        ),
    ],
)
def test_a_bad_query_is_refused_by_name(pairs, message):
    with pytest.raises(BadQuery) as caught:
        parse_query("experiments", pairs)
    assert str(caught.value) == message


def test_the_query_bound_follows_its_variable(monkeypatch):
    monkeypatch.setenv("GRAFT_LIMIT_UI_QUERY_BYTES", "10")
    with pytest.raises(QueryTooLong, match=r"the URL query: 17 bytes, over the limit of 10 bytes"):
        parse_query("branch", [("name", "exp/abcdefg")])


def test_a_query_too_long_is_414_and_other_bad_queries_400():
    pytest.importorskip("fastapi")
    from graft.ui.app import status_of

    assert status_of(QueryTooLong("long")) == 414
    assert status_of(BadQuery("bad")) == 400


def test_hosts_answered_are_the_bound_address():
    pytest.importorskip("fastapi")
    from graft.ui.app import allowed_hosts

    assert allowed_hosts("127.0.0.1", 8080) == {
        "127.0.0.1", "127.0.0.1:8080", "localhost", "localhost:8080", "[::1]", "[::1]:8080",
    }  # fmt: skip
    assert allowed_hosts("10.1.2.3", 80) == {"10.1.2.3", "10.1.2.3:80"}
    assert allowed_hosts("0.0.0.0", 80) is None  # every address: the names cannot be known


def test_exported_names_are_safe_and_distinct():
    names = {slug(n) for n in ("exp/a b", "exp/a-b", "exp/<script>", "exp/a_b", "../etc/passwd")}
    assert len(names) == 5
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert slug("exp/<script>alert(1)</script>") == "exp-script-alert-1-script-55e60725"


def test_links_are_routes_live_and_files_exported():
    live, static = Links(), Links(static=True)
    assert live.page("branch", name="exp/<x>") == "/branch?name=exp%2F%3Cx%3E"
    assert live.page("compare", b=["exp/a", "exp/b"]) == "/compare?b=exp%2Fa&b=exp%2Fb"
    assert live.page("experiments", q="", sort="name") == "/?sort=name"
    assert static.page("experiments", sort="name") == "index.html"
    assert static.page("branch", name="exp/a") == f"branch-{slug('exp/a')}.html"
    assert static.asset("graft.css") == "static/graft.css" and live.asset("graft.css") == "/static/graft.css"


def test_changed_stages_name_what_differs():
    base = Lock({"prep": {"cmd": "p", "deps": [{"path": "raw.csv", "md5": "1"}]}, "old": {"cmd": "o"}})
    head = Lock(
        {
            "prep": {"cmd": "p", "deps": [{"path": "raw.csv", "md5": "2"}]},
            "train": {"cmd": "t", "params": {"params.yaml": {"lr": 0.1}}},
        }
    )
    assert changed_stages(base, head) == [
        StageChange("prep", "changed", ("dep raw.csv",)),
        StageChange("train", "added", ("cmd", "param params.yaml:lr")),
        StageChange("old", "removed", ("cmd",)),
    ]
    assert changed_stages(base, base) == []


def test_one_macro_words_compare_s_verdicts():
    from graft.compare.verdicts import judge
    from graft.ui.render import environment

    def cell(key: str, delta: float, direction: str, low: float, high: float) -> dict[str, object]:
        verdict = judge(delta, direction, (low, high)).to_dict()
        return {"key": key, "ci": {"low": low, "high": high, "verdict": verdict}, "reason": None}

    cells = [
        cell("roc_auc", 0.01, "higher", 0.004, 0.02),  # excludes 0 on the better side
        cell("log_loss", 0.01, "lower", 0.001, 0.03),  # a higher log loss: worse
        cell("f1", 0.002, "higher", -0.01, 0.02),
        {"key": "brier", "ci": None, "reason": "no predictions at exp/<b>"},
    ]
    html = environment().get_template("significance.html.j2").render(cells=cells)
    assert (
        '[+0.004, +0.02]</span> <span class="badge badge-better" title="basis: bootstrap">better</span>'
        in html
    )
    assert (
        '[+0.001, +0.03]</span> <span class="badge badge-worse" title="basis: bootstrap">worse</span>' in html
    )
    assert (
        '[-0.01, +0.02]</span> <span class="badge badge-within_noise" title="basis: bootstrap">'
        "within noise</span>" in html
    )
    assert 'title="no predictions at exp/&lt;b&gt;">no interval</span>' in html


# --- the Branch page's report: Markdown as HTML, none of its HTML let through ---------------------


def html_of(markdown: str) -> str:
    from graft.ui.markdown import to_html

    return str(to_html(markdown))


class Elements(HTMLParser):
    """Every element and attribute an HTML text makes (what a browser would build)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


REPORT_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "strong", "em", "code", "pre",
               "table", "thead", "tbody", "tr", "th", "td", "a", "sub", "span", "s", "blockquote", "hr",
               "br"}  # fmt: skip
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "exp/<img/src/onerror=alert(3)>",
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">',
    "<!-- a --> <script>x</script>",
    "[a](javascript:alert(1))",
    "[a](JavaScript:alert(1))",
    "[a](java&#115;cript:alert(1))",
    "[a](&#x6A;avascript:alert(1))",
    "[a](<javascript:alert(1)>)",
    "[a](vbscript:msgbox(1))",
    "[a](data:text/html;base64,PHNjcmlwdD4=)",
    "[a](file:///etc/passwd)",
    "[a](\x01javascript:alert(1))",
    "[a][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://evil.example/x.png)',
    '[x](https://example.com/" onclick="alert(1))',
    "`<script>`",
    "```html\n<script>alert(1)</script>\n```",
    "| a | <b onclick=x>b</b> |\n| --- | --- |\n| <script> | [c](javascript:x) |",
    "<sub onclick=alert(1)>x</sub>",
    "<sub>open only",
    "</sub><sub><sub>x</sub>",
]


@pytest.mark.parametrize("markdown", HOSTILE)
def test_the_report_lets_no_html_of_its_text_through(markdown):
    from graft.ui.markdown import safe_link

    html = html_of(markdown)
    for tag, attrs in Elements(html).found:
        assert tag in REPORT_TAGS, (tag, html)
        assert not [a for a in attrs if a.startswith("on") or a in ("style", "src", "srcset")], html
        if tag == "a":
            assert safe_link(attrs["href"]), html
    assert "javascript:" not in "".join(a.get("href", "") for _, a in Elements(html).found).lower()


def test_the_report_s_html_is_escaped_text():
    assert html_of("exp/<img/src/onerror=alert(3)> and <script>alert(4)</script>") == (
        "<p>exp/&lt;img/src/onerror=alert(3)&gt; and &lt;script&gt;alert(4)&lt;/script&gt;</p>\n"
    )
    assert html_of("[click](javascript:alert(5))") == "<p>[click](javascript:alert(5))</p>\n"
    assert html_of("<javascript:alert(1)>") == "<p>&lt;javascript:alert(1)&gt;</p>\n"


def test_the_report_links_to_the_web_and_relative_targets():
    assert html_of("[a](https://example.com/x?a=1&b=2) [b](branch?name=exp%2Fa) [c](#verdict)") == (
        '<p><a href="https://example.com/x?a=1&amp;b=2" rel="nofollow noopener noreferrer">a</a> '
        '<a href="branch?name=exp%2Fa">b</a> <a href="#verdict">c</a></p>\n'
    )


def test_the_report_shows_an_image_as_its_text():
    assert html_of("![ROC (exp/a)](report_plots/roc.png) ![t](https://evil.example/t.png)") == (
        '<p><span class="md-image">[image: ROC (exp/a)] <code>report_plots/roc.png</code></span> '
        '<span class="md-image">[image: t] <code>https://evil.example/t.png</code></span></p>\n'
    )


def test_the_report_renders_as_the_pull_request_comment_does():
    from graft.compare.report import MARKER
    from graft.ui.markdown import to_html

    markdown = (
        f"{MARKER}\n## graft report: `exp/a` vs `main`\n\n* **better**\n\n"
        "| metric | Δ |\n| --- | ---: |\n| `auc` | +0.01 |\n\n```mermaid\nline [1]\n```\n"
        "<sub>Generated by `graft report`</sub> <sub>lone, </sub> ~~old~~\n"
    )
    assert str(to_html(markdown, heading_offset=1)) == (
        "<h3>graft report: <code>exp/a</code> vs <code>main</code></h3>\n"
        "<ul>\n<li><strong>better</strong></li>\n</ul>\n"
        "<table>\n<thead>\n<tr>\n<th>metric</th>\n"
        '<th style="text-align:right">Δ</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td><code>auc</code></td>\n'
        '<td style="text-align:right">+0.01</td>\n</tr>\n</tbody>\n</table>\n'
        '<pre><code class="language-mermaid">line [1]\n</code></pre>\n'
        "<p><sub>Generated by <code>graft report</code></sub> <sub>lone, </sub> <s>old</s></p>\n"
    )
    assert str(to_html("###### deep", heading_offset=1)) == "<h6>deep</h6>\n"


def test_sub_tags_pair_up_or_stay_text():
    html = html_of("<sub>" * 2_000 + "x</sub></sub>")
    assert html == "<p><sub>" + "&lt;sub&gt;" * 1_999 + "x</sub>&lt;/sub&gt;</p>\n"


def test_compare_rows_are_a_query_setting():
    got = parse_query("compare", [("b", "exp/a")])
    assert got == {"b": ["exp/a"], "all": "0", "rows": "diff"}
    with pytest.raises(BadQuery) as caught:
        parse_query("compare", [("rows", "same")])
    assert str(caught.value) == "query parameter 'rows': 'same' is not one of diff, all"
    live, static = Links(), Links(static=True)
    assert live.page("compare", b=["exp/a"], rows="all") == "/compare?b=exp%2Fa&rows=all"
    assert static.page("compare", b=["exp/a"], rows="all") == "compare-all-rows.html"
    assert static.page("compare", b=["exp/a"], rows=None) == "compare.html"
