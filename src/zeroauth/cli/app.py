"""The typer application. Subcommands register themselves here."""

from __future__ import annotations

import typer

from zeroauth import __version__

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


def main() -> None:
    """Console-script entry point."""
    import zeroauth.cli.commands  # noqa: F401  (registers the subcommands)

    app()
