"""``zeroauth bridge --config bridge.toml``: serve the authorization bridge (see docs/bridge.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import uvicorn
from rich.console import Console

from zeroauth.bridge import AuthorizationBridge, BridgeConfig
from zeroauth.core.errors import ZeroAuthError

__all__ = ["bridge"]


def bridge(
    config: Annotated[Path, typer.Option("--config", "-c", help="The bridge's TOML file.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port to bind (default: the issuer URL's port).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the configuration and exit.")
    ] = False,
) -> None:
    """Serve an MCP authorization server in front of an IdP that cannot register MCP clients."""
    console = Console(stderr=True)
    try:
        settings = BridgeConfig.from_toml(config)
    except (ZeroAuthError, ValueError, OSError) as exc:
        console.print(f"[red]configuration error[/] {exc}")
        raise typer.Exit(2) from None
    if check:
        summary = {
            "issuer": settings.issuer,
            "callback (register it at the identity provider)": settings.callback_url,
            "resources": {r.resource: list(r.scopes) for r in settings.resources},
            "upstream": settings.upstream.issuer,
            "profile": settings.upstream.profile,
        }
        typer.echo(json.dumps(summary, indent=2))
        return
    parts = urlsplit(settings.issuer)
    bind_port = port or parts.port or (443 if parts.scheme == "https" else 80)
    console.print(f"[bold]zeroauth bridge[/] {settings.issuer} on {host}:{bind_port}")
    console.print(f"  upstream {settings.upstream.issuer} (callback {settings.callback_url})")
    uvicorn.run(
        AuthorizationBridge(settings).app(),
        host=host,
        port=bind_port,
        log_level="warning",
        proxy_headers=False,
    )
