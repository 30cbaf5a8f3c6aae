"""``zeroauth dev-as``: serve the embedded dev authorization server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from zeroauth.cli.dev_cert import dev_certificates
from zeroauth.cli.paths import data_dir
from zeroauth.client._redis_conn import redact_url
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)

__all__ = ["dev_as"]


def dev_as(
    resource: Annotated[
        list[str], typer.Option(help="A protected resource this AS issues tokens for (repeatable).")
    ],
    scope: Annotated[
        list[str] | None, typer.Option(help="A scope of those resources (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 9000,
    issuer: Annotated[
        str | None, typer.Option(help="Issuer identifier; default http://HOST:PORT.")
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option(help="Approve every authorization request without a consent page.")
    ] = False,
    database: Annotated[
        Path | None, typer.Option(help="SQLite file; default under the zeroauth data dir.")
    ] = None,
    alg: Annotated[str, typer.Option(help="Signing algorithm: ES256 or RS256.")] = "ES256",
    clients_file: Annotated[
        Path | None, typer.Option("--clients", help="JSON list of pre-registered clients.")
    ] = None,
    https: Annotated[
        bool, typer.Option(help="Serve over https with the development CA (zeroauth dev-cert).")
    ] = False,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="Keep the state in Redis/Valkey instead of SQLite (redis:// or rediss://), so "
            "several dev-as replicas behind a load balancer share it; the signing key is "
            "encrypted with the keys in ZEROAUTH_REDIS_KEYS ('id:KEY')."
        ),
    ] = None,
    redis_prefix: Annotated[
        str, typer.Option(help="Key prefix in Redis (one per dev AS deployment).")
    ] = "zeroauth-dev",
) -> None:
    """Serve the dev OAuth 2.1 authorization server (for development, not production)."""
    if alg not in ("ES256", "RS256"):
        raise typer.BadParameter("alg must be ES256 or RS256", param_hint="--alg")
    clients = []
    if clients_file is not None:
        raw = json.loads(clients_file.read_text())
        clients = [PreregisteredClient.from_mapping(entry) for entry in raw]
    config = DevServerConfig(
        issuer=issuer or f"{'https' if https else 'http'}://{host}:{port}",
        resources=[ProtectedResource(r, tuple(scope or ())) for r in resource],
        clients=clients,
        auto_approve=auto_approve,
        alg="ES256" if alg == "ES256" else "RS256",
        database=database or data_dir() / "devserver.sqlite",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
    )
    console = Console(stderr=True)
    console.print(f"[bold]zeroauth dev-as[/] issuer [cyan]{config.issuer}[/]")
    console.print(f"  metadata  {config.issuer}/.well-known/oauth-authorization-server")
    console.print(f"  resources {', '.join(resource)}")
    if redis_url:
        console.print(f"  state     {redact_url(redis_url)} prefix {redis_prefix}")
    tls = dev_certificates() if https else None
    uvicorn.run(
        DevAuthorizationServer(config).app(),
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )
