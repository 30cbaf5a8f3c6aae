"""Imports every subcommand module so each registers itself on ``app``."""

from zeroauth.cli import dev_as

__all__ = ["dev_as"]
