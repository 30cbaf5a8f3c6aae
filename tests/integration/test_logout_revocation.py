"""Logout that revokes (RFC 7009), and a resource server that introspects (RFC 7662), on loopback.

The world: zeroauth's dev AS (auto-approving; revocation and introspection endpoints) and the
demo MCP server protected by ``IntrospectionVerifier`` against the dev AS. ``ZeroAuth.logout``
and ``zeroauth logout`` revoke the refresh and access tokens through the one wire, with the
client registered at login, and forget them whatever the AS answers: revoked, no revocation
offered, AS down, AS answering 503.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import Result
from starlette.responses import JSONResponse
from typer.testing import CliRunner

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.docs import named_examples, run_example
from zeroauth.cli.app import app as cli_app
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.client._driver import INITIALIZE, MCP_HEADERS
from zeroauth.client._stores import FileTokenStore, binding_key, tokens_key
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_server
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevServerConfig,
    PreregisteredClient,
    ProtectedResource,
)
from zeroauth.integrations.mcp_sdk import protect
from zeroauth.server import IntrospectionVerifier

RS_CLIENT = PreregisteredClient(
    "notes-rs", client_secret="rs-secret", token_endpoint_auth_method="client_secret_basic",
    grant_types=(),
)  # fmt: skip
DEV = ["--headless", "--allow-loopback"]


@dataclass
class World:
    url: str  # the MCP server
    issuer: str
    server: DevAuthorizationServer
    stop_as: contextlib.ExitStack = field(repr=False)
    behaviour: dict[str, Any] = field(default_factory=dict)

    def call(self, access_token: str) -> int:
        """HTTP status of an MCP initialize carrying ``access_token``."""
        headers = {**MCP_HEADERS, "authorization": f"Bearer {access_token}"}
        with httpx2.Client(timeout=10) as http:
            return http.post(self.url, json=INITIALIZE, headers=headers).status_code

    def refresh(self, client_id: str, refresh_token: str) -> httpx2.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        with httpx2.Client(timeout=10) as http:
            return http.post(self.server.endpoint("token"), data={**form, "client_id": client_id})


def _as_app(server: DevAuthorizationServer, behaviour: dict[str, Any]) -> Any:
    """The dev AS, with switches: ``revoke_status`` answers the revocation endpoint with that
    status; ``no_revocation`` drops ``revocation_endpoint`` from the metadata."""
    inner = server.app()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == "/revoke" and "revoke_status" in behaviour:
            status = behaviour["revoke_status"]
            body = {} if status == 503 else {"error": "invalid_request"}
            await JSONResponse(body, status_code=status)(scope, receive, send)
            return
        if scope["type"] == "http" and "well-known" in path and behaviour.get("no_revocation"):
            md = {k: v for k, v in server.metadata().items() if not k.startswith("revocation")}
            await JSONResponse(md)(scope, receive, send)
            return
        await inner(scope, receive, send)

    return app


@pytest.fixture
def world() -> Iterator[World]:
    resources: list[ProtectedResource] = []
    holder: dict[str, DevAuthorizationServer] = {}
    behaviour: dict[str, Any] = {}

    def make_as(base: str) -> Any:
        config = DevServerConfig(
            issuer=base, resources=resources, clients=[RS_CLIENT], auto_approve=True
        )
        holder["server"] = DevAuthorizationServer(config)
        return _as_app(holder["server"], behaviour)

    def make_mcp(base: str) -> Any:
        verifier = IntrospectionVerifier(
            introspection_endpoint=f"{auth.base_url}/introspect",
            client_id=RS_CLIENT.client_id,
            client_secret=RS_CLIENT.client_secret,
            resource=f"{base}/mcp",
            issuer=auth.base_url,
            cache_ttl=0,  # every request asks the AS: a revocation shows at once
        )
        return protect(
            demo_server(), verifier=verifier, resource=f"{base}/mcp",
            authorization_servers=[auth.base_url], scopes_supported=[READ_SCOPE],
            required_scopes=[READ_SCOPE], stateless_http=True, json_response=True,
        )  # fmt: skip

    with contextlib.ExitStack() as stop_as:
        auth = stop_as.enter_context(serve_asgi(factory=make_as))
        with serve_asgi(factory=make_mcp) as mcp:
            url = mcp.url("/mcp")
            resources.append(
                ProtectedResource(
                    url, (READ_SCOPE, WRITE_SCOPE), introspection_client=RS_CLIENT.client_id
                )
            )
            yield World(url, auth.base_url, holder["server"], stop_as, behaviour)


def _auth(store: Any = None) -> ZeroAuth:
    return ZeroAuth(
        store=store if store is not None else MemoryTokenStore(),
        user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        url_policy=DEVELOPMENT,
    )


def _stored(store: Any, world: World) -> dict[str, Any]:
    record = store.load("tokens", tokens_key(world.issuer, world.url))
    assert record is not None
    return dict(record)


def _client_id(store: Any, world: World) -> str:
    record = store.load("client", world.issuer)
    assert record is not None
    return str(record["client_id"])


# -- the resource server introspects ------------------------------------------------------------


def test_rfc7662_introspecting_server_rejects_tokens_of_a_revoked_grant(world: World) -> None:
    """IntrospectionVerifier against the dev AS: a live token passes; after its refresh token is
    revoked (the whole grant, RFC 7009 §2.1), the same access token is refused with 401."""
    auth = _auth()
    access = auth.token(world.url)
    assert world.call(access) == 200
    store = auth.store
    tokens = _stored(store, world)
    client_id = _client_id(store, world)
    form = {"token": tokens["refresh_token"], "client_id": client_id}
    with httpx2.Client(timeout=10) as http:
        assert http.post(world.server.endpoint("revoke"), data=form).status_code == 200
    assert world.call(access) == 401


# -- the library: ZeroAuth.logout / alogout -----------------------------------------------------


def test_logout_revokes_both_tokens_then_forgets_them(world: World) -> None:
    auth = _auth()
    access = auth.token(world.url)
    tokens, client_id = _stored(auth.store, world), _client_id(auth.store, world)
    result = auth.logout(world.url)
    assert result.revocation == "revoked"
    assert result.revoked == ("refresh_token", "access_token")
    assert result.issuer == world.issuer
    assert result.forgotten
    assert result.error is None
    assert auth.store.load("tokens", tokens_key(world.issuer, world.url)) is None
    assert auth.store.load("binding", binding_key(world.url)) is None
    assert auth.store.load("client", world.issuer) is not None  # the registration stays (C-30)
    assert world.call(access) == 401  # revoked at the AS: the introspecting server refuses it
    assert world.refresh(client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert access not in repr(result)
    assert auth.logout(world.url).revocation == "not-logged-in"


@pytest.mark.anyio
async def test_alogout_revokes(world: World) -> None:
    auth = _auth()
    access = await auth.atoken(world.url)
    result = await auth.alogout(world.url)
    assert result.revocation == "revoked"
    assert world.call(access) == 401


def test_logout_when_the_as_is_down_still_forgets(world: World) -> None:
    auth = _auth()
    auth.token(world.url)
    world.stop_as.close()  # the AS is gone
    result = auth.logout(world.url)
    assert result.revocation == "failed"
    assert result.forgotten
    assert result.error
    assert auth.store.load("tokens", tokens_key(world.issuer, world.url)) is None
    assert auth.store.load("binding", binding_key(world.url)) is None


@pytest.mark.parametrize("status", [503, 400])
def test_logout_when_the_as_refuses_still_forgets(world: World, status: int) -> None:
    auth = _auth()
    access = auth.token(world.url)
    world.behaviour["revoke_status"] = status
    result = auth.logout(world.url)
    assert result.revocation == "failed"
    expected = "temporarily_unavailable" if status == 503 else "invalid_request"
    assert expected in str(result.error)
    assert auth.store.load("tokens", tokens_key(world.issuer, world.url)) is None
    assert world.call(access) == 200  # not revoked: still valid at the AS, as reported


def test_logout_without_revocation_endpoint_forgets_and_says_so(world: World) -> None:
    world.behaviour["no_revocation"] = True
    auth = _auth()
    auth.token(world.url)
    result = auth.logout(world.url)
    assert result.revocation == "unsupported"
    assert result.revoked == ()
    assert auth.store.load("tokens", tokens_key(world.issuer, world.url)) is None


# -- the CLI: zeroauth logout -------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def cli(*args: str) -> Result:
    return CliRunner().invoke(cli_app, list(args))


def _cli_login(world: World) -> tuple[str, dict[str, Any]]:
    result = cli("login", world.url, *DEV)
    assert result.exit_code == 0, result.output
    store = FileTokenStore()
    tokens = _stored(store, world)
    return str(tokens["access_token"]), tokens


def test_cli_logout_revokes_at_the_as(world: World, home: Path) -> None:
    access, tokens = _cli_login(world)
    assert world.call(access) == 200
    result = cli("logout", world.url, "--allow-loopback")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert f"revoked the refresh token and access token at {world.issuer}" in text
    assert "1 login(s) removed" in text
    assert world.call(access) == 401
    assert access not in result.output
    assert tokens["refresh_token"] not in result.output
    assert json.loads(cli("status", "--json").stdout)["logins"] == []


def test_cli_logout_with_the_as_down_forgets_and_says_it_could_not_revoke(
    world: World, home: Path
) -> None:
    _cli_login(world)
    world.stop_as.close()
    result = cli("logout", world.url, "--allow-loopback", "--timeout", "2")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "forgot the tokens here, but could NOT revoke them" in text
    assert "stay valid there until they expire" in text
    assert "1 login(s) removed" in text
    assert json.loads(cli("status", "--json").stdout)["logins"] == []


def test_cli_logout_without_revocation_endpoint_says_so(world: World, home: Path) -> None:
    world.behaviour["no_revocation"] = True
    _cli_login(world)
    result = cli("logout", "--allow-loopback")  # every server
    assert result.exit_code == 0, result.output
    assert "offers no token revocation" in " ".join(result.stdout.split())


def test_cli_logout_no_revoke_only_forgets(world: World, home: Path) -> None:
    access, _ = _cli_login(world)
    result = cli("logout", world.url, "--no-revoke")
    assert result.exit_code == 0, result.output
    assert "1 login(s) removed" in result.stdout
    assert world.call(access) == 200  # untouched at the AS


def test_cli_logout_refused_by_url_policy_still_forgets(world: World, home: Path) -> None:
    """Without --allow-loopback the http AS is refused (SEC-05): nothing is sent, all is forgotten,
    and the user is told how to revoke next time."""
    access, _ = _cli_login(world)
    result = cli("logout", world.url)
    assert result.exit_code == 0, result.output
    assert "could NOT revoke" in " ".join(result.stdout.split())
    assert "--allow-loopback" in result.stderr
    assert world.call(access) == 200
    assert json.loads(cli("status", "--json").stdout)["logins"] == []


def test_docs_client_logout_example_runs_as_written(world: World, tmp_path: Path) -> None:
    """docs/client.md's "Log out" example, executed against the world."""
    code = named_examples("docs/client.md").get("logout")
    assert code is not None, "docs/client.md lost its <!-- example: logout --> block"
    log_out = run_example(code, "docs/client.md")["log_out"]
    store = FileTokenStore(tmp_path)
    access = _auth(store).token(world.url)
    line = log_out(world.url, str(tmp_path))
    assert line == f"revoked the refresh_token and access_token at {world.issuer}"
    assert world.call(access) == 401
    assert "not-logged-in" in log_out(world.url, str(tmp_path))
