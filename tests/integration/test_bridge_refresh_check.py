"""The bridge checks the user's upstream session at its own refresh (OAuth 2.1 §4.3, RFC 6749
§5.2 ``invalid_grant``; issue 13 "upstream check at the bridge's own refresh"), against the real
oidc-provider shaped like Entra ID as the upstream IdP.

The upstream's access tokens live 30 s (under the vault's 60 s margin), so every bridge refresh
refreshes upstream first:

- the upstream grant revoked (RFC 7009 at the IdP: what disabling a user or withdrawing consent
  does) -> the MCP client's refresh is ``invalid_grant`` "the identity provider ended the
  session", the bridge grant's refresh family is revoked, the sealed upstream tokens deleted; the
  zeroauth client falls back to a new authorization and gets in again;
- the IdP down (connections reset) -> ``temporarily_unavailable`` (503), nothing revoked or
  rotated; the same refresh token works once it is back; its process stopped (connection
  refused) -> the same 503, nothing revoked;
- ``upstream_check_on_refresh=False`` -> the refresh does not ask the upstream.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.bridge import BRIDGE_CLIENT, BRIDGE_SECRET, BridgeWorld, bridge_world
from tests.helpers.sdk_oauth import sdk_oauth_provider
from tests.integration.test_bridge_shapes import SHAPES, text, zero_auth
from tests.realas.fixtures import RealASFactory
from zeroauth.bridge._refresh import ENDED

pytestmark = [pytest.mark.realas, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def world(factory: RealASFactory, tmp_path: Path, **config: Any) -> Iterator[BridgeWorld]:
    options = SHAPES["entra"]
    switches = {**options["realas_switches"], "verbose": True, "access_token_ttl": 30}
    with bridge_world(
        factory,
        tmp_path,
        realas_switches=switches,
        upstream_options=dict(options["upstream_options"]),
        **config,
    ) as w:
        yield w


async def _sdk_login(w: BridgeWorld) -> tuple[str, str]:
    """The official SDK client gets in (Bearer tokens, DCR): its client_id and refresh token."""
    sdk = sdk_oauth_provider(w.mcp_url, "http://127.0.0.1:9/sdk-callback", "sdk")
    async with (
        httpx2.AsyncClient(auth=sdk.provider, timeout=30) as http,
        Client(streamable_http_client(w.mcp_url, http_client=http)) as client,
    ):
        text(await client.call_tool("whoami", {}))
    info, tokens = sdk.provider.context.client_info, sdk.provider.context.current_tokens
    assert info is not None
    assert tokens is not None
    assert tokens.refresh_token
    return str(info.client_id), str(tokens.refresh_token)


async def _refresh(w: BridgeWorld, client_id: str, token: str) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=30, trust_env=False) as http:
        return await http.post(
            f"{w.issuer}/token",
            data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
        )


def _wait_closed(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still accepts connections")


async def _revoke_upstream(w: BridgeWorld, subject: str) -> None:
    """RFC 7009 at the IdP, as the bridge's own client: the user's upstream grant ends."""
    stored = w.bridge.vault.load(subject)
    assert stored is not None
    assert stored.refresh_token
    async with httpx2.AsyncClient(timeout=30, trust_env=False) as http:
        answer = await http.post(
            w.upstream.revocation_endpoint,
            data={"token": stored.refresh_token, "token_type_hint": "refresh_token"},
            auth=(BRIDGE_CLIENT, BRIDGE_SECRET),
        )
    assert answer.status_code == 200, answer.text


async def test_revoked_upstream_grant_ends_the_bridge_refresh_and_the_client_logs_in_again(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with world(real_as_factory, tmp_path) as w:
        subject = f"{w.upstream.issuer}#alice"
        client_id, sdk_refresh = await _sdk_login(w)
        ahead = [0.0]
        auth = zero_auth(clock=lambda: time.time() + ahead[0])
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                text(await client.call_tool("whoami", {}))
            await _revoke_upstream(w, subject)

            # the SDK client's refresh: refused, its family revoked, the upstream tokens gone
            refused = await _refresh(w, client_id, sdk_refresh)
            assert refused.status_code == 400, refused.text
            assert refused.json() == {"error": "invalid_grant", "error_description": ENDED}
            assert w.bridge.vault.load(subject) is None
            assert w.bridge.vault.ended(subject)
            again = await _refresh(w, client_id, sdk_refresh)
            assert again.json()["error"] == "invalid_grant"
            assert again.json()["error_description"] == "unknown or revoked refresh token"

            # zeroauth's client: its refresh is refused too, it re-authorizes and gets in
            ahead[0] += 3590
            async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                who = text(await client.call_tool("whoami", {}))
        assert who.startswith(f"{subject} ")
        assert auth.engine.transport.sent["refresh"] >= 1  # refused (logged by the client)
        assert auth.engine.user_steps == 2  # the fallback: a new authorization
        assert not w.bridge.vault.ended(subject)  # a new upstream login replaced the marker
        assert w.bridge.vault.load(subject) is not None


async def test_upstream_outage_is_temporarily_unavailable_and_revokes_nothing(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    with world(real_as_factory, tmp_path, upstream_timeout=3.0) as w:
        subject = f"{w.upstream.issuer}#alice"
        client_id, refresh = await _sdk_login(w)
        before = w.bridge.vault.load(subject)
        assert before is not None
        w.upstream.outage(True)
        try:
            down = await _refresh(w, client_id, refresh)
        finally:
            w.upstream.outage(False)
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "temporarily_unavailable"
        after = w.bridge.vault.load(subject)
        assert after is not None
        assert after.refresh_token == before.refresh_token
        assert not w.bridge.vault.ended(subject)
        back = await _refresh(w, client_id, refresh)  # the same refresh token: nothing rotated
        assert back.status_code == 200, back.text
        assert back.json()["refresh_token"] != refresh
        fresh = w.bridge.vault.load(subject)
        assert fresh is not None
        assert fresh.access_token != before.access_token  # asked upstream

        # the IdP's process stopped for good: connection refused, still 503, nothing revoked
        os.kill(w.upstream.pid, signal.SIGTERM)
        _wait_closed(w.upstream.port)
        latest = back.json()["refresh_token"]
        stopped = await _refresh(w, client_id, latest)
        assert stopped.status_code == 503, stopped.text
        assert stopped.json()["error"] == "temporarily_unavailable"
        record = w.bridge.core.store.refresh_record(latest)
        assert record is not None
        assert not record.rotated
        assert not w.bridge.core.store.grant_revoked(record.grant_id)
        assert not w.bridge.vault.ended(subject)


async def test_the_check_can_be_turned_off(real_as_factory: RealASFactory, tmp_path: Path) -> None:
    """``upstream_check_on_refresh=False``: the bridge refreshes without asking the IdP (the
    user's end upstream then shows only when the MCP server asks for the upstream token)."""
    with world(real_as_factory, tmp_path, upstream_check_on_refresh=False) as w:
        subject = f"{w.upstream.issuer}#alice"
        client_id, refresh = await _sdk_login(w)
        await _revoke_upstream(w, subject)
        answer = await _refresh(w, client_id, refresh)
        assert answer.status_code == 200, answer.text
        assert not w.bridge.vault.ended(subject)


async def test_only_the_holder_makes_the_bridge_ask_the_idp(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """A refresh token presented by another client (or with another DPoP key) goes straight to
    the core's refusal: the IdP is not asked, so nobody but the holder can end the user's
    session there or spend the bridge's IdP refresh tokens (OAuth 2.1 §4.3.1)."""
    with world(real_as_factory, tmp_path) as w:
        subject = f"{w.upstream.issuer}#alice"
        _client_id, refresh = await _sdk_login(w)
        await _revoke_upstream(w, subject)
        async with httpx2.AsyncClient(timeout=30, trust_env=False) as http:
            other = await http.post(f"{w.issuer}/register", json={
                "client_name": "other", "redirect_uris": ["http://127.0.0.1:9/other"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"]})  # fmt: skip
        assert other.status_code == 201, other.text
        answer = await _refresh(w, other.json()["client_id"], refresh)
        assert answer.json() == {
            "error": "invalid_grant",
            "error_description": "refresh token was issued to another client",
        }
        assert not w.bridge.vault.ended(subject)  # the IdP was not asked
        assert "grant.error refresh_token" not in w.upstream.log()
