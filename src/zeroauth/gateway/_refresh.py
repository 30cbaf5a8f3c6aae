"""Upstream catalogs kept fresh without letting a slow upstream stall callers (SECURITY B16).

The stale-while-revalidate idea of RFC 5861 §3, applied to the MCP catalogs the gateway merges
(``tools/list``, ``prompts/list``, ``resources/list``, ``resources/templates/list``, MCP
2025-11-25 server features):

- a catalog younger than ``ttl`` is served as is;
- a stale one is still served, for at most ``max_stale`` (10 x ``ttl`` unless given) after it
  was fetched, while **one** background refresh per upstream renews it (single flight: every
  caller joins the refresh in flight, none starts a second one);
- an upstream with nothing to serve (no catalog yet, one older than ``max_stale``, or marked
  down) makes a listing wait for its refresh at most ``cold_wait`` seconds; past that it is
  listed without, and marked unavailable (no later listing waits for it again) until a refresh
  succeeds.

Refreshes run as tasks owned by :class:`CatalogRefresher`: tracked, cancelled and awaited by
:meth:`CatalogRefresher.aclose`, and an exception escaping one is logged, never lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Sequence

from zeroauth.gateway._catalog import Catalog, load_catalog
from zeroauth.gateway._metrics import Metrics
from zeroauth.gateway._upstream import MCPUpstream, UpstreamError

__all__ = ["COLD_WAIT", "RETRY_DOWN", "STALE_FACTOR", "CatalogRefresher"]

log = logging.getLogger("zeroauth.gateway")

RETRY_DOWN = 1.0  # seconds between catalog attempts after a failed one
STALE_FACTOR = 10  # a stale catalog is served for at most this many TTLs after it was fetched
COLD_WAIT = 5.0  # seconds a caller waits for an upstream that has no catalog to serve


class CatalogRefresher:
    """The catalogs of ``upstreams``, and the background refreshes that renew them."""

    def __init__(
        self,
        upstreams: Sequence[MCPUpstream],
        *,
        ttl: float,
        metrics: Metrics,
        on_change: Callable[[], None],
        cold_wait: float = COLD_WAIT,
        max_stale: float | None = None,
    ) -> None:
        self.upstreams = tuple(upstreams)
        self.ttl = ttl
        self.max_stale = max_stale if max_stale is not None else STALE_FACTOR * ttl
        self.cold_wait = cold_wait
        self.metrics = metrics
        self.catalogs: dict[str, Catalog] = {}
        self._on_change = on_change
        self._attempted: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._missed: set[str] = set()  # gave up waiting; not waited for until a refresh succeeds
        self._closed = False

    # -- what callers see ------------------------------------------------------------------------

    def listed(self) -> list[MCPUpstream]:
        """Upstreams whose catalog may be listed now: healthy, and not older than ``max_stale``."""
        now = time.monotonic()
        return [up for up in self.upstreams if self._usable(up, now)]

    def _usable(self, up: MCPUpstream, now: float) -> bool:
        catalog = self.catalogs.get(up.name)
        return up.healthy and catalog is not None and now - catalog.fetched < self.max_stale

    async def for_listing(self) -> None:
        """Start the refreshes that are due; wait (bounded) only where nothing can be listed."""
        now = time.monotonic()
        waits: list[tuple[MCPUpstream, asyncio.Task[None]]] = []
        for up in self.upstreams:
            catalog = self.catalogs.get(up.name)
            if up.healthy and catalog is not None and now - catalog.fetched < self.ttl:
                continue  # fresh
            task = self.start(up, every=min(self.ttl, RETRY_DOWN))
            if task is not None and not self._usable(up, now) and up.name not in self._missed:
                waits.append((up, task))
        await self._wait(waits)

    async def for_name(
        self, candidates: Sequence[MCPUpstream], every: Callable[[MCPUpstream], float]
    ) -> None:
        """An unknown name: refresh (at most once per ``every(up)``) where it may be, and wait.

        The caller asked for something only these upstreams can answer, so it waits for them up
        to their own request ``timeout`` (not ``cold_wait``), and a miss marks nothing.
        """
        tasks = [task for up in candidates if (task := self.start(up, every=every(up)))]
        bound = max((up.config.timeout for up in candidates), default=0.0)
        if tasks:
            await asyncio.wait(tasks, timeout=bound)

    async def all(self) -> None:
        """Refresh every catalog now (start-up warm-up) and wait for all of them, unbounded.
        Upstreams reached with exchanged tokens wait for their first caller (RFC 8693: nothing to
        exchange without one); trying them now would only hold back that caller's first call."""
        tasks = [
            task
            for up in self.upstreams
            if up.config.credentials.type != "exchange" and (task := self.start(up, every=0.0))
        ]
        if tasks:
            await asyncio.wait(tasks)

    async def _wait(self, waits: Sequence[tuple[MCPUpstream, asyncio.Task[None]]]) -> None:
        """Wait at most ``cold_wait`` for these refreshes; never cancel them (others share them)."""
        if not waits:
            return
        _, pending = await asyncio.wait({task for _, task in waits}, timeout=self.cold_wait)
        for up, task in waits:
            if task in pending and up.name not in self._missed:
                self._missed.add(up.name)
                self.metrics.upstream_up[up.name] = False
                log.warning(
                    "upstream %s: no catalog within %.1f s; listed without it until it answers",
                    up.name,
                    self.cold_wait,
                )

    def refreshing(self) -> list[str]:
        """Names of the upstreams whose catalog refresh is in flight."""
        return sorted(self._tasks)

    # -- the refresh tasks -----------------------------------------------------------------------

    def start(self, up: MCPUpstream, *, every: float) -> asyncio.Task[None] | None:
        """The refresh in flight for ``up``; else a new one if the last began ``every`` s ago."""
        task = self._tasks.get(up.name)
        if task is not None or self._closed:
            return task
        now = time.monotonic()
        if now - self._attempted.get(up.name, -math.inf) < every:
            return None
        self._attempted[up.name] = now
        task = asyncio.get_running_loop().create_task(
            self._load(up), name=f"zeroauth-catalog-{up.name}"
        )
        self._tasks[up.name] = task
        task.add_done_callback(functools.partial(self._finished, up.name))
        return task

    async def _load(self, up: MCPUpstream) -> None:
        try:
            catalog = await load_catalog(up)
        except UpstreamError as exc:
            up.healthy = up.healthy and exc.kind != "unavailable"
            if exc.kind == "unavailable":  # what the caller is told (e.g. the IdP is down)
                up.last_error = exc.reason
            self.metrics.upstream_error(up.name, exc.kind)
            self.metrics.upstream_up[up.name] = False
            log.warning("upstream %s: catalog unavailable: %s", up.name, exc.reason)
            return
        except Exception:  # a malformed catalog must not take the other upstreams down
            self.metrics.upstream_error(up.name, "catalog")
            log.exception("upstream %s: unusable catalog", up.name)
            return
        catalog.fetched = time.monotonic()  # its age counts from the answer (RFC 9111 §4.2.3)
        self.catalogs[up.name] = catalog
        self._missed.discard(up.name)
        self.metrics.upstream_up[up.name] = True
        self._on_change()

    def _finished(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # _load handles Exception; this is whatever escaped it
            log.error("upstream %s: catalog refresh failed", name, exc_info=error)

    async def aclose(self) -> None:
        """Cancel the refreshes in flight and wait for them to end (gateway shutdown, reload)."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
