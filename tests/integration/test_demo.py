"""``zeroauth demo`` end to end, and the dev authorization server's interoperability with the
official ``mcp`` SDK client's own OAuth provider and with zeroauth's client (CIMD and DCR)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.sdk_oauth import sdk_oauth_provider
from zeroauth.client import HeadlessUserStep, MemoryTokenStore, ZeroAuth
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

EXPECTED_STEPS = [
    "challenge", "resource_metadata", "server_metadata", "client_identity", "authorize",
    "token", "call", "step_up", "authorize", "token", "call", "reconnect",
]  # fmt: skip


def test_rfc8693_demo_multi_hop_shows_each_hops_audience_scopes_and_act() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "zeroauth.cli", "demo", "--multi-hop", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    first, second, third, summary = [json.loads(line) for line in run.stdout.splitlines()]
    assert summary["ok"] is True, summary
    assert summary["exchanges"] == 1  # two calls, one exchange (cached per caller token)
    assert first["aud"] == [first["url"]]  # the client's token: for the gateway only
    assert first["act"] == []  # the user's own token
    assert second["aud"] == [second["url"]] != first["aud"]  # bound to the next hop (RFC 8707)
    assert second["act"] == ["gateway"]  # RFC 8693 §4.1: the gateway acts for the user
    assert second["sub"] == first["sub"] == "demo-user"
    assert set(second["scope"]) <= set(first["scope"])  # never wider
    assert second["scope"] == [READ_SCOPE]  # the gateway's configured cap
    # the other upstream, reached with the gateway's own client-credentials token: no user
    assert third["sub"] == "gateway"
    assert third["act"] == []
    assert third["aud"] == [third["url"]] != second["aud"]


def test_demo_multi_hop_rich_output_names_the_actor() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "zeroauth.cli", "demo", "--multi-hop"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gateway → notes (exchanged for the user)" in run.stdout
    assert "act = gateway" in run.stdout
    assert "gateway → files (the gateway's own token)" in run.stdout
    assert "1 token exchange" in run.stdout


def test_demo_json_shows_every_step_in_order() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "zeroauth.cli", "demo", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    *steps, summary = lines
    names = [s["step"] for s in steps]
    # Both AS-metadata candidates may be fetched at once (C-15): collapse repeats of that step.
    collapsed = [n for i, n in enumerate(names) if n != "server_metadata" or names[i - 1] != n]
    assert collapsed == EXPECTED_STEPS
    assert summary["ok"] is True
    assert summary["reconnect_requests"] == 1
    assert summary["seconds"] < 30
    challenge, prm = steps[0], steps[1]
    assert challenge["status"] == 401
    assert challenge["detail"]["error"] is None  # S-11: no error without credentials
    assert prm["detail"]["resource"] == challenge["request"].split(" ", 1)[1]
    authorize = next(s for s in steps if s["step"] == "authorize")
    issuer = prm["detail"]["authorization_servers"][0]
    assert authorize["detail"]["code_challenge_method"] == "S256"
    assert authorize["detail"]["state_matches"] is True
    assert authorize["detail"]["iss"] == issuer  # RFC 9207
    token = next(s for s in steps if s["step"] == "token")
    assert token["detail"]["aud"] == prm["detail"]["resource"]  # RFC 8707
    step_up = next(s for s in steps if s["step"] == "step_up")
    assert step_up["status"] == 403
    assert WRITE_SCOPE in step_up["detail"]["scope"].split()
    second = [s for s in steps if s["step"] == "authorize"][1]
    assert {READ_SCOPE, WRITE_SCOPE} <= set(second["detail"]["scope"].split())  # C-39 union


@asynccontextmanager
async def dev_world(**options: Any) -> AsyncIterator[tuple[str, str]]:
    """(issuer, MCP URL): the dev AS and the protected demo server on loopback."""
    as_sock, mcp_sock = bind_loopback(), bind_loopback()
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    mcp_url = f"http://127.0.0.1:{mcp_sock.getsockname()[1]}/mcp"
    config = DevServerConfig(
        issuer=issuer,
        resources=[ProtectedResource(mcp_url, (READ_SCOPE, WRITE_SCOPE))],
        auto_approve=True,
        **options,
    )
    async with (
        serve_socket(DevAuthorizationServer(config).app(), as_sock),
        serve_socket(demo_app(mcp_url, issuer), mcp_sock),
    ):
        yield issuer, mcp_url


def _text(result: Any) -> str:
    return str(result.content[0].text)


@pytest.mark.anyio
async def test_official_sdk_oauth_provider_completes_against_dev_server() -> None:
    async with dev_world() as (_, mcp_url):
        provider = sdk_oauth_provider(mcp_url, "http://127.0.0.1:43211/callback").provider
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(mcp_url, http_client=http)) as client,
        ):
            result = await client.call_tool("list_notes", {})
            assert "zeroauth protects this server" in _text(result)


@pytest.mark.anyio
@pytest.mark.parametrize("identity", ["cimd", "dcr"])
async def test_zeroauth_client_completes_against_dev_server(identity: str) -> None:
    async with dev_world() as (_, mcp_url):
        registered = []
        doc: dict[str, Any] = {}

        async def document(_: Any) -> JSONResponse:
            return JSONResponse(doc)

        docs_app = Starlette(routes=[Route("/client.json", document)])
        async with serve_asgi_async(docs_app) as docs:
            cimd_url = docs.url("/client.json") if identity == "cimd" else None
            user_step = HeadlessUserStep(url_policy=DEVELOPMENT)
            redirect = user_step.redirect_uri("http://127.0.0.1:0/callback")
            doc.update(client_id=cimd_url, client_name="zeroauth test",
                       redirect_uris=[redirect], token_endpoint_auth_method="none")  # fmt: skip

            def observe(request: Any, response: Any, seconds: float) -> None:
                if request.purpose == "register":
                    registered.append(response.status)

            auth = ZeroAuth(
                store=MemoryTokenStore(), user_step=user_step, url_policy=DEVELOPMENT,
                cimd_url=cimd_url, observer=observe,
            )  # fmt: skip
            async with (
                httpx2.AsyncClient(auth=auth, timeout=30) as http,
                Client(streamable_http_client(mcp_url, http_client=http)) as client,
            ):
                result = await client.call_tool("add_note", {"text": identity})
                assert _text(result).startswith("added note")
        assert registered == ([] if identity == "cimd" else [201])
