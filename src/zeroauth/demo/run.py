"""Run the demo: a dev authorization server and a protected MCP server on loopback, then the
zero-config client, told only the MCP server's URL, gets in (MCP authorization 2026-07-28).

Sequence: 401 challenge → PRM → AS metadata and capability checks → client identity (DCR) →
authorization with PKCE, ``state`` and ``resource`` → ``iss`` check → token → tool call; then the
write tool → 403 ``insufficient_scope`` → step-up → success; then a reconnect with a new client
object over the same token store, which needs exactly one request.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from zeroauth.client import ZeroAuth
from zeroauth.client._browser import BrowserUserStep, HeadlessUserStep, UserStep
from zeroauth.client._stores import MemoryTokenStore, TokenStore
from zeroauth.core.urls import DEVELOPMENT
from zeroauth.demo.loopback import bind_loopback, serve_socket
from zeroauth.demo.mcp_server import READ_SCOPE, WRITE_SCOPE, demo_app
from zeroauth.demo.trace import STEPS, DemoTrace, Step, TracingUserStep
from zeroauth.devserver import (
    DevAuthorizationServer,
    DevCertificates,
    DevServerConfig,
    ProtectedResource,
)

__all__ = ["DemoResult", "run_demo"]

_PROTOCOL = "2025-11-25"


@dataclass(frozen=True, slots=True)
class DemoResult:
    ok: bool
    requests: int
    reconnect_requests: int
    seconds: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "requests": self.requests,
            "reconnect_requests": self.reconnect_requests,
            "seconds": round(self.seconds, 3),
        }
        if self.error:
            data["error"] = self.error
        return data


async def run_demo(
    emit: Callable[[Step], None], *, browser: bool = False, tls: DevCertificates | None = None
) -> DemoResult:
    """Run every step, reporting each through ``emit``; never raises for a failed step. With
    ``tls`` both servers speak https (the development leaf) and every client trusts its CA."""
    started = time.perf_counter()
    trace = DemoTrace(emit)
    reconnect_requests = 0
    verify: bool | ssl.SSLContext = tls.client_context() if tls else True
    try:
        async with AsyncExitStack() as stack:
            mcp_url = await _start_servers(stack, auto_approve=not browser, tls=tls)
            store = MemoryTokenStore()
            inner: UserStep = (
                BrowserUserStep(url_policy=DEVELOPMENT)
                if browser
                else HeadlessUserStep(url_policy=DEVELOPMENT, verify=verify)
            )
            user_step = TracingUserStep(inner, trace)
            await _connect_and_call(mcp_url, store, user_step, trace, verify)
            trace.phase = "reconnect"
            before = trace.requests
            await _reconnect(mcp_url, store, trace, verify)
            reconnect_requests = trace.requests - before
    except Exception as exc:  # the demo reports, it does not crash
        failure = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        return DemoResult(False, trace.requests, reconnect_requests, seconds, failure)
    ok = reconnect_requests == 1 and {s.step for s in trace.steps} >= set(STEPS)
    seconds = time.perf_counter() - started
    error = None if ok else "not every step happened"
    return DemoResult(ok, trace.requests, reconnect_requests, seconds, error)


async def _start_servers(
    stack: AsyncExitStack, *, auto_approve: bool, tls: DevCertificates | None
) -> str:
    as_sock, mcp_sock = bind_loopback(), bind_loopback()
    scheme = "https" if tls else "http"
    issuer = f"{scheme}://127.0.0.1:{as_sock.getsockname()[1]}"
    mcp_url = f"{scheme}://127.0.0.1:{mcp_sock.getsockname()[1]}/mcp"
    config = DevServerConfig(
        issuer=issuer,
        resources=[ProtectedResource(mcp_url, (READ_SCOPE, WRITE_SCOPE))],
        auto_approve=auto_approve,
        default_subject="demo-user",
    )
    verify: bool | ssl.SSLContext = tls.client_context() if tls else True
    as_app, mcp_app = DevAuthorizationServer(config).app(), demo_app(mcp_url, issuer, verify=verify)
    await stack.enter_async_context(serve_socket(as_app, as_sock, tls=tls))
    await stack.enter_async_context(serve_socket(mcp_app, mcp_sock, tls=tls))
    return mcp_url


def _auth(
    store: TokenStore, user_step: UserStep, trace: DemoTrace, verify: bool | ssl.SSLContext
) -> ZeroAuth:
    return ZeroAuth(
        store=store,
        user_step=user_step,
        client_name="zeroauth demo",
        url_policy=DEVELOPMENT,
        observer=trace.oauth,
        verify=verify,
    )


async def _connect_and_call(
    mcp_url: str,
    store: TokenStore,
    user_step: UserStep,
    trace: DemoTrace,
    verify: bool | ssl.SSLContext,
) -> None:
    auth = _auth(store, user_step, trace, verify)
    async with (
        httpx2.AsyncClient(auth=auth, event_hooks=trace.hooks(), timeout=30, verify=verify) as http,
        streamable_http_client(mcp_url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        await session.call_tool("list_notes", {})
        await session.call_tool("add_note", {"text": "written after step-up"})


async def _reconnect(
    mcp_url: str, store: TokenStore, trace: DemoTrace, verify: bool | ssl.SSLContext
) -> None:
    """A new client object over the same store: the stored token goes out at once."""
    auth = _auth(store, HeadlessUserStep(url_policy=DEVELOPMENT, verify=verify), trace, verify)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "list_notes", "arguments": {}}}  # fmt: skip
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": _PROTOCOL,
    }
    async with httpx2.AsyncClient(
        auth=auth, event_hooks=trace.hooks(), timeout=30, verify=verify
    ) as http:
        response = await http.post(mcp_url, content=json.dumps(body), headers=headers)
        response.raise_for_status()
