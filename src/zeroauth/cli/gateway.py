"""``zeroauth gateway --config gateway.toml``: serve the MCP gateway (see docs/gateway.md)."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from zeroauth.core.errors import ZeroAuthError
from zeroauth.gateway import GatewayApp, load_config

__all__ = ["gateway"]


def _fast(module: str, fallback: str, wanted: str) -> str:
    return wanted if importlib.util.find_spec(module) is not None else fallback


def gateway(
    config: Annotated[Path, typer.Option("--config", "-c", help="The gateway's TOML file.")],
    host: Annotated[str | None, typer.Option(help="Address to bind (default: the file's).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default: the file's).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the configuration and exit.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    drain: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="Seconds a replaced configuration keeps its connections."
        ),
    ] = 30.0,
) -> None:
    """Serve one protected MCP endpoint in front of upstream MCP servers.

    The upstream servers, the accepted issuers and the per-tool scope rules come from the
    TOML file given with --config (see docs/gateway.md)."""
    console = Console(stderr=True)
    try:
        settings = load_config(config)
    except ZeroAuthError as exc:
        console.print(f"[red]configuration error[/] {exc}")
        raise typer.Exit(2) from None
    if check:
        summary = {
            "resource": settings.resource,
            "authorization_servers": list(settings.authorization_servers),
            "issuers": [i.issuer for i in settings.issuers],
            "upstreams": {u.name: {"url": u.url, "prefix": u.prefix} for u in settings.upstreams},
            "scopes_supported": list(settings.scopes_supported),
        }
        if settings.bridge is not None:
            summary["bridge"] = {
                "issuer": settings.bridge.issuer,
                "callback (register it at the identity provider)": settings.bridge.callback_url,
                "upstream": settings.bridge.upstream.issuer,
                "profile": settings.bridge.upstream.profile,
            }
        typer.echo(json.dumps(summary, indent=2))
        return
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"[bold]zeroauth gateway[/] {settings.resource} on {bind_host}:{bind_port}")
    for up in settings.upstreams:
        console.print(f"  {up.prefix:<12} -> {up.url} ({up.credentials.type})")
    if settings.bridge is not None:
        bridge = settings.bridge
        console.print(f"  bridge {bridge.issuer} -> {bridge.upstream.issuer} "
                      f"(callback {bridge.callback_url})")  # fmt: skip
    uvicorn.run(
        GatewayApp(settings, config_path=config, drain=drain),
        host=bind_host,
        port=bind_port,
        http=_fast("httptools", "h11", "httptools"),
        loop=_fast("uvloop", "asyncio", "uvloop"),
        log_level="warning",
        access_log=False,  # the gateway writes its own structured access log
        timeout_graceful_shutdown=int(drain),
        proxy_headers=False,
    )
