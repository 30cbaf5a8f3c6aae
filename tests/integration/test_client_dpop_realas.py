"""zeroauth's client gets DPoP-bound tokens from the real authorization server (RFC 9449).

The AS is the certified ``oidc-provider`` (tests/realas, ``--dpop on|nonce``); the MCP server is a
small loopback app that challenges with ``DPoP`` (RFC 9449 §7.1), verifies the AS's RFC 9068 JWT
with zeroauth's ``JWTVerifier`` and the proof with ``zeroauth.core.dpop.validate_proof``
(method, URL, ``ath``, key = ``cnf.jkt``, a ``jti`` never seen before), and can demand its own
nonce (§9). Covered: the token is ``token_type=DPoP`` with ``cnf.jkt`` = the stored key's
thumbprint; a refresh (bound refresh token of a public client, §5) keeps the binding; the AS's
nonce (§8) and the server's nonce (§9) are answered.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from tests.helpers.client_world import PING, Lazy
from tests.realas.fixtures import RealAS
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.dpop import DPoPKey, validate_proof
from zeroauth.core.errors import ZeroAuthError
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier

pytestmark = pytest.mark.realas

RS_NONCE = "rs-nonce-1"


class DPoPServer:
    """A DPoP-only MCP endpoint: what it accepted, and the proofs it saw."""

    def __init__(self, issuer: str, jwks_uri: str, *, nonce: bool) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.nonce = nonce
        self.jtis: list[str] = []
        self.accepted: list[str] = []  # cnf.jkt of each accepted token
        self.nonce_challenges = 0
        self.verifier: JWTVerifier | None = None

    def app(self, base: str) -> Starlette:
        resource = f"{base}/mcp"
        prm_url = f"{base}/.well-known/oauth-protected-resource/mcp"
        jwks = JWKSCache(self.jwks_uri, url_policy=DEVELOPMENT)
        self.verifier = JWTVerifier(issuer=self.issuer, resource=resource, jwks=jwks)

        def challenge(extra: str = "") -> dict[str, str]:
            return {"www-authenticate": f'DPoP algs="ES256"{extra}, resource_metadata="{prm_url}"'}

        async def prm(request: Request) -> Response:
            return JSONResponse({"resource": resource, "authorization_servers": [self.issuer],
                                 "scopes_supported": ["mcp:tools"]})  # fmt: skip

        async def mcp(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme != "DPoP" or not token:
                return Response(status_code=401, headers=challenge())
            assert self.verifier is not None
            claims = (await self.verifier.verify(token)).claims
            proofs = request.headers.getlist("dpop")
            if self.nonce and not _has_nonce(proofs):
                self.nonce_challenges += 1  # RFC 9449 §9
                headers = challenge(', error="use_dpop_nonce"') | {"dpop-nonce": RS_NONCE}
                return Response(status_code=401, headers=headers)
            proof = validate_proof(
                proofs, method="POST", url=str(request.url), now=time.time(),
                access_token=token, expected_jkt=claims["cnf"]["jkt"],
                nonce=RS_NONCE if self.nonce else None,
            )  # fmt: skip
            assert proof.jti not in self.jtis, "a replayed proof"
            self.jtis.append(proof.jti)
            self.accepted.append(claims["cnf"]["jkt"])
            return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {"sub": claims["sub"]}})

        return Starlette(routes=[
            Route("/mcp", mcp, methods=["POST"]),
            Route("/.well-known/oauth-protected-resource/mcp", prm),
        ])  # fmt: skip


def _has_nonce(proofs: list[str]) -> bool:
    if len(proofs) != 1:
        return False
    claims = jwt.decode(proofs[0], options={"verify_signature": False})
    return bool(claims.get("nonce") == RS_NONCE)


@contextlib.contextmanager
def dpop_server(server: RealAS, *, nonce: bool = False) -> Iterator[tuple[ServedApp, DPoPServer]]:
    state = DPoPServer(server.issuer, server.jwks_uri, nonce=nonce)
    lazy = Lazy()
    with serve_asgi(lazy) as mcp:
        lazy.inner = state.app(mcp.url(""))
        yield mcp, state


def client(**options: Any) -> ZeroAuth:
    return ZeroAuth(url_policy=DEVELOPMENT, user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
                    store=MemoryTokenStore(), **options)  # fmt: skip


def call(auth: ZeroAuth, url: str) -> dict[str, Any]:
    with httpx2.Client(auth=auth, timeout=30) as http:
        response = http.post(url, json=PING)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def _bound(auth: ZeroAuth, server: RealAS, resource: str) -> tuple[dict[str, Any], str]:
    record = auth.store.load("tokens", f"{server.issuer} {resource}")
    assert record is not None
    key_record = auth.store.load("dpop", server.issuer)
    assert key_record is not None
    key = DPoPKey.from_private_key(key_record["pem"], key_record["alg"])
    return record, key.thumbprint


@pytest.mark.parametrize("as_dpop", ["on", "nonce"])
def test_rfc9449_dpop_bound_token_and_refresh_keeps_the_binding(
    real_as_factory: Any, as_dpop: str
) -> None:
    server = real_as_factory(dpop=as_dpop)
    with dpop_server(server) as (mcp, state):
        url = mcp.url("/mcp")
        auth = client()
        assert call(auth, url)["sub"] == "alice"
        record, thumbprint = _bound(auth, server, url)
        assert record["token_type"] == "DPoP"
        claims = jwt.decode(record["access_token"], options={"verify_signature": False})
        assert claims["cnf"]["jkt"] == thumbprint  # RFC 9449 §6.1
        first_token = record["access_token"]
        # RFC 9449 §8: with --dpop nonce the first token request is answered use_dpop_nonce
        assert auth.engine.transport.sent["token"] == (2 if as_dpop == "nonce" else 1)
        # the token is about to expire (proofs carry the real time, so the clock stays put)
        now = time.time()
        auth.store.save("tokens", f"{server.issuer} {url}",
                        {**record, "expires_at": now + 5, "obtained_at": now - 3600})  # fmt: skip
        auth.engine.forget()
        assert call(auth, url)["sub"] == "alice"
        # one refresh request: the AS's nonce (--dpop nonce) was remembered from the first grant
        assert auth.engine.transport.sent["refresh"] == 1
        assert auth.engine.user_steps == 1
        record, same = _bound(auth, server, url)
        assert record["access_token"] != first_token
        assert record["token_type"] == "DPoP"
        assert same == thumbprint
        assert (
            jwt.decode(record["access_token"], options={"verify_signature": False})["cnf"]["jkt"]
            == thumbprint
        )
        assert state.accepted == [thumbprint, thumbprint]
        assert len(set(state.jtis)) == 2


def test_rfc9449_9_resource_server_nonce_is_answered(real_as_factory: Any) -> None:
    server = real_as_factory()
    with dpop_server(server, nonce=True) as (mcp, state):
        auth = client()
        assert call(auth, mcp.url("/mcp"))["sub"] == "alice"
        assert state.nonce_challenges == 1
        assert auth.engine.user_steps == 1  # a nonce challenge is not a refused token
        assert call(auth, mcp.url("/mcp"))["sub"] == "alice"
        assert state.nonce_challenges == 1  # the nonce is remembered across requests


def test_bearer_only_server_gets_a_bearer_token_although_the_as_offers_dpop(
    real_as_factory: Any,
) -> None:
    """The realas AS advertises DPoP; zeroauth's own Bearer-only server challenges with Bearer,
    so the client must not bind (the DPoP scheme would be refused)."""
    from tests.helpers.recorder import Recorder
    from tests.integration.test_client_realas import protected

    server = real_as_factory()
    with protected(server, Recorder()) as mcp:
        auth = client()
        assert call(auth, mcp.url("/mcp"))["sub"] == "alice"
        record = auth.store.load("tokens", f"{server.issuer} {mcp.url('/mcp')}")
        assert record is not None
        assert record["token_type"] == "Bearer"
        assert auth.store.load("dpop", server.issuer) is None


def test_dpop_required_with_an_as_that_has_none_is_refused(real_as_factory: Any) -> None:
    server = real_as_factory(dpop="off")
    with dpop_server(server) as (mcp, _):
        auth = client(dpop="required")
        with pytest.raises(ZeroAuthError, match="unbound token"):
            call(auth, mcp.url("/mcp"))


def test_restart_reuses_the_stored_key_and_bound_token(real_as_factory: Any, tmp_path: Any) -> None:
    """The key lives in the store next to the tokens: a restarted client (a new process, here a
    new ZeroAuth on the same FileTokenStore) presents the stored bound token with proofs of the
    same key, without authorizing again."""
    from zeroauth.client import FileTokenStore

    server = real_as_factory()
    with dpop_server(server) as (mcp, state):
        url = mcp.url("/mcp")
        first = ZeroAuth(url_policy=DEVELOPMENT, store=FileTokenStore(tmp_path / "tokens"),
                         user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
        call(first, url)
        key_file = [p for p in (tmp_path / "tokens").iterdir() if p.name.startswith("dpop-")]
        assert len(key_file) == 1
        assert key_file[0].stat().st_mode & 0o777 == 0o600  # a private key: owner only (A16)
        again = ZeroAuth(url_policy=DEVELOPMENT, store=FileTokenStore(tmp_path / "tokens"),
                         user_step=HeadlessUserStep(url_policy=DEVELOPMENT))  # fmt: skip
        call(again, url)
        assert again.engine.user_steps == 0
        assert sum(again.engine.transport.sent.values()) == 0  # no OAuth request at all
        assert len(state.accepted) == 2
        assert len(set(state.accepted)) == 1


def test_cli_token_says_a_bound_token_needs_a_proof(
    real_as_factory: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from zeroauth.cli.app import app

    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    server = real_as_factory()
    with dpop_server(server) as (mcp, _):
        url = mcp.url("/mcp")
        result = CliRunner().invoke(app, ["token", url, "--headless", "--allow-loopback"])
        assert result.exit_code == 0, result.output
        token = result.stdout.strip()
        assert jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"]
        assert "DPoP-bound" in result.stderr
        assert "zeroauth call" in result.stderr
