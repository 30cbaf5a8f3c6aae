"""Persistence of the dev authorization server: the ``DevStore`` interface and its SQLite
implementation (stdlib ``sqlite3``, the default; ``RedisDevStore`` in ``_store_redis`` shares the
state between replicas).

Holds what must survive a restart: registered clients (RFC 7591), the signing keys (one row per
rotation generation, sealed with AES-256-GCM when a ``keyring`` is given), refresh-token
families (OAuth 2.1 §4.3.1 rotation; reuse of a rotated token revokes the family) and
authorization codes (single use; a replay revokes what the code issued, OAuth 2.1 §4.1.3),
access tokens by ``jti`` (RFC 7009, RFC 7662), the consent forms' HMAC secret and the forms
already submitted (single use). Secrets are stored as SHA-256 digests, never in clear: codes and
refresh tokens are high-entropy random strings, so a plain digest is enough.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from zeroauth.client._keyring import Keyring
from zeroauth.core.errors import StoreKeyError

__all__ = [
    "AccessRecord",
    "CodeRecord",
    "DevStore",
    "KeyRecord",
    "RefreshRecord",
    "SqliteDevStore",
    "digest",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, metadata TEXT NOT NULL, secret_digest TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, pem TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (
    alg TEXT NOT NULL, generation INTEGER NOT NULL, kid TEXT NOT NULL, pem TEXT NOT NULL,
    not_before REAL NOT NULL, PRIMARY KEY (alg, generation));
CREATE TABLE IF NOT EXISTS codes (
    digest TEXT PRIMARY KEY, grant_id TEXT NOT NULL, data TEXT NOT NULL, expires REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    digest TEXT PRIMARY KEY, grant_id TEXT NOT NULL, data TEXT NOT NULL, expires REAL NOT NULL,
    rotated INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS revoked_grants (grant_id TEXT PRIMARY KEY, revoked REAL NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS spent (id TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL, expires REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0);
"""  # access tokens by jti, for revocation (RFC 7009) and introspection (RFC 7662)
_REFRESH = "SELECT grant_id, data, expires, rotated FROM refresh_tokens WHERE digest = ?"


def _key_name(alg: str, generation: int) -> bytes:
    return f"signing-key:{alg}:{generation}".encode()


def digest(secret: str) -> str:
    """SHA-256 hex digest of a secret (codes, refresh tokens, client secrets)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """An authorization code's grant: who, for what, with which PKCE challenge."""

    grant_id: str
    data: Mapping[str, Any]
    expires: float
    used: bool


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A refresh token of a grant family."""

    grant_id: str
    data: Mapping[str, Any]
    expires: float
    rotated: bool


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """An issued access token (by its ``jti``): the grant and client it belongs to."""

    grant_id: str
    client_id: str
    expires: float
    revoked: bool


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A signing key of a rotation (RFC 7517 ``kid``): generation ``n + 1`` succeeds ``n`` and
    signs from ``not_before`` on."""

    generation: int
    kid: str
    pem: str = field(repr=False)
    not_before: float


@runtime_checkable
class DevStore(Protocol):
    """The dev AS's state. ``SqliteDevStore`` (one process) or ``RedisDevStore`` (replicas).

    Every method is atomic on its own: ``use_code`` and ``rotate_refresh`` mark and return the
    record as it was (so of two concurrent uses exactly one sees it unused), ``revoke_grant``
    marks the grant and drops its refresh tokens. A store shared by replicas keeps the first
    signing key added for an algorithm (every replica signs with it); ``signing_key`` returns
    the one to use."""

    def close(self) -> None: ...
    def add_client(
        self, client_id: str, metadata: Mapping[str, Any], secret: str | None = None
    ) -> None: ...
    def client(self, client_id: str) -> tuple[dict[str, Any], str | None] | None: ...
    def clients(self) -> list[str]: ...
    def signing_key(self, alg: str) -> tuple[str, str] | None: ...
    def add_signing_key(self, kid: str, alg: str, pem: str) -> None: ...
    def signing_keys(self, alg: str) -> list[KeyRecord]:
        """Every key of the rotation for ``alg``, oldest generation first."""
        ...

    def add_rotation_key(self, alg: str, key: KeyRecord) -> bool:
        """Store ``key`` unless its generation is taken (True if this one was stored): of
        replicas rotating at once, one key per generation."""
        ...

    def drop_rotation_key(self, alg: str, generation: int) -> None: ...
    def add_code(
        self, code: str, grant_id: str, data: Mapping[str, Any], expires: float
    ) -> None: ...
    def use_code(self, code: str) -> CodeRecord | None: ...
    def add_refresh(
        self, token: str, grant_id: str, data: Mapping[str, Any], expires: float
    ) -> None: ...
    def rotate_refresh(self, token: str) -> RefreshRecord | None: ...
    def revoke_grant(self, grant_id: str) -> None: ...
    def grant_revoked(self, grant_id: str) -> bool: ...
    def add_access(self, jti: str, grant_id: str, client_id: str, expires: float) -> None: ...
    def access_record(self, jti: str) -> AccessRecord | None: ...
    def revoke_access(self, jti: str) -> None: ...
    def refresh_record(self, token: str) -> RefreshRecord | None: ...
    def shared_secret(self, name: str) -> bytes:
        """32 random bytes under ``name``, made once and the same for every user of the store
        (the consent forms' HMAC secret)."""
        ...

    def spend(self, name: str, expires: float) -> bool:
        """True the first time ``name`` is spent, False on every later try (until ``expires``:
        a single-use form)."""
        ...


class SqliteDevStore:
    """SQLite-backed state. ``path=":memory:"`` for tests; a file keeps state across restarts.

    With a ``keyring`` the rotation's private keys are sealed at rest (AES-256-GCM, the
    generation's name as associated data); keys stored in clear earlier stay readable."""

    def __init__(self, path: str | Path = ":memory:", *, keyring: Keyring | None = None) -> None:
        self._keyring = keyring
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(_SCHEMA)
            if keyring is not None:  # a key moved to the sealed table leaves no copy behind
                self._db.execute("PRAGMA secure_delete = ON")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _run(self, sql: str, args: tuple[object, ...]) -> None:
        """One statement in its own transaction."""
        with self._tx() as db:
            db.execute(sql, args)

    def _row(self, sql: str, args: tuple[object, ...]) -> Any:
        """The first row a query returns, or None."""
        with self._tx() as db:
            return db.execute(sql, args).fetchone()

    def close(self) -> None:
        self._db.close()

    # -- clients ---------------------------------------------------------------------------------
    def add_client(
        self, client_id: str, metadata: Mapping[str, Any], secret: str | None = None
    ) -> None:
        self._run(
            "INSERT OR REPLACE INTO clients VALUES (?, ?, ?, ?)",
            (client_id, json.dumps(dict(metadata)), secret and digest(secret), time.time()),
        )

    def client(self, client_id: str) -> tuple[dict[str, Any], str | None] | None:
        """(metadata, secret digest) of a registered client, or None."""
        row = self._row(
            "SELECT metadata, secret_digest FROM clients WHERE client_id = ?", (client_id,)
        )
        return None if row is None else (json.loads(row[0]), row[1])

    def clients(self) -> list[str]:
        with self._tx() as db:
            return [r[0] for r in db.execute("SELECT client_id FROM clients ORDER BY created")]

    # -- signing keys ----------------------------------------------------------------------------
    def signing_key(self, alg: str) -> tuple[str, str] | None:
        """(kid, PEM) of the newest key for ``alg``, or None."""
        row = self._row(
            "SELECT kid, pem FROM keys WHERE alg = ? ORDER BY created DESC LIMIT 1", (alg,)
        )
        return None if row is None else (row[0], row[1])

    def add_signing_key(self, kid: str, alg: str, pem: str) -> None:
        self._run("INSERT INTO keys VALUES (?, ?, ?, ?)", (kid, alg, pem, time.time()))

    def signing_keys(self, alg: str) -> list[KeyRecord]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT generation, kid, pem, not_before FROM signing_keys WHERE alg = ? "
                "ORDER BY generation", (alg,)
            ).fetchall()  # fmt: skip
        return [KeyRecord(g, kid, self._open_pem(alg, g, pem), nb) for g, kid, pem, nb in rows]

    def add_rotation_key(self, alg: str, key: KeyRecord) -> bool:
        pem = key.pem
        if self._keyring is not None:
            pem = self._keyring.seal(pem.encode(), _key_name(alg, key.generation)).decode()
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO signing_keys VALUES (?, ?, ?, ?, ?)",
                (alg, key.generation, key.kid, pem, key.not_before),
            )
            if self._keyring is not None:  # a key carried over from the clear table: now sealed
                db.execute("DELETE FROM keys WHERE alg = ? AND kid = ?", (alg, key.kid))
            return cursor.rowcount == 1

    def drop_rotation_key(self, alg: str, generation: int) -> None:
        self._run("DELETE FROM signing_keys WHERE alg = ? AND generation = ?", (alg, generation))

    def _open_pem(self, alg: str, generation: int, stored: str) -> str:
        if stored.startswith("-----BEGIN"):
            return stored  # stored in clear (no keyring then)
        if self._keyring is None:
            raise StoreKeyError(
                "the signing keys in this database are encrypted and no key was given",
                where=f"signing key {alg} generation {generation}",
                hint="configure the same encryption key as when the database was created",
            )
        where = f"signing key {alg} generation {generation}"
        return self._keyring.open(stored.encode(), _key_name(alg, generation), where=where).decode()

    # -- authorization codes (single use, OAuth 2.1 §4.1.3) ---------------------------------------
    def add_code(self, code: str, grant_id: str, data: Mapping[str, Any], expires: float) -> None:
        self._run(
            "INSERT INTO codes VALUES (?, ?, ?, ?, 0)",
            (digest(code), grant_id, json.dumps(dict(data)), expires),
        )

    def use_code(self, code: str) -> CodeRecord | None:
        """Mark a code used and return it as it was (``used=True`` means this is a replay)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT grant_id, data, expires, used FROM codes WHERE digest = ?", (digest(code),)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE codes SET used = 1 WHERE digest = ?", (digest(code),))
        return CodeRecord(row[0], json.loads(row[1]), row[2], bool(row[3]))

    # -- refresh tokens (rotation, family revocation: OAuth 2.1 §4.3.1) ---------------------------
    def add_refresh(
        self, token: str, grant_id: str, data: Mapping[str, Any], expires: float
    ) -> None:
        self._run(
            "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, 0)",
            (digest(token), grant_id, json.dumps(dict(data)), expires),
        )

    def rotate_refresh(self, token: str) -> RefreshRecord | None:
        """Mark a refresh token rotated and return it as it was (``rotated=True``: reuse)."""
        with self._tx() as db:
            row = db.execute(_REFRESH, (digest(token),)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE refresh_tokens SET rotated = 1 WHERE digest = ?", (digest(token),))
        return RefreshRecord(row[0], json.loads(row[1]), row[2], bool(row[3]))

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token of a grant family (code replay, refresh-token reuse)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO revoked_grants VALUES (?, ?)", (grant_id, time.time())
            )
            db.execute("DELETE FROM refresh_tokens WHERE grant_id = ?", (grant_id,))

    def grant_revoked(self, grant_id: str) -> bool:
        return self._row("SELECT 1 FROM revoked_grants WHERE grant_id = ?", (grant_id,)) is not None

    # -- access tokens and lookups without side effects (RFC 7009, RFC 7662) ----------------------
    def add_access(self, jti: str, grant_id: str, client_id: str, expires: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO access_tokens VALUES (?, ?, ?, ?, 0)",
                (jti, grant_id, client_id, expires),
            )
            db.execute("DELETE FROM access_tokens WHERE expires < ?", (time.time() - 3600,))

    def access_record(self, jti: str) -> AccessRecord | None:
        row = self._row(
            "SELECT grant_id, client_id, expires, revoked FROM access_tokens WHERE jti = ?", (jti,)
        )
        return None if row is None else AccessRecord(row[0], row[1], row[2], bool(row[3]))

    def revoke_access(self, jti: str) -> None:
        """Revoke one access token (RFC 7009 §2.1), leaving its grant alone."""
        self._run("UPDATE access_tokens SET revoked = 1 WHERE jti = ?", (jti,))

    def refresh_record(self, token: str) -> RefreshRecord | None:
        """A refresh token as stored, without rotating it (revocation, introspection)."""
        row = self._row(_REFRESH, (digest(token),))
        return (
            None if row is None else RefreshRecord(row[0], json.loads(row[1]), row[2], bool(row[3]))
        )

    # -- shared secrets and single-use markers -----------------------------------------------------
    def shared_secret(self, name: str) -> bytes:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO secrets VALUES (?, ?)", (name, secrets.token_bytes(32))
            )
            value: bytes = db.execute(
                "SELECT value FROM secrets WHERE name = ?", (name,)
            ).fetchone()[0]
        return value

    def spend(self, name: str, expires: float) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM spent WHERE expires < ?", (time.time(),))
            cursor = db.execute(
                "INSERT OR IGNORE INTO spent VALUES (?, ?)", (digest(name), expires)
            )
            return cursor.rowcount == 1
