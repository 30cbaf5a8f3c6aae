"""MCP scopes from upstream app roles and groups through the authorization bridge (issue 13:
"scopes = what the configured mapping grants (MCP scope <-> upstream scopes/roles/groups)"),
against the real oidc-provider shaped like Entra ID (``roles`` app-role values, ``groups`` object
IDs in the ID token) and Okta (a ``groups`` claim of names). The launcher gives users roles and
groups by their name (docs/realas.md): ``alice`` none, ``writer`` role ``Notes.Writer`` and group
``editors``, ``admin`` role ``Notes.Admin`` and group ``mcp-admins``.

A user holding the mapped role/group gets ``notes:write`` in the bridge's token and the tool call
works; a user without it gets a token without ``notes:write`` (RFC 6749 §3.3: fewer scopes than
asked, named in the token response's ``scope``) and the MCP server answers ``403
insufficient_scope`` (RFC 6750 §3.1; MCP authorization, runtime insufficient scope). Roles and
groups never reach the upstream as scopes.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.helpers.bridge import BridgeWorld, bridge_world
from tests.realas.fixtures import ENTRA_APP_ID, RealASFactory, pkce_pair

pytestmark = [pytest.mark.realas, pytest.mark.anyio]

REDIRECT = "http://127.0.0.1:9/cb"
APP_ID_URI = f"api://{ENTRA_APP_ID}"


def guid_of(name: str) -> str:
    """The launcher's Entra-style object ID of a group name (its ``guidOf``)."""
    h = hashlib.sha256(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


ENTRA: dict[str, Any] = {
    "realas_switches": {"shape": "entra", "scopes": "notes.read notes.write"},
    "upstream_options": {
        "profile": "entra",
        "scopes": ("openid", "profile", "offline_access"),
        "resource": None,
    },
}
OKTA: dict[str, Any] = {
    "realas_switches": {"shape": "okta"},
    "upstream_options": {"profile": "okta", "scopes": ("openid", "offline_access"),
                         "resource": None},
}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def world(
    shape: dict[str, Any], scope_map: dict[str, Any], factory: RealASFactory, tmp_path: Path
) -> Iterator[BridgeWorld]:
    options = {**shape["upstream_options"], "scope_map": scope_map}
    with bridge_world(
        factory,
        tmp_path,
        realas_switches={**shape["realas_switches"], "verbose": True},
        upstream_options=options,
    ) as w:
        yield w


async def log_in(
    w: BridgeWorld, user: str, scope: str = "notes:read notes:write"
) -> dict[str, Any]:
    """A DCR public client runs the code flow at the bridge for ``user`` (the upstream logs in
    the ``login_hint``, forwarded by the bridge); the token response."""
    async with httpx2.AsyncClient(timeout=30, trust_env=False) as http:  # keeps cookies
        registered = await http.post(
            f"{w.issuer}/register",
            json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"},
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
            "state": "s", "resource": w.mcp_url, "scope": scope, "code_challenge": challenge,
            "code_challenge_method": "S256", "login_hint": user,
        }  # fmt: skip
        url = f"{w.issuer}/authorize?{urlencode(query)}"
        for _ in range(12):
            response = await http.get(url)
            assert response.status_code in (302, 303), (response.status_code, response.text)
            url = str(response.url.join(response.headers["location"]))
            if url.startswith(REDIRECT):
                break
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert "code" in params, params
        token = await http.post(
            f"{w.issuer}/token",
            data={"grant_type": "authorization_code", "code": params["code"],
                  "client_id": client_id, "redirect_uri": REDIRECT, "code_verifier": verifier,
                  "resource": w.mcp_url},
        )  # fmt: skip
        assert token.status_code == 200, token.text
        answer: dict[str, Any] = token.json()
        return answer


async def write_note(w: BridgeWorld, access_token: str) -> tuple[str | None, list[httpx2.Response]]:
    """``write_note`` with the bridge's token; (its text or None, the HTTP responses)."""
    seen: list[httpx2.Response] = []

    async def record(response: httpx2.Response) -> None:
        seen.append(response)

    headers = {"authorization": f"Bearer {access_token}"}
    async with httpx2.AsyncClient(
        headers=headers, timeout=30, event_hooks={"response": [record]}
    ) as http:
        try:
            async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                result = await client.call_tool("write_note", {"text": "x"})
                return str(result.content[0].text), seen
        except Exception:  # the SDK raises on the 403
            return None, seen


def token_scopes(answer: dict[str, Any]) -> set[str]:
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    scopes = set(claims["scope"].split())
    assert scopes == set(answer["scope"].split())  # RFC 6749 §5.1: the response says so too
    return scopes


def assert_insufficient_scope(seen: list[httpx2.Response]) -> None:
    refused = [r for r in seen if r.status_code == 403]
    assert refused, [r.status_code for r in seen]
    challenge = refused[0].headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge  # RFC 6750 §3.1
    assert "notes:write" in challenge


def roles_never_sent_upstream(w: BridgeWorld, *names: str) -> None:
    log = w.upstream.log()
    assert "role%3A" not in log
    assert "group%3A" not in log
    for name in names:
        assert name not in log, name


@pytest.mark.parametrize(("user", "writes"), [("writer", True), ("alice", False)])
async def test_entra_app_role_grants_notes_write(
    user: str, writes: bool, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """Entra shape, ``notes:write = "role:Notes.Writer"``: the role holder gets the scope and
    writes; a user without the role gets notes:read only and the tool call is refused 403."""
    scope_map = {"notes:read": f"{APP_ID_URI}/notes.read", "notes:write": "role:Notes.Writer"}
    with world(ENTRA, scope_map, real_as_factory, tmp_path) as w:
        answer = await log_in(w, user)
        scopes = token_scopes(answer)
        saved, seen = await write_note(w, answer["access_token"])
        roles_never_sent_upstream(w, "Notes.Writer")
        assert (
            f"{APP_ID_URI}/notes.read".replace(":", "%3A").replace("/", "%2F") in w.upstream.log()
        )
    assert "notes:read" in scopes
    if writes:
        assert "notes:write" in scopes
        assert saved == "saved x"
    else:
        assert "notes:write" not in scopes
        assert saved is None
        assert_insufficient_scope(seen)


@pytest.mark.parametrize(("user", "writes"), [("bob-writer", True), ("alice", False),
                                              ("admin", False)])  # fmt: skip
async def test_okta_group_grants_notes_write(
    user: str, writes: bool, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """Okta shape (a ``groups`` claim of names), ``notes:write = "group:editors"``; notes:read
    by default from the upstream scope of the same name."""
    with world(OKTA, {"notes:write": "group:editors"}, real_as_factory, tmp_path) as w:
        answer = await log_in(w, user)
        scopes = token_scopes(answer)
        saved, seen = await write_note(w, answer["access_token"])
        roles_never_sent_upstream(w, "editors")
    assert "notes:read" in scopes
    assert ("notes:write" in scopes) is writes
    if writes:
        assert saved == "saved x"
    else:
        assert saved is None
        assert_insufficient_scope(seen)


@pytest.mark.parametrize(("user", "writes"), [("admin", True), ("writer", True),
                                              ("alice", False)])  # fmt: skip
async def test_any_of_role_or_group_object_id(
    user: str, writes: bool, real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """A list is any-of: ``["role:Notes.Admin", "group:<object id of editors>"]`` (Entra's
    groups claim holds object IDs): admin by the role, writer by the group, alice neither."""
    scope_map = {
        "notes:read": f"{APP_ID_URI}/notes.read",
        "notes:write": ["role:Notes.Admin", f"group:{guid_of('editors')}"],
    }
    with world(ENTRA, scope_map, real_as_factory, tmp_path) as w:
        answer = await log_in(w, user)
        scopes = token_scopes(answer)
        roles_never_sent_upstream(w, "Notes.Admin", guid_of("editors"))
    assert ("notes:write" in scopes) is writes
    assert "notes:read" in scopes


async def test_a_role_only_scope_alone_asks_the_upstream_for_nothing_more(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """Asking only a role-mapped scope: the upstream request carries the configured scopes and
    nothing for the role (a role is never an upstream scope); the user without it gets a token
    with no MCP scope at all rather than an error (RFC 6749 §3.3)."""
    scope_map = {"notes:read": f"{APP_ID_URI}/notes.read", "notes:write": "role:Notes.Writer"}
    with world(ENTRA, scope_map, real_as_factory, tmp_path) as w:
        answer = await log_in(w, "alice", scope="notes:write")
        roles_never_sent_upstream(w, "Notes.Writer")
        assert "notes.write" not in w.upstream.log()
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert "notes:write" not in str(claims.get("scope", ""))


async def test_step_up_for_a_role_the_user_lacks_ends_cleanly(
    real_as_factory: RealASFactory, tmp_path: Path
) -> None:
    """zeroauth's client as ``alice`` (no role) calls write_note: 403 insufficient_scope, it
    steps up through the bridge, gets notes:read again (RFC 6749 §3.3), and stops after its
    bounded step-ups with an error naming the missing scope (C-40), no loop."""
    from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
    from zeroauth.core.errors import StepUpLimitError
    from zeroauth.core.flow.config import FlowConfig
    from zeroauth.core.urls import DEVELOPMENT

    scope_map = {"notes:read": f"{APP_ID_URI}/notes.read", "notes:write": "role:Notes.Writer"}
    with world(ENTRA, scope_map, real_as_factory, tmp_path) as w:
        auth = ZeroAuth(store=MemoryTokenStore(), url_policy=DEVELOPMENT,
                        user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
        statuses: list[int] = []

        async def record(response: httpx2.Response) -> None:
            statuses.append(response.status_code)

        failure: Exception | None = None
        async with httpx2.AsyncClient(
            auth=auth, timeout=30, event_hooks={"response": [record]}
        ) as http:
            try:
                async with Client(streamable_http_client(w.mcp_url, http_client=http)) as client:
                    await client.call_tool("write_note", {"text": "x"})
            except Exception as exc:  # the SDK wraps the client's error
                failure = exc
    leaves = failure.exceptions if isinstance(failure, BaseExceptionGroup) else (failure,)
    refused = [e for e in leaves if isinstance(e, StepUpLimitError)]
    assert refused, repr(failure)
    assert refused[0].requirement == "C-40"
    assert "notes:write" in str(refused[0])
    max_step_ups = FlowConfig().max_step_ups
    assert auth.engine.user_steps == 1 + max_step_ups  # bounded: no loop
    assert statuses.count(403) == 1 + max_step_ups
