"""The requirement catalogue (``zeroauth._catalog``): complete, well-formed, and in the docs.

- every ID the package can print (string literals in ``src/zeroauth``, docstrings and comments
  aside) and every ID the docs print resolves to a catalogue row (or, for a docs label such as
  ``W17``, to a named test-vector set);
- every row has a level, a sentence and a source whose link has the shape of an MCP
  specification page, an RFC section, an Internet-Draft or an OpenID/WHATWG specification;
- ``docs/requirements.md`` is exactly what the catalogue renders;
- no user-facing text (docs, README, messages, CLI help) cites the project's internal notes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from zeroauth._catalog import (
    CATALOG,
    GROUPS,
    LEVELS,
    lookup,
    normalize,
    render_markdown,
    vector_set,
)
from zeroauth.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "zeroauth"
DOCS = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]

# Requirement IDs (S-05, SEC-05, SEP-990, X-CORS) and threat rows (A1, B14, W2)
ID = re.compile(
    r"(?<![\w-])(?:(?:AS|SEC|SEP|[SCG])-[0-9]{1,3}|X-[A-Z]+|[ABDEFGW][0-9]{1,2})(?![\w-])"
)
# The docs also print test-vector labels (I3, SC6, U10, J5 ...)
DOC_LABEL = re.compile(r"(?<![\w-])(?:SC|[A-Z])[0-9]{1,2}(?![\w-])|" + ID.pattern)
LINK = re.compile(
    r"https://(?:modelcontextprotocol\.io/(?:specification|docs|development)/\S+"
    r"|www\.rfc-editor\.org/rfc/rfc[0-9]+#(?:section-[0-9.]+|appendix-[A-Z])"
    r"|datatracker\.ietf\.org/doc/html/draft-[a-z0-9-]+(?:#section-[0-9.]+)?"
    r"|openid\.net/specs/[a-z0-9_-]+\.html#\w+"
    r"|fetch\.spec\.whatwg\.org/#[a-z-]+)"
)
UNKNOWN_ON_PURPOSE = {"C-99"}  # docs/cli.md shows what `zeroauth explain` says for an unknown ID
REGENERATE = "PYTHONPATH=src python -m zeroauth._catalog docs/requirements.md"


def _docstrings(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def printable_strings() -> Iterator[tuple[str, int, str]]:
    """Every string literal of the package that can reach a user: (file, line, text)."""
    for path in sorted(SRC.rglob("*.py")):
        if "_catalog" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and id(node) not in skip:
                yield f"{path.relative_to(ROOT)}", getattr(node, "lineno", 0), text


def test_every_id_the_package_prints_is_in_the_catalogue():
    printed: dict[str, str] = {}
    for where, line, text in printable_strings():
        for found in ID.findall(text):
            printed.setdefault(found, f"{where}:{line}")
    missing = {id: where for id, where in printed.items() if lookup(id) is None}
    assert missing == {}, f"IDs printed but not in zeroauth._catalog: {missing}"
    # the scan sees the messages (a regex that matches nothing would pass vacuously)
    assert {"C-17", "SEC-05", "S-15", "A8", "X-CORS", "SEP-990"} <= printed.keys()
    assert len(printed) > 60


def test_every_id_the_docs_print_resolves():
    unresolved: dict[str, str] = {}
    for page in DOCS:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for label in DOC_LABEL.findall(line):
                if label in UNKNOWN_ON_PURPOSE:
                    continue
                if lookup(label) is None and vector_set(label) is None:
                    unresolved.setdefault(label, f"{page.relative_to(ROOT)}:{number}")
    assert unresolved == {}


@pytest.mark.parametrize(
    ("prefix", "numbers"),
    [
        ("S-", range(1, 30)),
        ("C-", range(1, 52)),
        ("AS-", range(1, 9)),
        ("SEC-", range(1, 13)),
        ("G-", [*range(1, 5), *range(10, 19)]),
        ("A", range(1, 18)),
        ("B", range(1, 17)),
        ("D", range(1, 10)),
        ("W", range(1, 4)),
        ("E", range(1, 7)),
        ("F", range(1, 5)),
        ("G", range(1, 5)),
    ],
)
def test_the_catalogue_holds_every_requirement_and_threat(prefix, numbers):
    width = 2 if prefix.endswith("-") else 1
    ids = [f"{prefix}{n:0{width}d}" for n in numbers]
    assert [id for id in ids if lookup(id) is None] == []


def test_every_row_is_complete():
    ids = [entry.id for entry in CATALOG]
    assert len(ids) == len(set(ids)), "duplicate IDs"
    groups = {key for key, _ in GROUPS}
    for entry in CATALOG:
        assert ID.fullmatch(entry.id), entry.id
        assert entry.level in LEVELS, entry
        assert (entry.level == "threat") == (entry.group.startswith("threat")), entry
        assert entry.group in groups, entry
        assert len(entry.text) > 30, entry
        assert entry.text.endswith("."), entry
        assert entry.source.label.strip(), entry
        assert LINK.fullmatch(entry.source.link), (entry.id, entry.source.link)
        if "rfc-editor" in entry.source.link:  # the label names the RFC the link opens
            number = re.search(r"rfc([0-9]+)#", entry.source.link)
            assert number is not None, entry
            assert f"RFC {number[1]}" in entry.source.label, entry
    assert len(CATALOG) >= 170


def test_lookup_spellings():
    assert normalize("c-7") == "C-07"
    assert lookup("c-7") is lookup("C-07")
    assert normalize("sec5") == "SEC-05"
    assert lookup("G1") is not lookup("G-01")  # a threat and a requirement
    assert lookup("g1") is not None
    assert lookup("C-99") is None
    assert lookup("S1") is None
    assert vector_set("W17") is not None
    assert vector_set("W25") is None
    assert lookup("W17") is None


def test_docs_requirements_md_is_rendered_from_the_catalogue():
    page = ROOT / "docs" / "requirements.md"
    committed = page.read_text(encoding="utf-8") if page.exists() else ""
    if committed != render_markdown():  # no diff of a 40 KB page: the command that fixes it
        pytest.fail(f"docs/requirements.md differs from zeroauth._catalog; run: {REGENERATE}")


INTERNAL = re.compile(r"\b(?:SPEC|SECURITY|DESIGN)(?:\.md)?\b")


def test_no_doc_cites_the_internal_notes():
    cited = []
    for page in DOCS:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if INTERNAL.search(line):
                cited.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert cited == []


def test_no_message_cites_the_internal_notes():
    cited = [f"{w}:{n}: {t[:80]}" for w, n, t in printable_strings() if INTERNAL.search(t)]
    assert cited == []


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for info in group.registered_commands:
        yield (*prefix, info.name or (info.callback.__name__ if info.callback else ""))
    for sub in group.registered_groups:
        if sub.typer_instance is not None and sub.name:
            yield (*prefix, sub.name)
            yield from _commands(sub.typer_instance, (*prefix, sub.name))


def test_no_cli_help_cites_the_internal_notes():
    runner = CliRunner()
    seen = 0
    for command in [(), *_commands(app)]:
        name = [part.replace("_", "-") for part in command]
        result = runner.invoke(app, [*name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (name, result.output)
        assert not INTERNAL.search(result.stdout), (name, result.stdout)
        seen += 1
    assert seen > 12
