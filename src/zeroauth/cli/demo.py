"""``zeroauth demo``: the whole zero-config flow on one machine, step by step."""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from zeroauth.cli.dev_cert import dev_certificates
from zeroauth.demo.trace import Step

__all__ = ["demo"]

_TITLES = {
    "challenge": "401 challenge",
    "resource_metadata": "protected resource metadata (RFC 9728)",
    "server_metadata": "authorization server metadata (RFC 8414)",
    "client_identity": "client identity",
    "authorize": "authorization (PKCE S256, state, resource; iss checked)",
    "token": "token",
    "call": "tool call",
    "step_up": "403 insufficient_scope: step-up",
    "reconnect": "reconnect with the stored token",
}
# The field of each step's answer that drove the next step.
_KEY_FIELDS = {
    "challenge": ("resource_metadata", "scope"),
    "resource_metadata": ("resource", "authorization_servers", "scopes_supported"),
    "server_metadata": ("issuer", "code_challenge_methods_supported",
                        "authorization_response_iss_parameter_supported",
                        "client_id_metadata_document_supported", "registration_endpoint"),
    "client_identity": ("client_id", "application_type"),
    "authorize": ("code_challenge_method", "resource", "scope", "state_matches", "iss", "code",
                  "error"),
    "token": ("grant", "aud", "scope", "expires_in", "refresh_token"),
    "call": ("tool", "result"),
    "step_up": ("error", "scope"),
    "reconnect": ("tool", "result"),
}  # fmt: skip


def _print_step(console: Console, step: Step) -> None:
    status = "" if step.status is None else f" → {step.status}"
    console.print(
        f"[bold green]✓[/] [bold]{_TITLES.get(step.step, step.step)}[/]  "
        f"[dim]{escape(step.request)}{status}  {step.ms:.1f} ms[/]"
    )
    for key in _KEY_FIELDS.get(step.step, ()):
        value: Any = step.detail.get(key)
        if value is None:
            continue
        shown = value.replace("\n", " | ") if isinstance(value, str) else json.dumps(value)
        console.print(f"    [cyan]{key}[/] = {escape(shown)}")


def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON line per step, then a summary line.")
    ] = False,
    browser: Annotated[
        bool, typer.Option(help="Approve in a real browser (default: headless auto-approve).")
    ] = False,
    https: Annotated[
        bool, typer.Option(help="Serve both servers over https with the development CA.")
    ] = False,
    multi_hop: Annotated[
        bool,
        typer.Option(
            "--multi-hop",
            help="Client → gateway → MCP server: show each hop's token (audience, scopes, act) "
            "after the gateway exchanges the caller's token (RFC 8693).",
        ),
    ] = False,
) -> None:
    """Watch a client get into a protected MCP server, step by step.

    Starts a dev authorization server and a protected MCP server on loopback, then shows a
    client that knows only the MCP server's URL discover, register, authorize and call a
    tool. --multi-hop goes through a gateway that exchanges the caller's token."""
    console = Console(highlight=False, soft_wrap=True)
    if multi_hop:
        if browser or https:
            console.print("[red]error[/]: --multi-hop runs headless over http on loopback; "
                          "drop --browser / --https")  # fmt: skip
            raise typer.Exit(2)
        _multi_hop(console, as_json=as_json)
    try:
        from zeroauth.demo.run import run_demo
    except ImportError as exc:  # the demo's MCP server is the official SDK's
        console.print(f"[red]error[/]: zeroauth demo needs the official MCP SDK ({exc.name}); "
                      "install it with: pip install 'zeroauth[mcp]'")  # fmt: skip
        raise typer.Exit(2) from exc
    if not as_json:
        console.print(
            "[bold]zeroauth demo[/]: dev authorization server + protected MCP server on "
            "127.0.0.1; the client is told only the MCP server's URL.\n"
        )

    def emit(step: Step) -> None:
        if as_json:
            print(json.dumps(step.to_json()), flush=True)
        else:
            _print_step(console, step)

    tls = dev_certificates() if https else None
    result = anyio.run(lambda: run_demo(emit, browser=browser, tls=tls))
    if as_json:
        print(json.dumps(result.to_json()), flush=True)
    elif result.ok:
        console.print(
            f"\n[bold green]ok[/]: {result.requests} HTTP requests in {result.seconds:.2f} s; "
            f"the reconnect needed {result.reconnect_requests} request."
        )
    else:
        console.print(f"\n[bold red]failed[/]: {escape(result.error or 'unknown error')}")
    raise typer.Exit(0 if result.ok else 1)


def _multi_hop(console: Console, *, as_json: bool) -> None:
    try:
        from zeroauth.demo.multihop import Hop, run_multihop
    except ImportError as exc:
        console.print(f"[red]error[/]: zeroauth demo needs the official MCP SDK ({exc.name}); "
                      "install it with: pip install 'zeroauth[mcp]'")  # fmt: skip
        raise typer.Exit(2) from exc
    if not as_json:
        console.print(
            "[bold]zeroauth demo --multi-hop[/]: client → gateway → two MCP servers on "
            "127.0.0.1; for notes the gateway exchanges the caller's token for one bound to it, "
            "for files it uses its own client-credentials token.\n"
        )

    def emit(hop: Hop) -> None:
        if as_json:
            print(json.dumps(hop.to_json()), flush=True)
            return
        console.print(f"[bold green]✓[/] [bold]{escape(hop.hop)}[/]  [dim]{escape(hop.url)}[/]")
        for key, value in (
            ("sub", hop.subject),
            ("aud", " ".join(hop.audience)),
            ("scope", " ".join(hop.scopes)),
            ("act", " ← ".join(hop.actors) or "(none: not exchanged)"),
        ):
            console.print(f"    [cyan]{key}[/] = {escape(str(value))}")  # fmt: skip

    result = anyio.run(lambda: run_multihop(emit))
    if as_json:
        print(json.dumps(result.to_json()), flush=True)
    elif result.ok:
        console.print(
            f"\n[bold green]ok[/]: four tool calls through the gateway, {result.exchanges} "
            f"token exchange, in {result.seconds:.2f} s; the caller's token never reached an "
            "MCP server."
        )
    else:
        console.print(f"\n[bold red]failed[/]: {escape(result.error or 'unknown error')}")
    raise typer.Exit(0 if result.ok else 1)
