"""The typer application: every command is registered here, explicitly and in help order.

Command modules define plain functions and never import ``app`` (no registration by import
side effect, so no import cycle between ``app`` and its commands). ``@app.command()`` takes the
docstring as written; ``command(app)`` re-flows it (see ``zeroauth.cli.output.command``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from zeroauth import __version__
from zeroauth.cli import bridge, config, demo, dev_as, dev_cert, explain, gateway, serve, session
from zeroauth.cli.doctor import command as doctor
from zeroauth.cli.output import command

__all__ = ["app", "main"]

app = typer.Typer(
    name="zeroauth",
    help="Zero-config OAuth authorization for MCP: discover, diagnose, log in, call.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the zeroauth version."""
    typer.echo(__version__)


def _version_flag(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_flag, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Zero-config OAuth authorization for MCP: discover, diagnose, log in, call."""


app.add_typer(config.config_app, name="config")
app.command()(demo.demo)
app.command("dev-as")(dev_as.dev_as)
app.command("dev-cert")(dev_cert.dev_cert)
app.command("gateway")(gateway.gateway)
app.command("bridge")(bridge.bridge)
app.command()(serve.serve)
for _run in (session.login, session.token, session.call, session.status, session.logout):
    command(app)(_run)
command(app)(doctor.doctor)
command(app)(explain.explain)


def main() -> None:
    """Console-script entry point."""
    app()
