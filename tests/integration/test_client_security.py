"""SECURITY.md rows A1-A17, each through the real client flow against servers on loopback.

Every test drives ``ZeroAuth`` (the httpx2 adapter over the sans-IO flow) against real HTTP
servers under uvicorn on 127.0.0.1 (scripted AS / MCP servers whose misbehaviour the test
switches on, or zeroauth's dev AS) and checks both the outcome and what reached the wire.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi
from tests.helpers.client_world import PING, scripted
from zeroauth.client import BrowserUserStep, FileTokenStore
from zeroauth.core.errors import (
    AuthorizationResponseError,
    DiscoveryError,
    OAuthError,
    ResourceMetadataError,
    ServerMetadataError,
    StepUpLimitError,
    URLPolicyError,
    ZeroAuthError,
)
from zeroauth.core.urls import DEVELOPMENT, PRODUCTION

# the client engine's locks run under any async library (asyncio and trio)
pytestmark = pytest.mark.all_backends


def post(auth: Any, url: str) -> httpx2.Response:
    with httpx2.Client(auth=auth, timeout=30) as http:
        return http.post(url, json=PING)


# -- A1: PRM names another resource ----------------------------------------------------------


def test_a1_prm_for_another_origin_is_refused_and_its_as_never_contacted() -> None:
    with scripted() as s:
        s.mcp.prm["resource"] = "https://evil.example/mcp"
        with pytest.raises(ResourceMetadataError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement == "C-09"
        assert "evil.example" in str(info.value)
        assert s.recorder.where(server="as") == []  # not even its metadata


def test_a1_strict_mode_refuses_a_parent_path_resource() -> None:
    with scripted() as s:
        s.mcp.prm["resource"] = s.mcp.base  # same origin, parent path: lenient accepts (C-10)
        assert post(s.client(), s.server_url).status_code == 200
        s.recorder.clear()
        with pytest.raises(ResourceMetadataError):
            post(s.client(strict_resource=True), s.server_url)
        assert s.recorder.where(server="as") == []


# -- A2: AS metadata for another issuer ------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "case"),
    [
        ("https://honest.example", "I1"),
        ("{issuer}/", "I3"),
        ("{upper}", "I5"),
    ],
)
def test_a2_metadata_issuer_must_be_identical(served: str, case: str) -> None:
    with scripted() as s:
        s.auth.metadata["issuer"] = served.format(
            issuer=s.auth.issuer, upper=s.auth.issuer.replace("http://", "HTTP://")
        )
        with pytest.raises(ServerMetadataError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement == "C-17", case
        assert s.recorder.where(server="as", path="/register") == []
        assert s.recorder.where(server="as", path="/authorize") == []


def test_a2_i4_trailing_slash_issuer_is_not_repaired() -> None:
    with scripted(as_path="/tenant1") as s:
        s.mcp.prm["authorization_servers"] = [s.auth.issuer + "/"]  # I4
        s.auth.metadata_paths.add("/.well-known/oauth-authorization-server/tenant1/")
        with pytest.raises(ServerMetadataError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement in ("C-17", "C-13")
        assert s.recorder.where(server="as", path="/tenant1/authorize") == []


# -- A3 / A4: mix-up (iss) and state -----------------------------------------------------------


@pytest.mark.parametrize(
    ("iss_mode", "supported", "case"),
    [
        ("wrong", True, "J3-like"),
        ("omit", True, "J2"),
        ("normalized", True, "J5"),
        ("wrong", False, "J3"),
    ],
)
def test_a3_iss_refused_before_the_code_is_redeemed(
    iss_mode: str, supported: bool, case: str
) -> None:
    with scripted() as s:
        s.auth.iss_mode = iss_mode
        s.auth.metadata["authorization_response_iss_parameter_supported"] = supported
        with pytest.raises(AuthorizationResponseError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement == "C-43", case
        assert s.recorder.where(server="as", path="/authorize"), "the user step ran"
        assert s.recorder.where(server="as", path="/token") == [], "code never redeemed"


def test_a3_error_text_of_a_mixed_up_response_is_never_shown() -> None:
    with scripted() as s:
        s.auth.iss_mode = "wrong"
        s.auth.auth_error = ("access_denied", "ATTACKER-CONTROLLED-TEXT")
        with pytest.raises(AuthorizationResponseError) as info:
            post(s.client(), s.server_url)
        assert "ATTACKER-CONTROLLED-TEXT" not in str(info.value)
        assert "access_denied" not in str(info.value)


def test_a3_j9_verified_error_response_is_reported() -> None:
    with scripted() as s:
        s.auth.auth_error = ("access_denied", "the user said no")
        with pytest.raises(OAuthError) as info:
            post(s.client(), s.server_url)
        assert info.value.error == "access_denied"


@pytest.mark.parametrize("state_mode", ["wrong", "omit"])
def test_a4_state_missing_or_different_is_refused(state_mode: str) -> None:
    with scripted() as s:
        s.auth.state_mode = state_mode
        with pytest.raises(AuthorizationResponseError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement == "C-41"
        assert s.recorder.where(server="as", path="/token") == []


# -- A5: PKCE capability -----------------------------------------------------------------------


@pytest.mark.parametrize(("methods", "requirement"), [(None, "C-18"), (["plain"], "C-19")])
def test_a5_no_s256_no_authorization(methods: list[str] | None, requirement: str) -> None:
    with scripted() as s:
        if methods is None:
            del s.auth.metadata["code_challenge_methods_supported"]
        else:
            s.auth.metadata["code_challenge_methods_supported"] = methods
        with pytest.raises(ServerMetadataError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement == requirement
        assert info.value.where == s.auth.issuer  # names the AS
        assert s.recorder.where(server="as", path="/authorize") == []
        assert s.recorder.where(server="as", path="/register") == []


# -- A6: non-https and non-http(s) OAuth URLs -------------------------------------------------


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("prm.authorization_servers", ["http://auth.example.com"]),
        ("prm.jwks_uri", "file:///etc/passwd"),
        ("as.authorization_endpoint", "javascript:alert(1)"),
        ("as.token_endpoint", "http://auth.example.com/token"),
        ("as.registration_endpoint", "data:text/html,hi"),
        ("as.jwks_uri", "vbscript:msgbox"),
    ],
)
def test_a6_oauth_urls_must_be_https_or_loopback_http(where: str, value: Any) -> None:
    with scripted() as s:
        document, member = where.split(".")
        (s.mcp.prm if document == "prm" else s.auth.metadata)[member] = value
        with pytest.raises((URLPolicyError, DiscoveryError)):
            post(s.client(), s.server_url)
        assert s.recorder.where(server="as", path="/authorize") == []
        assert s.recorder.where(server="as", path="/token") == []


def test_a6_resource_metadata_header_with_bad_scheme_is_refused() -> None:
    with scripted() as s:
        s.mcp.raw_challenge = 'Bearer resource_metadata="data:application/json,{}"'
        with pytest.raises(URLPolicyError):
            post(s.client(), s.server_url)
        assert s.recorder.where(server="as") == []


# -- A7: SSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/api",
        "http://192.168.1.1/admin",
        "http://172.16.5.4/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://0177.0.0.1/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_a7_private_targets_refused_even_in_development(target: str) -> None:
    with scripted() as s:
        s.mcp.raw_challenge = f'Bearer resource_metadata="{target}"'
        with pytest.raises(URLPolicyError) as info:
            post(s.client(url_policy=DEVELOPMENT), s.server_url)
        assert info.value.requirement in ("SEC-04", "SEC-05", "SEC-06")


def test_a7_loopback_refused_without_the_development_opt_in() -> None:
    with scripted() as s:
        with pytest.raises(URLPolicyError):
            post(s.client(url_policy=PRODUCTION), s.server_url)
        assert s.recorder.where(path="/.well-known/*") == []  # nothing fetched


def test_a7_redirect_hop_to_metadata_address_is_refused() -> None:
    async def bounce(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "http://169.254.169.254/latest"})

    with scripted() as s, serve_asgi(Starlette(routes=[Route("/prm", bounce)])) as hostile:
        s.mcp.raw_challenge = f'Bearer resource_metadata="{hostile.url("/prm")}"'
        s.mcp.prm_path = "/nowhere"  # no well-known fallback either
        with pytest.raises(ResourceMetadataError) as info:
            post(s.client(), s.server_url)
        assert "SEC-04" in str(info.value.found) or "169.254" in str(info.value.found)


def test_a7_host_names_resolving_into_private_ranges_are_refused(monkeypatch: Any) -> None:
    """Production policy resolves names and checks every address before connecting (W1: the
    pinned connection resolves once and checks that answer)."""
    import socket

    from zeroauth._wire.transport import OAuthTransport
    from zeroauth.core.flow import HTTPRequest

    def fake_getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "metadata.internal.example"
        return [(2, 1, 6, "", ("10.1.2.3", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    result = OAuthTransport(url_policy=PRODUCTION).fetch_sync(
        HTTPRequest.get("https://metadata.internal.example/.well-known/x", "prm")
    )
    assert result.status == 0
    assert result.error_requirement == "SEC-04"


# -- A8: huge, slow, not JSON, wrong shape, redirect loops ------------------------------------


def _hostile_app() -> Starlette:
    async def huge(request: Request) -> StreamingResponse:
        async def body() -> Any:
            chunk = b" " * 65536
            for _ in range(100 * 16):  # 100 MiB, lazily
                yield chunk

        return StreamingResponse(body(), media_type="application/json")

    async def slow(request: Request) -> StreamingResponse:
        async def body() -> Any:
            for _ in range(100):
                yield b" "
                await asyncio.sleep(0.1)

        return StreamingResponse(body(), media_type="application/json")

    async def notjson(request: Request) -> Response:
        return Response(b"<html>hello</html>", media_type="text/html")

    async def shape(request: Request) -> JSONResponse:
        return JSONResponse({"resource": 42, "authorization_servers": "not a list"})

    async def loop(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "/loop"})

    return Starlette(
        routes=[Route(f"/{n}", f) for n, f in
                (("huge", huge), ("slow", slow), ("notjson", notjson), ("shape", shape),
                 ("loop", loop))]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "expect"),
    [
        ("huge", "larger than 1048576"),
        ("slow", "timed out"),
        ("notjson", "not valid JSON"),
        ("shape", "resource"),
        ("loop", "redirects"),
    ],
)
def test_a8_hostile_metadata_is_bounded(kind: str, expect: str) -> None:
    with scripted() as s, serve_asgi(_hostile_app()) as hostile:
        url = hostile.url(f"/{kind}")
        s.mcp.raw_challenge = f'Bearer resource_metadata="{url}"'
        s.mcp.prm_path = "/nowhere"
        auth = s.client(timeout=2.0)
        started = time.monotonic()
        with pytest.raises(ResourceMetadataError) as info:
            post(auth, s.server_url)
        assert time.monotonic() - started < 8
        assert expect in str(info.value)
        assert auth.cache.get(url) is None  # cache untouched


# -- A9: discovery poisoning heals ------------------------------------------------------------


def test_a9_stale_cached_metadata_is_invalidated_and_rediscovered_once() -> None:
    with scripted() as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        # The AS moves its token endpoint; the cached metadata still names the old one.
        s.auth.metadata["token_endpoint"] = s.auth.issuer + "/token-v2"
        lazy_app = s.lazies["as"]
        inner = lazy_app.inner

        gone: list[str] = []

        async def moved(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/token":
                gone.append(scope["path"])
                await JSONResponse({}, status_code=404)(scope, receive, send)
                return
            if scope["type"] == "http" and scope["path"] == "/token-v2":
                scope = {**scope, "path": "/token"}
            assert inner is not None
            await inner(scope, receive, send)

        lazy_app.inner = moved
        auth.store.delete("tokens", f"{s.auth.issuer} {s.server_url}")
        auth.engine.forget()
        s.recorder.clear()
        assert post(auth, s.server_url).status_code == 200
        metadata_fetches = s.recorder.where(
            server="as", path="/.well-known/oauth-authorization-server"
        )
        assert len(metadata_fetches) == 1  # the one refetch after the failure
        assert gone == ["/token"]  # the stale endpoint was tried once
        assert len(s.recorder.where(server="as", path="/token")) == 1  # then the moved one


def test_a9_fresh_401_with_resource_metadata_revalidates_prm() -> None:
    with scripted(extra_as=("as2",)) as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        second = s.add_as("as2")
        s.mcp.servers.append(second)
        s.mcp.prm["authorization_servers"] = [second.issuer]  # the server moved to another AS
        for token in list(s.auth.tokens):
            del s.auth.tokens[token]  # old tokens no longer accepted -> 401 with metadata
        s.recorder.clear()
        assert post(auth, s.server_url).status_code == 200
        assert s.recorder.where(server="mcp", path=s.mcp.prm_path), "PRM re-fetched, not cached"
        assert s.recorder.where(server="as2", path="/token")


# -- A10: stale registration -------------------------------------------------------------------


def test_a10_invalid_client_drops_registration_and_redoes_it_once() -> None:
    with scripted() as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        s.auth.forget_clients()  # the AS lost our registration
        auth.store.delete("tokens", f"{s.auth.issuer} {s.server_url}")
        auth.engine.forget()
        s.recorder.clear()
        assert post(auth, s.server_url).status_code == 200
        assert len(s.recorder.where(server="as", path="/register")) == 1
        assert len(s.recorder.where(server="as", path="/token")) == 2


def test_a10_then_a_clear_error() -> None:
    with scripted() as s:
        original = s.auth._register

        async def forgetful(request: Request) -> Any:
            response = await original(request)
            s.auth.forget_clients()
            return response

        s.auth._register = forgetful  # type: ignore[method-assign]
        s.lazies["as"].inner = s.recorder.wrap("as", s.auth.app())
        with pytest.raises(OAuthError) as info:
            post(s.client(), s.server_url)
        assert info.value.error == "invalid_client"
        assert len(s.recorder.where(server="as", path="/register")) == 2  # once redone, no loop


# -- A11: credentials never cross authorization servers ---------------------------------------


def test_a11_credentials_are_keyed_by_issuer() -> None:
    with scripted(extra_as=("as2",)) as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        first_client = next(iter(s.auth.clients))
        second = s.add_as("as2")
        s.mcp.servers.append(second)
        s.mcp.prm["authorization_servers"] = [second.issuer]
        s.auth.tokens.clear()
        assert post(auth, s.server_url).status_code == 200
        seen_at_second = s.recorder.where(server="as2")
        assert seen_at_second
        for request in seen_at_second:
            assert first_client not in request.query
            assert first_client not in request.body.decode()
            assert first_client not in str(request.headers)
        assert len(s.recorder.where(server="as2", path="/register")) == 1
        assert auth.store.load("client", s.auth.issuer) is not None  # kept for its own AS


# -- A12: one refresh for many concurrent 401s, never a replayed rotating refresh token ------


@pytest.mark.anyio
async def test_a12_hundred_concurrent_requests_with_expired_token_refresh_once() -> None:
    with scripted() as s:
        auth = s.client()
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            assert (await http.post(s.server_url, json=PING)).status_code == 200
            s.auth.tokens.clear()  # every access token is now refused (401), as if expired
            s.recorder.clear()
            results: list[int] = []

            async def one() -> None:
                results.append((await http.post(s.server_url, json=PING)).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(one)
        assert results == [200] * 100
        refreshes = [r for r in s.recorder.where(server="as", path="/token")
                     if r.form().get("grant_type") == "refresh_token"]  # fmt: skip
        assert len(refreshes) == 1
        assert s.auth.replays == 0
        assert s.recorder.where(server="as", path="/authorize") == []


@pytest.mark.anyio
async def test_a12_proactive_refresh_of_expired_token_is_single_flight() -> None:
    with scripted() as s:
        skew = [0.0]
        auth = s.client(clock=lambda: time.time() + skew[0])
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            assert (await http.post(s.server_url, json=PING)).status_code == 200
            skew[0] = 3599.0  # the client's clock says the token is about to expire
            s.recorder.clear()
            results: list[int] = []

            async def one() -> None:
                results.append((await http.post(s.server_url, json=PING)).status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(one)
        assert results == [200] * 100
        assert len(s.recorder.where(server="as", path="/token")) == 1  # refreshed once, early
        assert len(s.recorder.where(server="mcp", path="/mcp")) == 100  # no 401 round trips
        assert s.auth.replays == 0


_WORKER = """
import sys, anyio, httpx2
from zeroauth.client import FileTokenStore, HeadlessUserStep, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
async def main():
    auth = ZeroAuth(store=FileTokenStore(sys.argv[1]), url_policy=DEVELOPMENT,
                    user_step=HeadlessUserStep(url_policy=DEVELOPMENT))
    codes = []
    async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
        async def one():
            r = await http.post(sys.argv[2], json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            codes.append(r.status_code)
        async with anyio.create_task_group() as tg:
            for _ in range(25):
                tg.start_soon(one)
    assert codes == [200] * 25, codes
anyio.run(main)
"""


def test_a12_processes_sharing_a_file_store_refresh_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    with scripted() as s:
        store_path = tmp_path / "shared"
        auth = s.client(store=FileTokenStore(store_path))
        assert post(auth, s.server_url).status_code == 200
        s.auth.tokens.clear()  # the stored access token is now refused everywhere
        s.recorder.clear()
        procs = [
            subprocess.Popen([sys.executable, "-c", _WORKER, str(store_path), s.server_url])
            for _ in range(4)
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
        refreshes = [r for r in s.recorder.where(server="as", path="/token")
                     if r.form().get("grant_type") == "refresh_token"]  # fmt: skip
        assert len(refreshes) == 1
        assert s.auth.replays == 0
        assert s.recorder.where(server="as", path="/authorize") == []


# -- A13: refresh fails ------------------------------------------------------------------------


def test_a13_dead_refresh_token_leads_to_reauthorization() -> None:
    with scripted() as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        s.auth.tokens.clear()
        s.auth.refresh_mode = "invalid_grant"
        s.recorder.clear()
        assert post(auth, s.server_url).status_code == 200
        assert len(s.recorder.where(server="as", path="/authorize")) == 1


def test_a13_authorization_server_down_tells_the_user_and_keeps_tokens() -> None:
    with scripted() as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        key = f"{s.auth.issuer} {s.server_url}"
        stored = auth.store.load("tokens", key)
        s.auth.tokens.clear()
        s.auth.refresh_mode = "503"
        s.recorder.clear()
        with pytest.raises(ZeroAuthError) as info:
            post(auth, s.server_url)
        assert "503" in str(info.value) or "temporarily_unavailable" in str(info.value)
        assert auth.store.load("tokens", key) == stored  # kept
        assert len(s.recorder.where(server="as", path="/token")) <= 2  # no crash loop
        assert s.recorder.where(server="as", path="/authorize") == []


# -- A14: endless insufficient_scope ------------------------------------------------------------


def test_a14_step_up_is_bounded() -> None:
    with scripted() as s:
        s.mcp.always_403 = True
        s.mcp.required = ("mcp:admin",)
        with pytest.raises(StepUpLimitError) as info:
            post(s.client(), s.server_url)
        assert info.value.requirement == "C-40"
        authorizations = s.recorder.where(server="as", path="/authorize")
        assert len(authorizations) == 3  # initial + 2 step-ups (the conformance bound is 3)
        assert "mcp:admin" in authorizations[-1].params()["scope"]
        assert len(s.recorder.where(server="mcp", path="/mcp")) == 4


def test_a14_step_up_requests_the_union_and_succeeds() -> None:
    with scripted() as s:
        s.mcp.required = ("mcp:read", "mcp:write")
        assert post(s.client(), s.server_url).status_code == 200
        scopes = [r.params().get("scope") for r in s.recorder.where(server="as", path="/authorize")]
        assert scopes == ["mcp:read offline_access", "mcp:read offline_access mcp:write"]


# -- A15: hostile WWW-Authenticate ---------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "x" * 65536,
        "Bearer " + ", ".join(f"p{i}=v{i}" for i in range(10000)),
        'Bearer resource_metadata="https://unterminated',
        'Bearer realm="a\\',
        ", ".join(["Basic realm=x"] * 2000),
    ],
    ids=["64KiB", "10k-params", "unbalanced", "trailing-escape", "many-challenges"],
)
def test_a15_hostile_challenge_never_crashes_and_falls_back(header: str) -> None:
    with scripted() as s:
        s.mcp.raw_challenge = header
        started = time.monotonic()
        assert post(s.client(), s.server_url).status_code == 200  # well-known fallback
        assert time.monotonic() - started < 10


# -- A16: the token store on disk ----------------------------------------------------------------


def test_a16_file_store_through_the_flow(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with scripted() as s:
        store = FileTokenStore(tmp_path / "zeroauth")
        auth = s.client(store=store)
        with caplog.at_level(logging.DEBUG):
            assert post(auth, s.server_url).status_code == 200
            # and an error path: the AS down during a refresh
            s.auth.tokens.clear()
            s.auth.refresh_mode = "503"
            with pytest.raises(ZeroAuthError) as info:
                post(auth, s.server_url)
        assert stat.S_IMODE((tmp_path / "zeroauth").stat().st_mode) == 0o700
        files = [p for p in (tmp_path / "zeroauth").iterdir() if p.is_file()]
        assert files
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
        secrets = list(s.auth.tokens) + list(s.auth.refresh_tokens) + list(s.auth.used_refresh)
        assert secrets
        for secret in secrets:
            assert secret not in caplog.text
            assert secret not in str(info.value)
            assert secret not in repr(info.value.to_dict())
        # a restarted client (new process state) reuses the stored token: one request
        s.auth.refresh_mode = "ok"
        again = s.client(store=FileTokenStore(tmp_path / "zeroauth"))
        assert post(again, s.server_url).status_code == 200


# -- A17: the browser step --------------------------------------------------------------------


def test_a17_authorization_url_is_validated_before_any_browser_opens() -> None:
    opened: list[str] = []
    with scripted() as s:
        s.auth.metadata["authorization_endpoint"] = "javascript:alert(document.cookie)//"
        step = BrowserUserStep(opener=opened.append, url_policy=DEVELOPMENT, timeout=5)
        with pytest.raises((URLPolicyError, DiscoveryError)):
            post(s.client(user_step=step), s.server_url)
    assert opened == []
    with pytest.raises(URLPolicyError):
        BrowserUserStep(opener=opened.append).authorize_sync(
            "file:///etc/passwd", "http://127.0.0.1:1/cb"
        )
    assert opened == []


def test_a17_browser_step_end_to_end_with_loopback_listener() -> None:
    """The opener plays the browser: it follows the AS's redirect to our loopback listener."""
    opened: list[str] = []

    def browser(url: str) -> None:
        opened.append(url)
        with httpx2.Client(follow_redirects=True, timeout=10) as b:
            b.get(url)  # AS -> 302 -> http://127.0.0.1:<listener>/callback?code=…

    with scripted() as s:
        step = BrowserUserStep(opener=browser, url_policy=DEVELOPMENT, timeout=10)
        assert post(s.client(user_step=step), s.server_url).status_code == 200
    assert len(opened) == 1
    assert opened[0].startswith(s.auth.issuer + "/authorize?")


def test_a17_default_opener_is_webbrowser_not_a_shell(monkeypatch: Any) -> None:
    import subprocess
    import webbrowser

    calls: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: calls.append(url) or True)

    def no_shell(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a process was started to open the URL")

    monkeypatch.setattr(subprocess, "Popen", no_shell)
    step = BrowserUserStep(timeout=0.3)
    assert step.opener is webbrowser.open  # the platform API, resolved when the step is made
    uri = step.redirect_uri("http://127.0.0.1:0/callback")
    with pytest.raises(AuthorizationResponseError):
        step.authorize_sync("https://as.example/authorize?x=1", uri)  # nobody comes back
    assert calls == ["https://as.example/authorize?x=1"]


def test_a13_a_refused_refresh_token_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fleet whose refresh token died (expired, revoked, reused by a crashed process) is told
    in the log once per refusal, before re-authorizing; the token never appears."""
    with scripted() as s:
        auth = s.client()
        assert post(auth, s.server_url).status_code == 200
        key = f"{s.auth.issuer} {s.server_url}"
        stored = auth.store.load("tokens", key)
        assert stored is not None
        s.auth.tokens.clear()
        s.auth.refresh_mode = "invalid_grant"
        with caplog.at_level(logging.WARNING, logger="zeroauth.core.flow"):
            assert post(auth, s.server_url).status_code == 200
        refused = [r for r in caplog.records if "refused the refresh token" in r.getMessage()]
        assert refused
        assert "invalid_grant" in refused[0].getMessage()
        assert stored["refresh_token"] not in caplog.text
