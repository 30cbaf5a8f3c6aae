"""Token exchange: a token for the next hop, never the caller's token forwarded.

Implements RFC 8693 §2.1 (the token-exchange request: ``subject_token`` and its type, an
optional ``actor_token``, ``resource`` / ``audience``, ``scope``, ``requested_token_type``),
§2.2.1 (the response: ``issued_token_type`` required, ``token_type`` ``N_A`` for tokens that
are not access tokens), §2.2.2 (errors, ``invalid_target`` included), §3 (token type URIs) and
§4.1 / §4.4 (the ``act`` delegation chain and ``may_act``); and the on-behalf-of variant of
Microsoft Entra ID and AD FS (the RFC 7523 §2.1 ``jwt-bearer`` grant with the caller's token as
``assertion`` and ``requested_token_use=on_behalf_of``), which Entra uses instead of RFC 8693.

After the exchange, ``check_exchanged`` holds the IdP to what was asked: an access token, scopes
no wider than requested (a wider grant is never used: the hop would carry more authority than the
caller has). Pure functions; client authentication and the C-30 binding come from
``zeroauth.core.grants.token_endpoint_request``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from zeroauth.core.errors import InvalidInput, OAuthError
from zeroauth.core.grants import TokenRequest, add_resource_scope, token_endpoint_request
from zeroauth.core.registration import ClientInfo
from zeroauth.core.server_metadata import ServerMetadata
from zeroauth.core.tokens import TokenSet, load_success, parse_token_response

__all__ = [
    "ACCESS_TOKEN",
    "ID_TOKEN",
    "JWT",
    "JWT_BEARER",
    "REFRESH_TOKEN",
    "TOKEN_EXCHANGE",
    "ExchangeStyle",
    "Exchanged",
    "check_exchanged",
    "delegation_chain",
    "exchange_request",
    "may_act",
    "parse_exchange_response",
]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 §2.1 (Entra OBO)
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # RFC 8693 §3
REFRESH_TOKEN = "urn:ietf:params:oauth:token-type:refresh_token"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"

ExchangeStyle = Literal["rfc8693", "on_behalf_of"]
MAX_CHAIN = 8  # act nesting deeper than this is refused (a hostile token, not a real chain)


def exchange_request(
    md: ServerMetadata,
    client: ClientInfo,
    *,
    subject_token: str,
    subject_token_type: str = ACCESS_TOKEN,
    resource: str | None = None,
    audience: str | None = None,
    scope: Iterable[str] | None = None,
    actor_token: str | None = None,
    actor_token_type: str | None = None,
    requested_token_type: str | None = ACCESS_TOKEN,
    style: ExchangeStyle = "rfc8693",
    auth_method: str,
    now: float,
    private_key: Any = None,
    signing_alg: str | None = None,
) -> TokenRequest:
    """The exchange of ``subject_token`` at ``md``'s token endpoint, authenticated as ``client``,
    for one target (``resource`` and/or ``audience``; RFC 8693 allows several, one hop needs one).

    ``style="on_behalf_of"`` (Entra ID): the jwt-bearer grant with the token as ``assertion``;
    Entra names the target by ``scope`` (``api://…/.default``) and rejects ``resource``,
    ``audience`` and actor tokens, so they are refused here rather than sent.
    """
    if not subject_token:
        raise InvalidInput("no subject token to exchange", where="subject_token")
    if style == "on_behalf_of":
        if resource or audience or actor_token:
            raise ValueError("on-behalf-of names its target by scope: no resource/audience/actor")
        form = {
            "grant_type": JWT_BEARER,
            "assertion": subject_token,
            "requested_token_use": "on_behalf_of",
        }
    else:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": subject_token_type,
        }
        if requested_token_type:
            form["requested_token_type"] = requested_token_type
        if audience is not None:
            form["audience"] = audience
        if actor_token is not None:
            if not actor_token_type:  # §2.1: REQUIRED when actor_token is present
                raise ValueError("actor_token needs actor_token_type (RFC 8693 §2.1)")
            form["actor_token"] = actor_token
            form["actor_token_type"] = actor_token_type
    add_resource_scope(form, resource, scope)
    return token_endpoint_request(md, client, form, auth_method, now, private_key, signing_alg)


@dataclass(frozen=True, slots=True)
class Exchanged:
    """An exchanged token: the token set and what the IdP says it issued."""

    tokens: TokenSet
    issued_token_type: str


def parse_exchange_response(
    status: int,
    body: bytes,
    *,
    now: float,
    where: str,
    style: ExchangeStyle = "rfc8693",
) -> Exchanged:
    """RFC 8693 §2.2.1 (or an on-behalf-of token response) for the next hop: an access token;
    §2.2.2 errors raise ``OAuthError``. ``issued_token_type`` is required by RFC 8693; an
    on-behalf-of response (a plain RFC 6749 token response) issues an access token."""
    data = load_success(status, body, where=where, what="token exchange response")
    issued = data.get("issued_token_type")
    if style == "on_behalf_of" and issued is None:
        issued = ACCESS_TOKEN
    if not isinstance(issued, str) or not issued:
        raise OAuthError(
            "invalid_response",
            error_description="the token exchange response has no issued_token_type (RFC 8693)",
            where=where,
            hint="the IdP's token exchange must say which token type it issued",
        )
    if issued not in (ACCESS_TOKEN, JWT):
        raise OAuthError(
            "invalid_response",
            error_description=f"the IdP issued {issued[:80]!r}, not an access token",
            where=where,
            hint=f"ask for requested_token_type {ACCESS_TOKEN}",
        )
    tokens = parse_token_response(status, body, now=now, where=where)
    return Exchanged(tokens=tokens, issued_token_type=issued)


def check_exchanged(
    exchanged: Exchanged,
    *,
    requested_scopes: Iterable[str] | None,
    where: str,
    audience: str | None = None,
) -> TokenSet:
    """The token to use for the next hop, or ``OAuthError`` when it carries a scope beyond those
    requested (a wider grant is never used: the hop would hold more than the caller has) or, being
    a JWT that names its audience, is for another ``audience`` than the one asked for."""
    granted = exchanged.tokens.scope
    if requested_scopes is not None and granted is not None:
        wider = sorted(set(granted) - set(requested_scopes))
        if wider:
            raise OAuthError(
                "invalid_scope",
                error_description="the exchanged token carries scopes that were not requested",
                where=where,
                hint=f"refusing to use a token with {' '.join(wider)[:200]}; check the IdP's "
                "token exchange policy (scopes may only narrow)",
            )
    aud = _jwt_audience(exchanged.tokens.access_token)
    if audience is not None and aud is not None and audience not in aud:
        raise OAuthError(
            "invalid_target",
            error_description="the exchanged token is for another audience",
            where=where,
            hint=f"asked for {audience[:200]}, the token names {' '.join(aud)[:200]}",
        )
    return exchanged.tokens


def _jwt_audience(token: str) -> tuple[str, ...] | None:
    """The ``aud`` of a JWT access token, read without verifying (the next hop verifies it);
    ``None`` for opaque tokens or no ``aud``. Only a consistency check of what the IdP sent."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    aud = claims.get("aud") if isinstance(claims, dict) else None
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    return None


def delegation_chain(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The actors of an exchanged token, the current one first (RFC 8693 §4.1: nested ``act``;
    only the outermost is the current actor, the rest is history). ``()`` when not delegated."""
    chain: list[str] = []
    act = claims.get("act")
    while act is not None:
        if not isinstance(act, Mapping) or not isinstance(act.get("sub"), str):
            raise InvalidInput("malformed act claim", where="act", expected="{'sub': ...}")
        chain.append(act["sub"])
        if len(chain) > MAX_CHAIN:
            raise InvalidInput(
                "act chain too deep", where="act", expected=f"at most {MAX_CHAIN} actors"
            )
        act = act.get("act")
    return tuple(chain)


def may_act(claims: Mapping[str, Any], actor: str) -> bool:
    """Whether ``claims`` (a subject token) authorize ``actor`` to act for its subject (RFC 8693
    §4.4 ``may_act``); absent means no statement, which callers treat as not authorized."""
    allowed = claims.get("may_act")
    return isinstance(allowed, Mapping) and allowed.get("sub") == actor
