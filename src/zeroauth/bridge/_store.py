"""The bridge's own state, behind a small key-value protocol (``BridgeStore``).

Kinds of records (everything else — clients, codes, refresh families, signing keys — lives in the
authorization server core's store):

- ``login``: a pending upstream login, keyed by the digest of the upstream ``state``; taken
  (read and deleted at once) by the callback, so a ``state`` is single use (RFC 6749 §10.12);
- ``session``: the bridge's browser session (digest of its cookie) → the upstream user, set only
  after an upstream login;
- ``consent``: a remembered consent for (user, client, redirect URI, scopes);
- ``upstream``: the user's upstream tokens, AES-256-GCM sealed (``Keyring``) with the record key
  as associated data, so a record copied under another key does not decrypt.

Four operations — ``put`` (with an absolute expiry), ``get``, ``take`` (atomic get-and-delete) and
``delete`` — so a Redis backend is ``SET PX`` / ``GET`` / ``GETDEL`` / ``DEL``; and a lease,
``claim`` (create unless a live record exists: ``SET NX PX``) and ``release`` (delete only by
its owner), for what one replica at a time must do (refreshing a user's upstream tokens, whose
refresh token the upstream may rotate and whose reuse it may punish, OAuth 2.1 §4.3.1). Keys are
digests or internal names, never a secret in clear.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

__all__ = ["BridgeStore", "SQLiteBridgeStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bridge_records (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (kind, key));
"""


class BridgeStore(Protocol):
    """Records by (kind, key) with an absolute expiry (``time.time()`` seconds)."""

    def put(self, kind: str, key: str, value: dict[str, Any], expires: float) -> None: ...

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record, deleted in the same step (single use), or None."""
        ...

    def delete(self, kind: str, key: str) -> None: ...

    def claim(self, kind: str, key: str, owner: str, expires: float) -> bool:
        """Create ``{"owner": owner}`` under (kind, key) unless a live record is there."""
        ...

    def release(self, kind: str, key: str, owner: str) -> None:
        """Delete the record if ``owner`` still holds it (never another owner's lease)."""
        ...


class SQLiteBridgeStore:
    """``BridgeStore`` in SQLite (``":memory:"`` or a file; may share the core's file)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put(self, kind: str, key: str, value: dict[str, Any], expires: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO bridge_records VALUES (?, ?, ?, ?)",
                (kind, key, json.dumps(value), expires),
            )

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value, expires FROM bridge_records WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        return _live(row)

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT value, expires FROM bridge_records WHERE kind = ? AND key = ?",
                    (kind, key),
                ).fetchone()
                self._db.execute(
                    "DELETE FROM bridge_records WHERE kind = ? AND key = ?", (kind, key)
                )
                self._db.execute("DELETE FROM bridge_records WHERE expires < ?", (time.time(),))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return _live(row)

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM bridge_records WHERE kind = ? AND key = ?", (kind, key))

    def claim(self, kind: str, key: str, owner: str, expires: float) -> bool:
        where = (kind, key, time.time())
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one writer: processes sharing the file agree
            try:
                self._db.execute(
                    "DELETE FROM bridge_records WHERE kind = ? AND key = ? AND expires < ?", where
                )
                added = self._db.execute(
                    "INSERT OR IGNORE INTO bridge_records VALUES (?, ?, ?, ?)",
                    (kind, key, json.dumps({"owner": owner}), expires),
                ).rowcount
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return added == 1

    def release(self, kind: str, key: str, owner: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM bridge_records WHERE kind = ? AND key = ? AND value = ?",
                (kind, key, json.dumps({"owner": owner})),
            )


def _live(row: Any) -> dict[str, Any] | None:
    if row is None or row[1] < time.time():
        return None
    value = json.loads(row[0])
    return value if isinstance(value, dict) else None
