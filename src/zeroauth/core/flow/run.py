"""The state of one run of the flow, and the small sub-generators every phase uses.

Sub-generators here wrap single steps with types: ``fetch`` (OAuth requests, C-20 header on
discovery), ``load_*``/``save_*`` (records keyed as C-30 demands: clients by issuer, tokens by
(issuer, resource), bindings by server URL) and ``stale_check`` (A9: a failure that stale
discovery could explain is reported as ``StaleDiscoveryError`` so the flow can rediscover once).
"""

from __future__ import annotations

from collections.abc import Generator, MutableMapping
from dataclasses import dataclass
from typing import Any

from zeroauth.core.errors import DiscoveryError, ZeroAuthError
from zeroauth.core.flow.config import FlowConfig, ServerBinding
from zeroauth.core.flow.steps import (
    Delete,
    Fetch,
    HTTPRequest,
    HTTPResponse,
    Load,
    Lock,
    Save,
    Step,
    Unlock,
    binding_key,
    client_key,
    tokens_key,
)
from zeroauth.core.registration import ClientInfo
from zeroauth.core.resource_metadata import ResourceMetadata
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet

__all__ = [
    "Discovered",
    "Flow",
    "Run",
    "StaleDiscoveryError",
    "drop_client",
    "fetch",
    "load_binding",
    "load_client",
    "load_tokens",
    "locked",
    "renewal_due",
    "save_tokens",
    "stale_check",
    "tokens_key",
]

Flow = Generator[Step, Any, Any]


class StaleDiscoveryError(DiscoveryError):
    """An endpoint from (possibly cached) metadata failed in a way stale metadata explains."""


@dataclass(frozen=True, slots=True)
class Discovered:
    """The outcome of discovery for one server: where to go and what to ask for."""

    server_url: str
    resource: str  # the RFC 8707 value (C-36): PRM `resource` if it names us, else canonical URL
    issuer: str
    metadata: ServerMetadata
    prm: ResourceMetadata | None
    prm_url: str | None
    from_cache: bool
    legacy: bool = False
    metadata_urls: tuple[str, ...] = ()
    assumed_s256: bool = False  # C-18 satisfied by FlowConfig.assume_s256_issuers, not metadata


class Run:
    """Mutable working state of one flow run (never shared between runs)."""

    def __init__(
        self, config: FlowConfig, server_url: str, protocol_version: str | None,
        *, request_url: str | None = None, method: str = "POST",
        dpop_nonces: MutableMapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.config = config
        self.server_url = server_url
        self.request_url = request_url or server_url  # the caller's URL as sent (DPoP htu)
        self.method = method
        # RFC 9449 §8/§9: the last nonce of each server, by origin; the caller's mapping when
        # given (kept across runs: a nonce-demanding server then costs no extra round trip)
        self.dpop_nonces = dpop_nonces if dpop_nonces is not None else {}
        self.dpop_resource = False  # the MCP server signalled DPoP (a DPoP challenge, §7.1)
        self.protocol_version = protocol_version or config.protocol_version
        self.speculative: dict[str, HTTPResponse] = {}
        self.redirect_uri: str | None = None  # the concrete URI registered during this run
        self.reregistered = False
        self.refreshed = False
        self.healed = False
        self.client: ClientInfo | None = None  # the identity used by this run's grant
        self.obtained: dict[str, float] = {}  # access token -> when it was obtained

    def now(self) -> float:
        return self.config.clock()

    def stale(self, tokens: TokenSet) -> bool:
        """Due for renewal: within ``refresh_skew`` of expiry — but never more than a fifth of
        the token's lifetime, so short-lived tokens are not refreshed on every request."""
        return renewal_due(
            tokens, now=self.now(), skew=self.config.refresh_skew,
            obtained=self.obtained.get(tokens.access_token),
        )  # fmt: skip

    def discovery_headers(self) -> dict[str, str]:
        return {"MCP-Protocol-Version": self.protocol_version}


def renewal_due(
    tokens: TokenSet, *, now: float, skew: float, obtained: float | None = None
) -> bool:
    """The one renewal rule: within ``skew`` seconds of ``expires_at`` — but never more than a
    fifth of the token's lifetime when it is known (``obtained``), so short-lived tokens are not
    renewed on every request. A token without an expiry is never due."""
    if tokens.expires_at is None:
        return False
    if obtained is not None:
        skew = min(skew, max(0.0, tokens.expires_at - obtained) / 5)
    return tokens.is_expired(now, skew)


def fetch(*requests: HTTPRequest) -> Generator[Step, Any, tuple[HTTPResponse, ...]]:
    responses = yield Fetch(tuple(requests))
    if not isinstance(responses, tuple) or len(responses) != len(requests):
        raise ZeroAuthError("the driver answered a Fetch with the wrong number of responses")
    return responses


def stale_check(response: HTTPResponse, *, what: str) -> None:
    """Raise ``StaleDiscoveryError`` when ``what`` is gone (404/405/410) or unreachable."""
    if response.status == 0 or response.status in (404, 405, 410):
        raise StaleDiscoveryError(
            f"the {what} did not answer",
            requirement="A9",
            where=response.url,
            found=response.describe(),
            hint="the authorization server may have moved; discovery is redone once",
        )


def locked(name: str) -> tuple[Lock, Unlock]:
    return Lock(name), Unlock(name)


def load_binding(
    server_url: str, *, fresh: bool = False
) -> Generator[Step, Any, ServerBinding | None]:
    record = yield Load("binding", binding_key(server_url), fresh=fresh)
    return None if record is None else ServerBinding.from_json(record)


def load_tokens(
    run: Run, issuer: str, resource: str, *, fresh: bool = False
) -> Generator[Step, Any, TokenSet | None]:
    record = yield Load("tokens", tokens_key(issuer, resource), fresh=fresh)
    if record is None:
        return None
    try:
        tokens = TokenSet.from_json(record)
    except ZeroAuthError:
        return None
    obtained = record.get("obtained_at")
    if isinstance(obtained, int | float):
        run.obtained[tokens.access_token] = float(obtained)
    return tokens


def save_tokens(
    run: Run, issuer: str, resource: str, tokens: TokenSet
) -> Generator[Step, Any, None]:
    """Saved with the time they were obtained, so the refresh margin fits their lifetime."""
    now = run.now()
    run.obtained[tokens.access_token] = now
    yield Save("tokens", tokens_key(issuer, resource), {**tokens.to_json(), "obtained_at": now})


def load_client(issuer: str, *, fresh: bool = False) -> Generator[Step, Any, ClientInfo | None]:
    record = yield Load("client", client_key(issuer), fresh=fresh)
    if record is None:
        return None
    try:
        client = ClientInfo.from_json(record)
    except ZeroAuthError:
        return None
    return client if client.issuer == issuer else None  # C-30: never another AS's credentials


def drop_client(issuer: str) -> Generator[Step, Any, None]:
    yield Delete("client", client_key(issuer))
