"""Gateway operations on loopback, without an authorization server (a static JWKS verifier).

Covers what the real-AS test does not: the transport rules of the gateway's own endpoint (both
protocol eras, batches, notifications, methods), RFC 6750 challenges from BearerAuth (B7, B9),
upstream session expiry (404 -> new handshake), SSE upstream answers, the gateway's credentials
refreshed on 401, the lean HTTP/1.1 client's framing, ``/healthz`` ``/readyz`` ``/metrics``,
the access log (no token in it), ``reload()`` and ``SIGHUP`` through ``zeroauth gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.helpers.asgi_server import serve_asgi_async
from tests.helpers.gateway import (
    HEADERS,
    ISSUER,
    KEY,
    FakeUpstream,
    call,
    config_for,
    gateway_for,
    token,
    verifier,
)
from zeroauth.core.challenge import read_bearer_challenge
from zeroauth.core.errors import InvalidToken
from zeroauth.gateway import GatewayApp, parse_config
from zeroauth.gateway._auth import MultiIssuerVerifier
from zeroauth.gateway._http1 import HTTPError, Pool
from zeroauth.server._jwks import JWKSCache
from zeroauth.server._jwt import JWTVerifier

pytestmark = pytest.mark.anyio


async def test_session_expiry_means_a_new_handshake_and_the_call_still_works() -> None:
    fake = FakeUpstream()
    async with serve_asgi_async(fake) as up, gateway_for({"fake": up.url("/mcp")}) as (gw, _, http):
        first = await http.post(gw.url("/mcp"), json=call("fake_echo", {"n": 1}))
        assert first.json()["result"]["content"][0]["text"] == '{"n": 1}'
        assert fake.handshakes == 1
        fake.expire()  # the upstream restarted: our session id is unknown now (404)
        again = await http.post(gw.url("/mcp"), json=call("fake_echo", {"n": 2}, rid="x"))
        assert again.json() == {
            "jsonrpc": "2.0",
            "id": "x",
            "result": {"content": [{"type": "text", "text": '{"n": 2}'}]},
        }
        assert fake.handshakes == 2
        # one upstream session serves every caller: ids are the gateway's, re-keyed on the way back
        assert all(str(i).startswith("zeroauth-") for i in fake.call_ids)
        same = await asyncio.gather(
            *(http.post(gw.url("/mcp"), json=call("fake_echo", {"n": n}, rid=1)) for n in range(5))
        )
        answers = {r.json()["result"]["content"][0]["text"] for r in same}
        assert answers == {f'{{"n": {n}}}' for n in range(5)}
        assert {r.json()["id"] for r in same} == {1}


async def test_sse_answers_are_unwrapped_and_notifications_dropped() -> None:
    fake = FakeUpstream(sse=True)
    async with serve_asgi_async(fake) as up, gateway_for({"fake": up.url("/mcp")}) as (gw, _, http):
        response = await http.post(gw.url("/mcp"), json=call("fake_echo", {"a": "b"}, rid=9))
        assert response.headers["content-type"] == "application/json"
        assert response.json()["id"] == 9
        assert response.json()["result"]["content"][0]["text"] == '{"a": "b"}'


async def test_b9_b7_challenges_and_transport_rules() -> None:
    fake = FakeUpstream()
    async with serve_asgi_async(fake) as up, gateway_for({"fake": up.url("/mcp")}) as (gw, _, http):
        url = gw.url("/mcp")
        async with httpx2.AsyncClient(timeout=30, headers=HEADERS) as anonymous:
            response = await anonymous.post(url, json=call("fake_echo"))
            assert response.status_code == 401
            challenge = read_bearer_challenge(response.headers["www-authenticate"])
            assert challenge is not None
            assert challenge.error is None
            assert challenge.resource_metadata == gw.url(
                "/.well-known/oauth-protected-resource/mcp"
            )
            assert challenge.scope == ("mcp:fake:read", "mcp:fake:write")
            prm = (await anonymous.get(challenge.resource_metadata)).json()
            assert prm["resource"] == url
            assert prm["authorization_servers"] == [ISSUER]
            leaked = await anonymous.post(url + f"?access_token={token(url)}", json=call("x"))
            assert leaked.status_code == 400  # B7: only the Authorization header
            other = await anonymous.post(
                url,
                json=call("fake_echo"),
                headers={"Authorization": f"Bearer {token('https://x')}"},
            )
            assert other.status_code == 401  # B1: minted for another resource
            assert 'error="invalid_token"' in other.headers["www-authenticate"]
        assert (await http.get(url)).status_code == 405
        assert (await http.post(url, json=[call("fake_echo")])).status_code == 400  # no batches
        note = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert note.status_code == 202
        unknown = (await http.post(url, json={"jsonrpc": "2.0", "id": 3, "method": "nope"})).json()
        assert unknown["error"]["code"] == -32601
        missing = (await http.post(url, json=call("fake_nothing"))).json()
        assert missing["error"]["code"] == -32602
        assert "Unknown tool" in missing["error"]["message"]
        init = await http.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-06-18"},
            },
        )
        assert init.json()["result"]["protocolVersion"] == "2025-06-18"
        assert "mcp-session-id" not in init.headers  # stateless: any replica serves any request


async def test_protocol_2026_07_28_envelope_and_header_checks() -> None:
    fake = FakeUpstream()
    async with serve_asgi_async(fake) as up, gateway_for({"fake": up.url("/mcp")}) as (gw, _, http):
        url = gw.url("/mcp")
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        modern = {
            "Mcp-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": "fake_echo",
        }
        body = call("fake_echo", {"k": 1})
        body["params"]["_meta"] = meta
        ok = (await http.post(url, json=body, headers=modern)).json()
        assert ok["result"]["resultType"] == "complete"
        wrong = await http.post(url, json=body, headers={**modern, "Mcp-Name": "fake_other"})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["code"] == -32020
        bare = await http.post(url, json=call("fake_echo"), headers=modern)
        assert bare.status_code == 400
        assert bare.json()["error"]["code"] == -32602
        future = dict(meta, **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})
        later = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "server/discover",
            "params": {"_meta": future},
        }
        answer = await http.post(
            url,
            json=later,
            headers={"Mcp-Protocol-Version": "2099-01-01", "Mcp-Method": "server/discover"},
        )
        assert answer.json()["error"]["code"] == -32022
        assert answer.json()["error"]["data"]["supported"] == ["2026-07-28"]
        listed = {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}}
        tools = await http.post(url, json=listed, headers={**modern, "Mcp-Method": "tools/list"})
        assert tools.json()["result"]["cacheScope"] == "private"  # filtered per caller


async def test_gateway_credentials_are_refreshed_on_401_and_never_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeUpstream(token="first-upstream-token")
    monkeypatch.setenv("FAKE_TOKEN", "first-upstream-token")
    async with serve_asgi_async(fake) as up:
        url = up.url("/mcp")
        holder: list[Any] = []

        def factory(base: str) -> GatewayApp:
            resource = base + "/mcp"
            config = parse_config(
                {
                    "gateway": {"resource": resource},
                    "issuer": [{"issuer": ISSUER, "jwks_uri": "https://idp.test.example/jwks"}],
                    "upstream": [
                        {
                            "name": "fake",
                            "url": url,
                            "credentials": {"type": "bearer", "token_env": "FAKE_TOKEN"},
                        }
                    ],
                }
            )
            holder.append(GatewayApp(config, verifier=verifier(resource)))
            return holder[0]

        async with serve_asgi_async(factory=factory) as gw, httpx2.AsyncClient() as http:
            caller = token(gw.url("/mcp"))
            response = await http.post(
                gw.url("/mcp"),
                json=call("fake_echo"),
                headers={**HEADERS, "Authorization": f"Bearer {caller}"},
            )
            assert "result" in response.json()
            assert set(fake.authorizations) == {"Bearer first-upstream-token"}
            assert all(caller not in (a or "") for a in fake.authorizations)


async def test_health_ready_metrics_and_an_access_log_without_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeUpstream()
    caplog.set_level(logging.INFO, logger="zeroauth.gateway.access")
    async with serve_asgi_async(fake) as up, gateway_for({"fake": up.url("/mcp")}) as (gw, _, http):
        assert (await http.post(gw.url("/mcp"), json=call("fake_echo"))).status_code == 200
        async with httpx2.AsyncClient(headers=HEADERS) as anonymous:
            assert (await anonymous.post(gw.url("/mcp"), json=call("fake_echo"))).status_code == 401
            assert (await anonymous.get(gw.url("/healthz"))).json() == {"status": "ok"}
            ready = (await anonymous.get(gw.url("/readyz"))).json()
            assert ready == {"ready": True, "keys": True, "upstreams": {"fake": "up"}}
            metrics = (await anonymous.get(gw.url("/metrics"))).text
        assert 'zeroauth_gateway_requests_total{method="tools/call",status="200"} 1' in metrics
        assert 'zeroauth_gateway_auth_failures_total{reason="missing_token"} 1' in metrics
        assert 'zeroauth_gateway_upstream_up{upstream="fake"} 1' in metrics
        assert (
            'zeroauth_gateway_upstream_requests_total{upstream="fake",method="tools/call"} 1'
            in metrics
        )
        entries = [
            json.loads(r.getMessage())
            for r in caplog.records
            if r.name == "zeroauth.gateway.access"
        ]
        called = [e for e in entries if e["mcp"] == "tools/call" and e["status"] == 200]
        assert called[0]["sub"] == "alice"
        assert called[0]["target"] == "fake_echo"
        assert any(e["auth_error"] == "missing_token" for e in entries)
        the_token = http.headers["authorization"].split()[1]
        assert all(the_token not in r.getMessage() for r in caplog.records)


async def test_reload_swaps_upstreams_without_dropping_the_open_connection() -> None:
    one, two = FakeUpstream(), FakeUpstream()
    async with (
        serve_asgi_async(one) as up1,
        serve_asgi_async(two) as up2,
        gateway_for({"one": up1.url("/mcp")}, "mcp:one:read mcp:two:read") as (gw, app, http),
    ):
        url = gw.url("/mcp")
        assert "result" in (await http.post(url, json=call("one_echo"))).json()
        resource = app.config.resource
        bad = {"gateway": {"resource": resource}, "issuer": [], "upstream": []}
        with pytest.raises(Exception, match="no trusted issuer"):
            parse_config(bad)
        assert await app.reload(
            config_for(resource, {"one": up1.url("/mcp"), "two": up2.url("/mcp")})
        )
        # the same keep-alive client connection keeps working, now with two upstreams
        assert "result" in (await http.post(url, json=call("two_echo"))).json()
        assert "result" in (await http.post(url, json=call("one_echo"))).json()
        listed = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert {t["name"] for t in listed.json()["result"]["tools"]} == {"one_echo", "two_echo"}
        assert 'zeroauth_gateway_reloads_total{outcome="ok"} 1' in app.metrics.render().decode()


# --- the lean HTTP/1.1 client ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: fine for these tests
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.close()
        await server.wait_closed()


async def _request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


async def test_http1_chunked_close_framed_and_stale_keepalive_retry() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        served += 1
        await _request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
        )
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # returning closes the idle keep-alive connection (server side)

    async with raw_server(handler) as url:
        pool = Pool(url)
        assert (await pool.post(b"", b"{}")).body == b"hello world"
        assert (await pool.post(b"", b"{}")).body == b"ok"
        await asyncio.sleep(0.05)
        assert (await pool.post(b"", b"{}")).body == b"hello world"  # retried on a new one
        assert served == 2
        await pool.aclose()


async def test_http1_bounds_body_size_and_time() -> None:
    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client gives up and closes

    async with raw_server(big) as url:
        small, slow = Pool(url, max_body=1000), Pool(url, timeout=0.3)
        with pytest.raises(HTTPError, match="too large"):
            await small.post(b"", b"{}")
        with pytest.raises(HTTPError, match="no answer within"):
            await slow.post(b"", b"{}")  # the body never comes
        await small.aclose()
        await slow.aclose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HTTPError, match="cannot connect"):
        await Pool(f"http://127.0.0.1:{port}/mcp").post(b"", b"{}")


# --- SIGHUP through the CLI --------------------------------------------------------------------


def _toml(resource: str, upstreams: dict[str, str]) -> str:
    lines = [
        f'[gateway]\nresource = "{resource}"\n',
        f'[[issuer]]\nissuer = "{ISSUER}"',
        'jwks_uri = "http://127.0.0.1:9/jwks"\n',
    ]
    for name, url in upstreams.items():
        lines.append(f'[[upstream]]\nname = "{name}"\nurl = "{url}"\n')
    return "\n".join(lines)


async def test_sighup_reloads_the_file_of_zeroauth_gateway(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resource = f"http://127.0.0.1:{port}/mcp"
    config = tmp_path / "gateway.toml"
    config.write_text(_toml(resource, {"one": "http://127.0.0.1:9/mcp"}))
    command = [
        sys.executable,
        "-c",
        "from zeroauth.cli import main; main()",
        "gateway",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with httpx2.AsyncClient(timeout=5) as http:
            for _ in range(100):
                with contextlib.suppress(httpx2.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            before = (await http.get(f"http://127.0.0.1:{port}/readyz")).json()
            assert set(before["upstreams"]) == {"one"}
            config.write_text(
                _toml(resource, {"one": "http://127.0.0.1:9/mcp", "two": "http://127.0.0.1:9/two"})
            )
            os.kill(proc.pid, signal.SIGHUP)
            for _ in range(50):
                after = (await http.get(f"http://127.0.0.1:{port}/readyz")).json()
                if set(after["upstreams"]) == {"one", "two"}:
                    break
                await asyncio.sleep(0.1)
            assert set(after["upstreams"]) == {"one", "two"}
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            assert 'zeroauth_gateway_reloads_total{outcome="ok"} 1' in metrics
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]  # uvicorn re-raises it
    assert b"Traceback" not in err, err.decode()[-2000:]


async def test_several_issuers_each_token_goes_to_its_own_verifier() -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_jwk = {
        **ECAlgorithm(ECAlgorithm.SHA256).to_jwk(other_key.public_key(), as_dict=True),
        "kid": "k2",
    }
    resource = "https://gw.test.example/mcp"
    second = "https://login.test.example/tenant/v2.0"
    multi = MultiIssuerVerifier(
        {
            ISSUER: verifier(resource),
            second: JWTVerifier(
                issuer=second,
                resource=resource,
                algorithms=["ES256"],
                jwks=JWKSCache.static({"keys": [other_jwk]}),
            ),
        }
    )
    assert (await multi.verify(token(resource))).issuer == ISSUER
    now = int(time.time())
    theirs = jwt.encode(
        {"iss": second, "aud": resource, "sub": "bob", "exp": now + 60},
        other_key,
        algorithm="ES256",
        headers={"kid": "k2"},
    )
    assert (await multi.verify(theirs)).subject == "bob"
    forged = jwt.encode(
        {"iss": second, "aud": resource, "sub": "eve", "exp": now + 60},
        KEY,
        algorithm="ES256",
        headers={"kid": "k2"},
    )
    with pytest.raises(InvalidToken):
        await multi.verify(forged)  # the issuer claim only routes; its verifier checks the key
    unknown = jwt.encode(
        {"iss": "https://evil.example", "aud": resource, "exp": now + 60},
        KEY,
        algorithm="ES256",
        headers={"kid": "k1"},
    )
    with pytest.raises(InvalidToken, match="does not trust"):
        await multi.verify(unknown)
    with pytest.raises(InvalidToken):
        await multi.verify("opaque-token-value")


class BrokenCatalog(FakeUpstream):
    async def _reply(
        self, send: Any, rid: Any, result: Any, extra: Any = (), error: int | None = None
    ) -> None:
        if isinstance(result, dict) and "tools" in result:
            result = {"tools": 5}  # not a list: a broken upstream
        await super()._reply(send, rid, result, extra, error)


async def test_a_malformed_upstream_catalog_leaves_the_others_working() -> None:
    good, bad = FakeUpstream(), BrokenCatalog()
    async with (
        serve_asgi_async(good) as up1,
        serve_asgi_async(bad) as up2,
        gateway_for(
            {"good": up1.url("/mcp"), "bad": up2.url("/mcp")}, "mcp:good:read mcp:bad:read"
        ) as (gw, _, http),
    ):
        url = gw.url("/mcp")
        listed = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["good_echo"]
        assert "result" in (await http.post(url, json=call("good_echo"))).json()
        missing = (await http.post(url, json=call("bad_echo"))).json()
        assert missing["error"]["code"] == -32602
