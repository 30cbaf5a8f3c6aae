"""``zeroauth explain ID [ID...]`` and ``zeroauth doctor --explain``: what an ID means.

Both read the requirement catalogue (``zeroauth._catalog``): the ID, its level, one plain
sentence and the specification or RFC section it comes from, with a link. A label that is only a
test-vector name (``W17``) is answered with the set it belongs to; anything else is an error.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from zeroauth._catalog import Entry, Source, VectorSet, lookup, normalize, vector_set
from zeroauth.cli.client import JsonOut
from zeroauth.cli.doctor.model import Report
from zeroauth.cli.output import err_console, out_console

__all__ = [
    "entry_text",
    "explain",
    "explained_catalogue",
    "render_explanations",
]

_LEVEL_STYLE = {"MUST": "bold", "MUST NOT": "bold", "threat": "magenta"}
_CATALOGUE = "docs/requirements.md"


def _block(head: Text, sentence: str, source: Source, width: int) -> Text:
    """``head``, then the sentence wrapped to ``width`` and the source, indented by two."""
    text = head.copy()
    for line in textwrap.wrap(sentence, max(width - 2, 40)):
        text.append(f"\n  {line}")
    text.append(f"\n  {source.label}", style="dim")
    text.append("\n  ")
    text.append(source.link, style=f"link {source.link}")
    return text


def entry_text(entry: Entry, width: int = 80) -> Text:
    """One catalogue entry: ``ID  LEVEL``, the sentence, the source and its link."""
    head = Text.assemble(
        (entry.id, "bold cyan"), "  ", (entry.level, _LEVEL_STYLE.get(entry.level, "yellow"))
    )
    return _block(head, entry.text, entry.source, width)


def _vector_text(label: str, found: VectorSet, width: int) -> Text:
    head = Text.assemble((label, "bold cyan"), "  ", ("test vector", "dim"))
    sentence = (
        f"A test case of the set {found.span}: {found.title}. Not a requirement; the page "
        "that cites it explains the case."
    )
    return _block(head, sentence, found.source, width)


def _vector_json(label: str, found: VectorSet) -> dict[str, str]:
    return {
        "id": label,
        "level": "test vector",
        "requirement": f"a test case of the set {found.span}: {found.title}",
        "source": found.source.label,
        "link": found.source.link,
    }


def explain(
    ids: Annotated[
        list[str],
        typer.Argument(metavar="ID", help="Requirement or threat IDs, e.g. C-17 S-15 A1."),
    ],
    json_out: JsonOut = False,
) -> None:
    """Explain the requirement and threat IDs that zeroauth prints.

    IDs look like C-17, S-15, SEC-05 or A1. For each ID: its level (MUST, SHOULD, MAY or
    threat), what it asks in one sentence, and the section of the MCP authorization
    specification or RFC it comes from, with a link. The whole list is in docs/requirements.md.
    Exit status 1 when an ID is unknown.
    """
    found: list[dict[str, Any]] = []
    unknown: list[str] = []
    out = out_console()
    for raw in ids:
        entry = lookup(raw)
        label = normalize(raw)
        vectors = vector_set(label)
        if entry is not None:
            found.append(entry.to_json())
            if not json_out:
                out.print(entry_text(entry, out.width), soft_wrap=True)
        elif vectors is not None:
            found.append(_vector_json(label, vectors))
            if not json_out:
                out.print(_vector_text(label, vectors, out.width), soft_wrap=True)
        else:
            unknown.append(raw)
    if json_out:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
    for raw in unknown:
        err_console().print(
            f"[bold red]error:[/] unknown requirement ID {raw!r}: IDs look like C-17, S-15, "
            f"AS-05, SEC-05 or A1 (threats); every ID is listed in {_CATALOGUE}",
            markup=True,
            highlight=False,
        )
    if unknown:
        raise typer.Exit(1)


def _report_ids(report: Report) -> list[str]:
    """The report's IDs, findings (fail, then warn) first, each once."""
    rank = {"fail": 0, "warn": 1}
    ordered = sorted(report.checks, key=lambda check: rank.get(check.status, 2))
    return list(dict.fromkeys(check.id for check in ordered))


def render_explanations(report: Report, console: Console) -> None:
    """``doctor --explain``: the catalogue entry of every ID the report cites, findings first."""
    console.print(Text("\nWhat the IDs mean", style="bold"))
    for id in _report_ids(report):
        entry = lookup(id)
        text = entry_text(entry, console.width) if entry else Text(f"{id}  (not in the catalogue)")
        console.print(text, soft_wrap=True)


def explained_catalogue(reports: Sequence[Report]) -> dict[str, dict[str, str]]:
    """The catalogue entry of every ID ``reports`` cite, keyed by ID, findings first."""
    ids = dict.fromkeys(id for report in reports for id in _report_ids(report))
    entries = (lookup(id) for id in ids)
    return {e.id: e.to_json() for e in entries if e is not None}
