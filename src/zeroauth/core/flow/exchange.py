"""A token for the next hop, exchanged for the caller's: the flow of RFC 8693 §2 (or Entra's
on-behalf-of) for a service that received an access token and calls a downstream resource on
the caller's behalf — never forwarding the caller's token (MCP: token passthrough is forbidden).

Discovery of the configured issuer (C-14/C-15 order, identical ``issuer`` C-17, the URL policy;
cached, and redone once when a cached token endpoint is gone, A9), the exchanging client's
authentication as for client credentials (C-30, C-31, RFC 7523 ``private_key_jwt``; its identity
is ``FlowConfig.client_credentials``), then ``zeroauth.core.token_exchange``: the request for one
target, and a result that must be an access token with no scope beyond those requested and, when
it is a JWT naming an audience, that audience must be the target.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from zeroauth.core.flow.config import FlowConfig
from zeroauth.core.flow.machine import confidential_client
from zeroauth.core.flow.run import Discovered, Run, StaleDiscoveryError, fetch, stale_check
from zeroauth.core.flow.service import configured_server
from zeroauth.core.flow.steps import HTTPRequest, Invalidate, Step
from zeroauth.core.token_exchange import (
    ExchangeStyle,
    check_exchanged,
    exchange_request,
    parse_exchange_response,
)
from zeroauth.core.tokens import TokenSet

__all__ = ["exchange_flow"]


def exchange_flow(
    config: FlowConfig,
    *,
    issuer: str,
    subject_token: str,
    resource: str,
    scopes: Sequence[str] | None = None,
    style: ExchangeStyle = "rfc8693",
) -> Generator[Step, Any, TokenSet]:
    """The exchanged token for ``resource`` (RFC 8707 / RFC 8693 ``resource``; with
    ``style="on_behalf_of"`` the target is named by ``scopes`` alone)."""
    if config.client_credentials is None:
        raise ValueError("token exchange needs the exchanging client (client_credentials)")
    run = Run(config, resource, None)
    disc = yield from configured_server(run, issuer, None, resource, use_cache=True)
    try:
        return (yield from _exchange(run, disc, subject_token, scopes, style))
    except StaleDiscoveryError:
        if not disc.from_cache:
            raise
        yield Invalidate(disc.metadata_urls)  # A9: the AS moved; rediscover once
        disc = yield from configured_server(run, issuer, None, resource, use_cache=False)
        return (yield from _exchange(run, disc, subject_token, scopes, style))


def _exchange(
    run: Run,
    disc: Discovered,
    subject_token: str,
    scopes: Sequence[str] | None,
    style: ExchangeStyle,
) -> Generator[Step, Any, TokenSet]:
    creds = run.config.client_credentials
    assert creds is not None  # exchange_flow checked it
    client, method = confidential_client(
        disc, creds.client_id, creds.client_secret, creds.auth_method,
        creds.private_key is not None, creds.issuer,
    )  # fmt: skip
    target = disc.resource if style == "rfc8693" and run.config.send_resource else None
    request = exchange_request(
        disc.metadata, client, subject_token=subject_token, resource=target, scope=scopes,
        style=style, auth_method=method, now=run.now(), private_key=creds.private_key,
        signing_alg=creds.signing_alg,
    )  # fmt: skip
    run.config.url_policy.check_url(request.url, field="token_endpoint")
    (response,) = yield from fetch(
        HTTPRequest(
            "POST", request.url, "token-exchange", tuple(request.headers.items()), request.body()
        )
    )
    stale_check(response, what="token endpoint")
    exchanged = parse_exchange_response(
        response.status, response.body, now=run.now(), where=request.url, style=style
    )
    return check_exchanged(exchanged, requested_scopes=scopes, audience=target, where=request.url)
