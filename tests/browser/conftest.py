"""Session fixtures of the `graft ui` tests: ONE project (tests/browser/uiproject.py), ONE
`graft ui` server on loopback over it, ONE static export of it and ONE Chromium (Debian's
/usr/bin/chromium driven by Playwright; never `playwright install`)."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import uiproject
from tests.conftest import BIN, ROOT
from tests.integration.conftest import free_port
from tests.releasing import isolated_git_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESAMPLES = "50"  # the bootstrap's resamples in these tests (the intervals are [0, 0]: same predictions)
ARTIFACTS = ROOT / "test-artifacts" / "ui"  # screenshots (ignored by Git)


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("ui")
    with isolated_git_env(base / "home"):
        yield uiproject.build(base / "project")


class UiServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(BIN / "graft"), "ui", "--port", str(self.port), "--resamples", RESAMPLES]
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout: float = 60.0) -> UiServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"graft ui exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                with urllib.request.urlopen(f"{self.url}/refs", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"graft ui did not answer on {self.url} within {timeout}s")

    def stop(self) -> tuple[str, str]:
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=30)
        return out, err


@pytest.fixture(scope="session")
def ui_server(ui_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    with isolated_git_env(tmp_path_factory.mktemp("ui-home")):
        server = UiServer(ui_project).wait()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def ui_export(ui_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ui-export") / "site"
    with isolated_git_env(tmp_path_factory.mktemp("ui-export-home")):
        done = subprocess.run(
            [str(BIN / "graft"), "ui", "--export", str(out), "--resamples", RESAMPLES],
            cwd=ui_project,
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium for the browser module. Module scope, not session: Playwright's sync API runs
    an event loop in this thread for as long as it is open, and every later test calling
    ``asyncio.run`` would fail with "cannot be called from a running event loop"."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
