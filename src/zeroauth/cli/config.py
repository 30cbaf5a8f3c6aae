"""``zeroauth config``: show, export, import and edit the configuration file.

The file and its format are described in ``zeroauth.cli.config_file`` (and docs/cli.md):
pre-registered clients per issuer (C-27, C-30), per-server overrides (scopes, IdP profile,
strict RFC 9728 resource check, CIMD URL, development loopback opt-in) and a CIMD URL.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from zeroauth.cli.client import ConfigPath, Debug, JsonOut
from zeroauth.cli.config_entries import SERVER_KEYS
from zeroauth.cli.config_file import (
    IDP_PROFILES,
    ClientEntry,
    Config,
    ServerEntry,
    config_path,
    load_config,
    save_config,
)
from zeroauth.cli.help_format import HelpGroup
from zeroauth.cli.output import command, errors_handled, fail, note, out_console
from zeroauth.core.errors import InvalidInput
from zeroauth.core.resource import canonical_resource

__all__ = ["config_app"]

config_app = typer.Typer(
    help="Show, export, import and edit the configuration file.\n\nPre-registered clients per "
    "authorization server, per-server settings (scopes, IdP profile, strict mode, CIMD URL, "
    "loopback opt-in) and a CIMD URL.",
    no_args_is_help=True,
    cls=HelpGroup,
)


def _path(config: Path | None) -> Path:
    return config or config_path()


@command(config_app, "show")
def show(json_out: JsonOut = False, config: ConfigPath = None, debug: Debug = False) -> None:
    """Print the configuration and where it lives (client secrets masked)."""
    with errors_handled(debug):
        path = _path(config)
        settings = load_config(path)
        if json_out:
            typer.echo(json.dumps({"path": str(path), **settings.to_data(secrets=False)}, indent=2))
            return
        exists = "" if path.exists() else " (does not exist yet)"
        out_console().print(f"# {path}{exists}", markup=False)
        text = settings.to_toml(secrets=False).split("\n", 1)[1]
        for issuer, entry in settings.clients.items():
            if entry.client_secret:
                text = text.replace(
                    f"[clients.{json.dumps(issuer)}]\n",
                    f"[clients.{json.dumps(issuer)}]\n# client_secret is set\n",
                )
        out_console().print(text.rstrip() or "# empty", markup=False, highlight=False)


@command(config_app, "export")
def export(
    output: Annotated[
        Path | None, typer.Argument(help="Write here instead of stdout.", show_default=False)
    ] = None,
    include_secrets: Annotated[
        bool, typer.Option("--include-secrets", help="Include client secrets.")
    ] = False,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Export the configuration as TOML.

    Client secrets are left out unless --include-secrets is given."""
    with errors_handled(debug):
        settings = load_config(_path(config))
        if output is None:
            typer.echo(settings.to_toml(secrets=include_secrets), nl=False)
            return
        if include_secrets:
            save_config(settings, output)  # 0600, like the configuration itself
        else:
            output.write_text(settings.to_toml(secrets=False), encoding="utf-8")
        note(f"exported to {output}")


@command(config_app, "import")
def import_(
    source: Annotated[Path, typer.Argument(help="A TOML file ('-' for stdin).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the configuration instead of merging.")
    ] = False,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Import settings from a TOML file into the configuration.

    The file's entries are merged in (an entry with the same key is replaced), or replace the
    whole configuration with --replace."""
    with errors_handled(debug):
        text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")
        where = "stdin" if str(source) == "-" else str(source)
        incoming = Config.from_toml(
            text, where=where, fix=f"fix {where} and import it again (nothing was changed)"
        )
        path = _path(config)
        merged = incoming if replace else load_config(path).merged(incoming)
        save_config(merged, path)
        note(
            f"imported {len(incoming.clients)} client(s) and {len(incoming.servers)} "
            f"server setting(s) into {path}"
        )


@command(config_app, "add-client")
def add_client(
    issuer: Annotated[str, typer.Argument(help="The authorization server's issuer URL.")],
    client_id: Annotated[str, typer.Option("--client-id", help="The registered client_id.")],
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the client secret from stdin.")
    ] = False,
    auth_method: Annotated[
        str | None,
        typer.Option("--auth-method", help="token_endpoint_auth_method, e.g. client_secret_basic."),
    ] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Registered redirect URI.")
    ] = None,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Configure a client registered out of band with an authorization server (C-27)."""
    with errors_handled(debug):
        secret = (sys.stdin.readline().strip() or None) if secret_stdin else None
        entry = ClientEntry(client_id, secret, auth_method, tuple(redirect_uri or ()))
        path = _path(config)
        save_config(load_config(path).with_client(issuer, entry), path)
        note(f"client {client_id} configured for {issuer} in {path}")


@command(config_app, "set-server")
def set_server(
    url: Annotated[str, typer.Argument(help="The MCP server URL.")],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scope to request (repeatable).")
    ] = None,
    idp: Annotated[
        str | None, typer.Option(help="IdP profile: " + ", ".join(IDP_PROFILES) + ".")
    ] = None,
    strict: Annotated[
        bool | None, typer.Option("--strict/--no-strict", help="RFC 9728 §3.3 resource identity.")
    ] = None,
    cimd_url: Annotated[str | None, typer.Option(help="Client ID Metadata Document URL.")] = None,
    allow_loopback: Annotated[
        bool | None,
        typer.Option("--allow-loopback/--no-allow-loopback", help="Development loopback opt-in."),
    ] = None,
    scope_prefix: Annotated[
        str | None,
        typer.Option(metavar="PREFIX", help="Prefix for short scope names (Entra: api://APP/)."),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            metavar="AUDIENCE",
            help="API identifier sent as `audience` (with --idp auth0; default: the URL).",
        ),
    ] = None,
    dpop: Annotated[
        str | None,
        typer.Option(metavar="MODE", help="DPoP-bound tokens (RFC 9449): auto, required or off."),
    ] = None,
    workload_token_file: Annotated[
        str | None,
        typer.Option(help="Workload identity: the platform's token file (re-read each grant)."),
    ] = None,
    workload_token_env: Annotated[
        str | None, typer.Option(help="Workload identity: the variable holding the token.")
    ] = None,
    workload_client_id: Annotated[
        str | None, typer.Option(help="Workload identity: the client_id, if the AS wants one.")
    ] = None,
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Set per-server settings (only the options given change).

    Every key of a `[servers."URL"]` table in the configuration file has its option here; the
    entry is checked as a whole before it is saved."""
    with errors_handled(debug):
        path = _path(config)
        settings = load_config(path)
        old = settings.server(url)
        table = old.to_table()
        updates = {
            "scopes": scope,
            "idp": idp,
            "strict": strict,
            "cimd_url": cimd_url,
            "allow_loopback": allow_loopback,
            "scope_prefix": scope_prefix,
            "audience": audience,
            "dpop": dpop,
            "workload_token_file": workload_token_file,
            "workload_token_env": workload_token_env,
            "workload_client_id": workload_client_id,
        }
        table.update({k: v for k, v in updates.items() if v is not None})
        try:
            entry = ServerEntry.from_table(table, "")
        except InvalidInput as exc:  # name the option, not a place in a file
            key = (exc.where or "").rsplit(".", 1)[-1]
            exc.where = "--" + key.replace("_", "-") if key in SERVER_KEYS else url
            exc.hint = "change the option (the settings saved before are in `zeroauth config show`)"
            raise
        save_config(settings.with_server(url, entry), path)
        note(f"settings for {url} saved in {path}")


@command(config_app, "remove")
def remove(
    key: Annotated[str, typer.Argument(help="An issuer (client) or a server URL (settings).")],
    config: ConfigPath = None,
    debug: Debug = False,
) -> None:
    """Remove a pre-registered client (by issuer) or a server's settings (by URL)."""
    with errors_handled(debug):
        path = _path(config)
        settings = load_config(path)
        if key in settings.clients:
            save_config(settings.with_client(key, None), path)
        elif settings.servers.get(_canonical(key)) is not None:
            save_config(settings.with_server(key, None), path)
        else:
            fail(f"nothing configured for {key}", hint="see `zeroauth config show`")
        note(f"removed {key} from {path}")


def _canonical(url: str) -> str:
    try:
        return canonical_resource(url)
    except InvalidInput:
        return url
