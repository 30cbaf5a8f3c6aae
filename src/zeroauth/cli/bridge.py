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
from zeroauth.client._redis_conn import redact_url
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
    """Bridge MCP clients to an IdP that cannot register them.

    Serves an MCP authorization server (metadata, client ID metadata documents, registration,
    PKCE, its own tokens) whose users log in at the configured identity provider.
    """
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
            "state": _state(settings),
            "signing key rotation (days)": settings.key_rotation_days,
        }
        typer.echo(json.dumps(summary, indent=2))
        return
    parts = urlsplit(settings.issuer)
    bind_port = port or parts.port or (443 if parts.scheme == "https" else 80)
    console.print(f"[bold]zeroauth bridge[/] {settings.issuer} on {host}:{bind_port}")
    console.print(f"  upstream {settings.upstream.issuer} (callback {settings.callback_url})")
    console.print(f"  state    {_state(settings)}", highlight=False)
    uvicorn.run(
        AuthorizationBridge(settings).app(),
        host=host,
        port=bind_port,
        log_level="warning",
        proxy_headers=False,
    )


def _state(settings: BridgeConfig) -> str:
    """Where the bridge keeps its state (a Redis URL with its password masked)."""
    if settings.redis_url:
        return f"{redact_url(settings.redis_url)} prefix {settings.redis_prefix}"
    return str(settings.database)
