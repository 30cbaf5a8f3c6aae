"""zeroauth's client against the real authorization server (oidc-provider, tests/realas).

Zero-config: the client is given only the MCP server URL. The MCP server is zeroauth's
``BearerAuth`` verifying the AS's RFC 9068 JWTs (audience = the server). Covered: an issuer
with a path and without; each metadata form the only one served (C-14, C-15); CIMD and DCR
(C-22); refresh with rotation (C-48: never a replayed refresh token, or oidc-provider revokes
the grant); a restarted client process reusing its stored tokens without a new authorization.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.client_world import PING, Lazy, echo_app
from tests.helpers.recorder import Recorder
from tests.realas.fixtures import RealAS
from zeroauth.client import FileTokenStore, HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth

pytestmark = pytest.mark.realas

SCOPES = ("mcp:tools", "mcp:read", "mcp:write")


@contextlib.contextmanager
def protected(server: RealAS, recorder: Recorder) -> Iterator[ServedApp]:
    lazy = Lazy()
    with serve_asgi(lazy) as mcp:
        jwks = JWKSCache(server.jwks_uri, url_policy=DEVELOPMENT)
        lazy.on_shutdown.append(jwks.aclose)
        verifier = JWTVerifier(issuer=server.issuer, resource=mcp.url("/mcp"), jwks=jwks)
        lazy.inner = recorder.wrap(
            "mcp",
            BearerAuth(
                echo_app(),
                verifier=verifier,
                resource=mcp.url("/mcp"),
                authorization_servers=[server.issuer],
                scopes_supported=SCOPES,
            ),
        )
        yield mcp


def client(**options: Any) -> ZeroAuth:
    options.setdefault("url_policy", DEVELOPMENT)
    options.setdefault("user_step", HeadlessUserStep(url_policy=DEVELOPMENT))
    options.setdefault("store", MemoryTokenStore())
    return ZeroAuth(**options)


def call(auth: ZeroAuth, url: str) -> dict[str, Any]:
    with httpx2.Client(auth=auth, timeout=30) as http:
        response = http.post(url, json=PING)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


ONLY = {
    # (issuer_path, form served) -> the other forms switched off
    ("/realms/test", "oauth-inserted"): ["openid-inserted", "openid-appended", "oauth-appended"],
    ("/realms/test", "openid-inserted"): ["oauth-inserted", "openid-appended", "oauth-appended"],
    ("/realms/test", "openid-appended"): ["oauth-inserted", "openid-inserted", "oauth-appended"],
    ("", "oauth-root"): ["openid-root"],
    ("", "openid-root"): ["oauth-root"],
}


@pytest.mark.parametrize(
    ("issuer_path", "form"), list(ONLY), ids=[f"{p or 'root'}:{f}" for p, f in ONLY]
)
def test_c14_c15_zero_config_connect_with_only_one_metadata_form(
    real_as_factory: Any, issuer_path: str, form: str
) -> None:
    server = real_as_factory(issuer_path=issuer_path, disable_forms=ONLY[(issuer_path, form)])
    recorder = Recorder()
    with protected(server, recorder) as mcp:
        auth = client()
        result = call(auth, mcp.url("/mcp"))
        assert result["sub"] == "alice"
        assert set(result["scopes"]) == set(SCOPES)  # PRM scopes_supported requested (C-37)
        assert auth.engine.user_steps == 1
        binding = auth.store.load("binding", mcp.url("/mcp"))
        assert binding is not None
        assert binding["issuer"] == server.issuer  # credentials keyed by the exact issuer
        assert auth.store.load("client", server.issuer) is not None  # DCR
        # the next call is one request with the stored token
        recorder.clear()
        call(auth, mcp.url("/mcp"))
        assert len(recorder.seen) == 1


@pytest.mark.parametrize("form", ["oauth-inserted", "openid-inserted", "openid-appended"])
def test_c14_each_metadata_form_switched_off_in_turn(real_as_factory: Any, form: str) -> None:
    server = real_as_factory(disable_forms=[form])
    recorder = Recorder()
    with protected(server, recorder) as mcp:
        assert call(client(), mcp.url("/mcp"))["sub"] == "alice"


def test_c23_cimd_client_id_with_the_real_as(real_as_factory: Any) -> None:
    server = real_as_factory(cimd=True, dcr=False)
    recorder = Recorder()
    with contextlib.ExitStack() as stack:
        doc_lazy = Lazy()
        doc_server = stack.enter_context(serve_asgi(doc_lazy))
        cimd_url = f"https://127.0.0.1:{doc_server.port}/client.json"
        redirect_uri = "http://127.0.0.1:43117/callback"
        document = {
            "client_id": cimd_url,
            "client_name": "zeroauth realas CIMD",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }
        doc_lazy.inner = Starlette(
            routes=[Route("/client.json", lambda request: JSONResponse(document))]
        )
        mcp = stack.enter_context(protected(server, recorder))
        auth = client(cimd_url=cimd_url, redirect_uri=redirect_uri)
        assert call(auth, mcp.url("/mcp"))["sub"] == "alice"
        assert auth.store.load("client", server.issuer) is None  # no registration happened


def test_c48_refresh_with_rotation_never_replays(real_as: RealAS) -> None:
    """Each call finds its token about to expire and refreshes it first: three rotations in a row
    work only if the newest refresh token is always the one sent (a replay revokes the grant)."""
    recorder = Recorder()
    with protected(real_as, recorder) as mcp:
        ahead = [0.0]
        auth = client(clock=lambda: time.time() + ahead[0])
        call(auth, mcp.url("/mcp"))
        key = f"{real_as.issuer} {mcp.url('/mcp')}"
        seen_refresh_tokens = []
        for _ in range(3):
            ahead[0] += 3590  # the client's clock: the token is about to expire
            call(auth, mcp.url("/mcp"))
            record = auth.store.load("tokens", key)
            assert record is not None
            seen_refresh_tokens.append(record["refresh_token"])
        assert len(set(seen_refresh_tokens)) == 3  # rotated each time
        assert auth.engine.user_steps == 1  # refreshed, never re-authorized
        assert auth.engine.transport.sent["refresh"] == 3


_RESTART = textwrap.dedent(
    """
    import sys, httpx2
    from zeroauth.client import FileTokenStore, UserStepBase, ZeroAuth
    from zeroauth.core.urls import DEVELOPMENT

    class NoUser(UserStepBase):
        async def authorize(self, url, redirect_uri):
            raise SystemExit("a new authorization was attempted")
        def authorize_sync(self, url, redirect_uri):
            raise SystemExit("a new authorization was attempted")

    auth = ZeroAuth(store=FileTokenStore(sys.argv[1]), url_policy=DEVELOPMENT, user_step=NoUser())
    with httpx2.Client(auth=auth) as http:
        r = http.post(sys.argv[2], json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 200, r.text
    assert sum(auth.engine.transport.sent.values()) == 0, dict(auth.engine.transport.sent)
    print(r.json()["result"]["sub"])
    """
)


def test_restart_reuses_stored_tokens_without_a_new_authorization(
    real_as: RealAS, tmp_path: Path
) -> None:
    recorder = Recorder()
    store_dir = tmp_path / "tokens"
    with protected(real_as, recorder) as mcp:
        url = mcp.url("/mcp")
        assert call(client(store=FileTokenStore(store_dir)), url)["sub"] == "alice"
        recorder.clear()
        out = subprocess.run(
            [sys.executable, "-c", _RESTART, str(store_dir), url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "alice"
        assert len(recorder.seen) == 1  # warm reconnect: exactly one request
