"""Real-browser fixtures: the system Chromium driven by the pinned Python ``playwright``.

Never ``playwright install`` (its download is unreachable here): the browser is the Debian
``chromium`` package (``ACTIONTRACE_CHROMIUM`` overrides the path). Without it the browser tests
skip with a hint, except under ``CI=true`` where a missing browser fails the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_ENABLE = (
    "system Chromium not found: install it with `apt-get install chromium` (`make test` does "
    "that when run as root), or point ACTIONTRACE_CHROMIUM at a Chromium binary"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str | None:
    """``ACTIONTRACE_CHROMIUM`` when set, else ``chromium`` on the PATH."""
    configured = os.environ.get("ACTIONTRACE_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(HOW_TO_ENABLE + " (CI=true: the browser tests must run)")
        pytest.skip(HOW_TO_ENABLE)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=BROWSER_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Watched:
    """A page with its console errors, page errors and requests recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        yield Watched(context.new_page())
    finally:
        context.close()
