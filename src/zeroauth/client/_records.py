"""The engine's copy of the token store's records: warm loads from memory, writes through.

A ``Load`` step (``zeroauth.core.flow.steps``) is served from this in-memory copy unless the
flow asks for a fresh one: after taking a lock (threat A12, single flight), a record is read
from the store, or taken from the records its ``ReadingLocks`` store read together with the lock
(``HeldLocks.prefetched``). ``Save`` and ``Delete`` write through to the store, then the copy.
Stores with ``AsyncRecords`` are awaited on async flows. What is stored (RFC 6749 §5.1 token
responses, RFC 7591 registrations, bindings) is the flow's business, not this module's.
"""

from __future__ import annotations

import threading
from typing import Any

from zeroauth.client._held import HeldLocks
from zeroauth.client._stores import AsyncRecords, TokenStore
from zeroauth.core.flow import Delete, Load, Save

__all__ = ["Records"]


class Records:
    """The records of one ``TokenStore`` as this engine last read or wrote them."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self._copies: dict[tuple[str, str], dict[str, Any]] = {}
        self._guard = threading.Lock()

    def _cached(self, step: Load) -> dict[str, Any] | None:
        if step.fresh:
            return None
        with self._guard:
            cached = self._copies.get((step.kind, step.key))
        return None if cached is None else dict(cached)

    def load(self, step: Load, held: HeldLocks) -> dict[str, Any] | None:
        cached = self._cached(step)
        if cached is not None:
            return cached
        if step.fresh and (step.kind, step.key) in held.prefetched:  # read with the lock
            return self._loaded(step, held.prefetched.pop((step.kind, step.key)))
        return self._loaded(step, self.store.load(step.kind, step.key))

    async def aload(self, step: Load, held: HeldLocks) -> dict[str, Any] | None:
        """A warm load is served from memory: a shared store is read only when the flow asks
        for a fresh copy (after taking a lock: read with it if the store can) or nothing is
        held yet."""
        cached = self._cached(step)
        if cached is not None:
            return cached
        if step.fresh and (step.kind, step.key) in held.prefetched:
            return self._loaded(step, held.prefetched.pop((step.kind, step.key)))
        store = self.store
        if isinstance(store, AsyncRecords):
            return self._loaded(step, await store.aload(step.kind, step.key))
        return self._loaded(step, store.load(step.kind, step.key))

    def _loaded(self, step: Load, record: dict[str, Any] | None) -> dict[str, Any] | None:
        key = (step.kind, step.key)
        with self._guard:
            if record is None:
                self._copies.pop(key, None)
            else:
                self._copies[key] = dict(record)
        return record

    def save(self, step: Save) -> None:
        self.store.save(step.kind, step.key, step.record)
        with self._guard:
            self._copies[(step.kind, step.key)] = dict(step.record)

    async def asave(self, step: Save) -> None:
        store = self.store
        if not isinstance(store, AsyncRecords):
            return self.save(step)
        await store.asave(step.kind, step.key, step.record)
        with self._guard:
            self._copies[(step.kind, step.key)] = dict(step.record)
        return None

    async def adelete(self, step: Delete) -> None:
        store = self.store
        if not isinstance(store, AsyncRecords):
            return self.delete(step)
        await store.adelete(step.kind, step.key)
        with self._guard:
            self._copies.pop((step.kind, step.key), None)
        return None

    def delete(self, step: Delete) -> None:
        self.store.delete(step.kind, step.key)
        with self._guard:
            self._copies.pop((step.kind, step.key), None)

    def forget(self) -> None:
        """Drop the in-memory copies (the store stays)."""
        with self._guard:
            self._copies.clear()
