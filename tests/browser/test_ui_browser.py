"""`graft ui` in a real browser: Debian's Chromium, driven by Playwright, clicking as a user.

Every test's page goes through a route interceptor that aborts (and records) any request not
to 127.0.0.1 or a file, and records console errors and failed requests; the fixture asserts
all three lists are empty. axe-core (vendored, tests/browser/axe) checks each page for serious
or critical violations; each page's screenshot goes to test-artifacts/ui/.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser import uiproject
from tests.browser.conftest import ARTIFACTS
from tests.conftest import ROOT
from tests.integration.repos import branch

pytestmark = pytest.mark.slow
expect = pytest.importorskip("playwright.sync_api").expect

AXE = Path(__file__).parent / "axe" / "axe.min.js"
DOCS_SHOTS = ROOT / "docs" / "assets" / "ui"  # GRAFT_UI_DOCS_SHOTS=1 refreshes the guide's images
WAIT_MS = 60_000


@dataclass
class Watched:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: set[str] = field(default_factory=set)  # URLs whose 4xx answer the test asks for


def _local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("file", "data", "blob") or parts.hostname == "127.0.0.1"


@pytest.fixture
def watched(browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen = Watched(page)

    def guard(route: Any) -> None:
        if _local(route.request.url):
            route.continue_()
        else:
            seen.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)

    def console(m: Any) -> None:
        if m.type == "error" and m.location.get("url") not in seen.expected:
            seen.console_errors.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
    # a request the browser cancels because the page navigated away (a poll in flight) is not
    # a failure; one that fails otherwise, or gets a 4xx/5xx answer, is
    page.on(
        "requestfailed",
        lambda r: (
            seen.failed.append(f"{r.url} {r.failure}") if "ERR_ABORTED" not in (r.failure or "") else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            seen.failed.append(f"{r.url} {r.status}")
            if r.status >= 400 and r.url not in seen.expected
            else None
        ),
    )

    def dialog(d: Any) -> None:
        seen.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    try:
        yield seen
        page.wait_for_timeout(200)  # a request still in flight reports before the checks
        assert seen.outside == []
        assert seen.console_errors == []
        assert seen.failed == []
        assert seen.dialogs == []
    finally:
        context.close()


def branches_shown(page: Any) -> list[str]:
    return page.locator("#experiments tbody tr[data-branch]").evaluate_all(
        "rs => rs.map(r => r.dataset.branch)"
    )


def header_texts(page: Any, cls: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#experiments thead th.{cls}").all_inner_texts()]


def charts_drawn(page: Any, least: int) -> int:
    page.wait_for_function(
        "n => document.querySelectorAll('.chart[data-drawn=done]').length >= n", arg=least, timeout=WAIT_MS
    )
    assert page.locator(".chart[data-drawn=failed]").count() == 0
    return page.locator(".chart[data-drawn=done] svg").count()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if os.environ.get("GRAFT_UI_DOCS_SHOTS") == "1":  # the guide shows the first screenful
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SHOTS / f"{name}.png"))


def serious_violations(page: Any) -> list[str]:
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


# nothing in flight or settling, and every interval cell in view filled: the table stays as it is
QUIET = """() => document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling') === null
    && [...document.querySelectorAll('td.sig-cell')]
        .filter(td => td.getBoundingClientRect().top < window.innerHeight)
        .every(td => td.querySelector('.sig'))"""


def select_and_settle(page: Any, name: str) -> None:
    """Tick ``name``'s box and wait until htmx has swapped the new table in with that box ticked
    and settled: the next click lands on the table that stays, not on the one being replaced.
    (The intervals filling in after a swap move the boxes too: they are waited for first.)"""
    page.wait_for_function(QUIET, timeout=WAIT_MS)
    page.evaluate("document.getElementById('results').dataset.stale = '1'")
    page.get_by_label(f"select {name}").check()
    page.wait_for_function(
        """name => {
            const results = document.getElementById('results');
            const box = results && !results.dataset.stale
                && [...results.querySelectorAll('input[name=sel]')].find(b => b.value === name);
            return box && box.checked;
        }""",
        arg=name,
        timeout=WAIT_MS,
    )
    page.wait_for_function(QUIET, timeout=WAIT_MS)


def delta_order(project_auc: dict[str, float]) -> list[str]:
    return sorted(project_auc, key=lambda name: project_auc[name])


DIFFERING_PARAMS = ["train.learning_rate", "train.num_leaves", "train.note"]
EXPECTED_AUC = {
    **{name: metrics["roc_auc"] for name, (metrics, _) in uiproject.EXPERIMENTS.items()},
    f"exp/{uiproject.STUDY}-t003": 0.931,
}


def test_experiments_sort_filter_toggle_select_and_compare(ui_server, watched):
    page = watched.page
    page.goto(ui_server.url + "/")
    assert branches_shown(page) == sorted(EXPECTED_AUC)
    assert header_texts(page, "param") == DIFFERING_PARAMS  # diff only
    page.evaluate("window.sameDocument = true")

    page.get_by_role("link", name="Δ roc_auc").click()
    page.wait_for_url("**sort=d%3Aroc_auc**")
    assert branches_shown(page) == delta_order(EXPECTED_AUC)
    page.get_by_role("link", name="Δ roc_auc").click()
    page.wait_for_url("**desc=1**")
    assert branches_shown(page) == delta_order(EXPECTED_AUC)[::-1]
    assert page.evaluate("window.sameDocument") is True  # sorted in place, no full reload

    page.get_by_label("all params").check()
    page.wait_for_url("**all=1**")
    every = header_texts(page, "param")
    assert len(every) > len(DIFFERING_PARAMS) and set(DIFFERING_PARAMS) <= set(every)
    page.get_by_label("all params").uncheck()
    page.wait_for_url(lambda url: "all=1" not in url)
    assert header_texts(page, "param") == DIFFERING_PARAMS

    page.get_by_label("Param", exact=True).fill("train.num_leaves=63")
    page.get_by_label("Param", exact=True).press("Enter")
    page.wait_for_url("**where=train.num_leaves%3D63**")
    assert branches_shown(page) == ["exp/leaves"]
    page.get_by_label("Param", exact=True).fill("")
    page.get_by_label("Name contains").fill("e")
    page.get_by_label("Name contains").press("Enter")
    page.wait_for_url("**q=e**")
    shown = branches_shown(page)
    assert shown == [n for n in delta_order(EXPECTED_AUC)[::-1] if "e" in n]

    url = page.url
    page.reload()
    assert page.url == url and branches_shown(page) == shown  # the view is the URL

    select_and_settle(page, "exp/lr")
    assert "sel=exp%2Flr" in page.url
    select_and_settle(page, "exp/leaves")
    assert "sel=exp%2Fleaves" in page.url
    row = page.locator('#experiments tr[data-branch="exp/lr"] .sig')
    row.first.wait_for(timeout=WAIT_MS)
    assert row.all_inner_texts() == ["roc_auc [+0, +0] within noise", "log_loss [+0, +0] within noise"]
    shoot(page, "experiments")

    page.get_by_role("link", name="Compare selected (2)").click()
    page.wait_for_url("**/compare?b=exp%2F**")
    heads = [t.strip() for t in page.locator("#compare thead th").all_inner_texts()]
    assert heads == ["param / metric", "main base", "exp/leaves", "exp/lr"] or heads == [
        "param / metric",
        "main base",
        "exp/lr",
        "exp/leaves",
    ]
    first = page.locator("#compare tbody tr").first.locator("th").inner_text()
    assert first.startswith("train.")  # differing params first
    assert charts_drawn(page, 1) >= 1
    shoot(page, "compare")


def compare_keys(page: Any) -> list[str]:
    return page.locator("#compare tbody th[scope=row]").evaluate_all(
        "ths => ths.map(th => th.firstChild.textContent.trim())"
    )


def test_compare_toggles_only_differing_rows_and_keeps_it_in_the_url(ui_server, watched):
    page = watched.page
    page.goto(f"{ui_server.url}/compare?b=exp/lr&b=exp/leaves")
    differing = ["train.learning_rate", "train.num_leaves", "log_loss", "roc_auc"]
    switch = page.get_by_role("switch", name="only differing rows")
    expect(switch).to_have_attribute("aria-checked", "true")
    assert compare_keys(page) == differing
    assert page.locator("#compare tbody tr:not(.changed-row)").count() == 0

    switch.click()
    page.wait_for_url("**/compare?b=exp%2Flr&b=exp%2Fleaves&rows=all")
    expect(switch).to_have_attribute("aria-checked", "false")
    every = compare_keys(page)
    assert [k for k in every if k in differing] == differing and "train.seed" in every
    identical = page.locator("#compare tbody tr:not(.changed-row)").count()
    assert identical == len(every) - len(differing) > 10

    page.reload()  # the view is the URL
    expect(switch).to_have_attribute("aria-checked", "false")
    assert compare_keys(page) == every

    switch.click()
    page.wait_for_url("**/compare?b=exp%2Flr&b=exp%2Fleaves")
    expect(switch).to_have_attribute("aria-checked", "true")
    assert compare_keys(page) == differing
    assert f"the rows that differ ({identical} identical rows hidden)" in page.inner_text(".summary")


def test_compare_many_branches_draws_parallel_coordinates(ui_server, watched):
    page = watched.page
    query = urllib.parse.urlencode([("b", n) for n in sorted(EXPECTED_AUC)] + [("b", uiproject.ARCHIVED)])
    page.goto(f"{ui_server.url}/compare?{query}")
    assert page.get_by_role("heading", name="Parallel coordinates").count() == 1
    charts_drawn(page, 2)
    assert page.locator("#parallel svg").count() == 1
    shoot(page, "compare-many")


def test_branch_page_shows_html_as_text(ui_server, watched):
    page = watched.page
    page.goto(ui_server.url + "/")
    page.get_by_role("link", name=uiproject.SCRIPT_BRANCH).click()
    page.wait_for_url("**/branch?name=**")
    assert page.locator("h1").inner_text() == f"Branch {uiproject.SCRIPT_BRANCH}"
    page.goto(ui_server.url + "/branch?name=exp/lr")
    log = page.locator("#log li").all_inner_texts()
    assert len(log) == 2 and uiproject.HTML_MESSAGE in log[0]
    assert page.locator("#log img, #log b").count() == 0
    params = page.locator("#params tbody tr").all_inner_texts()
    assert [" ".join(p.split()) for p in params] == ["train.learning_rate 0.03 0.05"]
    assert "No stage changed." in page.inner_text("main")
    assert "graft report --base main --head exp/lr" in page.inner_text("main")
    shoot(page, "branch")


# every Content-Security-Policy violation the page meets, recorded before any of its scripts run
CSP_WATCH = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
    e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"""
# what a page's text could have made run or load, had it been let through as HTML
ACTIVE = """() => ({
    scripts: [...document.scripts].map(s => s.getAttribute('src')),
    images: document.images.length,
    svgs: document.querySelectorAll('main svg').length,
    handlers: [...document.querySelectorAll('*')].flatMap(e =>
        [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
    links: [...document.querySelectorAll('main a[href]')].map(a => a.getAttribute('href')),
})"""


def test_branch_report_is_html_and_its_text_runs_nothing(ui_server, watched):
    page = watched.page
    page.context.add_init_script(CSP_WATCH)
    page.goto(ui_server.url + "/")
    page.get_by_role("link", name=uiproject.IMG_BRANCH).click()
    page.wait_for_url("**/branch?name=**")
    assert page.locator("h1").inner_text() == f"Branch {uiproject.IMG_BRANCH}"
    report = page.locator("#report")
    title = report.locator("h3").first.inner_text()
    assert re.fullmatch(
        rf"graft report: {re.escape(uiproject.IMG_BRANCH)} \(\w{{8}}\) vs main \(\w{{8}}\)", title
    )
    for section in ("Metrics", "Parameters changed", "Data changed"):
        assert report.get_by_role("heading", name=section, exact=True).count() == 1
    metric_heads = report.locator("table").first.locator("th").all_inner_texts()
    assert metric_heads == ["metric", "main", uiproject.IMG_BRANCH, "Δ", "95% CI of Δ", "verdict"]
    note = report.locator("tr", has=page.locator("code", has_text="train.note")).locator("td")
    assert note.all_inner_texts() == ["train.note", "—", uiproject.HOSTILE_PARAM]
    assert report.locator("sub").inner_text().startswith("Generated by graft report from files")

    found = page.evaluate(ACTIVE)
    assert [s for s in found["scripts"] if not (s or "").startswith("/static/")] == []
    assert (found["images"], found["svgs"], found["handlers"]) == (0, 0, [])
    assert [h for h in found["links"] if not h.startswith(("/", "#", "https:"))] == []
    assert page.evaluate("window.cspViolations") == []
    page.get_by_role("heading", name="Report", exact=True).evaluate("h => h.scrollIntoView()")
    shoot(page, "branch-report")  # the guide shows the report's first screenful


def test_models_open_a_version(ui_server, watched):
    page = watched.page
    page.goto(ui_server.url + "/models")
    rows = [" ".join(r.split()) for r in page.locator("table.registry tbody tr").all_inner_texts()]
    assert [r.split()[0] for r in rows] == ["v1.1.0", "v1.0.0"]
    assert "staging" in rows[0] and "prod" in rows[1]
    assert page.locator(".timeline li").count() == 4
    shoot(page, "models")
    page.get_by_role("link", name="v1.1.0").click()
    page.wait_for_url("**/models/version?model=adult-income&version=v1.1.0")
    metrics = dict(r.split("\t") for r in page.locator("#version-metrics tbody tr").all_inner_texts())
    assert metrics["roc_auc"] == "0.935"
    assert "staging" in page.inner_text(".summary")
    shoot(page, "version")


def test_search_study_charts(ui_server, watched):
    page = watched.page
    page.goto(ui_server.url + "/search")
    assert page.locator("#trials tbody tr").count() == 4
    assert charts_drawn(page, 2) == 2  # the objective over trials, num_leaves against it
    best = page.locator("#trials tr.best-row").inner_text()
    assert best.split()[:2] == ["3", "best"] and f"exp/{uiproject.STUDY}-t003" in best
    shoot(page, "search")


def test_data_page_shows_a_table_and_compares_two_revisions(ui_server, watched):
    page = watched.page
    page.goto(ui_server.url + "/data")
    page.get_by_role("link", name=uiproject.TABLE).click()
    page.wait_for_url("**/data?path=metrics%2Fplots%2Fimportance.csv")
    rows = [" ".join(r.split()) for r in page.locator("#columns tbody tr").all_inner_texts()]
    assert [r.split()[:3] for r in rows] == [
        ["feature", "categorical", "string"],
        ["gain", "numeric", "float"],
    ]
    assert charts_drawn(page, 2) == 2
    shoot(page, "data")
    page.get_by_label("Compare").fill("main")
    page.get_by_label("with").fill("exp/depth")
    page.get_by_label("Key column").fill(uiproject.TABLE_KEY)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**b=exp%2Fdepth**")
    assert page.locator("#keys").inner_text() == (
        "By feature: 1 rows added, 1 removed, 1 changed, 14 unchanged."
    )
    moves = {r.split("\t")[0]: r.split("\t")[1] for r in page.locator("#moves tbody tr").all_inner_texts()}
    assert moves == {"gain": "insufficient data"}  # 17 rows: fewer than the drift tests need
    assert charts_drawn(page, 1) >= 1
    shoot(page, "data-diff")


PAGES = {
    "experiments": "/",
    "compare": "/compare?b=exp/lr&b=exp/leaves",
    "branch": "/branch?name=exp/lr",
    "branch-hostile": "/branch?name=" + urllib.parse.quote(uiproject.IMG_BRANCH, safe=""),
    "models": "/models",
    "version": "/models/version?model=adult-income&version=v1.0.0",
    "search": "/search",
    "data": f"/data?path={uiproject.TABLE}&a=main&b=exp/depth&key={uiproject.TABLE_KEY}",
    "error": "/branch?name=exp/nope",
}


def test_no_serious_accessibility_violation(ui_server, watched):
    page = watched.page
    found = {}
    for name, path in PAGES.items():
        if name == "error":
            watched.expected.add(ui_server.url + path)
        page.goto(ui_server.url + path)
        page.wait_for_load_state("networkidle")
        found[name] = serious_violations(page)
    assert found == {name: [] for name in PAGES}


def test_static_export_works_from_files(ui_export, watched):
    page = watched.page
    page.goto((ui_export / "index.html").as_uri())
    assert branches_shown(page) == sorted(EXPECTED_AUC)
    sig = page.locator('#experiments tr[data-branch="exp/lr"] .sig').all_inner_texts()
    assert sig == ["roc_auc [+0, +0] within noise", "log_loss [+0, +0] within noise"]
    page.get_by_role("link", name="exp/lr").click()
    page.wait_for_url("**/branch-exp-lr-*.html")
    assert uiproject.HTML_MESSAGE in page.locator("#log").inner_text()
    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name="v1.0.0").click()
    page.wait_for_url("**/version-adult-income-v1.0.0-*.html")
    page.goto((ui_export / "compare.html").as_uri())
    assert charts_drawn(page, 2) >= 2
    differing = compare_keys(page)
    assert set(DIFFERING_PARAMS) <= set(differing) and {"roc_auc", "log_loss"} <= set(differing)
    page.get_by_role("switch", name="only differing rows").click()
    page.wait_for_url("**/compare-all-rows.html")
    expect(page.get_by_role("switch", name="only differing rows")).to_have_attribute("aria-checked", "false")
    every = compare_keys(page)
    assert [k for k in every if k in differing] == differing and len(every) > len(differing) + 10
    page.get_by_role("switch", name="only differing rows").click()
    page.wait_for_url("**/compare.html")
    assert compare_keys(page) == differing
    page.goto((ui_export / "search.html").as_uri())
    assert charts_drawn(page, 2) == 2


def test_pages_follow_new_branches_without_reload(ui_server, ui_project, watched):
    page = watched.page
    page.goto(ui_server.url + "/?sort=d:roc_auc&desc=1")
    page.evaluate("window.sameDocument = true")
    page.wait_for_timeout(500)  # the first poll has read the refs' tag
    branch(ui_project, "exp/late", metrics={"roc_auc": 0.99}, params={"train.num_leaves": 99})
    try:
        page.locator('#experiments tr[data-branch="exp/late"]').wait_for(timeout=20_000)
        assert branches_shown(page)[0] == "exp/late"  # the view's sort holds
        assert page.evaluate("window.sameDocument") is True
    finally:
        import pygit2

        pygit2.Repository(str(ui_project)).references.delete("refs/heads/exp/late")
