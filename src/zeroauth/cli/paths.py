"""Where the CLI keeps its files: the platform's user dirs, or ``$ZEROAUTH_HOME`` when set."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["config_dir", "data_dir"]


def _home() -> Path | None:
    value = os.environ.get("ZEROAUTH_HOME")
    return Path(value) if value else None


def data_dir() -> Path:
    """Token/registration stores and the dev AS database."""
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir("zeroauth"))


def config_dir() -> Path:
    """The TOML configuration file lives here."""
    home = _home()
    return home if home else Path(platformdirs.user_config_dir("zeroauth"))
