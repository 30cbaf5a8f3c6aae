"""The dev AS's Client ID Metadata Document fetch under attack (SECURITY W1, W3; AS-08).

Real dev AS and real document servers, all on loopback. Name resolution is the one thing
replaced: ``socket.getaddrinfo`` answers chosen names with chosen loopback addresses (the AS
runs on the stdlib asyncio loop so its resolver goes through it), so a rebinding answer is
possible without any traffic leaving 127.0.0.0/8 or ::1.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.asgi_server import ServedApp, serve_asgi
from zeroauth.devserver import DevAuthorizationServer, DevServerConfig, ProtectedResource

RESOURCE = "http://127.0.0.1:9/mcp"
REDIRECT = "http://127.0.0.1:7777/callback"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 App. B


@dataclass
class AS:
    served: ServedApp
    server: DevAuthorizationServer
    http: httpx2.Client

    def authorize(self, client_id: str) -> httpx2.Response:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "st-1",
            "resource": RESOURCE,
            "scope": "mcp:read",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        }
        return self.http.get(self.server.endpoint("authorize"), params=query)


@pytest.fixture
def make_as(tmp_path: Path) -> Iterator[Callable[..., AS]]:
    stack: list[Any] = []

    def make(**options: Any) -> AS:
        holder: dict[str, DevAuthorizationServer] = {}
        options.setdefault("resources", [ProtectedResource(RESOURCE, ("mcp:read",))])
        options.setdefault("auto_approve", True)

        def factory(base_url: str) -> Any:
            server = DevAuthorizationServer(DevServerConfig(issuer=base_url, **options))
            holder["server"] = server
            return server.app()

        # loop="asyncio": the AS resolves names through socket.getaddrinfo (uvloop would not)
        ctx = serve_asgi(factory=factory, loop="asyncio")
        served = ctx.__enter__()
        http = httpx2.Client(timeout=6)
        stack.append((ctx, http))
        return AS(served, holder["server"], http)

    yield make
    for ctx, http in stack:
        http.close()
        ctx.__exit__(None, None, None)


@dataclass
class Resolutions:
    """``socket.getaddrinfo`` for one name and port: answer ``i`` on the ``i``-th call."""

    host: str
    answers: list[tuple[str, ...]]
    calls: int = 0

    def infos(self, port: int) -> list[Any]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in answer
        ]


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Resolutions]:
    real = socket.getaddrinfo

    def install(host: str, *answers: tuple[str, ...]) -> Resolutions:
        script = Resolutions(host, list(answers))

        def fake(name: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if name in (host, host.encode()):
                return script.infos(int(port))
            return real(name, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return script

    return install


@dataclass
class Seen:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (local address, Host)


def _document(client_id: str) -> dict[str, Any]:
    return {"client_id": client_id, "client_name": "CIMD app", "redirect_uris": [REDIRECT]}


def _doc_app(seen: Seen, client_id: Callable[[int], str]) -> Callable[[str], Starlette]:
    def factory(base: str) -> Starlette:
        async def doc(request: Request) -> Response:
            server = request.scope["server"]
            seen.requests.append((server[0], request.headers.get("host", "")))
            return JSONResponse(_document(client_id(server[1])))

        return Starlette(routes=[Route("/client.json", doc)])

    return factory


def test_w3_drip_fed_cimd_document_is_cut_at_the_total_deadline(make_as: Any) -> None:
    """SECURITY W3: one byte every 0.5 s never trips a per-read timeout; the total deadline does."""

    def drip_app(base: str) -> Starlette:
        async def doc(_: Request) -> Response:
            body = json.dumps(_document(f"{base}/client.json")).encode()

            async def trickle() -> AsyncIterator[bytes]:
                for i in range(len(body)):
                    yield body[i : i + 1]
                    await anyio.sleep(0.5)

            length = {"content-length": str(len(body))}
            return StreamingResponse(trickle(), media_type="application/json", headers=length)

        return Starlette(routes=[Route("/client.json", doc)])

    a = make_as(cimd_fetch_deadline=1.0)
    with serve_asgi(factory=drip_app) as docs:
        began = time.monotonic()
        resp = a.authorize(docs.url("/client.json"))
        took = time.monotonic() - began
    assert resp.status_code == 400, resp.text  # an error page, not a 500 and not a redirect
    assert "location" not in resp.headers
    assert "in time" in resp.text
    assert took < 3.0, f"/authorize held for {took:.1f} s"


def test_w1_cimd_fetch_connects_to_the_one_address_it_checked(
    make_as: Any, resolve: Callable[..., Resolutions]
) -> None:
    """SECURITY W1: the name is resolved once; a second answer (rebinding) is never used.

    ``localhost`` answers 127.0.0.1 (where the document is served) and then 127.0.0.3 (nothing
    listens there): the document is fetched only when the connection is pinned to the first.
    """
    a = make_as()  # development policy: loopback allowed
    seen = Seen()
    with serve_asgi(
        factory=_doc_app(seen, lambda port: f"http://localhost:{port}/client.json")
    ) as d:
        rebinding = resolve("localhost", ("127.0.0.1",), ("127.0.0.3",))
        resp = a.authorize(f"http://localhost:{d.port}/client.json")
    assert resp.status_code == 302, resp.text
    assert rebinding.calls == 1
    # the checked address, and the name kept for the Host header (RFC 9110 §7.2)
    assert seen.requests == [("127.0.0.1", f"localhost:{d.port}")]


@pytest.mark.parametrize("address", ["127.0.0.1", "::ffff:127.0.0.1", "::1", "127.0.0.2"])
def test_w1_no_loopback_policy_refuses_a_name_on_loopback_before_connecting(
    make_as: Any, resolve: Callable[..., Resolutions], address: str
) -> None:
    """SECURITY W1/D6: under the no-loopback policy a name that resolves to loopback is refused
    after one resolution and before any connection."""
    a = make_as(allow_loopback_cimd=False)
    seen = Seen()
    with serve_asgi(
        factory=_doc_app(seen, lambda port: f"https://cimd.test:{port}/client.json")
    ) as d:
        answers = resolve("cimd.test", (address,))
        resp = a.authorize(f"https://cimd.test:{d.port}/client.json")
    assert resp.status_code == 400, resp.text
    assert "location" not in resp.headers
    assert "refused address" in resp.text
    assert answers.calls == 1
    assert seen.requests == []
