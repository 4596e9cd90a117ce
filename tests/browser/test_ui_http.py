"""`graft ui` over HTTP (the real server the browser tests use): read-only, Host-checked,
escaped, and bad input answered with a 4xx page naming what is wrong."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.browser import uiproject
from tests.conftest import BIN
from tests.integration.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(ui_server):
    with httpx.Client(base_url=ui_server.url, timeout=120) as c:
        yield c


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_get_and_head_are_answered(client, method):
    for path in ("/", "/models", "/static/graft.css", "/refs", "/nope"):
        answer = client.request(method, path)
        assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")


def test_head_answers_like_get(client):
    assert client.head("/models").status_code == 200
    assert client.head("/static/vendor/vega/vega.min.js").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "", "localhost:1"])
def test_a_foreign_host_header_is_refused(client, ui_server, host):
    answer = client.get("/", headers={"host": host})
    assert answer.status_code == 421
    assert answer.text == f"Host header {(host or '(none)')!r} is not this server's address\n"


def test_loopback_names_are_answered(client, ui_server):
    for host in (f"127.0.0.1:{ui_server.port}", f"localhost:{ui_server.port}"):
        assert client.get("/models", headers={"host": host}).status_code == 200


def test_every_page_is_headed_against_framing_and_foreign_scripts(client):
    answer = client.get("/models")
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_html_in_names_and_messages_is_escaped(client):
    home = client.get("/").text
    assert "<script>alert(1)</script>" not in home
    assert "exp/&lt;script&gt;alert(1)&lt;/script&gt;" in home
    page = client.get("/branch", params={"name": "exp/lr"}).text
    assert uiproject.HTML_MESSAGE not in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt; &lt;b&gt;bold&lt;/b&gt; tuning" in page
    page = client.get("/branch", params={"name": uiproject.SCRIPT_BRANCH}).text
    assert "<script>alert(1)</script>" not in page


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/branch", {"name": "exp/nope"}, 404, "unknown branch &#39;exp/nope&#39;"),
        ("/branch", {}, 400, "query parameter &#39;name&#39;: which branch to show"),
        ("/compare", {"b": "exp/<i>x"}, 404, "unknown branch &#39;exp/&lt;i&gt;x&#39;"),
        ("/compare", {}, 400, "query parameter &#39;b&#39;: select at least one branch to compare"),
        (
            "/",
            {"sort": "m:nope"},
            400,
            "query parameter &#39;sort&#39;: no column &#39;m:nope&#39; on this page",
        ),
        ("/", {"desc": "yes"}, 400, "query parameter &#39;desc&#39;: &#39;yes&#39; is not one of 0, 1"),
        (
            "/",
            {"where": "nope=1"},
            400,
            "query parameter &#39;where&#39;: no param &#39;nope&#39; in any branch",
        ),
        (
            "/",
            {"where": "just-a-key"},
            400,
            "query parameter &#39;where&#39;: &#39;just-a-key&#39; is not KEY=VALUE",
        ),
        ("/", {"colour": "red"}, 400, "unknown query parameter &#39;colour&#39;"),
        (
            "/models/version",
            {"model": "adult-income", "version": "v9.9.9"},
            404,
            "model &#39;adult-income&#39; has no version &#39;v9.9.9&#39;",
        ),
        ("/models/version", {"model": "nope", "version": "v1.0.0"}, 404, "unknown model &#39;nope&#39;"),
        ("/search", {"name": "nope"}, 404, "unknown search &#39;nope&#39; (kept here: tune)"),
        ("/fragments/significance", {"branch": "exp/nope"}, 404, "unknown branch &#39;exp/nope&#39;"),
        ("/nope", {}, 404, "no page at /nope"),
    ],
)
def test_bad_input_is_a_4xx_page_naming_it(client, path, params, status, message):
    answer = client.get(path, params=params)
    assert answer.status_code == status
    assert message in answer.text


def test_a_query_past_its_bound_is_refused(client):
    answer = client.get("/", params={"q": "x" * 9000})
    assert answer.status_code == 400
    assert (
        "the URL query: 9,003 bytes, over the limit of 8,192 bytes (GRAFT_LIMIT_UI_QUERY_BYTES)"
        in answer.text
    )


def test_refs_tag_is_an_etag(client):
    first = client.get("/refs")
    assert first.status_code == 200 and first.json()["tag"] == first.headers["etag"]
    assert client.get("/refs", headers={"if-none-match": first.headers["etag"]}).status_code == 304


def test_another_host_warns_once(ui_project):
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "graft"), "ui", "--host", "127.0.0.2", "--port", str(port)],
        cwd=ui_project,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stderr.readline().rstrip("\n") for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert lines == [
        "graft: serving on 127.0.0.2, not loopback: anyone who can reach it reads this project",
        f"graft ui: http://127.0.0.2:{port}/ (base main; Ctrl-C stops)",
    ]


def test_export_refuses_a_folder_with_files(ui_project, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "keep.txt").write_text("mine")
    done = subprocess.run(
        [str(BIN / "graft"), "ui", "--export", str(tmp_path / "site")],
        cwd=ui_project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == f"graft: error: --export {tmp_path / 'site'}: exists and is not an empty folder\n"
    assert [p.name for p in (tmp_path / "site").iterdir()] == ["keep.txt"]


def test_an_unknown_base_is_refused_before_serving(ui_project):
    done = subprocess.run(
        [str(BIN / "graft"), "ui", "--base", "nope"], cwd=ui_project, capture_output=True, text=True
    )
    assert done.returncode == 3
    assert done.stderr == "graft: error: unknown base revision 'nope'\n"
