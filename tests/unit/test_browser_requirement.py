"""The browser tests' skip logic (``tests/helpers/browser.py``): with Chromium or Playwright
missing they skip with a loud reason, except under ``ZEROAUTH_REQUIRE_BROWSER=1`` (CI), where
they fail — a CI run must not pass by skipping them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import browser


@pytest.fixture
def fake_chromium(tmp_path: Path) -> str:
    exe = tmp_path / "chromium"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return str(exe)


def _playwright(monkeypatch: pytest.MonkeyPatch, installed: bool) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        if name == "playwright":
            return real("pytest") if installed else None  # any spec stands for "installed"
        return real(name, *args)

    monkeypatch.setattr(browser.importlib.util, "find_spec", find_spec)


def test_present_browser_runs(monkeypatch: pytest.MonkeyPatch, fake_chromium: str) -> None:
    _playwright(monkeypatch, installed=True)
    monkeypatch.setenv(browser.REQUIRE_ENV, "1")
    assert browser.browser_missing(fake_chromium) is None
    browser.require_browser(fake_chromium)  # neither skips nor fails


@pytest.mark.parametrize("missing", ["chromium", "playwright"])
def test_missing_browser_skips_loudly(
    monkeypatch: pytest.MonkeyPatch, fake_chromium: str, tmp_path: Path, missing: str
) -> None:
    _playwright(monkeypatch, installed=missing != "playwright")
    monkeypatch.delenv(browser.REQUIRE_ENV, raising=False)
    path = str(tmp_path / "no-chromium") if missing == "chromium" else fake_chromium
    with pytest.raises(pytest.skip.Exception, match="BROWSER TESTS SKIPPED") as caught:
        browser.require_browser(path)
    assert missing in str(caught.value)
    assert "ZEROAUTH_REQUIRE_BROWSER=1" in str(caught.value)


@pytest.mark.parametrize("missing", ["chromium", "playwright"])
def test_missing_browser_fails_when_required(
    monkeypatch: pytest.MonkeyPatch, fake_chromium: str, tmp_path: Path, missing: str
) -> None:
    _playwright(monkeypatch, installed=missing != "playwright")
    monkeypatch.setenv(browser.REQUIRE_ENV, "1")
    path = str(tmp_path / "no-chromium") if missing == "chromium" else fake_chromium
    with pytest.raises(pytest.fail.Exception, match="ZEROAUTH_REQUIRE_BROWSER=1 but"):
        browser.require_browser(path)


def test_not_executable_is_missing(tmp_path: Path) -> None:
    plain = tmp_path / "chromium"
    plain.write_text("not a program")
    assert "no Chromium executable" in str(browser.browser_missing(str(plain)))


def test_other_values_do_not_require(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(browser.REQUIRE_ENV, "0")
    with pytest.raises(pytest.skip.Exception):
        browser.require_browser(str(tmp_path / "none"))
