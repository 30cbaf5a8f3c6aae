"""Imports every subcommand module so each registers itself on ``app``."""

from zeroauth.cli import config, demo, dev_as, gateway, serve, session
from zeroauth.cli.doctor import command as doctor

__all__ = ["config", "demo", "dev_as", "doctor", "gateway", "serve", "session"]
