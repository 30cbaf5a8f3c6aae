"""``ZeroAuth``: an ``httpx2.Auth`` (and ``ZeroAuthHttpx``, an ``httpx.Auth``) that gets a client
into an MCP server knowing only its URL.

Both are thin: each request runs the sans-IO flow (``zeroauth.core.flow.request_flow``) and the
shared ``Engine`` executes its steps; the MCP request itself is the one step they send through
the caller's own client (so its transport, timeouts and streaming are untouched). Sync and
async flows are both implemented (``sync_auth_flow`` / ``async_auth_flow``), so one object
works with ``httpx2.Client`` and ``httpx2.AsyncClient`` — e.g. the official SDK's
``streamable_http_client(url, http_client=httpx2.AsyncClient(auth=ZeroAuth()))``.

Concurrency (SECURITY.md A12): no lock is held while a request is in flight. Requests with a
live token go straight out; concurrent 401s share one refresh or authorization.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import Any

import httpx2

from zeroauth.client.browser import BrowserUserStep, UserStep
from zeroauth.client.cache import DiscoveryCache
from zeroauth.client.engine import Engine, HeldLocks, asyncio_loop
from zeroauth.client.stores import MemoryTokenStore, TokenStore
from zeroauth.client.transport import OAuthTransport, Observer
from zeroauth.core.flow import (
    ClientCredentials,
    EnterpriseAuth,
    FlowConfig,
    HTTPResponse,
    SendOriginal,
    request_flow,
)
from zeroauth.core.registration import ClientInfo
from zeroauth.core.urls import PRODUCTION, URLPolicy

__all__ = ["ZeroAuth", "ZeroAuthHttpx", "build_engine"]


def build_engine(
    *,
    store: TokenStore | None = None,
    user_step: UserStep | None = None,
    client_name: str = "zeroauth",
    redirect_uri: str = "http://127.0.0.1:0/callback",
    cimd_url: str | None = None,
    preregistered: Mapping[str, ClientInfo] | Sequence[ClientInfo] | None = None,
    scopes: Sequence[str] | None = None,
    url_policy: URLPolicy = PRODUCTION,
    strict_resource: bool = False,
    send_resource: bool = True,
    legacy: bool = False,
    client_credentials: ClientCredentials | None = None,
    enterprise: EnterpriseAuth | None = None,
    cache: DiscoveryCache | None = None,
    timeout: float = 30.0,
    verify: bool | ssl.SSLContext = True,
    observer: Observer | None = None,
    **flow_options: Any,
) -> Engine:
    """The shared machinery behind ``ZeroAuth`` (and ``ZeroAuthManager``)."""
    if preregistered is None:
        by_issuer: dict[str, ClientInfo] = {}
    elif isinstance(preregistered, Mapping):
        by_issuer = dict(preregistered)
    else:
        by_issuer = {client.issuer: client for client in preregistered}
    config = FlowConfig(
        client_name=client_name,
        redirect_uri=redirect_uri,
        cimd_url=cimd_url,
        preregistered=by_issuer,
        scopes=None if scopes is None else tuple(scopes),
        url_policy=url_policy,
        strict_resource=strict_resource,
        send_resource=send_resource,
        legacy=legacy,
        client_credentials=client_credentials,
        enterprise=enterprise,
        **flow_options,
    )
    return Engine(
        config=config,
        store=store if store is not None else MemoryTokenStore(),
        cache=cache if cache is not None else DiscoveryCache(),
        user_step=user_step if user_step is not None else BrowserUserStep(url_policy=url_policy),
        transport=OAuthTransport(
            url_policy=url_policy, timeout=timeout, verify=verify, observer=observer
        ),
    )


def _set_authorization(request: Any, value: str | None) -> None:
    if value is None:
        if "authorization" in request.headers:
            del request.headers["authorization"]
    else:
        request.headers["Authorization"] = value


def _describe(request: Any, response: Any) -> HTTPResponse:
    return HTTPResponse.build(
        response.status_code, str(request.url), response.headers.multi_items()
    )


class _Driver:
    """The adapter loop, shared by the httpx2 and httpx classes (their APIs match here)."""

    engine: Engine

    def _flow(self, request: Any) -> Generator[Any, Any, Any]:
        return request_flow(
            self.engine.config,
            str(request.url),
            protocol_version=request.headers.get("mcp-protocol-version"),
        )

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        await request.aread()  # the body must be re-sendable after a 401
        engine = self.engine
        flow = self._flow(request)
        held = HeldLocks()
        try:
            step = next(flow)
            while True:
                if isinstance(step, SendOriginal):
                    _set_authorization(request, step.authorization)
                    pending = _Pending(engine, step, held) if step.also else None
                    response = yield request
                    extra = await pending.result() if pending is not None else ()
                    reply: Any = (_describe(request, response), extra)
                else:
                    reply = await engine.execute_async(step, held)
                step = flow.send(reply)
        except StopIteration:
            return
        finally:
            flow.close()
            await held.release_all_async()

    def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        request.read()
        engine = self.engine
        flow = self._flow(request)
        held = HeldLocks()
        try:
            step = next(flow)
            while True:
                if isinstance(step, SendOriginal):
                    _set_authorization(request, step.authorization)
                    response = yield request
                    extra = tuple(engine.fetch_sync(r, held) for r in step.also)
                    reply: Any = (_describe(request, response), extra)
                else:
                    reply = engine.execute_sync(step, held)
                step = flow.send(reply)
        except StopIteration:
            return
        finally:
            flow.close()
            held.release_all_sync()


class _Pending:
    """Speculative fetches overlapping the first request (asyncio: tasks; else sequential)."""

    def __init__(self, engine: Engine, step: SendOriginal, run: HeldLocks) -> None:
        self._engine = engine
        self._step = step
        self._run = run
        self._task: Any = None
        if asyncio_loop() is not None:
            import asyncio

            self._task = asyncio.ensure_future(engine.fetch_all_async(step.also, run))

    async def result(self) -> tuple[HTTPResponse, ...]:
        if self._task is not None:
            result: tuple[HTTPResponse, ...] = await self._task
            return result
        return await self._engine.fetch_all_async(self._step.also, self._run)


class ZeroAuth(_Driver, httpx2.Auth):
    """Zero-config MCP authorization for ``httpx2`` clients (what ``mcp`` 2.x and ``fastmcp``
    4.x take). Every argument is optional::

        http = httpx2.AsyncClient(auth=ZeroAuth())
        async with streamable_http_client("https://host/mcp", http_client=http) as streams: ...

    ``store``: where registrations and tokens live (``FileTokenStore()`` to survive restarts;
    default in memory). ``user_step``: how the user authorizes (default: the system browser and a
    loopback listener). ``url_policy=DEVELOPMENT`` allows http on localhost. ``preregistered``:
    clients by issuer. ``cimd_url``: your Client ID Metadata Document. ``legacy=True``: the
    2025-03-26 fallback. ``client_credentials`` / ``enterprise``: machine-to-machine grants.
    """

    def __init__(self, *, engine: Engine | None = None, **options: Any) -> None:
        self.engine = engine if engine is not None else build_engine(**options)

    @property
    def store(self) -> TokenStore:
        return self.engine.store

    @property
    def cache(self) -> DiscoveryCache:
        return self.engine.cache


def _httpx_base() -> type:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is an optional extra
        return object
    return httpx.Auth


class ZeroAuthHttpx(_Driver, _httpx_base()):  # type: ignore[misc]
    """The same, as an ``httpx.Auth`` (``mcp`` 1.x and other httpx users). Accepts the same
    arguments as ``ZeroAuth``, or ``engine=`` to share state with one."""

    def __init__(self, *, engine: Engine | None = None, **options: Any) -> None:
        self.engine = engine if engine is not None else build_engine(**options)
