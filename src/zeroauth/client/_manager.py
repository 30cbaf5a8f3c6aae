"""Many MCP servers in one process: shared discovery, one registration per AS, tokens per server.

MCP 2026-07-28 "Authorization Server Binding" (C-30: credentials keyed by issuer) and RFC 8707
(tokens keyed by (issuer, resource)): a ``ZeroAuthManager`` is one ``ZeroAuth`` engine shared by
every server it talks to, so 50 servers behind one AS cost one AS-metadata fetch per URL (the
discovery cache is single-flight) and one registration (DCR runs under the issuer's lock), while
each server still gets its own audience-bound token. Nothing here holds a lock across a request.

    manager = ZeroAuthManager(store=FileTokenStore())
    statuses = await manager.authorize_all(["https://a.example/mcp", "https://b.example/mcp"])
    async with manager.http_client() as http:  # one httpx2 client for all of them
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any, Unpack

import anyio
import httpx2

from zeroauth.client._auth import ZeroAuth
from zeroauth.client._cache import DiscoveryCache
from zeroauth.client._engine import Engine
from zeroauth.client._options import ZeroAuthOptions
from zeroauth.client._stores import TokenStore, binding_key, forget_login, load_login
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import ChallengeParseError, ServerRefusedError, ZeroAuthError
from zeroauth.core.flow import LATEST_PROTOCOL_VERSION

__all__ = ["ServerStatus", "ZeroAuthManager"]

_PROBE = b'{"jsonrpc":"2.0","id":"zeroauth-probe","method":"ping"}'


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What the client holds for one server (never a token value)."""

    server_url: str
    resource: str
    issuer: str
    scopes: tuple[str, ...] | None
    expires_at: float | None
    has_refresh_token: bool
    status_code: int | None = None  # of the probe, when one was sent


class ZeroAuthManager:
    """One engine (store, discovery cache, registrations, locks, user step) for many servers.

    Takes the same options as ``ZeroAuth``.
    """

    def __init__(self, **options: Unpack[ZeroAuthOptions]) -> None:
        self.auth = ZeroAuth(**options)

    @property
    def engine(self) -> Engine:
        return self.auth.engine

    @property
    def store(self) -> TokenStore:
        return self.engine.store

    @property
    def cache(self) -> DiscoveryCache:
        return self.engine.cache

    def http_client(self, **options: Any) -> httpx2.AsyncClient:
        """An ``httpx2.AsyncClient`` authorized for every server (pass it to MCP clients)."""
        return httpx2.AsyncClient(auth=self.auth, **options)

    def status(self, server_url: str) -> ServerStatus | None:
        login = load_login(self.store, server_url)
        if login is None:
            return None
        binding, tokens = login
        return ServerStatus(
            server_url=binding_key(server_url),
            resource=binding.resource,
            issuer=binding.issuer,
            scopes=tokens.scope if tokens and tokens.scope is not None else binding.scopes,
            expires_at=tokens.expires_at if tokens else None,
            has_refresh_token=bool(tokens and tokens.refresh_token),
        )

    async def authorize(
        self, server_url: str, *, http: httpx2.AsyncClient | None = None,
        protocol_version: str = LATEST_PROTOCOL_VERSION,
    ) -> ServerStatus:  # fmt: skip
        """Make sure the client holds a token for ``server_url``: send a JSON-RPC ``ping`` through
        the auth flow (401 → discovery, registration, authorization) and report the result."""
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": protocol_version,
            "mcp-method": "ping",
        }
        async with AsyncExitStack() as own:  # a client made here is closed here
            if http is None:
                http = await own.enter_async_context(self.http_client(timeout=60))
            async with http.stream("POST", server_url, content=_PROBE, headers=headers) as r:
                status_code = r.status_code
                challenges = r.headers.get_list("www-authenticate")
        status = self.status(server_url)
        if status is None or status_code in (401, 403):
            try:
                bearer = read_bearer_challenge(challenges)  # RFC 6750 §3: what the server said
            except ChallengeParseError:
                bearer = None
            raise ServerRefusedError(
                "the server did not accept the token the client obtained",
                status=status_code,
                scheme="Bearer" if bearer is not None else None,
                error=bearer.error if bearer else None,
                error_description=bearer.error_description if bearer else None,
                requirement="C-44",
                where=server_url,
            )
        return replace(status, status_code=status_code)

    async def authorize_all(
        self, server_urls: Iterable[str], *, concurrency: int = 16
    ) -> Mapping[str, ServerStatus | ZeroAuthError]:
        """``authorize`` every server, ``concurrency`` at a time, over one shared client."""
        results: dict[str, ServerStatus | ZeroAuthError] = {}
        limiter = anyio.CapacityLimiter(concurrency)
        async with self.http_client(timeout=60) as http:

            async def one(url: str) -> None:
                async with limiter:
                    try:
                        results[url] = await self.authorize(url, http=http)
                    except ZeroAuthError as exc:
                        results[url] = exc

            async with anyio.create_task_group() as tg:
                for url in server_urls:
                    tg.start_soon(one, url)
        return results

    def forget(self, server_url: str) -> None:
        """Drop the binding and tokens of one server (its AS registration stays: C-30)."""
        forget_login(self.store, server_url)
        self.engine.forget()
