"""Fixtures of the browser tests: one headless Chromium per module, a fresh context per test
(``tests/helpers/browser.py`` says how a missing browser skips or fails).

Module scope, not session: Playwright's sync API keeps an event loop marked as running in the
main thread while it is open, so it must be closed before any other module's async tests run
(pytest-randomly keeps a module's tests together but interleaves modules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.browser import CHROMIUM, launch_args, require_browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=launch_args()
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 720, "height": 560})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
