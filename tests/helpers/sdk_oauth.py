"""The official ``mcp`` SDK's own OAuth client (``OAuthClientProvider``), driven headlessly:
the redirect handler plays the browser (GET the authorization URL, follow the AS's redirects with
its cookies, stop at the redirect URI) and the callback handler returns what landed there.
Used to prove interoperability: the SDK's client against zeroauth's servers, gateway and dev AS.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

__all__ = ["HeadlessSDKProvider", "sdk_oauth_provider"]


class _MemoryStorage:
    """The SDK's ``TokenStorage`` protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client

    async def set_client_info(self, info: Any) -> None:
        self.client = info


class HeadlessSDKProvider:
    """Holds the provider and what came back to the redirect URI (``landed``)."""

    def __init__(self, server_url: str, redirect_uri: str, client_name: str) -> None:
        self.redirect_uri = redirect_uri
        self.landed: dict[str, str] = {}
        self.provider = OAuthClientProvider(
            server_url=server_url,
            client_metadata=OAuthClientMetadata(
                client_name=client_name,
                redirect_uris=[redirect_uri],  # type: ignore[list-item]
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=_MemoryStorage(),
            redirect_handler=self._redirect,
            callback_handler=self._callback,
        )

    async def _redirect(self, url: str) -> None:
        async with httpx2.AsyncClient(timeout=30) as browser:  # keeps the AS's cookies
            for _ in range(10):
                response = await browser.get(url)
                url = str(response.url.join(response.headers["location"]))
                if url.startswith(self.redirect_uri):
                    query = parse_qs(urlsplit(url).query)
                    self.landed.update({k: v[0] for k, v in query.items()})
                    return
        raise AssertionError("the authorization never came back to the redirect URI")

    async def _callback(self) -> AuthorizationCodeResult:
        landed = self.landed
        return AuthorizationCodeResult(
            code=landed["code"], state=landed.get("state"), iss=landed.get("iss")
        )


def sdk_oauth_provider(
    server_url: str, redirect_uri: str, client_name: str = "official sdk"
) -> HeadlessSDKProvider:
    return HeadlessSDKProvider(server_url, redirect_uri, client_name)
