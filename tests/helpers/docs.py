"""The docs examples runner: extract the fenced Python blocks of a docs page and run them.

Pages are named relative to the repository root (``docs/server.md``, ``README.md``). A block
tagged ``<!-- example: NAME -->`` on the line above its fence is a named example.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_NAMED = re.compile(r"<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```", re.S)


def _text(page: str | Path, after: str | None) -> str:
    text = (ROOT / page).read_text(encoding="utf-8")
    if after is not None:
        assert after in text, f"{page} lost its {after!r} section"
        text = text.split(after, 1)[1]
    return text


def code_blocks(page: str | Path, lang: str = "python", *, after: str | None = None) -> list[str]:
    """Every ```` ```lang ```` block of ``page`` in order (only those following ``after``)."""
    return re.findall(rf"```{re.escape(lang)}\n(.*?)```", _text(page, after), re.S)


def named_examples(page: str | Path) -> dict[str, str]:
    """The ``<!-- example: NAME -->`` blocks of ``page``, by name."""
    return {m["name"]: m["code"] for m in _NAMED.finditer(_text(page, None))}


def run_example(
    code: str, where: str | Path = "<docs example>", namespace: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Execute one example as a module would run it; its namespace (what it defined)."""
    scope: dict[str, Any] = {"__name__": "docs_example", **(namespace or {})}
    exec(compile(code, str(where), "exec"), scope)
    return scope
