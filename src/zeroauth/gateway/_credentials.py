"""The gateway's OWN credentials for an upstream (G-16, threat B11: no token passthrough).

Three kinds: none, a static bearer token read from the environment, or an OAuth 2.1 client
credentials grant (OAuth 2.1 §4.2, RFC 8707 ``resource``, RFC 6749 §2.3.1 client
authentication): the client's machine flow (``zeroauth.core.flow.service``) run by the client's
driver, so discovery binds the issuer (RFC 8414 §3.3), the client authentication method is one
the IdP lists (C-31), and a token is renewed at four fifths of its lifetime at the latest, by one
task at a time (single flight; the lock guards the token, never an upstream request). Every URL
is an operator endpoint (SECURITY W2, W3): https, http only on a true loopback host, private
addresses allowed (an IdP inside the cluster), bodies capped at 1 MiB, one total deadline. The
caller's token is not an input to anything here.

Token exchange (RFC 8693; Entra on-behalf-of) exchanges the caller's token at the configured
IdP; behind the gateway's own authorization bridge (``[bridge]``) the caller's token is the
bridge's, which the IdP does not know, so the user's upstream token held by the bridge is
exchanged instead (``subject_token``: ``AuthorizationBridge.upstream_token``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from zeroauth.client._auth import build_engine
from zeroauth.client._driver import run_async
from zeroauth.client._exchange import TokenExchanger
from zeroauth.client._stores import MemoryTokenStore
from zeroauth.core.flow import ClientCredentials
from zeroauth.core.flow.service import service_token_flow
from zeroauth.core.tokens import TokenSet
from zeroauth.core.urls import OPERATOR
from zeroauth.gateway._config import CredentialsConfig
from zeroauth.server._middleware import current_caller_token, current_token
from zeroauth.server._verifier import AccessToken

SubjectToken = Callable[[AccessToken], Awaitable[str]]
"""The token to exchange for a verified caller (default: the caller's own token)."""

__all__ = ["Credentials", "make_credentials"]

log = logging.getLogger("zeroauth.gateway.credentials")

"""Operator-configured endpoints: https (private addresses allowed), http only on loopback (W2)."""


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
    """A token from the IdP's token endpoint, kept until the flow renews it (see module doc)."""

    def __init__(
        self, config: CredentialsConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        assert config.client_id is not None  # config validation guarantees it
        self._config = config
        self._store = MemoryTokenStore()
        self._engine = build_engine(
            store=self._store,
            url_policy=OPERATOR,
            timeout=15.0,
            clock=clock,
            send_resource=config.resource is not None,
            authorization_params=config.authorization_params,
            client_credentials=ClientCredentials(
                config.client_id,
                config.client_secret,
                private_key=config.private_key,
                signing_alg=config.signing_alg,
                auth_method=config.auth_method,
                scopes=config.scope or None,
                issuer=config.issuer,
            ),
        )
        self._value: str | None = None

    async def authorization(self) -> str | None:
        config = self._config
        flow = service_token_flow(
            self._engine.config,
            issuer=config.issuer,
            token_endpoint=config.token_endpoint,
            resource=config.resource,
        )
        tokens: TokenSet = await run_async(flow, self._engine)
        value = f"Bearer {tokens.access_token}"
        if value != self._value:
            self._value = value
            log.info("obtained upstream token for client %s (resource %s)",
                     config.client_id, config.resource)  # fmt: skip
        return value

    def invalidate(self) -> None:
        for key in self._store.keys("tokens"):
            self._store.delete("tokens", key)
        self._engine.forget()


class TokenExchangeCredentials(Credentials):
    """The caller's token exchanged for one bound to this upstream (RFC 8693; Entra
    on-behalf-of): audience = the upstream's ``resource``, scopes = the caller's within the
    configured ``scope`` (never wider), cached per caller token (``TokenExchanger``). Outside a
    caller's request (no caller token) there is nothing to exchange: an error for this upstream
    only. The caller's token goes to the IdP's token endpoint and nowhere else."""

    def __init__(
        self,
        config: CredentialsConfig,
        *,
        clock: Callable[[], float] = time.time,
        subject_token: SubjectToken | None = None,
    ) -> None:
        assert config.client_id is not None
        assert config.issuer is not None
        self._config = config
        self._subject_token = subject_token
        self._exchanger = TokenExchanger(
            issuer=config.issuer, client_id=config.client_id, client_secret=config.client_secret,
            private_key=config.private_key, signing_alg=config.signing_alg,
            auth_method=config.auth_method, style=config.exchange_style, url_policy=OPERATOR,
            clock=clock,
        )  # fmt: skip

    async def authorization(self) -> str | None:
        caller, verified = current_caller_token(), current_token()
        if caller is None or verified is None:
            raise ValueError("token exchange needs a caller's request (no caller token here)")
        cap = self._config.scope
        scopes = [s for s in sorted(verified.scopes) if not cap or s in cap]
        assert self._config.resource is not None  # defaults to the upstream URL
        if self._subject_token is not None:  # behind the bridge: the user's upstream token
            caller = await self._subject_token(verified)
        token = await self._exchanger.exchange(caller, resource=self._config.resource,
                                               scopes=scopes)  # fmt: skip
        return f"Bearer {token}"

    def invalidate(self) -> None:
        self._exchanger.forget()


def make_credentials(
    config: CredentialsConfig, *, subject_token: SubjectToken | None = None
) -> Credentials:
    if config.type == "bearer":
        assert config.token is not None
        return StaticBearer(config.token)
    if config.type == "client_credentials":
        return ClientCredentialsGrant(config)
    if config.type == "exchange":
        return TokenExchangeCredentials(config, subject_token=subject_token)
    return Credentials()
