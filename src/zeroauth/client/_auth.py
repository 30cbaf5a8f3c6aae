"""``ZeroAuth``: an ``httpx2.Auth`` (and ``ZeroAuthHttpx``, an ``httpx.Auth``) that gets a client
into an MCP server knowing only its URL.

Both are thin: each request runs the sans-IO flow (``zeroauth.core.flow.request_flow``) through
the one driver (``zeroauth.client._driver``) and the shared ``Engine`` executes its steps; the
MCP request itself is the one step they send through the caller's own client (so its transport,
timeouts and streaming are untouched). Sync and async flows are both implemented
(``sync_auth_flow`` / ``async_auth_flow``), so one object works with ``httpx2.Client`` and
``httpx2.AsyncClient`` — e.g. the official SDK's
``streamable_http_client(url, http_client=httpx2.AsyncClient(auth=ZeroAuth()))``.
``token(url)`` / ``atoken(url)`` return a valid access token for a server (scripts, curl);
``logout(url)`` / ``alogout(url)`` revoke its tokens at the AS (RFC 7009) and forget them.

Concurrency (threat A12): no lock is held while a request is in flight. Requests with a
live token go straight out; concurrent 401s share one refresh or authorization.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping
from typing import Any, Unpack

import httpx2

from zeroauth._wire.transport import OAuthTransport
from zeroauth.client._browser import BrowserUserStep
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._driver import (
    AsyncRun,
    SyncRun,
    access_token_async,
    access_token_sync,
    logout_async,
    logout_sync,
)
from zeroauth.client._engine import Engine
from zeroauth.client._options import ENGINE_OPTIONS, ZeroAuthOptions
from zeroauth.client._stores import MemoryTokenStore, TokenStore
from zeroauth.core.flow import FlowConfig, HTTPResponse, LogoutResult, SendOriginal, request_flow
from zeroauth.core.registration import ClientInfo

__all__ = ["ZeroAuth", "ZeroAuthHttpx", "build_engine"]


def build_engine(**options: Unpack[ZeroAuthOptions]) -> Engine:
    """The shared machinery behind ``ZeroAuth`` (and ``ZeroAuthManager``)."""
    flow: dict[str, Any] = {k: v for k, v in options.items() if k not in ENGINE_OPTIONS}
    preregistered = flow.pop("preregistered", None)
    if preregistered is None:
        by_issuer: dict[str, ClientInfo] = {}
    elif isinstance(preregistered, Mapping):
        by_issuer = dict(preregistered)
    else:
        by_issuer = {client.issuer: client for client in preregistered}
    scopes = flow.pop("scopes", None)
    user_step = options.get("user_step")
    if user_step is not None and "device_grant" not in flow:
        device_grant = getattr(user_step, "device_grant", None)  # DeviceUserStep: RFC 8628
        if device_grant is not None:
            flow["device_grant"] = device_grant
    config = FlowConfig(
        preregistered=by_issuer, scopes=None if scopes is None else tuple(scopes), **flow
    )
    url_policy = config.url_policy
    store = options.get("store")
    cache = options.get("cache")
    return Engine(
        config=config,
        store=store if store is not None else MemoryTokenStore(),
        cache=cache if cache is not None else DiscoveryCache(),
        user_step=user_step if user_step is not None else BrowserUserStep(url_policy=url_policy),
        transport=OAuthTransport(
            url_policy=url_policy,
            timeout=options.get("timeout", 30.0),
            verify=options.get("verify", True),
            observer=options.get("observer"),
        ),
    )


def _set_authorization(request: Any, send: SendOriginal) -> None:
    """``Authorization`` and, for a DPoP-bound token, this request's own ``DPoP`` proof (RFC 9449
    §7.1); each removed when the step carries none (a retry never reuses an old proof)."""
    for name, value in (("Authorization", send.authorization), ("DPoP", send.dpop)):
        if value is None:
            if name in request.headers:
                del request.headers[name]
        else:
            request.headers[name] = value


def _describe(request: Any, response: Any) -> HTTPResponse:
    return HTTPResponse.build(
        response.status_code, str(request.url), response.headers.multi_items()
    )


class _Driver:
    """What the httpx2 and httpx classes share (their ``Auth`` APIs match here): the auth flows,
    run by the one driver (``zeroauth.client._driver``), and ``token`` / ``atoken``."""

    engine: Engine

    def _flow(self, request: Any) -> Generator[Any, Any, Any]:
        return request_flow(
            self.engine.config,
            str(request.url),
            protocol_version=request.headers.get("mcp-protocol-version"),
            method=request.method,
            dpop_nonces=self.engine.dpop_nonces,
        )

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        await request.aread()  # the body must be re-sendable after a 401
        async with AsyncRun(self._flow(request), self.engine) as run:
            send = await run.start()
            while send is not None:
                _set_authorization(request, send)
                response = yield request
                send = await run.resume(_describe(request, response))

    def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        request.read()
        with SyncRun(self._flow(request), self.engine) as run:
            send = run.start()
            while send is not None:
                _set_authorization(request, send)
                response = yield request
                send = run.resume(_describe(request, response))

    def token(self, url: str) -> str:
        """A valid access token for the MCP server at ``url``, for scripts and other clients.

        A live stored token is returned without contacting the server; an expiring one is
        refreshed; otherwise a token-less request to ``url`` gets the 401 that starts discovery,
        registration and authorization (the user step included), as the first request through
        this ``Auth`` would. Raises ``ZeroAuthError`` (S-10) when the server asks for none.
        """
        return _token_value(access_token_sync(self.engine, self._checked(url)))

    async def atoken(self, url: str) -> str:
        """``token``, awaiting."""
        return _token_value(await access_token_async(self.engine, self._checked(url)))

    def logout(self, url: str) -> LogoutResult:
        """Log out of the MCP server at ``url``: revoke its refresh and access tokens at the
        authorization server when its metadata advertises ``revocation_endpoint`` (RFC 7009),
        then forget them locally — even if the AS is down or answers an error. The result says
        which happened; the client registration stays (it belongs to the AS, not the server)."""
        return logout_sync(self.engine, self._checked(url))

    async def alogout(self, url: str) -> LogoutResult:
        """``logout``, awaiting."""
        return await logout_async(self.engine, self._checked(url))

    def _checked(self, url: str) -> str:
        self.engine.config.url_policy.check_url(url, field="server URL", requirement="SEC-05")
        return url


def _token_value(authorization: str) -> str:
    return authorization.partition(" ")[2]  # "Bearer <token>" (RFC 6750 §2.1) or "DPoP <token>"


class ZeroAuth(_Driver, httpx2.Auth):
    """Zero-config MCP authorization for ``httpx2`` clients (what ``mcp`` 2.x and ``fastmcp``
    4.x take). Every argument is optional::

        http = httpx2.AsyncClient(auth=ZeroAuth())
        async with streamable_http_client("https://host/mcp", http_client=http) as streams: ...

    ``store``: where registrations and tokens live (``FileTokenStore()`` to survive restarts;
    default in memory). ``user_step``: how the user authorizes (default: the system browser and a
    loopback listener; ``DeviceUserStep()`` or ``PasteUserStep()`` when the browser is on another
    machine). ``url_policy=DEVELOPMENT`` allows http on localhost. ``preregistered``:
    clients by issuer. ``cimd_url``: your Client ID Metadata Document. ``legacy=True``: the
    2025-03-26 fallback. ``client_credentials`` / ``enterprise`` / ``workload``: machine-to-machine
    grants. ``dpop``: sender-constrained tokens (RFC 9449; on by default where offered).
    """

    def __init__(self, *, engine: Engine | None = None, **options: Unpack[ZeroAuthOptions]) -> None:
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

    def __init__(self, *, engine: Engine | None = None, **options: Unpack[ZeroAuthOptions]) -> None:
        self.engine = engine if engine is not None else build_engine(**options)
