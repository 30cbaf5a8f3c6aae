"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

Playwright is launched with ``executable_path`` on the system Chromium (never ``playwright
install``: the browser comes from the OS package, as on CI). ``browser_missing()`` says what is
missing; ``require_browser()`` skips with a loud reason, or fails when the environment demands a
browser (``ZEROAUTH_REQUIRE_BROWSER=1``, set by ``.ci/run``): a CI run without Chromium must
not pass by skipping the tests that need it.

Chromium maps the names in ``HOSTILE_HOSTS`` to 127.0.0.1 (``--host-resolver-rules``), so a
page served on loopback can play a cross-site attacker (``http://evil.test:PORT``) while every
connection stays on this machine.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

__all__ = [
    "CHROMIUM",
    "HOSTILE_HOSTS",
    "REQUIRE_ENV",
    "browser_missing",
    "launch_args",
    "require_browser",
    "screenshot_dir",
]

CHROMIUM = os.environ.get("ZEROAUTH_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "ZEROAUTH_REQUIRE_BROWSER"
HOSTILE_HOSTS = ("evil.test",)
_HOW = (
    "install Debian's chromium (apt-get install chromium) and Playwright "
    "(pip install playwright; no `playwright install` needed)"
)


def browser_missing(chromium: str | None = None) -> str | None:
    """What is missing for the browser tests, or None when Chromium and Playwright are here."""
    path = Path(chromium or CHROMIUM)
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed"
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"no Chromium executable at {path}"
    return None


def require_browser(chromium: str | None = None) -> None:
    """Return if the browser tests can run; else skip loudly, or fail under REQUIRE_ENV=1."""
    missing = browser_missing(chromium)
    if missing is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {missing}: {_HOW}", pytrace=False)
    pytest.skip(f"BROWSER TESTS SKIPPED: {missing}; {_HOW} (CI sets {REQUIRE_ENV}=1)")


def launch_args() -> list[str]:
    rules = ", ".join(f"MAP {host} 127.0.0.1" for host in HOSTILE_HOSTS)
    return [f"--host-resolver-rules={rules}", "--no-first-run", "--disable-gpu"]


def screenshot_dir() -> Path | None:
    """Where to save screenshots for the docs (``ZEROAUTH_SCREENSHOTS``), or None."""
    target = os.environ.get("ZEROAUTH_SCREENSHOTS")
    return Path(target) if target else None
