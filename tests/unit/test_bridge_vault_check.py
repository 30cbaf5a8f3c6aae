"""``UpstreamVault.check``: the bridge's upstream check at its own refresh, decision by decision
(sans-IO: a stand-in for the upstream client; the end-to-end tests against the real
oidc-provider are in tests/integration/test_bridge_refresh_check.py). RFC 6749 §5.2
``invalid_grant`` ends the user's session, anything else is an outage; a refusal of a refresh
token another replica already replaced says nothing about the user (OAuth 2.1 §4.3.1 rotation).
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from zeroauth.bridge._store import SQLiteBridgeStore
from zeroauth.bridge._upstream import UpstreamFailureError
from zeroauth.bridge._vault import (
    UpstreamSessionEndedError,
    UpstreamUnavailableError,
    UpstreamVault,
    keyring_of,
)
from zeroauth.core.tokens import TokenSet

pytestmark = pytest.mark.anyio
USER = "https://idp.example#alice"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeUpstream:
    """Answers refreshes as told; ``meanwhile`` runs first (another replica's refresh)."""

    def __init__(self, answer: Any, meanwhile: Any = None) -> None:
        self.answer, self.meanwhile, self.calls = answer, meanwhile, 0

    async def refresh(self, refresh_token: str) -> TokenSet:
        self.calls += 1
        if self.meanwhile is not None:
            self.meanwhile()
        if isinstance(self.answer, Exception):
            raise self.answer
        assert isinstance(self.answer, TokenSet)
        return self.answer


def vault(upstream: FakeUpstream) -> UpstreamVault:
    key = base64.urlsafe_b64encode(b"v" * 32).decode()
    return UpstreamVault(SQLiteBridgeStore(), keyring_of(key), upstream)  # type: ignore[arg-type]


def tokens(name: str, expires_in: float, refresh: str | None = "rt-1") -> TokenSet:
    return TokenSet(access_token=name, expires_at=time.time() + expires_in, refresh_token=refresh)


ENDED = UpstreamFailureError("access_denied", "the identity provider refused", "invalid_grant")
DOWN = UpstreamFailureError("temporarily_unavailable", "connection refused")


async def test_fresh_or_unrefreshable_tokens_are_not_asked_about() -> None:
    up = FakeUpstream(ENDED)
    v = vault(up)
    await v.check(USER)  # nothing stored: nothing to ask
    v.save(USER, tokens("at", 3600))
    await v.check(USER)  # fresh
    v.save(USER, tokens("at", -10, refresh=None))
    await v.check(USER)  # stale, but no refresh token: cannot know cheaply
    assert up.calls == 0


async def test_stale_tokens_are_refreshed_upstream_and_kept() -> None:
    up = FakeUpstream(tokens("at-2", 3600, refresh="rt-2"))
    v = vault(up)
    v.save(USER, tokens("at-1", 30))  # within the 60 s margin
    await v.check(USER)
    stored = v.load(USER)
    assert stored is not None
    assert (stored.access_token, stored.refresh_token, up.calls) == ("at-2", "rt-2", 1)


async def test_invalid_grant_ends_the_session_for_every_grant_of_the_user() -> None:
    up = FakeUpstream(ENDED)
    v = vault(up)
    v.save(USER, tokens("at", -10))
    with pytest.raises(UpstreamSessionEndedError):
        await v.check(USER)
    assert v.load(USER) is None  # the sealed tokens are gone
    assert v.ended(USER)
    with pytest.raises(UpstreamSessionEndedError):
        await v.check(USER)  # another grant of the same user: refused without asking
    assert up.calls == 1
    v.save(USER, tokens("at-new", 3600))  # a new login
    assert not v.ended(USER)
    await v.check(USER)


async def test_an_outage_changes_nothing() -> None:
    up = FakeUpstream(DOWN)
    v = vault(up)
    v.save(USER, tokens("at", -10))
    with pytest.raises(UpstreamUnavailableError):
        await v.check(USER)
    stored = v.load(USER)
    assert stored is not None
    assert stored.refresh_token == "rt-1"
    assert not v.ended(USER)


async def test_a_refusal_of_a_token_another_replica_replaced_is_not_an_end() -> None:
    holder: dict[str, UpstreamVault] = {}
    up = FakeUpstream(ENDED, meanwhile=lambda: holder["v"].save(USER, tokens("b", 3600, "rt-b")))
    v = holder["v"] = vault(up)
    v.save(USER, tokens("at", -10))
    await v.check(USER)  # the other replica's tokens stand
    assert not v.ended(USER)
    stored = v.load(USER)
    assert stored is not None
    assert stored.refresh_token == "rt-b"
