"""What one flow run holds: its locks, the records read with them, its HTTP client.

The driver (``zeroauth.client._driver``) gives every run a ``HeldLocks``; the engine
(``zeroauth.client._engine``) records in it each lock the run takes: the in-process lock and
the store's cross-process lock for the same name (threat A12), released in reverse order,
also when the flow fails. A store that reads records together with its lock
(``ReadingLocks``) leaves them here for the run's next fresh ``Load``. The run's OAuth
requests share one HTTP client (one connection per host: RFC 9112 §9.3 persistence), closed at
the end unless the user supplied it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from zeroauth.client._stores import StoreLock

__all__ = ["HeldLocks"]


class HeldLocks:
    """What one flow run holds: its locks (released in reverse order, also when the flow fails)
    and the HTTP client its OAuth requests share (one connection per host for the whole run)."""

    def __init__(self) -> None:
        self._held: list[tuple[str, Callable[[], Any], StoreLock, bool]] = []
        self.http_async: httpx2.AsyncClient | None = None
        self.http_sync: httpx2.Client | None = None
        self.owns_http = True  # False when the client was supplied by the user: never closed
        # records read together with a lock, for the flow's next fresh Load (while it holds it)
        self.prefetched: dict[tuple[str, str], dict[str, Any] | None] = {}

    def push(self, name: str, release: Callable[[], Any], store_lock: StoreLock,
             is_async: bool) -> None:  # fmt: skip
        self._held.append((name, release, store_lock, is_async))

    def _pop(self, name: str | None) -> tuple[str, Callable[[], Any], StoreLock, bool] | None:
        for index in range(len(self._held) - 1, -1, -1):
            if name is None or self._held[index][0] == name:
                return self._held.pop(index)
        return None

    def took(self, store_lock: StoreLock) -> None:
        records = getattr(store_lock, "records", None)
        if isinstance(records, dict):
            self.prefetched.update(records)

    async def release_async(self, name: str | None = None) -> None:
        self.prefetched.clear()
        item = self._pop(name)
        if item is not None:
            _, release, store_lock, is_async = item
            try:
                if is_async:
                    await store_lock.__aexit__(None, None, None)
                else:
                    store_lock.__exit__(None, None, None)
            finally:
                release()

    def release_sync(self, name: str | None = None) -> None:
        self.prefetched.clear()
        item = self._pop(name)
        if item is not None:
            _, release, store_lock, _ = item
            try:
                store_lock.__exit__(None, None, None)
            finally:
                release()

    async def release_all_async(self) -> None:
        try:
            while self._held:
                await self.release_async()
        finally:
            client, self.http_async = self.http_async, None
            if client is not None and self.owns_http:
                await client.aclose()

    def release_all_sync(self) -> None:
        try:
            while self._held:
                self.release_sync()
        finally:
            client, self.http_sync = self.http_sync, None
            if client is not None and self.owns_http:
                client.close()
