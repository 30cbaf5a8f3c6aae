"""The server says why, and the client repeats it (issue 18 items 2 and 6).

A real dev AS and a real ``BearerAuth`` + ``JWTVerifier`` under uvicorn on loopback, the verifier
misconfigured the three common ways (wrong ``issuer``, wrong ``resource``, unreachable
``jwks_uri``). RFC 6750 §3.1 (error codes and descriptions), §5.3 and threat B13 (the token never
reaches a log), C-44 (a server refusing every fresh token), S-15 (403 must name the scope).
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from tests.helpers.client_world import World, echo_app, world
from zeroauth.cli.app import app
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuthManager
from zeroauth.core.errors import ServerRefusedError
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier
from zeroauth.server._middleware import BearerAuth
from zeroauth.server._refusals import LINES_PER_WINDOW, RefusalLog

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def misconfigure(w: World, **verifier: str) -> None:
    """Install BearerAuth with a JWTVerifier whose ``issuer``/``resource``/``jwks_uri`` may be
    wrong; the PRM still says the truth (the AS, the resource)."""
    jwks = JWKSCache(verifier.pop("jwks_uri", f"{w.issuer}/jwks"), url_policy=DEVELOPMENT)
    w.mcp_lazy.on_shutdown.append(jwks.aclose)
    jwt = JWTVerifier(
        issuer=verifier.get("issuer", w.issuer),
        resource=verifier.get("resource", w.server_url),
        jwks=jwks,
    )
    w.mcp_lazy.inner = w.recorder.wrap(
        "mcp",
        BearerAuth(
            echo_app(),
            verifier=jwt,
            resource=w.server_url,
            authorization_servers=[w.issuer],
            scopes_supported=["mcp:read", "mcp:write"],
        ),
    )


def sent_tokens(w: World) -> set[str]:
    return {a.partition(" ")[2] for a in w.recorder.authorizations("mcp") if a and " " in a}


def assert_no_token_logged(caplog: pytest.LogCaptureFixture, tokens: set[str]) -> None:
    assert tokens, "the client sent tokens"
    for record in caplog.records:
        text = record.getMessage()
        for token in tokens:
            assert token not in text
            assert token[:40] not in text


CASES: list[tuple[str, dict[str, str], str, str]] = [
    ("issuer", {"issuer": "ISSUER/"}, "token issuer mismatch", "issuer="),
    (
        "resource",
        {"resource": "http://127.0.0.1:1/other"},
        "token audience does not include this resource",
        "resource=",
    ),
    (
        "jwks_uri",
        {"jwks_uri": "JWKS"},
        "the authorization server's signing keys are unavailable",
        "jwks_uri=",
    ),
]


@pytest.mark.parametrize(
    ("name", "setting", "description", "advice"), CASES, ids=[c[0] for c in CASES]
)
def test_misconfigured_verifier_is_logged_and_the_client_quotes_the_server(
    caplog: pytest.LogCaptureFixture, name: str, setting: dict[str, str], description: str,
    advice: str,
) -> None:  # fmt: skip
    """C-44 + RFC 6750 §3.1: the server logs each refusal at INFO and one WARNING naming the
    setting; the client's error carries status, challenge and the server's description, and
    blames the server; B13: no token in any log record."""
    caplog.set_level(logging.INFO, logger="zeroauth.server")
    with world() as w:
        wrong = {
            k: v.replace("ISSUER", w.issuer).replace(
                "JWKS", f"http://127.0.0.1:{_free_port()}/jwks"
            )
            for k, v in setting.items()
        }
        misconfigure(w, **wrong)
        with (
            httpx2.Client(auth=w.client(), timeout=30) as http,
            pytest.raises(ServerRefusedError) as refused,
        ):
            http.post(w.server_url, json=PING)
        tokens = sent_tokens(w)
    err = refused.value
    assert (err.status, err.scheme, err.error, err.blame) == (
        401,
        "Bearer",
        "invalid_token",
        "server",
    )
    assert err.error_description == description
    line = str(err)
    assert "[C-44]" in line
    assert "HTTP 401" in line
    assert 'error="invalid_token"' in line
    assert description in line
    assert "server is to blame" in line
    assert json.loads(json.dumps(err.to_dict()))["error_description"] == description
    server = [r for r in caplog.records if r.name == "zeroauth.server"]
    infos = [r.getMessage() for r in server if r.levelno == logging.INFO]
    assert any(f"refused 401 invalid_token ({description}) on /mcp" in m for m in infos)
    assert any("refused 401 no token on /mcp" in m for m in infos)
    warnings = [r.getMessage() for r in server if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once, not per request
    assert advice in warnings[0]
    assert description in warnings[0]
    assert_no_token_logged(caplog, tokens)


def test_a_working_server_warns_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Successes end a streak: a well-configured server logs no WARNING and no refusal of a
    token (only the first, token-less 401 of discovery)."""
    caplog.set_level(logging.INFO, logger="zeroauth.server")
    with world() as w, httpx2.Client(auth=w.client(), timeout=30) as http:
        for _ in range(5):
            assert http.post(w.server_url, json=PING).status_code == 200
    server = [r for r in caplog.records if r.name == "zeroauth.server"]
    assert [r.getMessage() for r in server] == ["refused 401 no token on /mcp"]


def test_refusal_lines_are_rate_limited_then_summarised(caplog: pytest.LogCaptureFixture) -> None:
    """A flood of bad tokens (B13) costs at most LINES_PER_WINDOW lines per reason and window,
    then one summary line with the count."""
    now = [0.0]
    log = RefusalLog(clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="zeroauth.server")
    for _ in range(LINES_PER_WINDOW + 7):
        log.refused(401, "invalid_token", "signature verification failed", "/mcp")
    assert len(caplog.records) == LINES_PER_WINDOW
    now[0] = 11.0
    log.refused(401, "invalid_token", "signature verification failed", "/mcp")
    messages = [r.getMessage() for r in caplog.records]
    assert "7 more time(s) in the last 10 s" in messages[LINES_PER_WINDOW]
    assert messages[-1].startswith("refused 401 invalid_token (signature verification failed)")


def test_a_success_resets_the_streak() -> None:
    log = RefusalLog()
    log.refused(401, "invalid_token", "token issuer mismatch", "/mcp")
    log.refused(401, "invalid_token", "token issuer mismatch", "/mcp")
    assert log.streak == 2
    log.succeeded()
    assert log.streak == 0


def _no_scope_403(app: Any) -> Any:
    """An mcp-auth-like server (npm ``mcp-auth`` 0.2.0): any POST with a token is answered
    ``403 Bearer error="missing_required_scopes"`` with no ``scope=``."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            challenge = (
                'Bearer error="missing_required_scopes", '
                'error_description="Missing required scopes: mcp:admin"'
            )
            body = b'{"error":"missing_required_scopes"}'
            await send({"type": "http.response.start", "status": 403, "headers": [
                (b"www-authenticate", challenge.encode()), (b"content-type", b"application/json"),
            ]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return asgi


def test_s15_403_without_scope_stops_and_says_so() -> None:
    """S-15 / RFC 6750 §3.1: a 403 whose challenge names no scope cannot drive a step-up; the
    client stops at once (no re-authorization loop) with the status, challenge and reason."""
    with world() as w:
        w.protect(_no_scope_403(echo_app()))
        with (
            httpx2.Client(auth=w.client(), timeout=30) as http,
            pytest.raises(ServerRefusedError) as refused,
        ):
            http.post(w.server_url, json=PING)
        authorizes = [s for s in w.recorder.seen if s.server == "as" and s.path == "/authorize"]
        posts = [s for s in w.recorder.seen if s.server == "mcp" and s.method == "POST"]
    err = refused.value
    assert (err.status, err.scheme, err.error) == (403, "Bearer", "missing_required_scopes")
    assert err.error_description == "Missing required scopes: mcp:admin"
    assert err.blame == "server"
    assert "without naming the scope it needs" in str(err)
    assert "non-standard" in str(err)
    assert len(authorizes) == 1  # the first login only: no step-up round
    assert len(posts) == 2  # the token-less probe, then the one refused request


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZEROAUTH_HOME", str(tmp_path))
    monkeypatch.delenv("ZEROAUTH_CONFIG", raising=False)
    monkeypatch.delenv("ZEROAUTH_ALLOW_LOOPBACK", raising=False)
    return tmp_path


def one_error_line(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--headless", "--allow-loopback"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["login", "call"])
def test_cli_line_quotes_the_server_refusing_every_token(home: Path, command: str) -> None:
    """C-44 in the CLI: the one error line has the status, the challenge and the server's own
    description, and blames the server (not the token)."""
    with world() as w:
        misconfigure(w, issuer=w.issuer + "/")
        args = [command, w.server_url] + (["whoami"] if command == "call" else [])
        line = one_error_line(*args)
    assert line.startswith("error: [C-44]")
    assert 'HTTP 401 Bearer error="invalid_token"' in line
    assert 'error_description="token issuer mismatch"' in line
    assert "the server is to blame" in line


def test_cli_line_for_a_403_without_scope(home: Path) -> None:
    """Issue 18 item 6: a 403 ``missing_required_scopes`` without ``scope=`` (npm mcp-auth)
    used to print only ``MCPError: Server returned an error response``."""
    with world() as w:
        w.protect(_no_scope_403(echo_app()))
        line = one_error_line("call", w.server_url, "whoami")
    assert line.startswith("error: [S-15]")
    assert 'HTTP 403 Bearer error="missing_required_scopes"' in line
    assert "Missing required scopes: mcp:admin" in line
    assert "without naming the scope it needs" in line


def _forbidden(challenge: str | None) -> Any:
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await echo_app()(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json")]
        if challenge is not None:
            headers.append((b"www-authenticate", challenge.encode()))
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    return asgi


@pytest.mark.anyio
async def test_manager_authorize_carries_the_status_of_a_refusal() -> None:
    """C-44 in ``ZeroAuthManager.authorize``: a server that answers the authorized probe with a
    plain 403 gives a ``ServerRefusedError`` with the status (no challenge to quote)."""
    with world() as w:
        w.protect(_forbidden(None))
        manager = ZeroAuthManager(
            store=MemoryTokenStore(), url_policy=DEVELOPMENT,
            user_step=HeadlessUserStep(url_policy=DEVELOPMENT),
        )  # fmt: skip
        with pytest.raises(ServerRefusedError) as refused:
            await manager.authorize(w.server_url)
    err = refused.value
    assert (err.status, err.scheme, err.error, err.requirement) == (403, None, None, "C-44")
    assert "HTTP 403" in str(err)
