"""``zeroauth doctor URL``: the typer command."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from zeroauth.cli.client import AllowLoopback, ConfigPath, Debug, Headless, JsonOut, Timeout
from zeroauth.cli.config_file import ServerEntry, load_config
from zeroauth.cli.doctor.login import LoginPlan, login_step
from zeroauth.cli.doctor.model import Report, exit_status
from zeroauth.cli.doctor.render import write_reports
from zeroauth.cli.doctor.run import DoctorOptions, LoginStep, diagnose
from zeroauth.cli.output import CommandError, err_console, errors_handled
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
        metavar="LEVEL",
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
    # --- doctor --login / --call (issue 18 items 1 and 6) ---
    login: Annotated[
        bool,
        typer.Option(
            "--login",
            help="Also log in as `zeroauth login` does (stored logins stay untouched), send "
            "an authenticated tools/list and say whose fault each refusal is.",
        ),
    ] = False,
    headless: Headless = False,
    device: Annotated[
        bool, typer.Option("--device", help="With --login: log in with a device code.")
    ] = False,
    paste: Annotated[
        bool, typer.Option("--paste", help="With --login: log in by pasting back the URL.")
    ] = False,
    browser: Annotated[
        bool, typer.Option("--browser", help="With --login: open the system browser.")
    ] = False,
    call: Annotated[
        str | None,
        typer.Option(
            "--call",
            metavar="TOOL",
            help="With --login: also call this tool (one you know is safe to call) and judge "
            "the step-up it meets.",
        ),
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            "-a",
            help="With --call: a tool argument as name=value or name:=JSON. Repeatable.",
        ),
    ] = None,
    other_resource: Annotated[
        str | None,
        typer.Option(
            "--other-resource",
            metavar="URL",
            help="With --login: another MCP server of the same authorization server; a token "
            "for it is presented to URL, which must refuse it (audience check).",
        ),
    ] = None,
    # --- end of --login options ---
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
    if (token is not None or login) and len(urls) > 1:  # a token is for one resource (S-20)
        raise typer.BadParameter(
            "a token is for one server: give one URL with --token or --login",
            param_hint="--token" if token is not None else "--login",
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
                login=_login_step(
                    login, (headless, device, paste, browser), call, arg, other_resource,
                    allow_loopback=allow_loopback, config=config, timeout=timeout,
                ),
            )  # fmt: skip
            console = err_console()
            if console.is_terminal and not login:  # no spinner over a login's prompts
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


def _login_step(
    login: bool, modes: tuple[bool, bool, bool, bool], call: str | None,
    arguments: list[str] | None, other_resource: str | None, *, allow_loopback: bool,
    config: Path | None, timeout: float,
) -> LoginStep | None:  # fmt: skip
    """``--login`` and its options as the doctor's login step (None without ``--login``)."""
    from zeroauth.cli.session import login_mode

    if not login:
        if call or arguments or other_resource or any(modes):
            raise CommandError(
                "--call, --arg, --other-resource and the login modes need --login",
                where="zeroauth doctor",
                hint="add --login: the doctor then logs in with the client's own flow",
            )
        return None
    plan = LoginPlan(
        mode=login_mode(*modes),
        allow_loopback=allow_loopback,
        config_path=config,
        timeout=max(timeout, 30.0),
        call=call,
        arguments=tuple(arguments or ()),
        other_resource=other_resource,
    )
    return login_step(plan)
