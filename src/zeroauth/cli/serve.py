"""``zeroauth serve``: serve the protected demo MCP server (official SDK) for a given issuer."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from rich.console import Console

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
) -> None:
    """Serve a protected demo MCP server with a read tool (notes:read) and a write tool
    (notes:write). Pair it with `zeroauth dev-as --resource URL --scope notes:read --scope
    notes:write`."""
    try:
        from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
    except ImportError as exc:
        raise typer.BadParameter(
            f"the demo server is the official MCP SDK's ({exc.name} missing): "
            "pip install 'zeroauth[mcp]'"
        ) from exc
    url = resource or f"http://{host}:{port}/mcp"
    console = Console(stderr=True)
    console.print(f"[bold]zeroauth serve[/] protected MCP server at [cyan]{url}[/]")
    console.print(f"  tokens from {issuer} with aud={url}; tools need {READ_SCOPE} / {WRITE_SCOPE}")
    uvicorn.run(demo_app(url, issuer), host=host, port=port, log_level="warning")
