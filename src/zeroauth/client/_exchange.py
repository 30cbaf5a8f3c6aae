"""``TokenExchanger``: tokens for the next hop, exchanged for the caller's (RFC 8693; Entra
on-behalf-of), for a gateway or an MCP server that calls a downstream resource on the caller's
behalf. The caller's token is sent only to the IdP's token endpoint, never downstream.

Exchanged tokens are cached per (SHA-256 of the caller's token, target, scopes): never shared
between callers — two users with the same ``sub`` in different tenants hold different tokens —
and renewed by the flow's rule (within ``refresh_skew`` of expiry, never before four fifths of
the lifetime). One exchange at a time per key (single flight, A12): concurrent calls for the same
caller and target wait for it and share its result. The cache is bounded (least recently used
entries go first). Discovery, the wire and the driver are the client's own
(``zeroauth.core.flow.exchange``).
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from zeroauth.client._auth import build_engine
from zeroauth.client._driver import run_async
from zeroauth.core.flow import ClientCredentials
from zeroauth.core.flow.exchange import exchange_flow
from zeroauth.core.flow.run import renewal_due
from zeroauth.core.token_exchange import ExchangeStyle
from zeroauth.core.tokens import TokenSet
from zeroauth.core.urls import OPERATOR, URLPolicy

__all__ = ["TokenExchanger"]


class TokenExchanger:
    """Exchange callers' tokens at ``issuer`` as the confidential client ``client_id``.

    ``style="on_behalf_of"`` for Entra ID (the target named by ``scopes``, e.g.
    ``["api://downstream/.default"]``). ``url_policy`` defaults to operator endpoints (https;
    http only on a loopback host; private addresses allowed: an IdP inside the cluster).
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        private_key: Any = None,
        signing_alg: str | None = None,
        auth_method: str | None = None,
        style: ExchangeStyle = "rfc8693",
        url_policy: URLPolicy = OPERATOR,
        timeout: float = 15.0,
        verify: bool | ssl.SSLContext = True,
        clock: Callable[[], float] = time.time,
        max_entries: int = 10_000,
    ) -> None:
        self.issuer = issuer
        self._style: ExchangeStyle = style
        self._engine = build_engine(
            url_policy=url_policy, timeout=timeout, verify=verify, clock=clock,
            client_credentials=ClientCredentials(
                client_id, client_secret, private_key=private_key, signing_alg=signing_alg,
                auth_method=auth_method, issuer=issuer,
            ),
        )  # fmt: skip
        self._clock = clock
        self._max = max_entries
        self._cache: OrderedDict[bytes, tuple[TokenSet, float]] = OrderedDict()
        self._flights: dict[bytes, anyio.Event] = {}
        self.exchanges = 0  # exchanges sent to the IdP (for tests and benchmarks)

    async def exchange(
        self, subject_token: str, *, resource: str, scopes: Sequence[str] | None = None
    ) -> str:
        """An access token for ``resource`` on behalf of the holder of ``subject_token``."""
        wanted = None if scopes is None else tuple(dict.fromkeys(scopes))
        key = hashlib.sha256(
            "\x00".join((subject_token, resource, " ".join(sorted(wanted or ())))).encode()
        ).digest()
        while True:
            hit = self._fresh(key)
            if hit is not None:
                return hit
            flight = self._flights.get(key)
            if flight is None:
                break
            await flight.wait()  # another task is exchanging this very token: share its result
        self._flights[key] = flight = anyio.Event()
        try:
            flow = exchange_flow(
                self._engine.config, issuer=self.issuer, subject_token=subject_token,
                resource=resource, scopes=wanted, style=self._style,
            )  # fmt: skip
            self.exchanges += 1
            tokens: TokenSet = await run_async(flow, self._engine)
            self._remember(key, tokens)
            return tokens.access_token
        finally:
            del self._flights[key]
            flight.set()

    def forget(self) -> None:
        """Drop every cached token (e.g. after a downstream 401)."""
        self._cache.clear()

    def _fresh(self, key: bytes) -> str | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        tokens, obtained = entry
        skew = self._engine.config.refresh_skew
        if renewal_due(tokens, now=self._clock(), skew=skew, obtained=obtained):
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return tokens.access_token

    def _remember(self, key: bytes, tokens: TokenSet) -> None:
        self._cache[key] = (tokens, self._clock())
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    async def aclose(self) -> None:
        self._cache.clear()
