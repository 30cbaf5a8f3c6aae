"""The ``zeroauth`` command line (typer + rich)."""

from zeroauth.cli.app import app, main

__all__ = ["app", "main"]
