"""The gateway's OWN credentials for an upstream (G-16, SECURITY.md B11: no token passthrough).

Three kinds: none, a static bearer token read from the environment, or an OAuth 2.1 client
credentials grant (OAuth 2.1 §4.2, RFC 8707 ``resource``, RFC 6749 §2.3.1 client
authentication) whose token is cached until shortly before it expires and fetched by one task
at a time (single-flight; the lock guards the token, never an upstream request). The caller's
token is not an input to anything here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx2

from zeroauth.core.errors import ServerMetadataError, ZeroAuthError
from zeroauth.core.grants import client_credentials_request
from zeroauth.core.registration import ClientInfo
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet, parse_token_response
from zeroauth.gateway.auth import discover_metadata
from zeroauth.gateway.config import CredentialsConfig
from zeroauth.server.jwks import check_endpoint_url

__all__ = ["Credentials", "make_credentials"]

log = logging.getLogger("zeroauth.gateway.credentials")


class Credentials:
    """No credentials: the upstream is reached without an ``Authorization`` header."""

    async def authorization(self) -> str | None:
        return None

    def invalidate(self) -> None:
        """The upstream refused the credentials (401): fetch fresh ones next time."""

    async def aclose(self) -> None:
        return None


class StaticBearer(Credentials):
    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    async def authorization(self) -> str | None:
        return self._value


class ClientCredentialsGrant(Credentials):
    """A token from the IdP's token endpoint, cached until ``skew`` seconds before expiry."""

    def __init__(
        self,
        config: CredentialsConfig,
        *,
        http: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        skew: float = 30.0,
    ) -> None:
        self._config = config
        self._http = http or httpx2.AsyncClient(timeout=15.0, follow_redirects=False)
        self._own_http = http is None
        self._clock = clock
        self._skew = skew
        self._tokens: TokenSet | None = None
        self._value: str | None = None
        self._lock = asyncio.Lock()
        self._metadata: ServerMetadata | None = None

    async def authorization(self) -> str | None:
        tokens = self._tokens
        if tokens is not None and not tokens.is_expired(self._clock(), self._skew):
            return self._value
        async with self._lock:
            tokens = self._tokens
            if tokens is None or tokens.is_expired(self._clock(), self._skew):
                tokens = await self._fetch()
                self._tokens = tokens
                self._value = f"Bearer {tokens.access_token}"
        return self._value

    def invalidate(self) -> None:
        self._tokens = None

    async def _server_metadata(self) -> ServerMetadata:
        if self._metadata is not None:
            return self._metadata
        config = self._config
        if config.token_endpoint:
            issuer = config.issuer or config.token_endpoint
            metadata = ServerMetadata(
                issuer=issuer, authorization_endpoint=None, token_endpoint=config.token_endpoint
            )
        else:
            assert config.issuer is not None  # config validation guarantees one of the two
            metadata = await discover_metadata(config.issuer, self._http)
        if not metadata.token_endpoint:
            raise ServerMetadataError(
                "the issuer publishes no token_endpoint",
                where=metadata.issuer,
                hint="set token_endpoint in [upstream.credentials] explicitly",
            )
        # The client secret goes there: https, or http only on a true loopback host (W2).
        check_endpoint_url(metadata.token_endpoint, field="token_endpoint")
        self._metadata = metadata
        return metadata

    async def _fetch(self) -> TokenSet:
        config = self._config
        md = await self._server_metadata()
        assert config.client_id is not None
        client = ClientInfo(
            client_id=config.client_id,
            issuer=md.issuer,
            source="pre-registered",
            client_secret=config.client_secret,
            token_endpoint_auth_method=config.auth_method,
        )
        request = client_credentials_request(
            md,
            client,
            resource=config.resource,
            scope=config.scope or None,
            auth_method=config.auth_method,
            now=self._clock(),
        )
        try:
            response = await self._http.post(
                request.url, content=request.body(), headers=dict(request.headers)
            )
        except httpx2.HTTPError as exc:
            raise ZeroAuthError(
                f"token endpoint unreachable: {type(exc).__name__}",
                where=request.url,
                hint="check token_endpoint / issuer in [upstream.credentials]",
            ) from None
        tokens = parse_token_response(
            response.status_code,
            response.content,
            now=self._clock(),
            where=request.url,
            issuer=md.issuer,
            resource=config.resource,
        )
        log.info(
            "obtained upstream token for client %s (resource %s)", config.client_id, config.resource
        )
        return tokens

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()


def make_credentials(config: CredentialsConfig) -> Credentials:
    if config.type == "bearer":
        assert config.token is not None
        return StaticBearer(config.token)
    if config.type == "client_credentials":
        return ClientCredentialsGrant(config)
    return Credentials()
