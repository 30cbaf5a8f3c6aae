"""Every page of the docs is followed by some test (issue 18 item 4: "the docs tests run every
page"): each fenced block in a runnable language (shell, console, Python, TOML, JSON) of
README.md and every ``docs/**/*.md`` carries a marker saying how it is checked, and the test the
marker names exists and reads that page. A new page or a new block without a marker fails here,
so none escapes silently. The markers are described in ``tests/helpers/docs.py``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.helpers.docs import ROOT, RUNNABLE, Fence, fences

PAGES = sorted(
    str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
)
# Pages other work owns, checked as a whole by one test module (it must name the page).
DELEGATED = {"docs/bridge.md": "tests/integration/test_docs_bridge.py"}
_MARKERS = re.compile(
    r"run|run: file [\w./-]+|run: exit-only|example: (?P<example>[\w-]+)"
    r"|tested: (?P<tested>tests/[\w/]+\.py)|not run: (?P<reason>.{12,})"
)


@cache
def _tests() -> dict[str, str]:
    return {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in (ROOT / "tests").rglob("*.py")
        if "node_modules" not in p.parts
    }


def _where(fence: Fence) -> str:
    return f"{fence.page}:{fence.line} ({fence.lang or 'no language'})"


def _problem(fence: Fence) -> str | None:
    """What is wrong with how ``fence`` is accounted for, or None."""
    if fence.lang == "":
        return "name the block's language (```text for output, ```console for a session)"
    if fence.lang not in RUNNABLE:
        if fence.body.lstrip().startswith("$ "):
            return "a block of `$ ` commands is ```console"
        return None
    marker = _MARKERS.fullmatch(fence.marker or "")
    if marker is None:
        return (
            "runnable block without a marker: put <!-- run -->, <!-- example: NAME -->, "
            "<!-- tested: tests/PATH.py --> or <!-- not run: REASON --> directly above it"
        )
    tests = _tests()
    if marker["example"]:
        name = marker["example"]
        if not any(fence.page in t and f'"{name}"' in t for t in tests.values()):
            return f"no test module names both {fence.page!r} and the example {name!r}"
    elif marker["tested"]:
        if marker["tested"] not in tests:
            return f"{marker['tested']} does not exist"
        if fence.page not in tests[marker["tested"]]:
            return f"{marker['tested']} does not read {fence.page}"
    elif not marker["reason"] and not any(f'run_page("{fence.page}")' in t for t in tests.values()):
        return f'no test calls run_page("{fence.page}")'  # a run marker: the runner follows it
    return None


@pytest.mark.parametrize("page", PAGES)
def test_every_block_of_the_page_is_run_or_says_why_not(page: str) -> None:
    if page in DELEGATED:
        module = DELEGATED[page]
        assert module in _tests(), f"{page} is delegated to {module}, which does not exist"
        assert page in _tests()[module], f"{module} does not read {page}"
        return
    problems = [f"{_where(f)}: {p}" for f in fences(page) if (p := _problem(f))]
    assert not problems, "\n".join(problems)


def test_the_pages_are_all_found_and_each_runnable_one_is_run_somewhere() -> None:
    """The walk finds the pages it must (a moved docs tree would otherwise pass vacuously),
    and every page with runnable blocks has at least one executed (not only "not run")."""
    for page in ("README.md", "docs/cli.md", "docs/idp/entra.md", "docs/decisions/grants.md"):
        assert page in PAGES
    for page in PAGES:
        if page in DELEGATED:
            continue
        runnable = [f for f in fences(page) if f.lang in RUNNABLE]
        if runnable:
            assert any(not (f.marker or "").startswith("not run") for f in runnable), (
                f"{page}: every runnable block is 'not run'; run at least one"
            )


def test_the_checker_catches_what_it_must(tmp_path: Path) -> None:
    """The checker itself: an unmarked block, a marker naming a missing test, an empty reason."""
    cases = {
        None: "without a marker",
        "tested: tests/nowhere/test_missing.py": "does not exist",
        "not run: ": "without a marker",
        "example: never-used-anywhere": "no test module names",
    }
    for marker, expected in cases.items():
        problem = _problem(Fence("docs/x.md", 1, "sh", marker, "zeroauth --help"))
        assert problem is not None, marker
        assert expected in problem, (marker, problem)
    assert "language" in (_problem(Fence("docs/x.md", 1, "", None, "x")) or "")
    assert "console" in (_problem(Fence("docs/x.md", 1, "text", None, "$ zeroauth")) or "")
    assert _problem(Fence("docs/x.md", 1, "sh", "not run: needs a real Entra tenant", "")) is None
