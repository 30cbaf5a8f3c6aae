"""``zeroauth doctor URL``: the typer command."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from zeroauth.cli.client import AllowLoopback, ConfigPath, Debug, JsonOut, Timeout
from zeroauth.cli.config_file import ServerEntry, load_config
from zeroauth.cli.doctor.model import Report, exit_status
from zeroauth.cli.doctor.render import write_reports
from zeroauth.cli.doctor.run import DoctorOptions, diagnose
from zeroauth.cli.output import err_console, errors_handled
from zeroauth.core.errors import InvalidInput
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

__all__ = ["doctor"]


# --- report formats for CI (--format/--output/--fail-on) ---------------------------------
class Format(StrEnum):
    text = "text"
    md = "md"
    json = "json"
    sarif = "sarif"


class FailOnChoice(StrEnum):
    fail = "fail"
    warn = "warn"
    never = "never"


FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        help="Report format: text (tables, the default), md (Markdown), json (one document, "
        "stable schema) or sarif (SARIF 2.1.0 for code-scanning dashboards).",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
]
FailOnOpt = Annotated[
    FailOnChoice,
    typer.Option(
        "--fail-on",
        help="Exit status: 'fail' (default) exits 1 when a check failed; 'warn' also exits 3 "
        "when checks only warned; 'never' always exits 0 (report only).",
    ),
]
# -------------------------------------------------------------------------------------------


def doctor(
    urls: Annotated[
        list[str],
        typer.Argument(
            metavar="URL",
            help="The MCP server URL(s), e.g. https://host/mcp.",
            show_default=False,
        ),
    ],
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Treat a PRM `resource` that is not identical to the server URL as a failure "
            "(RFC 9728 §3.3), not a warning.",
        ),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Also send an authenticated request with this access token and check its "
            "claims (audience, issuer, expiry, scopes). '-' reads it from stdin. Never printed.",
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Also print what each requirement ID means, with a link."),
    ] = False,
    allow_loopback: AllowLoopback = False,
    json_out: JsonOut = False,
    timeout: Timeout = 10.0,
    config: ConfigPath = None,
    debug: Debug = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOnChoice.fail,
) -> None:
    """Diagnose an MCP server's authorization, requirement by requirement.

    Walks the discovery chain like a spec-compliant client: a request without a token and its
    401 challenge; protected resource metadata at the challenge's URL, the path-inserted and
    the root well-known URLs; every authorization server's metadata, issuer, PKCE S256, `iss`
    support and client registration options. Prints one row per requirement (requirement IDs)
    with what was found and how to fix it. Several URLs give one report each.

    For CI: --format md, json or sarif (SARIF 2.1.0), --output FILE. Exit status: 0 when
    nothing reached the --fail-on threshold, 1 when a check failed, 3 when checks only warned
    and --fail-on is warn (2 is a usage error).

    Safe to point at any server: bodies are capped at 1 MiB, every request has a timeout,
    redirects are checked hop by hop, and private or loopback addresses are refused unless
    --allow-loopback is given.
    """
    if token is not None and len(urls) > 1:  # a token is for one resource (RFC 8707, S-20)
        raise typer.BadParameter(
            "a token is for one server: give one URL with --token", param_hint="--token"
        )
    if json_out and fmt not in (None, Format.json):
        raise typer.BadParameter("--json is --format json; give only one", param_hint="--json")
    with errors_handled(debug):
        settings = load_config(config)
        if token == "-":
            token = sys.stdin.readline().strip() or None
        reports: list[Report] = []
        for url in urls:
            try:
                entry = settings.server(url)
            except InvalidInput:
                entry = ServerEntry()  # diagnose() reports the bad URL (C-35)
            options = DoctorOptions(
                policy=DEVELOPMENT if allow_loopback or entry.allow_loopback else PRODUCTION,
                strict=strict or bool(entry.strict),
                token=token,
                preregistered=settings.preregistered(),
                cimd_url=entry.cimd_url or settings.cimd_url,
                timeout=timeout,
            )
            console = err_console()
            if console.is_terminal:
                with console.status("diagnosing…", spinner="dots") as status:
                    report = diagnose(url, options, progress=lambda m: status.update(m + "…"))
            else:
                report = diagnose(url, options)
            reports.append(report)
        chosen = Format.json if json_out else (fmt or Format.text)
        # --json keeps its one-report document for one URL; --format json always wraps
        write_reports(reports, chosen.value, explain=explain, output=output, wrap=not json_out)
    code = exit_status(reports, fail_on.value)
    if code:
        raise typer.Exit(code)
