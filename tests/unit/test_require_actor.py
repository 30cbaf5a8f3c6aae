"""``RequireActor`` (RFC 8693 §4.1 ``act``, §4.4 ``may_act``) over a verifier that returns fixed
claims: which delegation chains a resource accepts."""

from __future__ import annotations

from typing import Any

import pytest

from zeroauth.core.errors import InvalidToken
from zeroauth.server import AccessToken, RequireActor

pytestmark = pytest.mark.anyio


class Fixed:
    """A verifier whose every token carries ``claims`` (the signature checks are not the point)."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims

    async def verify(self, token: str) -> AccessToken:
        return AccessToken("https://as.example", "alice", None, ("https://api.example",),
                           frozenset(), None, self.claims)  # fmt: skip


async def _verify(claims: dict[str, Any], **options: Any) -> AccessToken:
    return await RequireActor(Fixed(claims), actors={"gateway"}, **options).verify("t")


async def test_rfc8693_4_1_the_allowed_current_actor_is_accepted() -> None:
    token = await _verify({"sub": "alice", "act": {"sub": "gateway", "act": {"sub": "agent"}}})
    assert token.actors == ("gateway", "agent")


async def test_rfc8693_4_1_a_token_that_was_not_exchanged_is_refused() -> None:
    with pytest.raises(InvalidToken, match="only exchanged tokens"):
        await _verify({"sub": "alice"})


async def test_rfc8693_4_1_only_the_current_actor_counts_not_the_history() -> None:
    with pytest.raises(InvalidToken, match="'rogue', not an actor allowed"):
        await _verify({"act": {"sub": "rogue", "act": {"sub": "gateway"}}})


@pytest.mark.parametrize("act", [{"client": "gateway"}, "gateway", {"sub": 1}])
async def test_rfc8693_4_1_a_malformed_act_is_refused(act: Any) -> None:
    with pytest.raises(InvalidToken, match="malformed act"):
        await _verify({"act": act})


async def test_rfc8693_4_4_may_act_naming_another_actor_is_refused() -> None:
    claims = {"act": {"sub": "gateway"}, "may_act": {"sub": "someone-else"}}
    with pytest.raises(InvalidToken, match="may_act"):
        await _verify(claims)
    assert (await _verify(claims, may_act=False)).actors == ("gateway",)
    assert (await _verify({**claims, "may_act": {"sub": "gateway"}})).actors == ("gateway",)


async def test_a_hostile_actor_name_is_shortened_in_the_refusal() -> None:
    with pytest.raises(InvalidToken) as caught:
        await _verify({"act": {"sub": "x" * 5000}})
    assert len(str(caught.value.description)) < 200


def test_at_least_one_actor_is_named() -> None:
    with pytest.raises(ValueError, match="actors"):
        RequireActor(Fixed({}), actors=())
