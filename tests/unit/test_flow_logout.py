"""The logout flow driven through the one driver against a scripted world (no network): RFC 7009
revocation of the refresh token, then the access token, with the stored client; forgetting
whatever the AS answers; locks balanced; never a token in the result."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from tests.helpers.flow_world import AS, MCP, World, json_response, metadata, unauthorized
from zeroauth.client._driver import run_sync
from zeroauth.core.flow import FlowConfig, HTTPRequest, HTTPResponse, LogoutResult, logout_flow
from zeroauth.core.registration import ClientInfo

REVOKE = f"{AS}/revoke"
TOKENS = ("tokens", f"{AS} {MCP}")
BINDING = ("binding", MCP)


def _logged_in(config: FlowConfig | None = None, **md: object) -> World:
    w = World(mcp_status=[unauthorized()])
    w.standard(md=metadata(revocation_endpoint=REVOKE, **md))
    w.run(config)
    assert TOKENS in w.records
    w.requests.clear()
    w.locks.clear()
    return w


def _logout(w: World, config: FlowConfig | None = None) -> LogoutResult:
    result: LogoutResult = run_sync(logout_flow(config or FlowConfig(), MCP), w)
    return result


def _revocations(w: World) -> list[dict[str, str]]:
    return [
        {k: v[0] for k, v in parse_qs(r.body.decode()).items()}
        for r in w.requests
        if r.url == REVOKE
    ]


def test_rfc7009_refresh_token_first_then_access_token_then_forgotten() -> None:
    w = _logged_in()
    w.serve("POST", REVOKE, lambda r: HTTPResponse.build(200, r.url))
    result = _logout(w)
    assert result.revocation == "revoked"
    assert result.revoked == ("refresh_token", "access_token")
    assert _revocations(w) == [
        {"token": "rt-1", "token_type_hint": "refresh_token", "client_id": "dcr-1"},
        {"token": "at-1", "token_type_hint": "access_token", "client_id": "dcr-1"},
    ]
    assert all(r.purpose == "revocation" for r in w.requests if r.url == REVOKE)
    assert TOKENS not in w.records
    assert BINDING not in w.records
    assert ("client", AS) in w.records  # the registration stays (C-30)
    assert w.balanced_locks()
    assert w.locks[0] == f"+tokens {AS} {MCP}"
    assert "rt-1" not in repr(result)
    assert "at-1" not in repr(result)


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        (lambda r: HTTPResponse.failure(r.url, "connection refused"), "could not be reached"),
        (lambda r: HTTPResponse.build(503, r.url, [("retry-after", "30")]), "after 30"),
        (lambda r: json_response(r.url, {"error": "invalid_client"}, 401), "invalid_client"),
    ],
    ids=["down", "503", "refused"],
)
def test_the_as_failing_does_not_keep_the_tokens(answer: object, found: str) -> None:
    w = _logged_in()
    w.serve("POST", REVOKE, answer)  # type: ignore[arg-type]
    result = _logout(w)
    assert result.revocation == "failed"
    assert found in str(result.error)
    assert result.forgotten
    assert TOKENS not in w.records
    assert BINDING not in w.records
    assert w.balanced_locks()
    assert "rt-1" not in str(result.error)


def test_metadata_unreachable_still_forgets() -> None:
    w = _logged_in()
    w.doc(f"{AS}/.well-known/oauth-authorization-server", {}, status=500)  # others: 404
    result = _logout(w)
    assert result.revocation == "failed"
    assert TOKENS not in w.records


def test_no_revocation_endpoint_forgets_without_a_request() -> None:
    w = World(mcp_status=[unauthorized()])
    w.standard()
    w.run()
    w.requests.clear()
    result = _logout(w)
    assert result.revocation == "unsupported"
    assert [r for r in w.requests if r.method == "POST"] == []
    assert TOKENS not in w.records


def test_not_logged_in_and_binding_without_tokens() -> None:
    w = World()
    assert _logout(w).revocation == "not-logged-in"
    assert w.requests == []
    w = _logged_in()
    del w.records[TOKENS]
    result = _logout(w)
    assert result.revocation == "no-tokens"
    assert not result.forgotten
    assert BINDING not in w.records
    assert [r for r in w.requests if r.url == REVOKE] == []


def test_preregistered_confidential_client_authenticates_with_basic() -> None:
    client = ClientInfo(client_id="app", issuer=AS, source="pre-registered", client_secret="s3")
    config = FlowConfig(preregistered={AS: client})
    w = _logged_in(config)
    seen: list[HTTPRequest] = []
    w.serve("POST", REVOKE, lambda r: seen.append(r) or HTTPResponse.build(200, r.url))
    assert _logout(w, config).revocation == "revoked"
    headers = dict(seen[0].headers)
    assert headers["Authorization"].startswith("Basic ")
    assert "client_id" not in _revocations(w)[0]


def test_no_stored_client_fails_but_forgets() -> None:
    w = _logged_in()
    del w.records[("client", AS)]
    result = _logout(w)
    assert result.revocation == "failed"
    assert "no client credentials" in str(result.error)
    assert TOKENS not in w.records
