"""Each MCP server's protocol era, remembered by ``zeroauth call`` (one round trip less).

MCP 2026-07-28 clients connect with ``server/discover``; servers of the handshake era
(2025-11-25 and before) answer it with an error and need ``initialize`` instead. The SDK's
``mode="auto"`` probes every time; once a server's era is known, the next call goes straight to
what worked: ``initialize`` (``mode="legacy"``), or the remembered ``server/discover`` result
adopted without a request (``mode=<version>``, ``prior_discover``) while its ``ttlMs`` says it
is fresh, else the SDK's minimal one for that version. Entries expire after :data:`MAX_AGE`
seconds, and one that stops working is forgotten (the caller probes again).

Stored in ``eras.json`` in the CLI's data directory, next to the token stores, keyed by the
canonical resource URL (RFC 8707 §2); it holds no secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from zeroauth.cli.paths import data_dir
from zeroauth.core.resource import canonical_resource

__all__ = ["LEGACY", "MAX_AGE", "forget", "remember", "remembered"]

LEGACY = "legacy"
MAX_AGE = 24 * 3600.0
_MAX_ENTRIES = 512


def _path() -> Path:
    return data_dir() / "eras.json"


def _load() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or damaged: probe again, nothing is lost
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, Any]) -> None:
    path = _path()
    with contextlib.suppress(OSError):  # a read-only home only costs the round trip
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)


def remembered(url: str) -> tuple[str, dict[str, Any] | None] | None:
    """``(mode, discover result or None)`` for ``url``, or None when unknown or stale."""
    entry = _load().get(canonical_resource(url))
    if not isinstance(entry, dict):
        return None
    mode, at, discover = entry.get("mode"), entry.get("at"), entry.get("discover")
    if not isinstance(mode, str) or not isinstance(at, int | float):
        return None
    if not 0 <= time.time() - at <= MAX_AGE:
        return None
    if not isinstance(discover, dict):
        return mode, None
    ttl = discover.get("ttlMs")  # the freshness of the server's discover result (capabilities)
    fresh = type(ttl) is int and ttl >= 0 and time.time() - at <= ttl / 1000
    return mode, discover if fresh else None


def remember(url: str, mode: str, discover: dict[str, Any] | None = None) -> None:
    """Record that ``url`` speaks ``mode`` (``legacy`` or a 2026-era version)."""
    data = _load()
    data[canonical_resource(url)] = {"mode": mode, "at": time.time(), "discover": discover}
    if len(data) > _MAX_ENTRIES:  # oldest first out
        ordered = sorted(data.items(), key=lambda item: float(item[1].get("at", 0)))
        data = dict(ordered[-_MAX_ENTRIES:])
    _save(data)


def forget(url: str) -> None:
    """Drop what is known about ``url`` (it stopped working: the next call probes again)."""
    data = _load()
    if data.pop(canonical_resource(url), None) is not None:
        _save(data)
