"""RFC 8693 token exchange against the certified ``oidc-provider`` (its ``registerGrantType``
API, policy as in the dev authorization server: ``acts_for`` / ``exchange_to`` client metadata):
``TokenExchanger`` obtains a token bound to the next hop with ``sub`` = the user and ``act`` =
the exchanging client, which ``RequireActor(JWTVerifier(...))`` accepts; up-scoping, a target
not allowed for the client and another client's exchange are refused (SECURITY G3)."""

from __future__ import annotations

from typing import Any

import anyio
import jwt
import pytest

from tests.realas.fixtures import RealAS, obtain_tokens
from zeroauth.client import TokenExchanger
from zeroauth.core.errors import InvalidToken, OAuthError
from zeroauth.server import JWTVerifier, RequireActor

pytestmark = pytest.mark.anyio
GATEWAY = "http://127.0.0.1:8/mcp"
DOWNSTREAM = "http://127.0.0.1:9/api"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _service(client_id: str, *, exchange_to: list[str]) -> dict[str, Any]:
    return {
        "client_id": client_id, "client_secret": "s3cret",
        "token_endpoint_auth_method": "client_secret_basic", "grant_types": [TOKEN_EXCHANGE],
        "response_types": [], "redirect_uris": [],
        "acts_for": [GATEWAY], "exchange_to": exchange_to,
    }  # fmt: skip


async def _server(real_as_factory: Any) -> tuple[RealAS, str]:
    server: RealAS = real_as_factory(
        scopes="api:read api:write",
        clients=[_service("gateway", exchange_to=[DOWNSTREAM]),
                 _service("rogue", exchange_to=[DOWNSTREAM, GATEWAY])],
    )  # fmt: skip
    tokens = await anyio.to_thread.run_sync(
        lambda: obtain_tokens(server, resource=GATEWAY, scope="api:read api:write")
    )
    return server, tokens["access_token"]


def _exchanger(server: RealAS, client_id: str = "gateway") -> TokenExchanger:
    return TokenExchanger(issuer=server.issuer, client_id=client_id, client_secret="s3cret")


async def test_rfc8693_exchange_at_the_real_as_binds_the_next_hop(real_as_factory: Any) -> None:
    server, caller = await _server(real_as_factory)
    hop = await _exchanger(server).exchange(caller, resource=DOWNSTREAM, scopes=["api:read"])
    claims = jwt.decode(hop, options={"verify_signature": False})
    assert claims["sub"] == "alice"  # still the user
    assert claims["act"] == {"sub": "gateway"}  # RFC 8693 §4.1
    assert claims["aud"] == DOWNSTREAM  # bound to the next hop only
    assert claims["scope"] == "api:read"  # narrowed
    verifier = JWTVerifier(issuer=server.issuer, resource=DOWNSTREAM, jwks_uri=server.jwks_uri)
    token = await RequireActor(verifier, actors={"gateway"}).verify(hop)
    assert token.actors == ("gateway",)


async def test_g3_up_scoping_and_targets_not_allowed_are_refused(real_as_factory: Any) -> None:
    server, caller = await _server(real_as_factory)
    exchanger = _exchanger(server)
    with pytest.raises(OAuthError) as wider:
        await exchanger.exchange(caller, resource=DOWNSTREAM, scopes=["api:admin"])
    assert wider.value.error == "invalid_scope"
    with pytest.raises(OAuthError) as target:
        await exchanger.exchange(caller, resource=GATEWAY)
    assert target.value.error == "invalid_target"
    with pytest.raises(OAuthError) as forged:  # not a token of this server
        await exchanger.exchange(caller[:-4] + "AAAA", resource=DOWNSTREAM)
    assert forged.value.error == "invalid_grant"


async def test_rfc8693_4_1_another_services_exchange_is_refused_downstream(
    real_as_factory: Any,
) -> None:
    server, caller = await _server(real_as_factory)
    hop = await _exchanger(server, "rogue").exchange(caller, resource=DOWNSTREAM)
    verifier = JWTVerifier(issuer=server.issuer, resource=DOWNSTREAM, jwks_uri=server.jwks_uri)
    with pytest.raises(InvalidToken, match="'rogue', not an actor allowed"):
        await RequireActor(verifier, actors={"gateway"}).verify(hop)
