"""The requirement catalogue: every requirement and threat ID zeroauth prints, explained.

One table (``CATALOG``) of rows: ID, level, one plain sentence, the specification or RFC section
it comes from, with a link. ``zeroauth explain`` and ``zeroauth doctor --explain`` read it;
``docs/requirements.md`` is rendered from it (``python -m zeroauth._catalog docs/requirements.md``).
"""

from __future__ import annotations

import re

from zeroauth._catalog import (
    _authz,
    _client,
    _discovery,
    _security,
    _server,
    _threats_client,
    _threats_server,
)
from zeroauth._catalog._model import GROUPS, LEVELS, Entry, Level, Source
from zeroauth._catalog._vectors import VECTOR_SETS, VectorSet, vector_set

__all__ = [
    "CATALOG",
    "GROUPS",
    "LEVELS",
    "VECTOR_SETS",
    "Entry",
    "Level",
    "Source",
    "VectorSet",
    "lookup",
    "normalize",
    "render_markdown",
    "vector_set",
]

CATALOG: tuple[Entry, ...] = (
    *_server.ROWS,
    *_authz.ROWS,
    *_discovery.ROWS,
    *_client.ROWS,
    *_security.ROWS,
    *_threats_client.ROWS,
    *_threats_server.ROWS,
)
_BY_ID = {entry.id: entry for entry in CATALOG}
_DASHED = re.compile(r"(AS|SEC|SEP|[SCG])-?([0-9]+)")


def normalize(id: str) -> str:
    """``c-7`` → ``C-07``, ``sec5`` → ``SEC-05``: the spelling the catalogue uses."""
    text = id.strip().upper()
    match = _DASHED.fullmatch(text)
    if match is None or (match[1] == "G" and "-" not in text):
        return text  # G1..G4 (threats) are not G-01..G-04
    prefix, number = match[1], match[2]
    if prefix == "SEP":
        return f"SEP-{int(number)}"
    if "-" not in text and prefix in ("S", "C"):
        return text  # S1 / C3 are not IDs: left alone, reported unknown
    return f"{prefix}-{int(number):02d}"


def lookup(id: str) -> Entry | None:
    """The catalogue row for ``id`` (any case, ``C-7`` or ``C-07``), or None."""
    return _BY_ID.get(normalize(id))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    """``docs/requirements.md``: every row, grouped, then the test-vector sets."""
    lines = [
        "# Requirements and threats",
        "",
        "<!-- Generated from zeroauth._catalog; do not edit by hand. Regenerate with:",
        "     python -m zeroauth._catalog docs/requirements.md -->",
        "",
        "Every ID zeroauth prints in an error, a `zeroauth doctor` row, a log line or these docs,",
        "in plain words, with the section of the MCP authorization specification or the RFC it",
        "comes from. `zeroauth explain ID` prints the same entry in a terminal.",
        "",
        "Levels: **MUST**, **MUST NOT**, **SHOULD**, **SHOULD NOT** and **MAY** are the",
        "specification's own words. **open question** marks a point the specification leaves",
        "open (the sentence says what zeroauth does), **note** a remark with no rule behind it,",
        "**advice** a zeroauth recommendation, and **threat** an attack or fault zeroauth is",
        "tested against (the sentence says what happens).",
        "",
    ]
    for key, title in GROUPS:
        rows = [entry for entry in CATALOG if entry.group == key]
        lines += [f"## {title}", "", "| ID | Level | Requirement | Source |", "|---|---|---|---|"]
        for e in rows:
            source = f"[{_cell(e.source.label)}]({e.source.link})"
            lines.append(f"| {e.id} | {e.level} | {_cell(e.text)} | {source} |")
        lines.append("")
    lines += [
        "## Test vectors",
        "",
        "The design notes also name individual test cases by short labels (`W17`, `I3`, `SC6`).",
        "They are not requirements; each belongs to one of these sets. `A1` to `A9` and `W1` to",
        "`W3` are also threat IDs above: the context says which is meant.",
        "",
        "| Labels | Cases | Source |",
        "|---|---|---|",
    ]
    for vs in VECTOR_SETS:
        lines.append(f"| {vs.span} | {_cell(vs.title)} | [{vs.source.label}]({vs.source.link}) |")
    return "\n".join(lines) + "\n"
