"""The executor: runs the sans-IO flow's steps against real I/O, sync or async.

Everything here is shared by every request of one ``ZeroAuth`` (or every server of a
``ZeroAuthManager``): the token store, the discovery cache, the user step, the named locks and
an in-memory copy of the store's records (``Records``: ``zeroauth.client._records``). The flow
itself (``zeroauth.core.flow``) decides; the driver (``zeroauth.client._driver``) runs it and
hands the engine every step but the caller's own request: ``Fetch`` / ``Load`` / ``Save`` /
``Lock`` / … .

Locks (threat A12): ``Lock(name)`` takes an in-process lock (``anyio.Lock`` for async
flows, ``threading.Lock`` for sync flows) and then the store's cross-process lock for the same
name (not for a ``local`` lock; a store that can read records together with its lock reads
the lock's ``reads`` in that round trip, kept for the next fresh ``Load``: ``ReadingLocks``).
Only flows that need new tokens take them; a request with a live token never waits.
What a run holds is recorded in its ``HeldLocks`` (``zeroauth.client._held``), which the driver
releases when the run ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from zeroauth._wire.transport import OAuthTransport
from zeroauth.client._browser import UserStep
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._held import HeldLocks
from zeroauth.client._records import Records
from zeroauth.client._stores import (
    ReadingLocks,
    StoreLock,
    TokenStore,
    _NullLock,
)
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.flow import (
    Delete,
    Fetch,
    FlowConfig,
    HTTPRequest,
    HTTPResponse,
    Invalidate,
    Load,
    Lock,
    RedirectURI,
    Save,
    ShowDeviceCode,
    Sleep,
    Step,
    Unlock,
    UserAuthorization,
    WaitUnlocked,
)

__all__ = ["Engine", "HeldLocks"]

_DISCOVERY = ("prm", "as-metadata")


class Engine:
    def __init__(
        self,
        *,
        config: FlowConfig,
        store: TokenStore,
        cache: DiscoveryCache,
        user_step: UserStep,
        transport: OAuthTransport,
    ) -> None:
        self.config = config
        self.store = store
        self.cache = cache
        self.user_step = user_step
        self.transport = transport
        self.records = Records(store)  # the in-memory copy of the store's records
        self._guard = threading.Lock()
        self._async_locks: dict[tuple[int, str], anyio.Lock] = {}
        self._async_free: dict[tuple[int, str], anyio.Event] = {}  # set when the lock is free
        self._sync_locks: dict[str, threading.Lock] = {}
        self._sync_free: dict[str, threading.Event] = {}
        self.user_steps = 0  # authorizations run (tests, benches)
        # RFC 8628 polling waits (tests replace them to observe or shorten the waits)
        self.sleep_async: Callable[[float], Awaitable[None]] = anyio.sleep
        self.sleep_sync: Callable[[float], None] = time.sleep
        self.dpop_nonces: dict[str, str] = {}  # RFC 9449 §8/§9 nonces by origin, across flows

    def forget(self) -> None:
        """Drop the in-memory copies (the store stays)."""
        self.records.forget()

    def _show_device_code(self, step: ShowDeviceCode) -> None:
        show = getattr(self.user_step, "show_device_code", None)
        if show is None:
            raise ZeroAuthError(
                "this user step cannot show a device code",
                where=type(self.user_step).__name__,
                expected="a user step with show_device_code (DeviceUserStep)",
                hint="pass user_step=DeviceUserStep() to use the device authorization grant",
            )
        show(step.authorization)

    # -- async -------------------------------------------------------------------------------

    def _async_lock(self, name: str) -> tuple[tuple[int, str], anyio.Lock]:
        key = (id(asyncio_loop()), name)
        with self._guard:
            lock = self._async_locks.get(key)
            if lock is None:
                lock = self._async_locks[key] = anyio.Lock()
        return key, lock

    def _store_lock(self, step: Lock) -> StoreLock:
        if step.local:
            return _NullLock()
        if step.reads and isinstance(self.store, ReadingLocks):
            return self.store.lock_reading(step.name, step.reads)
        return self.store.lock(step.name)

    async def _lock_async(self, step: Lock, held: HeldLocks) -> bool:
        name = step.name
        key, lock = self._async_lock(name)
        if step.blocking:
            await lock.acquire()
        else:
            try:
                lock.acquire_nowait()
            except anyio.WouldBlock:
                return False
        free = self._async_free[key] = anyio.Event()

        def release() -> None:
            free.set()
            lock.release()

        try:
            store_lock = self._store_lock(step)
            await store_lock.__aenter__()
        except BaseException:
            release()
            raise
        held.push(name, release, store_lock, True)
        held.took(store_lock)
        return True

    async def _wait_unlocked_async(self, name: str) -> None:
        key, lock = self._async_lock(name)
        while lock.locked():
            free = self._async_free.get(key)
            if free is None:  # pragma: no cover - held, but not through _lock_async
                return
            await free.wait()

    async def fetch_async(
        self, request: HTTPRequest, held: HeldLocks | None = None
    ) -> HTTPResponse:
        client = None
        if held is not None:
            if held.http_async is None:
                held.http_async = self.transport.async_client()
                held.owns_http = not self.transport.supplies_clients
            client = held.http_async
        if request.method == "GET" and request.purpose in _DISCOVERY:
            return await self.cache.fetch(
                request.url,
                lambda: self.transport.fetch(request, client),
                use_cache=request.cacheable,
            )
        return await self.transport.fetch(request, client)

    async def fetch_all_async(
        self, requests: tuple[HTTPRequest, ...], held: HeldLocks | None = None
    ) -> tuple[HTTPResponse, ...]:
        if len(requests) == 1:
            return (await self.fetch_async(requests[0], held),)
        results: list[HTTPResponse | None] = [None] * len(requests)

        async def one(index: int) -> None:
            results[index] = await self.fetch_async(requests[index], held)

        async with anyio.create_task_group() as tg:
            for index in range(len(requests)):
                tg.start_soon(one, index)
        return tuple(r for r in results if r is not None)

    async def execute_async(self, step: Step, held: HeldLocks) -> Any:
        if isinstance(step, Fetch):
            return await self.fetch_all_async(step.requests, held)
        if isinstance(step, Load):
            return await self.records.aload(step, held)
        if isinstance(step, Save):
            return await self.records.asave(step)
        if isinstance(step, Delete):
            return await self.records.adelete(step)
        if isinstance(step, Lock):
            return await self._lock_async(step, held)
        if isinstance(step, WaitUnlocked):
            return await self._wait_unlocked_async(step.name)
        if isinstance(step, Unlock):
            return await held.release_async(step.name)
        if isinstance(step, Invalidate):
            return self.cache.invalidate(*step.urls)
        if isinstance(step, RedirectURI):
            return self.user_step.redirect_uri(step.preferred)
        if isinstance(step, UserAuthorization):
            self.user_steps += 1
            return await self.user_step.authorize(step.url, step.redirect_uri)
        if isinstance(step, ShowDeviceCode):
            self.user_steps += 1
            return self._show_device_code(step)
        if isinstance(step, Sleep):
            return await self.sleep_async(step.seconds)
        raise TypeError(f"unexpected flow step {type(step).__name__}")

    # -- sync --------------------------------------------------------------------------------

    def _sync_lock(self, name: str) -> threading.Lock:
        with self._guard:
            lock = self._sync_locks.get(name)
            if lock is None:
                lock = self._sync_locks[name] = threading.Lock()
        return lock

    def fetch_sync(self, request: HTTPRequest, held: HeldLocks | None = None) -> HTTPResponse:
        client = None
        if held is not None:
            if held.http_sync is None:
                held.http_sync = self.transport.sync_client()
                held.owns_http = not self.transport.supplies_clients
            client = held.http_sync
        if request.method == "GET" and request.purpose in _DISCOVERY:
            return self.cache.fetch_sync(
                request.url,
                lambda: self.transport.fetch_sync(request, client),
                use_cache=request.cacheable,
            )
        return self.transport.fetch_sync(request, client)

    def fetch_all_sync(
        self, requests: tuple[HTTPRequest, ...], held: HeldLocks | None = None
    ) -> tuple[HTTPResponse, ...]:
        return tuple(self.fetch_sync(request, held) for request in requests)

    def execute_sync(self, step: Step, held: HeldLocks) -> Any:
        if isinstance(step, Fetch):
            return self.fetch_all_sync(step.requests, held)
        if isinstance(step, Load):
            return self.records.load(step, held)
        if isinstance(step, Save):
            return self.records.save(step)
        if isinstance(step, Delete):
            return self.records.delete(step)
        if isinstance(step, Lock):
            lock = self._sync_lock(step.name)
            if not lock.acquire(blocking=step.blocking):
                return False
            free = threading.Event()
            with self._guard:
                self._sync_free[step.name] = free

            def release() -> None:
                free.set()
                lock.release()

            try:
                store_lock = self._store_lock(step)
                store_lock.__enter__()
            except BaseException:
                release()
                raise
            held.push(step.name, release, store_lock, False)
            held.took(store_lock)
            return True
        if isinstance(step, WaitUnlocked):
            lock = self._sync_lock(step.name)
            while lock.locked():
                with self._guard:
                    waiting = self._sync_free.get(step.name)
                if waiting is None:  # pragma: no cover
                    return None
                waiting.wait(1.0)
            return None
        if isinstance(step, Unlock):
            return held.release_sync(step.name)
        if isinstance(step, Invalidate):
            return self.cache.invalidate(*step.urls)
        if isinstance(step, RedirectURI):
            return self.user_step.redirect_uri(step.preferred)
        if isinstance(step, UserAuthorization):
            self.user_steps += 1
            return self.user_step.authorize_sync(step.url, step.redirect_uri)
        if isinstance(step, ShowDeviceCode):
            self.user_steps += 1
            return self._show_device_code(step)
        if isinstance(step, Sleep):
            return self.sleep_sync(step.seconds)
        raise TypeError(f"unexpected flow step {type(step).__name__}")


def asyncio_loop() -> object | None:
    """The running asyncio loop, or ``None`` (another async library, e.g. trio)."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
