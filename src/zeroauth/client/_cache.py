"""The discovery cache: PRM and AS-metadata responses, bounded in time and size, that heal.

RFC 9728 §5.2 / C-11 (a fresh 401 carrying ``resource_metadata`` re-validates), RFC 9111 §5.2
(``Cache-Control``), threat A8/A9. Why a cache of *responses* (not parsed documents):
the flow validates every document each time it uses one (issuer, ``resource``, URL policy),
so a poisoned or stale entry is never trusted more than a fresh fetch would be; the cache only
saves round trips, and the flow invalidates an entry whenever a failure could be explained by
staleness (discovery is then redone once).

Rules:

- only ``GET`` responses with status 200 (positive) or 404/410 (negative, short TTL) are kept;
  transport failures, 5xx and other statuses never are (a down server must not be remembered);
- ``Cache-Control`` is read by ``zeroauth.core.cache_control`` (the doctor uses the same rule
  through :func:`discovery_ttl`): ``no-store``, ``no-cache``, ``max-age=0`` or a malformed
  ``max-age`` → not cached; ``max-age=N`` → ``min(N, max_ttl)``; otherwise ``default_ttl``.
  ``s-maxage`` is for shared caches and this one is private (RFC 9111 §5.2.2.10);
- at most ``max_entries`` entries (least recently stored dropped first);
- concurrent fetches of one URL share a single request (single-flight), sync and async.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

import anyio

from zeroauth.core import cache_control
from zeroauth.core.flow.steps import HTTPResponse

__all__ = ["DEFAULT_TTL", "MAX_TTL", "NEGATIVE_TTL", "DiscoveryCache", "discovery_ttl",
           "ttl_from_headers"]  # fmt: skip

DEFAULT_TTL = 600.0  # seconds, without Cache-Control max-age
MAX_TTL = 3600.0  # upper bound for a 200 whatever max-age says
NEGATIVE_TTL = 30.0  # upper bound for a 404/410


def discovery_ttl(
    status: int,
    control: str | Iterable[str] | None,
    *,
    default_ttl: float = DEFAULT_TTL,
    max_ttl: float = MAX_TTL,
    negative_ttl: float = NEGATIVE_TTL,
) -> float:
    """Seconds a discovery response with ``status`` and these ``Cache-Control`` field lines is
    reused for (0 = not cached): 200 up to ``max_ttl``, 404/410 up to ``negative_ttl``."""
    if status in (404, 410):
        limit = negative_ttl
    elif status == 200:
        limit = max_ttl
    else:
        return 0.0
    return cache_control.ttl(control, default_ttl, 0.0, limit)  # RFC 9111 §5.2.2


def ttl_from_headers(
    response: HTTPResponse, *, default_ttl: float, max_ttl: float, negative_ttl: float
) -> float:
    """Seconds ``response`` may be reused for (0 = do not cache)."""
    if response.status == 0 or response.from_cache:
        return 0.0
    return discovery_ttl(
        response.status,
        response.header_list("cache-control"),
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        negative_ttl=negative_ttl,
    )


@dataclass(slots=True)
class _Entry:
    response: HTTPResponse
    expires: float


class DiscoveryCache:
    """Thread-safe; shared by every flow of one ``ZeroAuth`` (or of a ``ZeroAuthManager``)."""

    def __init__(
        self,
        *,
        default_ttl: float = DEFAULT_TTL,
        max_ttl: float = MAX_TTL,
        negative_ttl: float = NEGATIVE_TTL,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._guard = threading.Lock()
        self._async_inflight: dict[str, _AsyncFlight] = {}
        self._sync_inflight: dict[str, _SyncFlight] = {}
        self.fetches = 0  # requests actually sent through this cache (for tests and benches)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> HTTPResponse | None:
        with self._guard:
            entry = self._entries.get(url)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._entries[url]
                return None
            return replace(entry.response, from_cache=True)

    def put(self, url: str, response: HTTPResponse) -> None:
        ttl = ttl_from_headers(
            response,
            default_ttl=self.default_ttl,
            max_ttl=self.max_ttl,
            negative_ttl=self.negative_ttl,
        )
        with self._guard:
            self._entries.pop(url, None)  # a fresh "do not cache" replaces an old entry too
            if ttl <= 0:
                return
            self._entries[url] = _Entry(response, self._clock() + ttl)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, *urls: str) -> None:
        with self._guard:
            for url in urls:
                self._entries.pop(url, None)

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()

    async def fetch(
        self, url: str, fetcher: Callable[[], Awaitable[HTTPResponse]], *, use_cache: bool = True
    ) -> HTTPResponse:
        """The cached response, or the result of one fetch shared by every concurrent caller."""
        if use_cache:
            hit = self.get(url)
            if hit is not None:
                return hit
        flight = self._async_inflight.get(url)
        if flight is not None:
            await flight.done.wait()
            if flight.result is not None:
                return flight.result
        flight = _AsyncFlight()
        self._async_inflight[url] = flight
        try:
            self.fetches += 1
            flight.result = await fetcher()
            self.put(url, flight.result)
            return flight.result
        finally:
            if self._async_inflight.get(url) is flight:
                del self._async_inflight[url]
            flight.done.set()

    def fetch_sync(
        self, url: str, fetcher: Callable[[], HTTPResponse], *, use_cache: bool = True
    ) -> HTTPResponse:
        if use_cache:
            hit = self.get(url)
            if hit is not None:
                return hit
        with self._guard:
            flight = self._sync_inflight.get(url)
            leader = flight is None
            if flight is None:
                flight = _SyncFlight()
                self._sync_inflight[url] = flight
        if not leader:
            flight.done.wait()
            if flight.result is not None:
                return flight.result
            return self.fetch_sync(url, fetcher, use_cache=False)
        try:
            self.fetches += 1
            flight.result = fetcher()
            self.put(url, flight.result)
            return flight.result
        finally:
            with self._guard:
                if self._sync_inflight.get(url) is flight:
                    del self._sync_inflight[url]
            flight.done.set()


class _AsyncFlight:
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: HTTPResponse | None = None


class _SyncFlight:
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: HTTPResponse | None = None
