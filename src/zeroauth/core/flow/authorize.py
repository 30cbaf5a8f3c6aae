"""Authorization-code phase and refresh.

OAuth 2.1 §4.1 with PKCE S256 (C-32) and ``state`` (C-41); the issuer recorded with the
request and the RFC 9207 ``iss`` checked before the code is redeemed (C-42, C-43, A3, A4);
RFC 8707 ``resource`` identical in the authorization, token and refresh requests (C-33, C-34);
scopes as selected (C-37..C-39, C-47); ``FlowConfig.authorization_params`` added as extension
parameters (RFC 6749 §3.1), never overriding the protocol's own. The user step runs outside the
flow: it yields ``UserAuthorization`` and receives the callback query (or, from a paste-back user
step, a ``PastedResponse`` read by ``zeroauth.core.paste`` with the same checks).

Refresh (C-48, A12, A13) runs under the ``tokens <issuer> <resource>`` lock and re-reads the
store first, so concurrent flows — in this process or another sharing the store — redeem a
rotating refresh token exactly once; the newest refresh token is always saved. The re-read is
named in the ``Lock`` step (``reads``): a shared store reads it in the round trip that takes
the lock (Redis: one script), so a refresh costs the store three round trips: take-and-read,
fenced write, release.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

from zeroauth.core.errors import OAuthError
from zeroauth.core.flow.dpop import check_bound, post_token, token_key
from zeroauth.core.flow.identity import preferred_redirect_uri
from zeroauth.core.flow.run import (
    Discovered,
    Run,
    load_tokens,
    save_tokens,
    stale_check,
    tokens_key,
)
from zeroauth.core.flow.steps import (
    Lock,
    Purpose,
    RedirectURI,
    Step,
    Unlock,
    UserAuthorization,
)
from zeroauth.core.grants import (
    TokenRequest,
    build_authorization_request,
    code_token_request,
    parse_authorization_response,
    refresh_token_request,
)
from zeroauth.core.paste import PastedResponse, parse_pasted_response
from zeroauth.core.registration import ClientInfo, choose_auth_method
from zeroauth.core.tokens import TokenSet, parse_token_response

__all__ = ["authorization_code", "redeem", "refresh"]

log = logging.getLogger("zeroauth.core.flow")


def redeem(
    run: Run, disc: Discovered, request: TokenRequest, *, purpose: Purpose,
    previous: TokenSet | None = None,
) -> Generator[Step, Any, TokenSet]:  # fmt: skip
    """POST a token request and parse the answer (OAuthError for RFC 6749 §5.2 errors); with a
    DPoP proof when the AS binds tokens (RFC 9449 §5, ``zeroauth.core.flow.dpop``)."""
    run.config.url_policy.check_url(request.url, field="token_endpoint")
    key = yield from token_key(run, disc, previous)
    response = yield from post_token(run, request, purpose, key)
    stale_check(response, what="token endpoint")
    tokens = parse_token_response(
        response.status,
        response.body,
        now=run.now(),
        where=request.url,
        issuer=disc.issuer,
        resource=disc.resource,
        previous=previous,
        dpop=key is not None,
    )
    return check_bound(run, key, tokens, request.url)


def authorization_code(
    run: Run, disc: Discovered, client: ClientInfo, scopes: Sequence[str] | None
) -> Generator[Step, Any, TokenSet]:
    md = disc.metadata
    redirect_uri = run.redirect_uri
    if redirect_uri is None:
        redirect_uri = yield RedirectURI(preferred_redirect_uri(run, client))
    resource = disc.resource if run.config.send_resource else None
    request = build_authorization_request(
        md, client_id=client.client_id, redirect_uri=redirect_uri, resource=resource,
        scope=scopes, extra=run.config.authorization_params,  # e.g. Auth0 `audience`
    )  # fmt: skip
    # A17 / SEC-06: the URL handed to a browser passes the policy first.
    run.config.url_policy.check_url(
        request.url, field="authorization_endpoint", requirement="SEC-06"
    )
    query = yield UserAuthorization(request.url, redirect_uri, md.issuer)
    if isinstance(query, PastedResponse):  # typed in by the user: same checks, or a bare code
        code = parse_pasted_response(query, request)
    else:
        code = parse_authorization_response(str(query), request)  # state, iss: before redeeming
    token_request = code_token_request(
        md, client, code=code, request=request, auth_method=choose_auth_method(md, client),
        now=run.now(),
    )  # fmt: skip
    tokens = yield from redeem(run, disc, token_request, purpose="token")
    if tokens.scope is None and scopes:
        # RFC 6749 §5.1: scope omitted means as requested; remember what we asked for.
        tokens = replace(tokens, scope=tuple(scopes))
    return tokens


def refresh(
    run: Run, disc: Discovered, client: ClientInfo, sent: TokenSet | None
) -> Generator[Step, Any, TokenSet | None]:
    """A new token set from the refresh token, or ``None`` if the AS refused it (re-authorize).

    ``sent`` is the token the caller last used: if the store already holds a different, live
    one (another flow refreshed meanwhile), that one is returned and nothing is sent.
    Transport failures and 5xx raise (the AS is down: the caller is told, tokens are kept).
    """
    key = tokens_key(disc.issuer, disc.resource)
    name = f"tokens {key}"
    yield Lock(name, reads=(("tokens", key),))  # the re-read below, with the lock if it can
    current = yield from load_tokens(run, disc.issuer, disc.resource, fresh=True)
    now = run.now()
    if (
        current is not None
        and (sent is None or current.access_token != sent.access_token)
        and not run.stale(current)
    ):
        yield Unlock(name)
        return current
    source = current or sent
    if source is None or not source.refresh_token:
        yield Unlock(name)
        return None
    request = refresh_token_request(
        disc.metadata,
        client,
        refresh_token=source.refresh_token,
        resource=disc.resource if run.config.send_resource else None,
        scope=None,
        auth_method=choose_auth_method(disc.metadata, client),
        now=now,
    )
    try:
        tokens = yield from redeem(run, disc, request, purpose="refresh", previous=source)
    except OAuthError as exc:
        yield Unlock(name)
        if exc.error == "invalid_client" or (exc.status_code or 0) >= 500:
            raise
        # invalid_grant & co: the refresh token is dead (expired, revoked, or already used by
        # another process: rotation reuse); re-authorize (A13). Said in the log: a fleet
        # whose refresh token died needs someone to log it in again.
        log.warning(
            "the authorization server refused the refresh token (%s) at %s: a new "
            "authorization is needed", exc.error[:64], request.url,
        )  # fmt: skip
        return None
    yield from save_tokens(run, disc.issuer, disc.resource, tokens)  # C-48: newest refresh token
    yield Unlock(name)
    run.refreshed = True
    return tokens
