"""Where the client keeps what it learned: registrations, tokens and server bindings.

MCP authorization 2026-07-28, "Client Registration / Authorization Server Binding" (SEP-2352,
C-30: client credentials are keyed by the AS ``issuer``) and "Refresh Tokens" (C-46, C-48:
tokens are stored securely, the newest rotated refresh token always persisted); OAuth 2.1 §7.1.
threat A16: on disk, files are 0600 inside a 0700 directory, writes are atomic (temp
file + fsync + ``os.replace``) so a crash mid-write leaves the previous record intact, and no
token ever reaches a log line or an exception message.

Four kinds of record, each a JSON object:

- ``client``   keyed by issuer                 → ``ClientInfo``
- ``tokens``   keyed by (issuer, resource)     → ``TokenSet`` (expiry as absolute epoch time)
- ``binding``  keyed by the MCP server URL     → ``ServerBinding`` (which resource/issuer it uses)
- ``dpop``     keyed by issuer                 → the client's DPoP key pair (``alg``, PKCS#8 PEM;
  RFC 9449): tokens from that issuer are bound to it, so it lives and is shared with them

Each kind has one key builder (``client_key``, ``tokens_key``, ``binding_key``, ``dpop_key``,
defined with
``RecordKind`` in ``zeroauth.core.flow.steps`` and used by the flow too).

A ``TokenStore`` implements four small methods (``load``/``save``/``delete``/``lock``) over
JSON objects; the client converts them to and from the typed core values. ``lock(name)`` is a
cross-process lock: the flow holds it while it refreshes a token, so two processes sharing a
``FileTokenStore`` never redeem the same rotating refresh token twice (A12). The two stores here
also list their keys (``keys(kind)``); ``load_login`` / ``forget_login`` read and drop what is
held for one server, typed, over any ``TokenStore``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, get_args, runtime_checkable

import anyio

from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.flow.config import ServerBinding
from zeroauth.core.flow.steps import RecordKind, binding_key, client_key, dpop_key, tokens_key
from zeroauth.core.tokens import TokenSet

__all__ = [
    "AsyncRecords",
    "FileTokenStore",
    "MemoryTokenStore",
    "ReadingLock",
    "ReadingLocks",
    "RecordKind",
    "StoreLock",
    "TokenStore",
    "binding_key",
    "client_key",
    "default_store_path",
    "dpop_key",
    "forget_login",
    "load_login",
    "tokens_key",
]

logger = logging.getLogger("zeroauth.client.stores")

_KINDS: tuple[str, ...] = get_args(RecordKind)
_MAX_RECORD = 1 << 20  # a stored record is never larger than 1 MiB


class StoreLock(Protocol):
    """A lock shared by every process using the same store (sync and async)."""

    def __enter__(self) -> object: ...
    def __exit__(self, *exc: object) -> None: ...
    async def __aenter__(self) -> object: ...
    async def __aexit__(self, *exc: object) -> None: ...


@runtime_checkable
class TokenStore(Protocol):
    """The storage protocol: JSON records by (kind, key), plus a named cross-process lock."""

    def load(self, kind: RecordKind, key: str) -> dict[str, Any] | None: ...
    def save(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> None: ...
    def delete(self, kind: RecordKind, key: str) -> None: ...
    def lock(self, name: str) -> StoreLock: ...


class ReadingLock(StoreLock, Protocol):
    """A store lock that read records in the round trip that took it: ``records`` (by kind and
    key, ``None`` for an absent record) once entered."""

    @property
    def records(self) -> dict[tuple[str, str], dict[str, Any] | None]: ...


@runtime_checkable
class ReadingLocks(Protocol):
    """Optional: a store that reads records together with taking a lock (``RedisTokenStore``:
    one script acquires the lease and reads them, so a refresh costs one round trip less)."""

    def lock_reading(self, name: str, reads: Sequence[tuple[RecordKind, str]]) -> ReadingLock: ...


@runtime_checkable
class AsyncRecords(Protocol):
    """Optional: a store with awaitable record I/O (``RedisTokenStore``); async flows use it
    instead of the blocking ``load``/``save``/``delete``."""

    async def aload(self, kind: RecordKind, key: str) -> dict[str, Any] | None: ...
    async def asave(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> None: ...
    async def adelete(self, kind: RecordKind, key: str) -> None: ...


def load_login(store: TokenStore, server_url: str) -> tuple[ServerBinding, TokenSet | None] | None:
    """What ``store`` holds for one server: its binding (which issuer and resource) and the
    tokens kept under them, if readable. ``None`` without a (well-formed) binding."""
    record = store.load("binding", binding_key(server_url))
    binding = None if record is None else ServerBinding.from_json(record)
    if binding is None:
        return None
    data = store.load("tokens", tokens_key(binding.issuer, binding.resource))
    try:
        tokens = None if data is None else TokenSet.from_json(data)
    except ZeroAuthError:
        tokens = None
    return binding, tokens


def forget_login(store: TokenStore, server_url: str, *, client: bool = False) -> bool:
    """Delete the binding of one server and its tokens (and, with ``client``, the registration
    and the DPoP key at its issuer, C-30). Returns whether a binding record was there."""
    key = binding_key(server_url)
    record = store.load("binding", key)
    binding = None if record is None else ServerBinding.from_json(record)
    if binding is not None:
        store.delete("tokens", tokens_key(binding.issuer, binding.resource))
        if client:
            store.delete("client", client_key(binding.issuer))
            store.delete("dpop", dpop_key(binding.issuer))  # a new key: re-authorization
    store.delete("binding", key)
    return record is not None


class _NullLock:
    """In-memory stores are not shared across processes: nothing to lock."""

    def __enter__(self) -> _NullLock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> _NullLock:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class MemoryTokenStore:
    """Records in a dict, for one process (tests, short-lived agents). Copies on the way in/out."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], str] = {}
        self._guard = threading.Lock()

    def load(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        with self._guard:
            text = self._records.get((kind, key))
        return None if text is None else _decode(text)

    def save(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> None:
        text = _encode(kind, record)
        with self._guard:
            self._records[(kind, key)] = text

    def delete(self, kind: RecordKind, key: str) -> None:
        with self._guard:
            self._records.pop((kind, key), None)

    def lock(self, name: str) -> StoreLock:
        return _NullLock()

    def keys(self, kind: RecordKind) -> list[str]:
        """The keys of every record of ``kind``, sorted."""
        with self._guard:
            return sorted(key for k, key in self._records if k == kind)

    def __repr__(self) -> str:
        return f"MemoryTokenStore({len(self._records)} records)"


def _encode(kind: str, record: Mapping[str, Any]) -> str:
    if kind not in _KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    text = json.dumps(dict(record), separators=(",", ":"), sort_keys=True)
    if len(text) > _MAX_RECORD:
        raise ValueError(f"{kind} record too large ({len(text)} bytes)")
    return text


def _decode(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def default_store_path() -> Path:
    """``$ZEROAUTH_HOME`` or the platform's user data directory + ``/tokens``."""
    env = os.environ.get("ZEROAUTH_HOME")
    if env:
        return Path(env) / "tokens"
    import platformdirs

    return Path(platformdirs.user_data_dir("zeroauth")) / "tokens"


class FileTokenStore:
    """One JSON file per record in a private directory, shared safely between processes.

    - the directory is created 0700 (and refused if another user owns it or others can read it);
      every file is created 0600;
    - a write goes to a temp file in the same directory, is fsynced, then ``os.replace``\\ d over
      the record (and the directory fsynced): readers see the old or the new record, never half;
    - ``lock(name)`` is an ``fcntl.flock`` on ``locks/<hash>.lock`` (released by the kernel if the
      holder dies, so a crash never leaves the store locked);
    - file names are hashes of (kind, key): no URL or issuer ends up in a path.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 60.0
    ) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.lock_timeout = lock_timeout
        _ensure_private_dir(self.path)
        _ensure_private_dir(self.path / "locks")

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def _file(self, kind: str, key: str) -> Path:
        digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:40]
        return self.path / f"{kind}-{digest}.json"

    def load(self, kind: RecordKind, key: str) -> dict[str, Any] | None:
        path = self._file(kind, key)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(_MAX_RECORD + 1)
        except FileNotFoundError:
            return None
        data = _decode(text) if len(text) <= _MAX_RECORD else None
        if data is None:
            # Never quote the content: it may hold a token (A16).
            logger.warning("ignoring unreadable %s record %s", kind, path.name)
            return None
        envelope_key = data.get("_key")
        if envelope_key != key:  # a hash collision or a hand-edited file: not ours
            return None
        record = data.get("record")
        return record if isinstance(record, dict) else None

    def save(self, kind: RecordKind, key: str, record: Mapping[str, Any]) -> None:
        text = _encode(kind, {"_key": key, "record": dict(record)})
        _atomic_write(self._file(kind, key), text)

    def delete(self, kind: RecordKind, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(kind, key).unlink()
        _fsync_dir(self.path)

    def lock(self, name: str) -> StoreLock:
        digest = hashlib.sha256(name.encode()).hexdigest()[:40]
        return _FileLock(self.path / "locks" / f"{digest}.lock", self.lock_timeout)

    def keys(self, kind: RecordKind) -> list[str]:
        """The keys of every readable record of ``kind``, sorted. File names are hashes: the
        key is read from each file's envelope and kept only if it hashes to that file."""
        found: set[str] = set()
        for path in self.path.glob(f"{kind}-*.json"):
            key = _envelope_key(path)
            if key is not None and self._file(kind, key) == path:
                found.add(key)
        return sorted(found)


def _envelope_key(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(_MAX_RECORD + 1)
    except OSError:
        return None
    data = _decode(text) if len(text) <= _MAX_RECORD else None
    key = None if data is None else data.get("_key")
    return key if isinstance(key, str) else None


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ZeroAuthError(
            "token store directory is owned by another user",
            requirement="A16",
            where=str(path),
            hint="use a directory that belongs to you",
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # tighten a directory we own (e.g. created by an older umask)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class _FileLock:
    """``flock`` on a lock file; sync acquire blocks, async acquire polls without blocking."""

    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._fd: int | None = None

    def _open(self) -> int:
        return os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)

    def _try(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True

    def _timeout_error(self) -> ZeroAuthError:
        return ZeroAuthError(
            "timed out waiting for the token store lock",
            requirement="A12",
            where=str(self._path),
            hint="another process holds it; it is released when that process exits",
        )

    def __enter__(self) -> _FileLock:
        fd = self._open()
        deadline = time.monotonic() + self._timeout
        delay = 0.002
        while not self._try(fd):
            if time.monotonic() > deadline:
                os.close(fd)
                raise self._timeout_error()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def __aenter__(self) -> _FileLock:
        fd = self._open()
        deadline = time.monotonic() + self._timeout
        delay = 0.002
        while not self._try(fd):
            if time.monotonic() > deadline:
                os.close(fd)
                raise self._timeout_error()
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.05)
        self._fd = fd
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()
