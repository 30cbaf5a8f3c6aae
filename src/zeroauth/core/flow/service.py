"""Tokens for a configured service: the machine flow without an MCP request.

For a client told its authorization server by configuration instead of by a server's 401 (the
gateway's own upstream credentials, G-16): RFC 8414 / OpenID Connect discovery of the
configured issuer (C-14/C-15 order, identical ``issuer`` C-17, every endpoint under the URL
policy), or the configured token endpoint as is; then the client-credentials grant of
``machine`` (OAuth 2.1 §4.2; C-31 client authentication or RFC 7523 ``private_key_jwt``;
RFC 8707 ``resource``; ``authorization_params``). Tokens are kept under (issuer, resource) and
renewed when ``Run.stale`` says so: within ``refresh_skew`` of expiry, but never before four
fifths of their lifetime. Single flight (A12): one run fetches, concurrent runs wait for it and
use its token; a token endpoint from cached metadata that is gone is rediscovered once (A9).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from zeroauth.core.flow.config import FlowConfig
from zeroauth.core.flow.discovery import discover_server
from zeroauth.core.flow.machine import client_credentials
from zeroauth.core.flow.request import gate
from zeroauth.core.flow.run import Discovered, Run, StaleDiscoveryError, load_tokens, save_tokens
from zeroauth.core.flow.steps import Invalidate, Step, Unlock, tokens_key
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet

__all__ = ["configured_server", "issuer_metadata_flow", "service_token_flow"]


def service_token_flow(
    config: FlowConfig, *, issuer: str | None, token_endpoint: str | None, resource: str | None
) -> Generator[Step, Any, TokenSet]:
    """A live token of ``config.client_credentials`` for ``resource``: stored, or newly granted.

    ``token_endpoint`` is used without discovery; ``issuer`` (at least one of the two is
    required) names the AS, else the token endpoint stands in for it as the record key and the
    ``private_key_jwt`` audience (RFC 7523 §3 allows the token endpoint URL there).
    """
    named = issuer or token_endpoint
    if named is None:
        raise ValueError("service_token_flow needs an issuer or a token endpoint")
    audience = resource or ""
    run = Run(config, audience or named, None)
    tokens = yield from load_tokens(run, named, audience)
    if tokens is not None and not run.stale(tokens):
        return tokens

    def settled() -> Generator[Step, Any, TokenSet | None]:
        current = yield from load_tokens(run, named, audience, fresh=True)
        return current if current is not None and not run.stale(current) else None

    name = f"tokens {tokens_key(named, audience)}"
    found = yield from gate(name, settled)
    if found is not None:
        return found  # another run fetched one meanwhile
    disc = yield from configured_server(run, named, token_endpoint, audience, use_cache=True)
    try:
        tokens = yield from client_credentials(run, disc, None)
    except StaleDiscoveryError:
        if not disc.from_cache:
            raise
        yield Invalidate(disc.metadata_urls)  # A9: the AS moved; rediscover once
        disc = yield from configured_server(run, named, token_endpoint, audience, use_cache=False)
        tokens = yield from client_credentials(run, disc, None)
    yield from save_tokens(run, named, audience, tokens)
    yield Unlock(name)
    return tokens


def issuer_metadata_flow(config: FlowConfig, issuer: str) -> Generator[Step, Any, ServerMetadata]:
    """The configured ``issuer``'s RFC 8414 / OpenID Connect metadata, for a verifier that needs
    its ``jwks_uri`` or ``introspection_endpoint`` (a gateway's ``[[issuer]]``): the same
    discovery as the flow's (C-14/C-15 order, identical ``issuer`` C-17, the URL policy), never
    from the cache, without the authorization-code capability checks (C-18/C-19)."""
    config.url_policy.check_url(issuer, field="issuer", requirement="SEC-05")
    md, _, _ = yield from discover_server(
        Run(config, issuer, None), issuer, use_cache=False, capabilities=False
    )
    return md


def configured_server(
    run: Run, issuer: str, token_endpoint: str | None, resource: str, *, use_cache: bool
) -> Generator[Step, Any, Discovered]:
    """Where a configured service goes: ``token_endpoint`` as given, else ``issuer`` discovered
    (no PRM: the service was told its AS, not sent there by a 401)."""
    urls: tuple[str, ...] = ()
    if token_endpoint is not None:
        md = ServerMetadata(
            issuer=issuer, authorization_endpoint=None, token_endpoint=token_endpoint
        )
        cached = False
    else:
        md, cached, urls = yield from discover_server(
            run, issuer, use_cache=use_cache, capabilities=False
        )
    return Discovered(
        server_url=run.server_url, resource=resource, issuer=md.issuer, metadata=md, prm=None,
        prm_url=None, from_cache=cached, metadata_urls=urls,
    )  # fmt: skip
