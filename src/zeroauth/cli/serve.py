"""``zeroauth serve``: serve the protected demo MCP server (official SDK) for a given issuer."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from zeroauth.cli.dev_cert import dev_certificates, run_dev_server

__all__ = ["serve"]


def serve(
    issuer: Annotated[
        str, typer.Option(help="The authorization server whose tokens are accepted.")
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    resource: Annotated[
        str | None, typer.Option(help="Canonical URL of this server; default http://HOST:PORT/mcp.")
    ] = None,
    https: Annotated[
        bool,
        typer.Option(help="Serve over https with the development CA, and trust it for the issuer."),
    ] = False,
    hide_tools: Annotated[
        bool,
        typer.Option(
            "--hide-tools",
            help="List only the tools the caller's token may call. By default every tool is "
            "listed and calling one beyond the token's scopes answers 403 with the scope to "
            "ask for (step-up); clients that only call what they were shown never step up "
            "when tools are hidden.",
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            metavar="ORIGIN",
            help='A browser origin allowed to call (repeatable): "https://app.example", '
            '"http://localhost:*" or "*". Default: loopback origins only.',
        ),
    ] = None,
) -> None:
    """Serve a protected demo MCP server (notes:read and notes:write).

    Its read tool (list_notes) needs notes:read, its write tool (add_note) notes:write. Pair
    it with the dev authorization server:

    \b
      zeroauth dev-as --auto-approve --resource http://127.0.0.1:8000/mcp \\
        --scope notes:read --scope notes:write"""
    try:
        from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
    except ImportError as exc:
        raise typer.BadParameter(
            f"the demo server is the official MCP SDK's ({exc.name} missing): "
            "pip install 'zeroauth[mcp]'"
        ) from exc
    tls = dev_certificates() if https else None
    url = resource or f"{'https' if https else 'http'}://{host}:{port}/mcp"
    console = Console(stderr=True)
    console.print(f"[bold]zeroauth serve[/] protected MCP server at [cyan]{url}[/]")
    console.print(f"  tokens from {issuer} with aud={url}; tools need {READ_SCOPE} / {WRITE_SCOPE}")
    options: dict[str, Any] = {"hide_tools": hide_tools}
    if cors_origin:
        options["cors_origins"] = list(cors_origin)
        console.print(f"  browser origins allowed: {', '.join(cors_origin)}")
    if hide_tools:
        console.print("  tools/list shows only the tools the caller's token may call")
    try:
        app = demo_app(url, issuer, verify=tls.client_context() if tls else True, **options)
    except ValueError as exc:  # an origin BearerAuth refuses
        raise typer.BadParameter(str(exc), param_hint="--cors-origin") from None
    run_dev_server(app, host, port, tls)
