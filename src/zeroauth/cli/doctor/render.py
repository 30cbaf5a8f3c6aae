"""Printing a doctor ``Report``: rich tables (one per section) or one JSON document."""

from __future__ import annotations

import json

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zeroauth.cli.doctor.model import Check, Report

__all__ = ["render_json", "render_table"]

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "n/a": "dim"}


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False)


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
