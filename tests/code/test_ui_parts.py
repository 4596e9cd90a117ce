"""graft ui's parts that need no repository: the query parser, the Host allow-list, exported
file names and links, and the dvc.lock stage comparison of the Branch page."""

from __future__ import annotations

import pytest

from graft.experiments.history import StageChange, changed_stages
from graft.project.lock import Lock
from graft.ui.pages.common import BadQuery, parse_query
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
    with pytest.raises(BadQuery, match=r"the URL query: 17 bytes, over the limit of 10 bytes"):
        parse_query("branch", [("name", "exp/abcdefg")])


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
