"""Printing doctor ``Report``s: rich tables (one per section), Markdown, or one JSON document.

``--format sarif`` lives in ``sarif.py``. ``--format json`` wraps the reports:
``{"schema", "ok", "counts", "reports": [report, …]}``; ``--json`` keeps one URL's report bare.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zeroauth.cli.doctor.model import SCHEMA, STATUSES, Check, Report
from zeroauth.cli.doctor.sarif import render_sarif
from zeroauth.cli.explain import explained_catalogue, render_explanations
from zeroauth.cli.output import out_console

__all__ = [
    "render_markdown",
    "render_table",
    "reports_json",
    "write_reports",
]

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "n/a": "dim"}


def write_reports(
    reports: Sequence[Report],
    fmt: str,
    *,
    explain: bool = False,
    output: Path | None = None,
    wrap: bool = True,
) -> None:
    """Print (or write to ``output``) ``reports`` in ``fmt``: text, md, json or sarif.

    ``wrap=False`` is ``--json``: one URL's report stays the bare report document.
    """
    if fmt == "text":
        console = Console(file=output.open("w", encoding="utf-8")) if output else out_console()
        try:
            for report in reports:
                render_table(report, console)
                if explain:
                    render_explanations(report, console)
        finally:
            if output:
                console.file.close()
        return
    if fmt == "md":
        text = render_markdown(reports)
    elif fmt == "sarif":
        text = render_sarif(reports)
    else:
        data = reports[0].to_json() if len(reports) == 1 and not wrap else reports_json(reports)
        if explain:
            data["catalogue"] = explained_catalogue(reports)
        text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


def reports_json(reports: Sequence[Report]) -> dict[str, Any]:
    """Every report in one document, with the verdict and counts over all of them."""
    return {
        "schema": SCHEMA,
        "ok": all(report.ok for report in reports),
        "counts": {s: sum(r.counts()[s] for r in reports) for s in STATUSES},
        "reports": [report.to_json() for report in reports],
    }


def _md(text: str | None) -> str:
    """A Markdown table cell: pipes escaped, lines joined with ``<br>``."""
    return (text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _summary(report: Report) -> str:
    counts = report.counts()
    verdict = "OK" if report.ok else "FAILED"
    return f"**{verdict}**: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES)


def render_markdown(reports: Sequence[Report]) -> str:
    """A Markdown report (GitHub-flavoured tables): per URL a summary and one table a section."""
    lines = ["# zeroauth doctor", ""]
    for report in reports:
        lines += [f"## {report.url}", "", _summary(report), ""]
        for title, checks in _sections(report):
            lines += [f"### {title or 'Checks'}", "", "| ID | Status | Check | Found | Fix |"]
            lines.append("|---|---|---|---|---|")
            for c in checks:
                fix = c.fix if c.status in ("warn", "fail") else None
                lines.append(
                    f"| {c.id} | {c.status} | {_md(c.title)} | {_md(c.found)} | {_md(fix)} |"
                )
            lines.append("")
    return "\n".join(lines)


def _sections(report: Report) -> list[tuple[str, list[Check]]]:
    out: list[tuple[str, list[Check]]] = []
    for check in report.checks:
        if not out or out[-1][0] != check.section:
            out.append((check.section, []))
        out[-1][1].append(check)
    return out


def render_table(report: Report, console: Console) -> None:
    console.print(Text.assemble(("zeroauth doctor ", "bold"), report.url))
    for title, checks in _sections(report):
        table = Table(
            title=Text(title, style="bold"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            expand=True,
            show_edge=False,
            pad_edge=False,
        )
        table.add_column("ID", no_wrap=True, style="cyan")
        table.add_column("Status", no_wrap=True)
        table.add_column("Check / found", ratio=5, overflow="fold")
        fixes = any(check.status in ("warn", "fail") for check in checks)
        if fixes:  # a column only where there is something to fix
            table.add_column("Fix", ratio=4, overflow="fold")
        for check in checks:
            described = Text(check.title)
            if check.found:
                described.append("\n" + check.found, style="dim")
            row: list[str | Text] = [
                check.id,
                Text(check.status, style=_STYLE[check.status]),
                described,
            ]
            if fixes:
                row.append((check.fix or "") if check.status in ("warn", "fail") else "")
            table.add_row(*row)
        console.print(table)
    counts = report.counts()
    summary = Text.assemble(
        (f"{counts['pass']} pass", _STYLE["pass"]),
        "  ",
        (f"{counts['warn']} warn", _STYLE["warn"]),
        "  ",
        (f"{counts['fail']} fail", _STYLE["fail"]),
        "  ",
        (f"{counts['n/a']} n/a", _STYLE["n/a"]),
        "  →  ",
        ("OK", "bold green") if report.ok else ("FAILED", "bold red"),
    )
    console.print(summary)
