"""Fixtures of the browser tests: one headless Chromium per session, a fresh context per test
(``tests/helpers/browser.py`` says how a missing browser skips or fails)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.browser import CHROMIUM, launch_args, require_browser


@pytest.fixture(scope="session")
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
