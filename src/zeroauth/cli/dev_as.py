"""``zeroauth dev-as``: serve the embedded dev authorization server.

Resources come from ``--resource "URL [SCOPE ...]"`` and from ``--config FILE``, which is re-read
when it changes (``zeroauth.cli.dev_as_file``), so a resource can be added while it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from zeroauth.cli.dev_as_file import LiveSettings, Reloading, config_for, parse_resource
from zeroauth.cli.dev_cert import dev_certificates, run_dev_server
from zeroauth.cli.paths import data_dir
from zeroauth.client._redis_conn import redact_url
from zeroauth.devserver import DevAuthorizationServer, PreregisteredClient

__all__ = ["dev_as", "load_clients"]


def load_clients(path: Path) -> list[PreregisteredClient]:
    """The ``--clients`` file: a JSON list of pre-registered clients (format in
    docs/devserver.md, "The --clients file"); a usage error naming the file otherwise."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list) or not all(isinstance(entry, dict) for entry in raw):
            raise ValueError('expected a JSON list of client objects: [{"client_id": "…"}, …]')
        return [PreregisteredClient.from_mapping(entry) for entry in raw]
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(
            f"{path}: {exc} (the format: docs/devserver.md, 'The --clients file')",
            param_hint="--clients",
        ) from None


def dev_as(
    resource: Annotated[
        list[str] | None,
        typer.Option(
            metavar="'URL [SCOPE...]'",
            help="A protected resource this AS issues tokens for, optionally followed by its own "
            "scopes (else the --scope ones). Repeatable.",
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A scope of the --resource URLs without their own (repeatable)."),
    ] = None,
    settings: Annotated[
        Path | None,
        typer.Option(
            "--config",
            exists=True,
            dir_okay=False,
            help="TOML file of [[resource]] and [[client]] tables, re-read when it changes "
            "(docs/devserver.md).",
        ),
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
        Path | None,
        typer.Option(
            "--clients",
            exists=True,
            dir_okay=False,
            help="JSON file: a list of pre-registered clients, e.g. "
            '[{"client_id": "ci", "client_secret": "…", "grant_types": ["client_credentials"], '
            '"scope": "notes:read"}] (keys: docs/devserver.md).',
        ),
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
    key_rotation_days: Annotated[
        float | None,
        typer.Option(
            help="Rotate the signing key every this many days; the previous key stays in the "
            "JWKS until the tokens it signed have expired. Default: one key for good.",
            min=0.001,
        ),
    ] = None,
) -> None:
    """Serve the dev OAuth 2.1 authorization server (not for production).

    It issues tokens for the protected resources given with --resource, each with its scopes,
    and for those in the --config file, which it re-reads when the file changes: add a
    [[resource]] there to serve a new MCP server without a restart. Example:

    \b
      zeroauth dev-as --auto-approve \\
        --resource 'http://127.0.0.1:8000/mcp notes:read notes:write'
    """
    if alg not in ("ES256", "RS256"):
        raise typer.BadParameter("alg must be ES256 or RS256", param_hint="--alg")
    if not resource and settings is None:
        raise typer.BadParameter("give at least one --resource URL, or --config FILE")
    try:
        fixed = tuple(parse_resource(value, scope or ()) for value in resource or ())
        clients = () if clients_file is None else tuple(load_clients(clients_file))
        live = LiveSettings(
            issuer=issuer or f"{'https' if https else 'http'}://{host}:{port}",
            fixed_resources=fixed,
            fixed_clients=clients,
            path=settings,
        )
        live.load()
    except ValueError as exc:  # json.JSONDecodeError too
        raise typer.BadParameter(str(exc)) from None
    config = config_for(
        live,
        auto_approve=auto_approve,
        alg="ES256" if alg == "ES256" else "RS256",
        database=database or data_dir() / "devserver.sqlite",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        key_rotation_days=key_rotation_days,
    )
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold]zeroauth dev-as[/] issuer [cyan]{config.issuer}[/]")
    console.print(f"  metadata  {config.issuer}/.well-known/oauth-authorization-server")
    for res in live.resources:
        console.print(escape(f"  resource  {res.resource} ({' '.join(res.scopes) or 'no scopes'})"))
    if settings is not None:
        console.print(escape(f"  settings  {settings} (re-read when it changes)"))
    if redis_url:
        console.print(escape(f"  state     {redact_url(redis_url)} prefix {redis_prefix}"))
    tls = dev_certificates() if https else None
    app = Reloading(DevAuthorizationServer(config), live, lambda text: console.print(escape(text)))
    run_dev_server(app, host, port, tls)
