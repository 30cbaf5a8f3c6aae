"""The everyday commands: ``login``, ``token``, ``call``, ``status``, ``logout``.

They use the library's client (``zeroauth.client``) with the on-disk stores and the config
file, so a login from the CLI is a login for the library too (and vice versa). Tokens are
printed only by ``token`` (that is its job); ``status`` shows expiry and scopes, never values.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from zeroauth.cli.client import (
    AllowLoopback,
    ConfigPath,
    Debug,
    Headless,
    JsonOut,
    LoginMode,
    Timeout,
    obtain_token,
    open_session,
    send_initialize,
)
from zeroauth.cli.output import CommandError, errors_handled, fail, note, out_console, progress
from zeroauth.cli.session_status import forget, show_status
from zeroauth.client._remote import no_display_reason
from zeroauth.client._stores import load_login
from zeroauth.core.tokens import TokenSet

__all__ = ["call", "login", "logout", "status", "token"]

Url = Annotated[str, typer.Argument(help="The MCP server URL, e.g. https://host/mcp.")]


def _expiry(tokens: TokenSet, now: float) -> str:
    if tokens.expires_at is None:
        return "no expiry given"
    left = int(tokens.expires_at - now)
    if left <= 0:
        return f"expired {-left // 60} min ago"
    return (
        f"expires in {left // 3600} h {left % 3600 // 60} min"
        if left >= 3600
        else (f"expires in {left // 60} min {left % 60} s")
    )


def login_mode(headless: bool, device: bool, paste: bool, browser: bool) -> LoginMode:
    """The flag given, or — on a machine without a display — the device grant, else paste-back."""
    chosen = [m for m, on in (("headless", headless), ("device", device), ("paste", paste),
                              ("browser", browser)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise CommandError(
            f"--{' and --'.join(chosen)} exclude each other",
            where="zeroauth login",
            hint="choose one way to authorize",
        )
    if chosen:
        return chosen[0]  # type: ignore[return-value]
    reason = no_display_reason()
    if reason is None:
        return "browser"
    note(
        f"No browser here ({reason}): logging in with a device code if the authorization "
        "server offers one, else by pasting back the URL. (--browser to open one anyway.)"
    )
    return "remote"


def login(
    url: Url,
    headless: Headless = False,
    device: Annotated[
        bool,
        typer.Option(
            "--device",
            help="Log in with a code entered on another device (OAuth device authorization "
            "grant, RFC 8628): for SSH sessions, containers and other machines without a "
            "browser. The authorization server must offer it.",
        ),
    ] = False,
    paste: Annotated[
        bool,
        typer.Option(
            "--paste",
            help="Print the authorization URL, open it on any machine and paste back the URL "
            "the browser ended on (or the code). Works with every authorization server.",
        ),
    ] = False,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser",
            help="Open the system browser even where none seems available (by default a "
            "machine without a display uses --device, else --paste).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Forget stored tokens first and authorize again.")
    ] = False,
    allow_loopback: AllowLoopback = False,
    timeout: Timeout = 30.0,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Log in to an MCP server and store its tokens.

    Discovers the server's authorization server, obtains a client_id (pre-registered, CIMD or
    DCR), authorizes in the browser (or --headless, --device, --paste) and stores the tokens,
    for later commands and for the library. On a machine without a display (an SSH session, a
    container, no DISPLAY) it logs in with a device code, or by paste-back where the
    authorization server has no device endpoint, and says so.
    """
    with errors_handled(debug):
        mode = login_mode(headless, device, paste, browser)
        session = open_session(
            url,
            allow_loopback=allow_loopback,
            headless=headless,
            config_path=config,
            timeout=timeout,
            mode=mode,
        )
        if force:
            forget(session.store, session.url)
        if mode in ("browser", "headless"):
            with progress("Logging in…"):
                status = send_initialize(session)
        else:  # the user reads a code or pastes a URL: no spinner over it
            status = send_initialize(session)
        login = load_login(session.store, session.url)
        if login is None or login[1] is None:
            fail(
                "the server did not ask for authorization",
                requirement="S-10",
                hint=f"it answered HTTP {status} without a token: no login is needed",
            )
        binding, tokens = login
        assert tokens is not None
        verb = "Logged in to" if session.engine.user_steps else "Already logged in to"
        console = out_console()
        console.print(f"[green]✓[/] {verb} {session.url}")
        console.print(f"  authorization server  {binding.issuer}")
        console.print(f"  resource              {binding.resource}")
        console.print(f"  scopes                {' '.join(tokens.scope or ()) or '(not stated)'}")
        console.print(
            f"  token                 {_expiry(tokens, time.time())}, "
            f"{'refreshable' if tokens.refresh_token else 'no refresh token'}"
        )
        if status >= 400:
            note(f"[yellow]note:[/] the server answered HTTP {status} to initialize")


def token(
    url: Url,
    headless: Headless = False,
    json_out: JsonOut = False,
    allow_loopback: AllowLoopback = False,
    timeout: Timeout = 30.0,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Print a valid access token for an MCP server (for scripts and curl).

    Refreshes the stored token, or logs in first, if needed. Only the token goes to stdout:

    \b
      curl -H "Authorization: Bearer $(zeroauth token URL)" URL
    """
    with errors_handled(debug):
        session = open_session(
            url,
            allow_loopback=allow_loopback,
            headless=headless,
            config_path=config,
            timeout=timeout,
        )
        with progress("Getting a token…"):
            access, tokens = obtain_token(session)
        if json_out:
            import json

            data = {k: v for k, v in tokens.to_json().items() if k != "refresh_token"}
            typer.echo(json.dumps(data, indent=2))
        else:
            typer.echo(access)
        if tokens.token_type == "DPoP":  # RFC 9449 §7.1: each request needs its own proof
            note(
                "this token is DPoP-bound: a request also needs 'Authorization: DPoP <token>' "
                "and a fresh DPoP proof signed with the client's key; use 'zeroauth call'"
            )


def call(
    url: Url,
    tool: Annotated[str, typer.Argument(help="The tool to call.")],
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            "-a",
            metavar="NAME=VALUE",
            help="A tool argument as name=value (converted to the type the tool's input schema "
            "declares) or name:=JSON. Repeatable.",
        ),
    ] = None,
    headless: Headless = False,
    json_out: JsonOut = False,
    protocol: Annotated[
        str,
        typer.Option(help="MCP protocol mode: auto, legacy (initialize handshake) or a version."),
    ] = "auto",
    allow_loopback: AllowLoopback = False,
    timeout: Timeout = 30.0,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Call a tool on an MCP server and print its result.

    Authorizes automatically: login, refresh and scope step-up. Example:

    \b
      zeroauth call https://host/mcp add_note --arg text=hello
    """
    from zeroauth.cli.session_call import print_result, run_call

    with errors_handled(debug):
        session = open_session(
            url,
            allow_loopback=allow_loopback,
            headless=headless,
            config_path=config,
            timeout=timeout,
        )
        with progress(f"Calling {tool}…"):
            result = run_call(session, tool, arg or [], protocol)
        print_result(result, json_out=json_out)
        if result.is_error:
            raise typer.Exit(1)


def status(
    json_out: JsonOut = False,
    debug: Debug = False,
) -> None:
    """Show stored logins and client registrations.

    For each server: its authorization server, resource, scopes and token expiry. Token values
    are never shown.
    """
    with errors_handled(debug):
        show_status(json_out=json_out)


def logout(
    url: Annotated[
        str | None, typer.Argument(help="The MCP server URL; omit to log out everywhere.")
    ] = None,
    forget_clients: Annotated[
        bool,
        typer.Option(
            "--forget-clients",
            help="Also delete stored client registrations (DCR/CIMD) of the authorization "
            "servers involved.",
        ),
    ] = False,
    revoke: Annotated[
        bool,
        typer.Option(
            "--revoke/--no-revoke",
            help="Revoke the tokens at the authorization server first (when it offers token "
            "revocation). --no-revoke only forgets them here.",
        ),
    ] = True,
    allow_loopback: AllowLoopback = False,
    timeout: Timeout = 30.0,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Log out of a server (or of every server).

    Revokes its tokens, then forgets them. The refresh and access tokens are revoked at the
    authorization server when it offers token revocation (RFC 7009), then deleted here, even if
    the authorization server is down or refuses; each line says which happened.
    """
    with errors_handled(debug):
        from zeroauth.cli.session_logout import log_out

        count = log_out(
            url,
            forget_clients=forget_clients,
            revoke=revoke,
            allow_loopback=allow_loopback,
            config_path=config,
            timeout=timeout,
        )
        where = url or "every server"
        if count == 0:  # nothing to remove: say so, not "logged out (0 ...)"
            target = url or "any server"
            out_console().print(f"Not logged in to {target}: nothing to remove.", markup=False)
        else:
            out_console().print(f"Logged out of {where} ({count} login(s) removed).", markup=False)
