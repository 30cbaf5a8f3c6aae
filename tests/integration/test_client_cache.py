"""Discovery cache (SECURITY.md A8, A9; RFC 9111 §5.2 Cache-Control, bounded TTL)."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from zeroauth.client._cache import DiscoveryCache, ttl_from_headers
from zeroauth.core.flow.steps import HTTPResponse

# the client engine's locks run under any async library (asyncio and trio)
pytestmark = pytest.mark.all_backends

URL = "https://as.example/.well-known/oauth-authorization-server"


def resp(status: int = 200, cache_control: str | None = None) -> HTTPResponse:
    headers = [("Cache-Control", cache_control)] if cache_control else []
    return HTTPResponse.build(status, URL, headers, b"{}")


@pytest.mark.parametrize(
    ("status", "control", "expected"),
    [
        (200, None, 600.0),
        (200, "max-age=60", 60.0),
        (200, "public, max-age=999999", 3600.0),  # bounded
        (200, "no-store", 0.0),
        (200, "no-cache, max-age=60", 0.0),
        (200, "max-age=0", 0.0),
        (404, None, 30.0),  # negative entries are short-lived
        (404, "max-age=3600", 30.0),
        (500, None, 0.0),  # a failing server is never remembered
        (302, None, 0.0),
    ],
)
def test_a9_ttl_rules(status: int, control: str | None, expected: float) -> None:
    ttl = ttl_from_headers(resp(status, control), default_ttl=600, max_ttl=3600, negative_ttl=30)
    assert ttl == expected


def test_a8_transport_failures_are_not_cached() -> None:
    cache = DiscoveryCache()
    cache.put(URL, HTTPResponse.failure(URL, "timed out"))
    assert cache.get(URL) is None


def test_a9_expiry_and_invalidation() -> None:
    now = [0.0]
    cache = DiscoveryCache(clock=lambda: now[0])
    cache.put(URL, resp(cache_control="max-age=10"))
    hit = cache.get(URL)
    assert hit is not None
    assert hit.from_cache
    now[0] = 10.5
    assert cache.get(URL) is None
    cache.put(URL, resp())
    cache.invalidate(URL)
    assert cache.get(URL) is None
    # a fresh "no-store" answer replaces an older cached one
    cache.put(URL, resp())
    cache.put(URL, resp(cache_control="no-store"))
    assert cache.get(URL) is None


def test_bounded_entries() -> None:
    cache = DiscoveryCache(max_entries=3)
    for i in range(5):
        cache.put(f"{URL}/{i}", resp())
    assert len(cache) == 3
    assert cache.get(f"{URL}/0") is None
    assert cache.get(f"{URL}/4") is not None


@pytest.mark.anyio
async def test_single_flight_async_shares_one_fetch_even_uncacheable() -> None:
    cache = DiscoveryCache()
    calls = 0

    async def fetcher() -> HTTPResponse:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)
        return resp(cache_control="no-store")  # not cacheable, still shared by waiters

    results: list[HTTPResponse] = []

    async def one() -> None:
        results.append(await cache.fetch(URL, fetcher))

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert calls == 1
    assert len(results) == 50
    assert cache.fetches == 1


@pytest.mark.anyio
async def test_use_cache_false_refetches_and_refreshes_entry() -> None:
    cache = DiscoveryCache()
    bodies = iter([b'{"v":1}', b'{"v":2}'])

    async def fetcher() -> HTTPResponse:
        return HTTPResponse.build(200, URL, (), next(bodies))

    assert (await cache.fetch(URL, fetcher)).body == b'{"v":1}'
    assert (await cache.fetch(URL, fetcher)).body == b'{"v":1}'  # cached
    assert (await cache.fetch(URL, fetcher, use_cache=False)).body == b'{"v":2}'  # C-11
    hit = cache.get(URL)
    assert hit is not None
    assert hit.body == b'{"v":2}'


def test_single_flight_sync_threads() -> None:
    cache = DiscoveryCache()
    calls = 0
    lock = threading.Lock()

    def fetcher() -> HTTPResponse:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.05)
        return resp()

    threads = [threading.Thread(target=cache.fetch_sync, args=(URL, fetcher)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
